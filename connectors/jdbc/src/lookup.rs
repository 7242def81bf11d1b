//! The `jdbc` lookup table (Flink's `JdbcRowDataLookupFunction`): the
//! rows of a batch's distinct keys, fetched with `WHERE (k...) IN (...)`
//! statements run concurrently on a few connections, through the partial
//! cache when `lookup.cache` = `PARTIAL`. Flink looks up one key per
//! query; a batch's keys in a few queries is what keeps a slow database
//! from serializing the stream.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};
use futures::future::try_join_all;
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::lookup::{LookupRows, LookupTable};
use rtdw_operators::{ErrorClass, Result, StreamError};

use crate::cache::PartialCache;
use crate::connection::Connection;
use crate::dialect::Statements;
use crate::options::{JdbcOptions, LookupSettings};
use crate::sink::key_positions;
use crate::values::{WireValue, batch_from_text, statements_with_rows};

/// Queries of one batch run at once at most, each on its own connection.
const CONCURRENT_QUERIES: usize = 4;

/// One subtask's lookup table.
pub(crate) struct JdbcLookup {
    options: JdbcOptions,
    settings: LookupSettings,
    statements: Statements,
    /// Positions of the lookup keys among the table's columns.
    key_columns: Vec<usize>,
    schema: SchemaRef,
    /// Open connections, up to [`CONCURRENT_QUERIES`].
    connections: Vec<Connection>,
    cache: Option<PartialCache>,
}

impl JdbcLookup {
    /// The lookup table of `table` by the columns `keys`; connects on the
    /// first lookup.
    pub fn new(table: &TableDescriptor, keys: &[String]) -> Result<Self, ConnectorError> {
        let options = JdbcOptions::of_table(table)?;
        let settings = LookupSettings::of_table(table)?;
        let key_columns = key_positions(table, keys)?;
        let statements = Statements::of_table(&options, table, Vec::new());
        Ok(JdbcLookup {
            cache: settings.cache.map(PartialCache::new),
            options,
            settings,
            statements,
            key_columns,
            schema: table.schema.clone(),
            connections: Vec::new(),
        })
    }

    /// The table's rows of `keys` (one array per key column) from the
    /// database, retrying as `lookup.max-retries` says.
    async fn query(&mut self, keys: &[ArrayRef]) -> Result<RecordBatch> {
        // Rendered before the first wait: a renderer stays on its thread.
        let arrays: Vec<&dyn Array> = keys.iter().map(|k| k.as_ref()).collect();
        let statements = statements_with_rows(&arrays, self.options.url.dialect, |rows| {
            self.statements.select_where_equal(&self.key_columns, rows)
        })?;
        let mut found = Vec::new();
        for wave in statements.chunks(CONCURRENT_QUERIES) {
            found.extend(self.run_wave(wave).await?);
        }
        let found = found
            .into_iter()
            .map(|rows| batch_from_text(&self.schema, rows, &self.options))
            .collect::<Result<Vec<_>, ConnectorError>>()?;
        Ok(concat_batches(&self.schema, &found)?)
    }

    /// Runs `statements` at once, one per connection, retrying a failed
    /// wave on new connections.
    async fn run_wave(
        &mut self,
        statements: &[(String, Vec<WireValue>)],
    ) -> Result<Vec<Vec<Vec<WireValue>>>> {
        let mut attempt = 0;
        loop {
            while self.connections.len() < statements.len() {
                self.connections
                    .push(Connection::open(&self.options).await?);
            }
            let queries =
                self.connections.iter_mut().zip(statements).map(
                    |(connection, (sql, parameters))| connection.query(sql, parameters.clone()),
                );
            let error = match try_join_all(queries).await {
                Ok(rows) => return Ok(rows),
                Err(error) => error,
            };
            // A connection may be broken: start over with new ones.
            for connection in self.connections.drain(..) {
                connection.close().await;
            }
            if error.class == ErrorClass::User || attempt >= self.settings.max_retries {
                return Err(error.for_table(&self.options.table).into());
            }
            attempt += 1;
            tracing::warn!(table = %self.options.table, attempt, %error, "a lookup failed; retrying");
            tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
        }
    }
}

/// Keys in Arrow's row format, comparable across batches.
fn encode(columns: &[ArrayRef]) -> Result<Rows> {
    let converter = RowConverter::new(
        columns
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    Ok(converter.convert_columns(columns)?)
}

#[async_trait::async_trait]
impl LookupTable for JdbcLookup {
    async fn lookup(&mut self, keys: &[ArrayRef]) -> Result<LookupRows> {
        let encoded = encode(keys)?;
        let now = Instant::now();
        // Per key, its rows: from the cache, or from the database.
        let mut rows_of_key: Vec<Option<RecordBatch>> = (0..encoded.num_rows())
            .map(|k| {
                self.cache
                    .as_mut()
                    .and_then(|cache| cache.get(encoded.row(k).as_ref(), now))
            })
            .collect();
        let missed: Vec<u32> = (0..rows_of_key.len() as u32)
            .filter(|&k| rows_of_key[k as usize].is_none())
            .collect();
        if !missed.is_empty() {
            let missed_indices = UInt32Array::from(missed.clone());
            let missed_keys = keys
                .iter()
                .map(|k| arrow::compute::take(k.as_ref(), &missed_indices, None))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let fetched = self.query(&missed_keys).await?;
            let fetched_keys: Vec<ArrayRef> = self
                .key_columns
                .iter()
                .map(|&c| fetched.column(c).clone())
                .collect();
            let fetched_encoded = encode(&fetched_keys)?;
            let mut found_rows: HashMap<&[u8], Vec<u32>> = HashMap::new();
            for row in 0..fetched.num_rows() {
                found_rows
                    .entry(fetched_encoded.row(row).data())
                    .or_default()
                    .push(row as u32);
            }
            for &k in &missed {
                let rows = found_rows
                    .get(encoded.row(k as usize).data())
                    .cloned()
                    .unwrap_or_default();
                let rows = take_record_batch(&fetched, &UInt32Array::from(rows))?;
                if let Some(cache) = self.cache.as_mut() {
                    cache.put(encoded.row(k as usize).as_ref().to_vec(), rows.clone(), now);
                }
                rows_of_key[k as usize] = Some(rows);
            }
        }
        let mut key_of_row = Vec::new();
        let mut batches = Vec::new();
        for (k, rows) in rows_of_key.into_iter().enumerate() {
            let rows = rows.ok_or_else(|| {
                StreamError::Failed(format!(
                    "key {k} of a lookup was neither cached nor fetched"
                ))
            })?;
            key_of_row.extend(std::iter::repeat_n(k as u32, rows.num_rows()));
            batches.push(rows);
        }
        Ok(LookupRows {
            keys: UInt32Array::from(key_of_row),
            rows: concat_batches(&self.schema, &batches)?,
        })
    }
}
