//! Watermark generation for a table's `WATERMARK FOR ts AS ts - INTERVAL ...`
//! (bounded out-of-orderness), with the rule of Flink SQL's
//! `WatermarkAssignerOperator`:
//!
//! - the watermark is the largest `ts - delay` over the rows seen so far (not
//!   the DataStream API's `max_ts - delay - 1`: SQL evaluates the watermark
//!   expression per row and keeps its maximum);
//! - it starts at 0 and is handed out only when it grew past the last one
//!   handed out, so event times before `1970-01-01 + delay` never produce a
//!   watermark;
//! - watermarks arriving from upstream are swallowed, except the end-of-input
//!   watermark `i64::MAX`, which is forwarded once.
//!
//! Flink hands the watermark out on a timer (every 200 ms by default); here it
//! is offered after every batch through [`Operator::generated_watermark`].
//! Rows with a NULL time pass through and do not move the watermark (Flink
//! fails the job on them; the operators downstream drop and count them).
//! The assigner keeps no checkpointed state, as in Flink: after a restore the
//! watermark starts over from the replayed rows.
//!
//! **Per-split watermarks.** When the source of the chain reads splits one
//! batch at a time (Kafka partitions, [`crate::Source::split_view`]), the
//! assigner keeps the largest `ts - delay` of each split it reads and hands
//! out their minimum, as Flink's sources do: a partition that runs ahead
//! does not make the rows of a slower one late. A split that has given no
//! rows yet holds the watermark back, until, with an idle timeout
//! (`table.exec.source.idle-timeout`), it has given none for that long:
//! an idle split is left out of the minimum until it gives rows again.

use std::time::{Duration, Instant};

use arrow::compute::max;
use arrow::record_batch::RecordBatch;

use crate::error::{Result, StreamError};
use crate::event_time;
use crate::operator::Operator;

/// How often an assigner with an idle timeout looks for splits that went
/// idle (Flink's periodic watermark interval).
const IDLE_CHECK_INTERVAL: Duration = Duration::from_millis(200);

/// The watermark of one source split.
#[derive(Debug)]
struct SplitWatermark {
    id: String,
    /// The largest `ts - delay` of its rows; `i64::MIN` before any.
    current: i64,
    /// When it last gave rows (or was first read).
    last_rows: Instant,
}

/// Generates watermarks from the event-time column of the rows passing
/// through, holding them back by a fixed delay.
#[derive(Debug)]
pub struct WatermarkAssigner {
    time_column: usize,
    delay_ms: i64,
    idle_timeout: Option<Duration>,
    /// The largest `ts - delay` seen (0 before any row, as in Flink), when
    /// the source does not read by splits.
    current: i64,
    /// The splits the source reads, once it says it reads by splits.
    splits: Option<Vec<SplitWatermark>>,
    /// The split of the next batch, an index into `splits`.
    batch_split: Option<usize>,
    /// The last watermark handed out.
    emitted: i64,
}

impl WatermarkAssigner {
    /// An assigner reading event times from input column `time_column` (a
    /// `TIMESTAMP(3)` or `TIMESTAMP(6)`) and trailing them by `delay_ms`.
    pub fn new(time_column: usize, delay_ms: i64) -> Self {
        WatermarkAssigner {
            time_column,
            delay_ms,
            idle_timeout: None,
            current: 0,
            splits: None,
            batch_split: None,
            emitted: 0,
        }
    }

    /// Leaves a split that gave no rows for `timeout` out of the watermark
    /// until it gives rows again (`None` or zero: never).
    pub fn with_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout.filter(|t| !t.is_zero());
        self
    }

    /// The watermark the rows seen so far allow at `now`: the global one,
    /// or the minimum over the splits not idle (`None` while all are).
    fn allowed(&self, now: Instant) -> Option<i64> {
        let Some(splits) = &self.splits else {
            return Some(self.current);
        };
        splits
            .iter()
            .filter(|split| {
                self.idle_timeout
                    .is_none_or(|timeout| now.duration_since(split.last_rows) < timeout)
            })
            .map(|split| split.current)
            .min()
    }
}

impl Operator for WatermarkAssigner {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let column = batch.columns().get(self.time_column).ok_or_else(|| {
            StreamError::Failed(format!(
                "the watermark's time column {} is missing from a batch of {} columns",
                self.time_column,
                batch.num_columns()
            ))
        })?;
        let latest = max(&event_time::millis(column)?);
        let split = self
            .batch_split
            .take()
            .and_then(|i| self.splits.as_mut()?.get_mut(i));
        match split {
            Some(split) => {
                if batch.num_rows() > 0 {
                    split.last_rows = Instant::now();
                }
                if let Some(latest) = latest {
                    split.current = split.current.max(latest.saturating_sub(self.delay_ms));
                }
            }
            None => {
                if let Some(latest) = latest {
                    self.current = self.current.max(latest.saturating_sub(self.delay_ms));
                }
            }
        }
        out.push(batch);
        Ok(())
    }

    fn process_watermark(
        &mut self,
        watermark: i64,
        _out: &mut Vec<RecordBatch>,
    ) -> Result<Option<i64>> {
        if watermark == i64::MAX && self.emitted != i64::MAX {
            self.current = i64::MAX;
            self.splits = None;
            self.emitted = i64::MAX;
            return Ok(Some(i64::MAX));
        }
        Ok(None)
    }

    fn generated_watermark(&mut self) -> Option<i64> {
        let allowed = self.allowed(Instant::now())?;
        (allowed > self.emitted).then(|| {
            self.emitted = allowed;
            allowed
        })
    }

    fn flush_interval(&self) -> Option<Duration> {
        self.idle_timeout
            .map(|timeout| timeout.min(IDLE_CHECK_INTERVAL))
    }

    fn source_splits(&mut self, reading: &[String]) {
        let mut before = self.splits.take().unwrap_or_default();
        let now = Instant::now();
        let splits = reading
            .iter()
            .map(|id| match before.iter().position(|split| split.id == *id) {
                Some(i) => before.swap_remove(i),
                None => SplitWatermark {
                    id: id.clone(),
                    current: i64::MIN,
                    last_rows: now,
                },
            })
            .collect();
        self.splits = Some(splits);
        self.batch_split = None;
    }

    fn next_batch_split(&mut self, split: &str) {
        self.batch_split = self
            .splits
            .as_ref()
            .and_then(|splits| splits.iter().position(|s| s.id == split));
    }
}

#[cfg(test)]
mod tests;
