//! Connections to the server: a pool of query sessions (UTC, with the
//! table's session variables) and fresh connections for binlog streams,
//! opened with the table's timeout and retries; server errors classified
//! and missing privileges named.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts};
use rtdw_connector_core::ConnectorError;
use rtdw_operators::ErrorClass;

use crate::options::CdcOptions;
use crate::position::BinlogPosition;

/// The grants a CDC user needs, for messages.
pub(crate) const NEEDED_GRANTS: &str = "GRANT SELECT, RELOAD, REPLICATION SLAVE, REPLICATION CLIENT ON *.* (MariaDB: BINLOG MONITOR instead of REPLICATION CLIENT)";

/// Where and how to connect, for one table's source.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// The table, for errors.
    pub table: String,
    opts: Opts,
    pool: Pool,
    timeout: Duration,
    retries: u32,
}

/// A query connection from the pool.
pub(crate) struct Session {
    /// The connection.
    pub conn: Conn,
    /// The table, for errors.
    pub table: String,
}

impl Endpoint {
    /// The endpoint of a table's options.
    pub(crate) fn new(table: &str, options: &CdcOptions) -> Endpoint {
        let mut init = vec!["SET time_zone = '+00:00'".to_string()];
        for (name, value) in &options.session_variables {
            init.push(format!("SET SESSION {name} = {}", sql_value(value)));
        }
        let opts: Opts = OptsBuilder::default()
            .ip_or_hostname(options.hostname.clone())
            .tcp_port(options.port)
            .user(Some(options.username.clone()))
            .pass(Some(options.password.clone()))
            .prefer_socket(false)
            .init(init)
            .tcp_keepalive(Some(Duration::from_secs(30)))
            .pool_opts(PoolOpts::default().with_constraints(
                PoolConstraints::new(0, options.pool_size.max(1)).unwrap_or_default(),
            ))
            .into();
        Endpoint {
            table: table.to_string(),
            pool: Pool::new(opts.clone()),
            opts,
            timeout: options.connect_timeout,
            retries: options.connect_max_retries,
        }
    }

    /// Closes the pool's connections.
    pub(crate) async fn close(self) {
        if let Err(error) = self.pool.disconnect().await {
            tracing::debug!(table = %self.table, %error, "closing the connection pool");
        }
    }

    /// `host:port`, for messages.
    pub(crate) fn address(&self) -> String {
        format!("{}:{}", self.opts.ip_or_hostname(), self.opts.tcp_port())
    }

    /// A query session, retried with backoff.
    pub(crate) async fn session(&self) -> Result<Session, ConnectorError> {
        let conn = self
            .with_retries(|| async { self.pool.get_conn().await })
            .await?;
        Ok(Session {
            conn,
            table: self.table.clone(),
        })
    }

    /// A connection of its own (a binlog stream takes it over), retried
    /// with backoff.
    pub(crate) async fn connection(&self) -> Result<Conn, ConnectorError> {
        self.with_retries(|| async { Conn::new(self.opts.clone()).await })
            .await
    }

    async fn with_retries<F, Fut>(&self, open: F) -> Result<Conn, ConnectorError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = mysql_async::Result<Conn>>,
    {
        let context = format!("connecting to {}", self.address());
        let mut attempt = 0;
        loop {
            let error = match tokio::time::timeout(self.timeout, open()).await {
                Ok(Ok(conn)) => return Ok(conn),
                Ok(Err(error)) => query_error(&self.table, &context, error),
                Err(_) => ConnectorError::external(
                    &self.table,
                    &context,
                    ErrorClass::Transient,
                    format!("no connection within {:?} (connect.timeout)", self.timeout),
                ),
            };
            if error.class() == ErrorClass::User || attempt >= self.retries {
                return Err(error);
            }
            attempt += 1;
            let pause = Duration::from_millis(500 << attempt.min(6));
            tracing::warn!(table = %self.table, attempt, %error, ?pause, "connection failed; retrying");
            tokio::time::sleep(pause).await;
        }
    }
}

/// A session variable's value as SQL: numbers and words as they are,
/// anything else quoted.
fn sql_value(value: &str) -> String {
    let value = value.trim();
    if value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && !value.is_empty()
    {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
    }
}

