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

use arrow::compute::max;
use arrow::record_batch::RecordBatch;

use crate::error::{Result, StreamError};
use crate::event_time;
use crate::operator::Operator;

/// Generates watermarks from the event-time column of the rows passing
/// through, holding them back by a fixed delay.
#[derive(Debug)]
pub struct WatermarkAssigner {
    time_column: usize,
    delay_ms: i64,
    /// The largest `ts - delay` seen (0 before any row, as in Flink).
    current: i64,
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
            current: 0,
            emitted: 0,
        }
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
        if let Some(latest) = max(&event_time::millis(column)?) {
            self.current = self.current.max(latest.saturating_sub(self.delay_ms));
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
            self.emitted = i64::MAX;
            return Ok(Some(i64::MAX));
        }
        Ok(None)
    }

    fn generated_watermark(&mut self) -> Option<i64> {
        (self.current > self.emitted).then(|| {
            self.emitted = self.current;
            self.current
        })
    }
}

#[cfg(test)]
mod tests;
