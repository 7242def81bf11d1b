//! The bounded `jdbc` scan source (Flink's `JdbcRowDataInputFormat`):
//! one split per `scan.partition.*` range (`column BETWEEN lower AND
//! upper`, as Flink cuts them), or one split of the whole table. Each
//! split is one query, streamed in chunks of `scan.fetch-size` rows;
//! ordered by the primary key when the table declares one, so a restore
//! skips exactly the rows the checkpoint had read.

use std::collections::VecDeque;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use rtdw_connector_core::options::TableOptions;
use rtdw_connector_core::split::encode_splits;
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::{Result, Source, SourceSplit, StreamError};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::connection::Connection;
use crate::dialect::Statements;
use crate::options::{JdbcOptions, SCAN_FETCH_SIZE, ScanPartitioning};
use crate::sink::key_positions;
use crate::values::{WireValue, batch_from_text};

/// Rows a chunk holds when `scan.fetch-size` leaves it to rtdw.
const DEFAULT_FETCH_SIZE: usize = 8_192;

/// The id of the split reading the whole table.
const WHOLE_TABLE: &str = "table";

/// The splits of a scan: its ranges, or the whole table.
pub(crate) fn splits(table: &TableDescriptor) -> Result<Vec<SourceSplit>, ConnectorError> {
    let ids = match ScanPartitioning::of_table(table)? {
        Some(partitioning) => partitioning
            .ranges()
            .into_iter()
            .map(|range| Range::from(range).id())
            .collect(),
        None => vec![WHOLE_TABLE.to_string()],
    };
    Ok(ids
        .into_iter()
        .map(|id| SourceSplit {
            id,
            state: String::new(),
            finished: false,
        })
        .collect())
}

/// An inclusive range of the partition column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    lower: i64,
    upper: i64,
}

impl From<(i64, i64)> for Range {
    fn from((lower, upper): (i64, i64)) -> Self {
        Range { lower, upper }
    }
}

impl Range {
    /// `lower..=upper`, the split id.
    fn id(self) -> String {
        format!("{}..={}", self.lower, self.upper)
    }

    /// The range of a split id, `None` for the whole table.
    fn of_id(id: &str) -> Result<Option<Range>> {
        if id == WHOLE_TABLE {
            return Ok(None);
        }
        let parsed = id
            .split_once("..=")
            .and_then(|(l, u)| Some((l.parse().ok()?, u.parse().ok()?)));
        parsed
            .map(|range| Some(Range::from(range)))
            .ok_or_else(|| StreamError::Failed(format!("'{id}' is not a jdbc scan split")))
    }
}

/// How far a split was read.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SplitProgress {
    /// Rows of the split emitted.
    rows: u64,
}

/// A split being read: its rows arrive from a reader task.
struct Reading {
    split: String,
    /// Rows emitted so far, those skipped on a restore included.
    rows: u64,
    /// Rows to skip still: a restore's read ones.
    skip: u64,
    chunks: mpsc::Receiver<Vec<Vec<WireValue>>>,
    reader: JoinHandle<std::result::Result<(), ConnectorError>>,
}

/// One subtask of a `jdbc` scan.
pub(crate) struct ScanSource {
    options: JdbcOptions,
    statements: Statements,
    /// The partition column's position, with ranges.
    partition_column: Option<usize>,
    schema: SchemaRef,
    fetch_size: usize,
    pending: VecDeque<SourceSplit>,
    current: Option<Reading>,
    finished: Vec<String>,
}

impl ScanSource {
    /// The scan of `table`.
    pub fn new(table: &TableDescriptor) -> Result<Self, ConnectorError> {
        let options = JdbcOptions::of_table(table)?;
        let table_options = TableOptions::new(table);
        let fetch_size = table_options.integer(&SCAN_FETCH_SIZE)?.unwrap_or(0);
        let fetch_size = usize::try_from(fetch_size).map_err(|_| {
            table_options.invalid(
                SCAN_FETCH_SIZE.key,
                &fetch_size.to_string(),
                "must not be negative",
            )
        })?;
        let partition_column = ScanPartitioning::of_table(table)?
            .map(|p| key_positions(table, &[p.column]))
            .transpose()?
            .and_then(|positions| positions.first().copied());
        let statements =
            Statements::of_table(&options, table, key_positions(table, &table.primary_key)?);
        Ok(ScanSource {
            options,
            statements,
            partition_column,
            schema: table.schema.clone(),
            fetch_size: if fetch_size == 0 {
                DEFAULT_FETCH_SIZE
            } else {
                fetch_size
            },
            pending: VecDeque::new(),
            current: None,
            finished: Vec::new(),
        })
    }

