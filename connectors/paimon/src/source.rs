//! One subtask of a Paimon source: it reads its splits (buckets) in full at
//! their starting snapshot, then follows the table snapshot by snapshot,
//! reading each snapshot's changes to its buckets, and stops after the
//! full reads when the read is bounded.
//!
//! A primary-key table's changes leave as upserts (`+I`, `+U`, `-D`; the
//! planner restores the before-images), an append table's as inserts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, Int8Array, StringArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use futures::stream::BoxStream;
use paimon::Table;
use paimon::table::{IncrementalPlan, IncrementalScanMode, IncrementalSplit};
use rtdw_connector_core::split::encode_splits;
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::row_kind::{RowKind, changelog_schema};
use rtdw_operators::{Result, Source, SourceSplit, StreamError};

use crate::bridge;
use crate::options::{PaimonSettings, ScanSettings};
use crate::splits::{Bucket, Progress, START, full_plan};
use crate::table::{declared_columns, open_for_job, paimon_error};

/// How long an idle source waits before returning an empty batch, so that
/// checkpoints pass.
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// A split being read.
struct Cursor {
    split_id: String,
    bucket: Bucket,
    progress: Progress,
}

/// The read in progress: the cursor it advances and its batches.
struct Reading {
    cursor: usize,
    batches: BoxStream<'static, paimon::Result<arrow58::record_batch::RecordBatch>>,
    /// Rows to skip: emitted before a restore.
    skip: u64,
    /// Rows are a changelog whose first column holds the row kinds.
    with_kinds: bool,
}

/// The last plan of the table, kept for the next bucket that reads the
/// same snapshot: a subtask's splits read each snapshot one after another,
/// and planning reads the snapshot's manifests.
enum Planned {
    /// The data splits of a snapshot read in full.
    Full {
        snapshot: i64,
        splits: Vec<paimon::DataSplit>,
    },
    /// The splits of a snapshot's changes.
    Changes {
        snapshot: i64,
        mode: IncrementalScanMode,
        splits: Vec<IncrementalSplit>,
    },
}

/// The source of one subtask.
pub struct PaimonSource {
    declared: TableDescriptor,
    settings: PaimonSettings,
    scan: ScanSettings,
    /// What leaves: the declared columns, then the row kinds for a
    /// primary-key table.
    output: SchemaRef,
    keyed: bool,
    table: Option<Table>,
    cursors: Vec<Cursor>,
    /// Splits read to their end (bounded reads) and the start marker.
    finished: Vec<SourceSplit>,
    reading: Option<Reading>,
    /// The latest snapshot seen, and when it was looked up.
    latest: Option<(i64, Instant)>,
    planned: Option<Planned>,
}

impl PaimonSource {
    /// The source of `declared`.
    pub fn new(declared: &TableDescriptor) -> std::result::Result<Self, ConnectorError> {
        let settings = PaimonSettings::from_table(declared)?;
        let scan = ScanSettings::from_table(declared)?;
        let keyed = !declared.primary_key.is_empty();
        let output = if keyed {
            changelog_schema(&declared.schema)
        } else {
            declared.schema.clone()
        };
        Ok(PaimonSource {
            declared: declared.clone(),
            settings,
            scan,
            output,
            keyed,
            table: None,
            cursors: Vec::new(),
            finished: Vec::new(),
            reading: None,
            latest: None,
            planned: None,
        })
    }

    fn failed(&self, context: String, error: paimon::Error) -> StreamError {
        paimon_error(&self.declared.name, context, error).into()
    }

    async fn table(&mut self) -> Result<Table> {
        if self.table.is_none() {
            self.table = Some(open_for_job(&self.settings, &self.declared).await?);
        }
        Ok(self.table.clone().expect("opened above"))
    }

