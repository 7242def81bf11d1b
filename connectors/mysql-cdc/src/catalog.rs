//! The captured tables as the server describes them
//! (`information_schema`), and how a table's declared columns are found in
//! each of them ([`Projection`]).

use std::fmt;

use arrow::datatypes::{DataType, SchemaRef};
use mysql_async::prelude::Queryable;
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use serde::{Deserialize, Serialize};

use crate::connection::{Session, query_error};
use crate::options::CdcOptions;
use crate::values::ColumnKind;

/// A server table: its database and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct TableId {
    /// The database (schema).
    pub database: String,
    /// The table.
    pub table: String,
}

impl TableId {
    /// `` `db`.`table` ``, for statements.
    pub(crate) fn quoted(&self) -> String {
        format!("{}.{}", quote(&self.database), quote(&self.table))
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.database, self.table)
    }
}

/// A name quoted for MySQL: `` `a``b` ``.
pub(crate) fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A column as the server describes it.
#[derive(Debug, Clone)]
pub(crate) struct ServerColumn {
    /// Its name.
    pub name: String,
    /// How its values convert.
    pub kind: ColumnKind,
    /// Its full type (`bigint(20) unsigned`), for messages.
    pub column_type: String,
}

/// A captured table as the server describes it.
#[derive(Debug, Clone)]
pub(crate) struct ServerTable {
    /// Which table.
    pub id: TableId,
    /// Its columns in order.
    pub columns: Vec<ServerColumn>,
    /// Its primary key columns in key order; empty without one.
    pub primary_key: Vec<String>,
}

impl ServerTable {
    /// The column named `name` (MySQL compares column names without case).
    pub(crate) fn column(&self, name: &str) -> Option<&ServerColumn> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The column chunks are cut by: the configured one, else the first
    /// primary-key column; a table with neither is refused with advice.
    pub(crate) fn chunk_key(
        &self,
        table: &TableDescriptor,
        options: &CdcOptions,
    ) -> Result<ServerColumn, ConnectorError> {
        let name = match (&options.chunk_key_column, self.primary_key.first()) {
            (Some(name), _) => name.clone(),
            (None, Some(first)) => first.clone(),
            (None, None) => {
                return Err(ConnectorError::InvalidOption {
                    table: table.name.clone(),
                    key: crate::options::CHUNK_KEY_COLUMN.key.into(),
                    value: String::new(),
                    expected: format!(
                        "must name the column to cut the snapshot of {} into chunks by: it has no primary key",
                        self.id
                    ),
                });
            }
        };
        let column = self
            .column(&name)
            .ok_or_else(|| ConnectorError::InvalidOption {
                table: table.name.clone(),
                key: crate::options::CHUNK_KEY_COLUMN.key.into(),
                value: name.clone(),
                expected: format!("must name a column of {}", self.id),
            })?;
        Ok(column.clone())
    }
}

/// The tables of the server the options capture, by name.
pub(crate) async fn captured_tables(
    session: &mut Session,
    options: &CdcOptions,
) -> Result<Vec<TableId>, ConnectorError> {
    let rows: Vec<(String, String)> = session
        .conn
        .query(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES \
             WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN \
             ('mysql', 'information_schema', 'performance_schema', 'sys') \
             ORDER BY TABLE_SCHEMA, TABLE_NAME",
        )
        .await
        .map_err(|e| query_error(&session.table, "listing the server's tables", e))?;
    Ok(rows
        .into_iter()
        .filter(|(database, table)| options.captures(database, table))
        .map(|(database, table)| TableId { database, table })
        .collect())
}

/// Describes one table.
pub(crate) async fn describe(
    session: &mut Session,
    id: &TableId,
) -> Result<ServerTable, ConnectorError> {
    let context = format!("describing {id}");
    let columns: Vec<(String, String, String)> = session
        .conn
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (&id.database, &id.table),
        )
        .await
        .map_err(|e| query_error(&session.table, &context, e))?;
    let primary_key: Vec<String> = session
        .conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' \
             ORDER BY ORDINAL_POSITION",
            (&id.database, &id.table),
        )
        .await
        .map_err(|e| query_error(&session.table, &context, e))?;
    let columns = columns
        .into_iter()
        .map(|(name, data_type, column_type)| {
            let kind = ColumnKind::of_schema(&data_type, &column_type).ok_or_else(|| {
                ConnectorError::UnsupportedColumn {
                    table: session.table.clone(),
                    column: format!("{id}.{name}"),
                    data_type: column_type.clone(),
                    reason: "the server's type has no Flink counterpart".into(),
                }
            });
            kind.map(|kind| ServerColumn {
                name,
                kind,
                column_type,
            })
        })
        .collect::<Result<Vec<_>, _>>();
    Ok(ServerTable {
        id: id.clone(),
        columns: columns?,
        primary_key,
    })
}

/// Where the declared physical columns are among a server table's
/// columns, checked for types that convert.
#[derive(Debug, Clone)]
pub(crate) struct Projection {
    /// Per declared column: the server column's name and kind.
    pub columns: Vec<(String, ColumnKind)>,
}

impl Projection {
    /// Finds each declared column of `schema` in `server` (by name,
    /// without case) and checks that its values convert; the error names
    /// the table and the column.
    pub(crate) fn of(
        table: &TableDescriptor,
        schema: &SchemaRef,
        server: &ServerTable,
    ) -> Result<Projection, ConnectorError> {
        let mut columns = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let column =
                server
                    .column(field.name())
                    .ok_or_else(|| ConnectorError::UnsupportedColumn {
                        table: table.name.clone(),
                        column: field.name().clone(),
                        data_type: field.data_type().to_string(),
                        reason: format!("{} has no such column", server.id),
                    })?;
            if !converts(&column.kind, field.data_type()) {
                return Err(ConnectorError::UnsupportedColumn {
                    table: table.name.clone(),
                    column: field.name().clone(),
                    data_type: field.data_type().to_string(),
                    reason: format!(
                        "{}.{} is {}: declare it as Flink CDC maps that type",
                        server.id, column.name, column.column_type
                    ),
                });
            }
            columns.push((column.name.clone(), column.kind.clone()));
        }
        Ok(Projection { columns })
    }
}

/// Whether values of `kind` convert to `target` (the pairs
/// [`crate::values::Cell::of_value`] handles).
pub(crate) fn converts(kind: &ColumnKind, target: &DataType) -> bool {
    use ColumnKind as K;
    match target {
        DataType::Boolean => matches!(kind, K::Integer | K::Bit),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            matches!(kind, K::Integer | K::Year | K::Bit)
        }
        DataType::Float32 | DataType::Float64 => {
            matches!(kind, K::Integer | K::Float | K::Double | K::Decimal)
        }
        DataType::Decimal128(..) => matches!(kind, K::Integer | K::Decimal),
        DataType::Utf8 | DataType::Binary => true,
        DataType::Date32 => matches!(kind, K::Date | K::DateTime),
        DataType::Timestamp(_, None) => matches!(kind, K::Date | K::DateTime),
        DataType::Timestamp(_, Some(_)) => matches!(kind, K::Timestamp),
        DataType::Time32(_) | DataType::Time64(_) => matches!(kind, K::Time),
        _ => false,
    }
}
