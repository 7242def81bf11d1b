//! One connection to a MySQL/MariaDB or PostgreSQL server, behind the few
//! operations the connector needs: write statements in one transaction,
//! and query rows as text. Sessions run in UTC, so `TIMESTAMP_LTZ`
//! instants cross exactly.

use std::error::Error;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use mysql_async::prelude::Queryable;
use rtdw_connector_core::ConnectorError;
use rtdw_operators::ErrorClass;
use tokio::sync::mpsc;
use tokio_postgres::types::{Format, IsNull, ToSql, Type, to_sql_checked};

use crate::options::JdbcOptions;
use crate::url::{Dialect, JdbcUrl};
use crate::values::{WireValue, mysql_text};

/// A database error with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub(crate) struct DbError {
    /// What was being done.
    pub context: String,
    /// Whether the user must fix something (credentials, a missing table
    /// or column, a value the column refuses) or retrying may help.
    pub class: ErrorClass,
    /// The driver's error.
    #[source]
    pub source: Box<dyn Error + Send + Sync>,
}

impl DbError {
    /// A MySQL failure while doing `context`.
    fn mysql(context: impl Into<String>, error: mysql_async::Error) -> Self {
        DbError {
            context: context.into(),
            class: mysql_class(&error),
            source: error.into(),
        }
    }

    /// A PostgreSQL failure while doing `context`.
    fn postgres(context: impl Into<String>, error: tokio_postgres::Error) -> Self {
        DbError {
            context: context.into(),
            class: postgres_class(&error),
            source: error.into(),
        }
    }

    /// The error as the connector reports it, naming the table.
    pub fn for_table(self, table: &str) -> ConnectorError {
        ConnectorError::external(table, self.context, self.class, self.source)
    }
}

/// A MySQL error's class: the server's own codes for what a user must fix.
fn mysql_class(error: &mysql_async::Error) -> ErrorClass {
    match error {
        // Access denied, unknown database/table/column, bad values,
        // syntax: the user's to fix.
        mysql_async::Error::Server(server) => match server.code {
            1044 | 1045 | 1049 | 1054 | 1064 | 1146 | 1264 | 1292 | 1364 | 1366 | 1406 => {
                ErrorClass::User
            }
            _ => ErrorClass::Transient,
        },
        _ => ErrorClass::Transient,
    }
}

/// A PostgreSQL error's class, by SQLSTATE class: authorization (28),
/// syntax and missing objects (42), bad data (22), constraints (23).
fn postgres_class(error: &tokio_postgres::Error) -> ErrorClass {
    match error.code().map(|c| c.code()) {
        Some(code)
            if ["28", "42", "22", "23", "3D"]
                .iter()
                .any(|c| code.starts_with(c)) =>
        {
            ErrorClass::User
        }
        _ => ErrorClass::Transient,
    }
}

/// A parameter in PostgreSQL's text format: the server parses it as the
/// type the statement gives the parameter.
#[derive(Debug)]
struct TextParameter(WireValue);