    /// Starts reading the next pending split; false when none is left.
    fn start_next(&mut self) -> Result<bool> {
        let Some(split) = self.pending.pop_front() else {
            return Ok(false);
        };
        let progress: SplitProgress = if split.state.is_empty() {
            SplitProgress::default()
        } else {
            serde_json::from_str(&split.state).map_err(|e| {
                StreamError::Failed(format!("jdbc split state '{}': {e}", split.state))
            })?
        };
        let (sql, parameters) = match (Range::of_id(&split.id)?, self.partition_column) {
            (Some(range), Some(column)) => (
                self.statements.select_between(column),
                vec![
                    Some(range.lower.to_string().into_bytes()),
                    Some(range.upper.to_string().into_bytes()),
                ],
            ),
            (None, _) => (self.statements.select_all(), Vec::new()),
            (Some(_), None) => {
                return Err(StreamError::Failed(format!(
                    "split '{}' reads a range, but table '{}' sets no 'scan.partition.column'",
                    split.id, self.options.table
                )));
            }
        };
        let sql = format!("{sql}{}", self.statements.order_by_key());
        let (sender, chunks) = mpsc::channel(2);
        let options = self.options.clone();
        let fetch_size = self.fetch_size;
        let reader = tokio::spawn(async move {
            let mut connection = Connection::open(&options).await?;
            let scanned = connection.scan(&sql, parameters, fetch_size, &sender).await;
            connection.close().await;
            scanned.map_err(|e| e.for_table(&options.table))
        });
        self.current = Some(Reading {
            split: split.id,
            rows: 0,
            skip: progress.rows,
            chunks,
            reader,
        });
        Ok(true)
    }
}

#[async_trait::async_trait]
impl Source for ScanSource {
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if self.current.is_none() && !self.start_next()? {
                return Ok(None);
            }
            let Some(reading) = self.current.as_mut() else {
                continue;
            };
            match reading.chunks.recv().await {
                Some(rows) => {
                    let count = rows.len() as u64;
                    let skipped = reading.skip.min(count);
                    reading.skip -= skipped;
                    reading.rows += count;
                    let rows: Vec<_> = rows.into_iter().skip(skipped as usize).collect();
                    if !rows.is_empty() {
                        let batch = batch_from_text(&self.schema, rows, &self.options)?;
                        return Ok(Some(batch));
                    }
                }
                None => {
                    let Some(done) = self.current.take() else {
                        continue;
                    };
                    done.reader.await.map_err(|e| {
                        StreamError::Failed(format!("a jdbc scan reader ended: {e}"))
                    })??;
                    self.finished.push(done.split);
                }
            }
        }
    }

    fn snapshot_position(&self) -> Result<String> {
        let finished = self.finished.iter().map(|id| SourceSplit {
            id: id.clone(),
            state: String::new(),
            finished: true,
        });
        let current = self
            .current
            .iter()
            .map(|reading| {
                serde_json::to_string(&SplitProgress { rows: reading.rows }).map(|state| {
                    SourceSplit {
                        id: reading.split.clone(),
                        state,
                        finished: false,
                    }
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| StreamError::Failed(format!("cannot encode a jdbc split: {e}")))?;
        let splits: Vec<SourceSplit> = finished
            .chain(current)
            .chain(self.pending.iter().cloned())
            .collect();
        encode_splits(&splits)
            .map_err(|e| StreamError::Failed(format!("cannot encode the jdbc scan's splits: {e}")))
    }

    fn restore_position(&mut self, _position: &str) -> Result<()> {
        Err(StreamError::Failed(
            "the jdbc scan restores through its splits".into(),
        ))
    }

    fn add_splits(&mut self, splits: Vec<SourceSplit>) -> Result<()> {
        for split in splits {
            if split.finished {
                self.finished.push(split.id);
            } else {
                self.pending.push_back(split);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_ids_carry_their_range() {
        let range = Range::from((-5, 17));
        assert_eq!(range.id(), "-5..=17");
        assert_eq!(Range::of_id("-5..=17").unwrap(), Some(range));
        assert_eq!(Range::of_id(WHOLE_TABLE).unwrap(), None);
        assert!(Range::of_id("5..17").is_err());
    }
}
