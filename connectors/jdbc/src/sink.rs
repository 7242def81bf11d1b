//! The `jdbc` sink (Flink's `JdbcDynamicTableSink`): changes are held,
//! reduced to the last change of each key, and written in batches inside
//! one transaction per flush — upserts by the primary key and deletes by
//! key, or plain inserts without a key. A flush happens when
//! `sink.buffer-flush.max-rows` changes are held, every
//! `sink.buffer-flush.interval`, and at every checkpoint barrier, so a
//! completed checkpoint has everything before it in the database, and a
//! restore replays the later changes as idempotent upserts: the table ends
//! as in an uninterrupted run.

use std::time::Duration;

use arrow::array::Array;
use arrow::record_batch::RecordBatch;
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::{ErrorClass, Result, Sink};

use crate::changes::{HeldChanges, Reduced};
use crate::connection::Connection;
use crate::dialect::Statements;
use crate::options::{JdbcOptions, SinkSettings};
use crate::values::{WireValue, statements_with_rows};

/// One subtask of a `jdbc` sink.
pub(crate) struct JdbcSink {
    options: JdbcOptions,
    settings: SinkSettings,
    statements: Statements,
    /// Positions of the primary key's columns.
    key: Vec<usize>,
    held: HeldChanges,
    connection: Option<Connection>,
}

impl JdbcSink {
    /// The sink of `table`; connects on its first write.
    pub fn new(table: &TableDescriptor) -> Result<Self, ConnectorError> {
        let options = JdbcOptions::of_table(table)?;
        let settings = SinkSettings::of_table(table)?;
        let key = key_positions(table, &table.primary_key)?;
        let statements = Statements::of_table(&options, table, key.clone());
        Ok(JdbcSink {
            options,
            settings,
            statements,
            held: HeldChanges::new(key.clone()),
            key,
            connection: None,
        })
    }

    /// Writes what is held, in one transaction, retrying as
    /// `sink.max-retries` says.
    async fn flush_held(&mut self) -> Result<()> {
        let Some(reduced) = self.held.take()? else {
            return Ok(());
        };
        let statements = self.statements_of(&reduced)?;
        let mut attempt = 0;
        loop {
            let outcome = match self.connection.as_mut() {
                Some(connection) => connection.write(statements.clone()).await,
                None => {
                    self.connection = Some(Connection::open(&self.options).await?);
                    continue;
                }
            };
            let Err(error) = outcome else {
                return Ok(());
            };
            // The connection may be broken: the next attempt opens another.
            if let Some(connection) = self.connection.take() {
                connection.close().await;
            }
            if error.class == ErrorClass::User || attempt >= self.settings.max_retries {
                return Err(error.for_table(&self.options.table).into());
            }
            attempt += 1;
            tracing::warn!(table = %self.options.table, attempt, %error, "writing failed; retrying");
            tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
        }
    }

    /// The statements writing `reduced`, with their parameters.
    fn statements_of(&self, reduced: &Reduced) -> Result<Vec<(String, Vec<WireValue>)>> {
        let dialect = self.options.url.dialect;
        let upserted: Vec<&dyn Array> = reduced
            .upserts
            .columns()
            .iter()
            .map(|c| c.as_ref())
            .collect();
        let deleted: Vec<&dyn Array> = self
            .key
            .iter()
            .map(|&k| reduced.deletes.column(k).as_ref())
            .collect();
        let mut statements =
            statements_with_rows(&upserted, dialect, |rows| self.statements.upsert(rows))?;
        statements.extend(statements_with_rows(&deleted, dialect, |rows| {
            self.statements.delete(rows)
        })?);
        Ok(statements)
    }
}

/// The positions of `names` among the table's columns.
pub(crate) fn key_positions(
    table: &TableDescriptor,
    names: &[String],
) -> Result<Vec<usize>, ConnectorError> {
    names
        .iter()
        .map(|name| {
            table
                .schema
                .index_of(name)
                .map_err(|_| ConnectorError::UnsupportedColumn {
                    table: table.name.clone(),
                    column: name.clone(),
                    data_type: String::new(),
                    reason: "is a key column the table does not declare".into(),
                })
        })
        .collect()
}

#[async_trait::async_trait]
impl Sink for JdbcSink {
    async fn write_batch(&mut self, batch: RecordBatch) -> Result<()> {
        self.held.push(batch);
        if self.settings.max_rows > 0 && self.held.rows() >= self.settings.max_rows {
            self.flush_held().await?;
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        self.flush_held().await?;
        if let Some(connection) = self.connection.take() {
            connection.close().await;
        }
        Ok(())
    }

    async fn pre_commit(&mut self, _checkpoint_id: u64) -> Result<String> {
        self.flush_held().await?;
        Ok(String::new())
    }

    fn flush_interval(&self) -> Option<Duration> {
        self.settings.interval
    }

    async fn flush(&mut self) -> Result<()> {
        let due = match (self.held.since(), self.settings.interval) {
            (Some(since), Some(interval)) => since.elapsed() >= interval,
            _ => false,
        };
        if due {
            self.flush_held().await?;
        }
        Ok(())
    }
}