impl ToSql for TextParameter {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match &self.0 {
            Some(text) => {
                out.extend_from_slice(text);
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// An open connection.
pub(crate) enum Connection {
    /// To MySQL or MariaDB.
    MySql(mysql_async::Conn),
    /// To PostgreSQL; the driver task runs the protocol.
    Postgres(tokio_postgres::Client),
}

impl Connection {
    /// Connects, retrying for `connection.max-retry-timeout` while the
    /// server is unreachable; wrong credentials or a missing database fail
    /// at once.
    pub async fn open(options: &JdbcOptions) -> Result<Connection, ConnectorError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            match Connection::open_once(&options.url).await {
                Ok(connection) => return Ok(connection),
                Err(error)
                    if error.class == ErrorClass::Transient
                        && started.elapsed() + pause < options.retry_timeout =>
                {
                    tracing::warn!(table = %options.table, %error, "connecting failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(error) => return Err(error.for_table(&options.table)),
            }
        }
    }

    /// One attempt to connect.
    async fn open_once(url: &JdbcUrl) -> Result<Connection, DbError> {
        let context = format!("connecting to {}", url.describe());
        match url.dialect {
            Dialect::MySql => {
                let opts = mysql_async::OptsBuilder::default()
                    .ip_or_hostname(url.host.clone())
                    .tcp_port(url.port)
                    .db_name(Some(url.database.clone()))
                    .user(url.user.clone())
                    .pass(url.password.clone())
                    .init(vec!["SET time_zone = '+00:00'".to_string()]);
                mysql_async::Conn::new(opts)
                    .await
                    .map(Connection::MySql)
                    .map_err(|e| DbError::mysql(context, e))
            }
            Dialect::Postgres => {
                let mut config = tokio_postgres::Config::new();
                config
                    .host(&url.host)
                    .port(url.port)
                    .dbname(&url.database)
                    .options("-c TimeZone=UTC");
                if let Some(user) = &url.user {
                    config.user(user);
                }
                if let Some(password) = &url.password {
                    config.password(password);
                }
                let (client, driver) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| DbError::postgres(context, e))?;
                tokio::spawn(async move {
                    if let Err(error) = driver.await {
                        tracing::debug!(%error, "a PostgreSQL connection ended");
                    }
                });
                Ok(Connection::Postgres(client))
            }
        }
    }

    /// Runs `statements` (each with its parameters) in one transaction.
    pub async fn write(
        &mut self,
        statements: Vec<(String, Vec<WireValue>)>,
    ) -> Result<(), DbError> {
        match self {
            Connection::MySql(conn) => {
                let mut transaction = conn
                    .start_transaction(mysql_async::TxOpts::default())
                    .await
                    .map_err(|e| DbError::mysql("starting a transaction", e))?;
                for (sql, parameters) in statements {
                    transaction
                        .exec_drop(sql.as_str(), mysql_parameters(parameters))
                        .await
                        .map_err(|e| DbError::mysql(statement_context(&sql), e))?;
                }
                transaction
                    .commit()
                    .await
                    .map_err(|e| DbError::mysql("committing", e))
            }
            Connection::Postgres(client) => {
                let transaction = client
                    .transaction()
                    .await
                    .map_err(|e| DbError::postgres("starting a transaction", e))?;
                for (sql, parameters) in statements {
                    transaction
                        .execute_raw(sql.as_str(), text_parameters(parameters))
                        .await
                        .map_err(|e| DbError::postgres(statement_context(&sql), e))?;
                }
                transaction
                    .commit()
                    .await
                    .map_err(|e| DbError::postgres("committing", e))
            }
        }
    }

    /// The rows of a query whose selected columns come back as text
    /// ([`crate::dialect::Statements`] selects them so).
    pub async fn query(
        &mut self,
        sql: &str,
        parameters: Vec<WireValue>,
    ) -> Result<Vec<Vec<WireValue>>, DbError> {
        match self {
            Connection::MySql(conn) => {
                let rows: Vec<mysql_async::Row> = conn
                    .exec(sql, mysql_parameters(parameters))
                    .await
                    .map_err(|e| DbError::mysql(statement_context(sql), e))?;
                Ok(rows
                    .into_iter()
                    .map(|row| row.unwrap().into_iter().map(mysql_text).collect())
                    .collect())
            }
            Connection::Postgres(client) => {
                let failed = |e| DbError::postgres(statement_context(sql), e);
                let rows: Vec<tokio_postgres::Row> = client
                    .query_raw(sql, text_parameters(parameters))
                    .await
                    .map_err(failed)?
                    .try_collect()
                    .await
                    .map_err(failed)?;
                rows.iter().map(|row| postgres_text_row(row, sql)).collect()
            }
        }
    }

    /// Streams the rows of a query whose selected columns come back as
    /// text into `chunks`, `chunk_rows` rows at a time, without holding
    /// the whole result; stops early when the receiver is gone.
    pub async fn scan(
        &mut self,
        sql: &str,
        parameters: Vec<WireValue>,
        chunk_rows: usize,
        chunks: &mpsc::Sender<Vec<Vec<WireValue>>>,
    ) -> Result<(), DbError> {
        let mut chunk = Vec::with_capacity(chunk_rows);
        match self {
            Connection::MySql(conn) => {
                let failed = |e| DbError::mysql(statement_context(sql), e);
                let mut result = conn
                    .exec_iter(sql, mysql_parameters(parameters))
                    .await
                    .map_err(failed)?;
                while let Some(row) = result.next().await.map_err(failed)? {
                    chunk.push(row.unwrap().into_iter().map(mysql_text).collect());
                    if chunk.len() == chunk_rows && !send(chunks, &mut chunk, chunk_rows).await {
                        return Ok(());
                    }
                }
            }
            Connection::Postgres(client) => {
                let failed = |e| DbError::postgres(statement_context(sql), e);
                let rows = client
                    .query_raw(sql, text_parameters(parameters))
                    .await
                    .map_err(failed)?;
                futures::pin_mut!(rows);
                while let Some(row) = rows.try_next().await.map_err(failed)? {
                    chunk.push(postgres_text_row(&row, sql)?);
                    if chunk.len() == chunk_rows && !send(chunks, &mut chunk, chunk_rows).await {
                        return Ok(());
                    }
                }
            }
        }
        if !chunk.is_empty() {
            send(chunks, &mut chunk, chunk_rows).await;
        }
        Ok(())
    }

    /// Closes the connection politely.
    pub async fn close(self) {
        match self {
            Connection::MySql(conn) => {
                if let Err(error) = conn.disconnect().await {
                    tracing::debug!(%error, "closing a MySQL connection failed");
                }
            }
            Connection::Postgres(client) => drop(client),
        }
    }
}

/// Parameters in PostgreSQL's text format.
fn text_parameters(parameters: Vec<WireValue>) -> Vec<TextParameter> {
    parameters.into_iter().map(TextParameter).collect()
}

/// Parameters as MySQL statement values: text (or raw bytes) the server
/// converts to each column's type.
fn mysql_parameters(parameters: Vec<WireValue>) -> Vec<mysql_async::Value> {
    parameters
        .into_iter()
        .map(|p| p.map_or(mysql_async::Value::NULL, mysql_async::Value::Bytes))
        .collect()
}

/// The values of a PostgreSQL row whose columns were selected as text.
fn postgres_text_row(row: &tokio_postgres::Row, sql: &str) -> Result<Vec<WireValue>, DbError> {
    (0..row.len())
        .map(|i| {
            row.try_get::<_, Option<&str>>(i)
                .map(|v| v.map(|t| t.as_bytes().to_vec()))
                .map_err(|e| DbError {
                    context: statement_context(sql),
                    class: ErrorClass::User,
                    source: e.into(),
                })
        })
        .collect()
}

/// Sends the chunk on, leaving an empty one; false when nobody listens.
async fn send(
    chunks: &mpsc::Sender<Vec<Vec<WireValue>>>,
    chunk: &mut Vec<Vec<WireValue>>,
    chunk_rows: usize,
) -> bool {
    let full = std::mem::replace(chunk, Vec::with_capacity(chunk_rows));
    chunks.send(full).await.is_ok()
}

/// `running <the statement's start>`: statements can be long.
fn statement_context(sql: &str) -> String {
    const SHOWN: usize = 120;
    match sql.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("running '{} ...'", &sql[..end]),
        None => format!("running '{sql}'"),
    }
}