    /// The latest snapshot id, looked up again once per discovery interval.
    async fn latest_snapshot(&mut self) -> Result<i64> {
        if let Some((id, at)) = self.latest
            && at.elapsed() < self.scan.discovery_interval
        {
            return Ok(id);
        }
        let table = self.table().await?;
        let latest = table.snapshot_manager().get_latest_snapshot_id().await;
        let id = latest
            .map_err(|e| self.failed("cannot read the latest snapshot".into(), e))?
            .unwrap_or(0);
        self.latest = Some((id, Instant::now()));
        Ok(id)
    }

    /// Starts the next read: a full read first, then the changes of the
    /// oldest snapshot a split still needs. `false` when none is due.
    async fn start_next_read(&mut self) -> Result<bool> {
        let next = match self.cursors.iter().position(|c| c.progress.full) {
            Some(full) => Some(full),
            None if self.scan.bounded => None,
            None => {
                let latest = self.latest_snapshot().await?;
                self.cursors
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.progress.snapshot <= latest)
                    .min_by_key(|(_, c)| c.progress.snapshot)
                    .map(|(i, _)| i)
            }
        };
        let Some(cursor) = next else {
            return Ok(false);
        };
        let table = self.table().await?;
        let Cursor {
            bucket, progress, ..
        } = &self.cursors[cursor];
        let (bucket, progress) = (bucket.clone(), *progress);
        let name = self.declared.name.clone();
        let (batches, with_kinds) = if progress.full {
            let at = progress.snapshot;
            let planned = match self.planned.take() {
                Some(Planned::Full { snapshot, splits }) if snapshot == at => splits,
                _ => full_plan(&table, at, &name).await?,
            };
            let splits: Vec<_> = planned
                .iter()
                .filter(|s| Bucket::of(s) == bucket)
                .cloned()
                .collect();
            self.planned = Some(Planned::Full {
                snapshot: at,
                splits: planned,
            });
            let read = table.new_read_builder();
            let batches = read
                .new_read()
                .and_then(|r| r.to_arrow(&splits))
                .map_err(|e| {
                    self.failed(format!("cannot read snapshot {}", progress.snapshot), e)
                })?;
            (batches, false)
        } else {
            let at = progress.snapshot;
            let read = table.new_read_builder();
            let (mode, planned) = match self.planned.take() {
                Some(Planned::Changes {
                    snapshot,
                    mode,
                    splits,
                }) if snapshot == at => (mode, splits),
                _ => {
                    let plan = read
                        .new_incremental_scan(IncrementalScanMode::Auto, at - 1, at)
                        .plan()
                        .await
                        .map_err(|e| {
                            self.failed(format!("cannot plan the changes of snapshot {at}"), e)
                        })?;
                    (plan.mode(), plan.splits().to_vec())
                }
            };
            let mine: Vec<IncrementalSplit> = planned
                .iter()
                .filter(|s| matches!(s, IncrementalSplit::Data(d) if Bucket::of(d) == bucket))
                .cloned()
                .collect();
            self.planned = Some(Planned::Changes {
                snapshot: at,
                mode,
                splits: planned,
            });
            let batches = read
                .new_read()
                .and_then(|r| r.to_audit_log_arrow(&IncrementalPlan::new(mode, mine)))
                .map_err(|e| self.failed(format!("cannot read the changes of snapshot {at}"), e))?;
            (batches, true)
        };
        self.reading = Some(Reading {
            cursor,
            batches,
            skip: progress.emitted,
            with_kinds,
        });
        Ok(true)
    }

    /// A batch as the source emits it: the declared columns by name, cast
    /// to the declared types, then (primary-key tables) the row kinds,
    /// `-U` rows left out (the planner restores them from the upserts).
    fn conform(&self, batch: &RecordBatch, with_kinds: bool) -> Result<RecordBatch> {
        let mut columns = declared_columns(&self.declared, batch)?;
        if !self.keyed {
            return Ok(RecordBatch::try_new(self.output.clone(), columns)?);
        }
        let kinds: Int8Array = if with_kinds {
            let names = batch
                .column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| {
                    StreamError::Failed("a Paimon change without its row kind".into())
                })?;
            names
                .iter()
                .map(|name| match name.and_then(RowKind::from_short_string) {
                    Some(kind) => Ok(Some(kind as i8)),
                    None => Err(StreamError::Failed(format!(
                        "table '{}': unknown Paimon row kind {name:?}",
                        self.declared.name
                    ))),
                })
                .collect::<Result<_>>()?
        } else {
            Int8Array::from(vec![RowKind::Insert as i8; batch.num_rows()])
        };
        let kept: arrow::array::BooleanArray = kinds
            .iter()
            .map(|k| Some(k != Some(RowKind::UpdateBefore as i8)))
            .collect();
        columns.push(Arc::new(kinds));
        let batch = RecordBatch::try_new(self.output.clone(), columns)?;
        Ok(filter_record_batch(&batch, &kept)?)
    }
}

