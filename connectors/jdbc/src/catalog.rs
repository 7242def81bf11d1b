//! The submit-time check of a `jdbc` table against its database: the
//! server answers, the credentials work, the table exists and holds every
//! column the rtdw table declares.

use rtdw_connector_core::{ConnectorError, TableDescriptor};

use crate::connection::Connection;
use crate::options::{JdbcOptions, TABLE_NAME};
use crate::url::Dialect;

/// Checks `table` against its database.
pub(crate) async fn check_table(table: &TableDescriptor) -> Result<(), ConnectorError> {
    let options = JdbcOptions::of_table(table)?;
    let mut connection = Connection::open(&options).await?;
    let columns = existing_columns(&mut connection, &options).await;
    connection.close().await;
    let columns = columns?;
    let target = format!(
        "{}{}",
        options
            .table_name
            .schema
            .as_ref()
            .map(|s| format!("{s}."))
            .unwrap_or_default(),
        options.table_name.name
    );
    if columns.is_empty() {
        return Err(ConnectorError::InvalidOption {
            table: table.name.clone(),
            key: TABLE_NAME.key.into(),
            value: target,
            expected: format!(
                "must name a table of {} that exists (and that the user may read)",
                options.url.describe()
            ),
        });
    }
    let missing: Vec<&str> = table
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|name| !columns.iter().any(|c| c == name))
        .collect();
    if !missing.is_empty() {
        return Err(ConnectorError::InvalidOption {
            table: table.name.clone(),
            key: TABLE_NAME.key.into(),
            value: target,
            expected: format!(
                "must name a table holding every declared column; it lacks {}; it has: {}",
                missing
                    .iter()
                    .map(|c| format!("'{c}'"))
                    .collect::<Vec<_>>()
                    .join(", "),
                columns.join(", ")
            ),
        });
    }
    Ok(())
}

/// The columns of the table, in order; empty when there is no such table.
async fn existing_columns(
    connection: &mut Connection,
    options: &JdbcOptions,
) -> Result<Vec<String>, ConnectorError> {
    // Without a schema, the connection's database (MySQL) or the first
    // schema of the search path (PostgreSQL).
    let sql = match options.url.dialect {
        Dialect::MySql => {
            "SELECT column_name FROM information_schema.columns WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? ORDER BY ordinal_position"
        }
        Dialect::Postgres => {
            "SELECT column_name::text FROM information_schema.columns WHERE table_schema = COALESCE($1::text, current_schema()) AND table_name = $2::text ORDER BY ordinal_position"
        }
    };
    let parameters = vec![
        options
            .table_name
            .schema
            .as_ref()
            .map(|s| s.as_bytes().to_vec()),
        Some(options.table_name.name.as_bytes().to_vec()),
    ];
    let rows = connection
        .query(sql, parameters)
        .await
        .map_err(|e| e.for_table(&options.table))?;
    Ok(rows
        .into_iter()
        .filter_map(|row| row.into_iter().next().flatten())
        .map(|name| String::from_utf8_lossy(&name).into_owned())
        .collect())
}
