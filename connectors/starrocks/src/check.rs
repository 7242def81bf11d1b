//! The submit-time check of a `starrocks` table: the FE answers on
//! `jdbc-url` (the MySQL protocol), the credentials work, and the table
//! exists with every column the rtdw table declares.

use std::collections::BTreeSet;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::ErrorClass;

use crate::options::{DATABASE_NAME, JDBC_URL, SinkOptions, TABLE_NAME};

/// MySQL's error code for refused credentials.
const ACCESS_DENIED: u16 = 1045;

/// Checks `table` against the StarRocks table its options name.
pub(crate) async fn check_table(
    table: &TableDescriptor,
    options: &SinkOptions,
) -> Result<(), ConnectorError> {
    let mut conn = connect(table, options).await?;
    let columns: Result<Vec<String>, _> = conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.columns \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (&options.database, &options.table),
        )
        .await;
    if let Err(error) = conn.disconnect().await {
        tracing::debug!(table = %table.name, %error, "closing the check's connection");
    }
    let columns = columns.map_err(|e| {
        ConnectorError::external(
            &table.name,
            format!(
                "cannot read the columns of '{}.{}' at 'jdbc-url' {}",
                options.database, options.table, options.jdbc_url
            ),
            ErrorClass::Transient,
            e,
        )
    })?;
    missing_columns(table, options, &columns)
}

/// The error for declared columns the StarRocks table lacks (or for a
/// table that is not there: no columns).
fn missing_columns(
    table: &TableDescriptor,
    options: &SinkOptions,
    columns: &[String],
) -> Result<(), ConnectorError> {
    let invalid = |key: &str, value: &str, expected: String| ConnectorError::InvalidOption {
        table: table.name.clone(),
        key: key.to_string(),
        value: value.to_string(),
        expected,
    };
    if columns.is_empty() {
        return Err(invalid(
            TABLE_NAME.key,
            &options.table,
            format!(
                "must name an existing table of '{}' = '{}', and there is none of that name at 'jdbc-url' {}",
                DATABASE_NAME.key, options.database, options.jdbc_url
            ),
        ));
    }
    let known: BTreeSet<String> = columns.iter().map(|c| c.to_lowercase()).collect();
    let missing: Vec<&str> = table
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|name| !known.contains(&name.to_lowercase()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(invalid(
        TABLE_NAME.key,
        &options.table,
        format!(
            "must name a table with every declared column, and '{}.{}' has no column {} (it has {})",
            options.database,
            options.table,
            quoted(&missing),
            quoted(&columns.iter().map(String::as_str).collect::<Vec<_>>())
        ),
    ))
}

/// `'a', 'b'`.
fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A connection to the first host of `jdbc-url` that answers.
async fn connect(table: &TableDescriptor, options: &SinkOptions) -> Result<Conn, ConnectorError> {
    let mut failure = None;
    for (host, port) in &options.jdbc_hosts {
        let opts = OptsBuilder::default()
            .ip_or_hostname(host.clone())
            .tcp_port(*port)
            .user(Some(options.username.clone()))
            .pass(Some(options.password.clone()))
            .prefer_socket(false);
        let connecting = tokio::time::timeout(options.connect_timeout, Conn::new(opts)).await;
        let error = match connecting {
            Ok(Ok(conn)) => return Ok(conn),
            Ok(Err(mysql_async::Error::Server(server))) if server.code == ACCESS_DENIED => {
                return Err(ConnectorError::external(
                    &table.name,
                    format!(
                        "the server at 'jdbc-url' {}:{} refused user '{}': check the options 'username' and 'password'",
                        host, port, options.username
                    ),
                    ErrorClass::User,
                    mysql_async::Error::Server(server),
                ));
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {:?}", options.connect_timeout),
        };
        failure = Some(format!("{host}:{port}: {error}"));
    }
    Err(ConnectorError::external(
        &table.name,
        format!(
            "cannot connect to any host of option '{}' = '{}'",
            JDBC_URL.key, options.jdbc_url
        ),
        ErrorClass::User,
        failure.unwrap_or_else(|| "it names no host".into()),
    ))
}