#[async_trait::async_trait]
impl Source for PaimonSource {
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if let Some(reading) = self.reading.as_mut() {
                match reading.batches.next().await {
                    Some(Ok(batch)) => {
                        let batch = bridge::from_paimon(&batch).map_err(|e| {
                            StreamError::Failed(format!("table '{}': {e}", self.declared.name))
                        })?;
                        let rows = batch.num_rows() as u64;
                        let skipped = reading.skip.min(rows);
                        reading.skip -= skipped;
                        let with_kinds = reading.with_kinds;
                        self.cursors[reading.cursor].progress.emitted += rows;
                        if skipped == rows {
                            continue;
                        }
                        let batch = batch.slice(skipped as usize, (rows - skipped) as usize);
                        return Ok(Some(self.conform(&batch, with_kinds)?));
                    }
                    Some(Err(e)) => {
                        return Err(self.failed("cannot read a data file".into(), e));
                    }
                    None => {
                        let index = reading.cursor;
                        self.reading = None;
                        let cursor = &mut self.cursors[index];
                        cursor.progress = cursor.progress.advanced();
                        if self.scan.bounded {
                            let done = self.cursors.remove(index);
                            self.finished.push(SourceSplit {
                                id: done.split_id,
                                state: done.progress.encode(),
                                finished: true,
                            });
                        }
                    }
                }
                continue;
            }
            if self.start_next_read().await? {
                continue;
            }
            if self.scan.bounded {
                return Ok(None);
            }
            tokio::time::sleep(IDLE_WAIT).await;
            return Ok(Some(RecordBatch::new_empty(self.output.clone())));
        }
    }

    fn snapshot_position(&self) -> Result<String> {
        let held = self.cursors.iter().map(|c| SourceSplit {
            id: c.split_id.clone(),
            state: c.progress.encode(),
            finished: false,
        });
        let splits: Vec<SourceSplit> = self.finished.iter().cloned().chain(held).collect();
        encode_splits(&splits).map_err(|e| {
            StreamError::Failed(format!("cannot encode the Paimon source's splits: {e}"))
        })
    }

    fn restore_position(&mut self, _position: &str) -> Result<()> {
        Err(StreamError::Failed(
            "the Paimon source restores through its splits".into(),
        ))
    }

    fn add_splits(&mut self, splits: Vec<SourceSplit>) -> Result<()> {
        for split in splits {
            if split.finished || split.id == START {
                self.finished.push(split);
                continue;
            }
            let bucket = Bucket::parse(&split.id).map_err(StreamError::Failed)?;
            let progress = Progress::parse(&split.state).map_err(StreamError::Failed)?;
            match self.cursors.iter_mut().find(|c| c.split_id == split.id) {
                Some(known) => known.progress = progress,
                None => self.cursors.push(Cursor {
                    split_id: split.id,
                    bucket,
                    progress,
                }),
            }
        }
        Ok(())
    }
}