/// A server or driver error while doing `context`, classified: missing
/// privileges, a wrong login and unknown objects are the user's to fix,
/// the rest may pass on a retry.
pub(crate) fn query_error(table: &str, context: &str, error: mysql_async::Error) -> ConnectorError {
    if let mysql_async::Error::Server(server) = &error {
        let class = match server.code {
            // Access denied for a database, a login, a command, a column,
            // or a privilege the statement needs.
            1044 | 1045 | 1142 | 1143 | 1227 | 1370 => {
                return ConnectorError::external(
                    table,
                    context,
                    ErrorClass::User,
                    format!("{} (the CDC user needs: {NEEDED_GRANTS})", server.message),
                );
            }
            // Unknown database or table.
            1049 | 1146 => ErrorClass::User,
            _ => ErrorClass::Transient,
        };
        return ConnectorError::external(table, context, class, error);
    }
    ConnectorError::external(table, context, ErrorClass::Transient, error)
}

/// `@@log_bin`, `@@binlog_format`, `@@binlog_row_image`,
/// `@@binlog_row_metadata`.
type BinlogSettings = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl Session {
    /// The server's current binlog end (`SHOW MASTER STATUS`).
    pub(crate) async fn binlog_end(&mut self) -> Result<BinlogPosition, ConnectorError> {
        let row: Option<mysql_async::Row> = self
            .conn
            .query_first("SHOW MASTER STATUS")
            .await
            .map_err(|e| query_error(&self.table, "reading the binlog position", e))?;
        let row = row.ok_or_else(|| {
            ConnectorError::external(
                &self.table,
                "reading the binlog position",
                ErrorClass::User,
                "the server writes no binlog: start it with log_bin, binlog_format=ROW, binlog_row_image=FULL and binlog_row_metadata=FULL",
            )
        })?;
        let file: Option<String> = row.get(0);
        let pos: Option<u64> = row.get(1);
        match (file, pos) {
            (Some(file), Some(pos)) => Ok(BinlogPosition::new(file, pos)),
            _ => Err(ConnectorError::external(
                &self.table,
                "reading the binlog position",
                ErrorClass::Transient,
                "SHOW MASTER STATUS gave no file and position",
            )),
        }
    }

    /// The binlog files the server keeps, oldest first.
    pub(crate) async fn binlog_files(&mut self) -> Result<Vec<String>, ConnectorError> {
        let rows: Vec<mysql_async::Row> = self
            .conn
            .query("SHOW BINARY LOGS")
            .await
            .map_err(|e| query_error(&self.table, "listing the binlog files", e))?;
        Ok(rows.iter().filter_map(|row| row.get(0)).collect())
    }

    /// Checks that the server writes a binlog rtdw can read: row events
    /// with full images and column metadata (so every event names its
    /// columns, and rows before and after an `ALTER TABLE` decode by
    /// their own layout).
    pub(crate) async fn check_binlog_settings(&mut self) -> Result<(), ConnectorError> {
        let context = "checking the server's binlog settings";
        let row: Option<BinlogSettings> = self
            .conn
            .query_first(
                "SELECT CAST(@@log_bin AS CHAR), @@binlog_format, @@binlog_row_image, @@binlog_row_metadata",
            )
            .await
            .map_err(|e| query_error(&self.table, context, e))?;
        let (log_bin, format, image, metadata) = row.unwrap_or_default();
        let mut wrong = Vec::new();
        if !matches!(log_bin.as_deref(), Some("1" | "ON")) {
            wrong.push("log_bin is off".to_string());
        }
        for (name, value, wanted) in [
            ("binlog_format", format, "ROW"),
            ("binlog_row_image", image, "FULL"),
            ("binlog_row_metadata", metadata, "FULL"),
        ] {
            let value = value.unwrap_or_default();
            if !value.eq_ignore_ascii_case(wanted) {
                wrong.push(format!("{name} is '{value}', needs '{wanted}'"));
            }
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(ConnectorError::external(
                &self.table,
                context,
                ErrorClass::User,
                format!(
                    "the server's binlog cannot be captured: {}",
                    wrong.join("; ")
                ),
            ))
        }
    }
}
