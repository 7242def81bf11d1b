//! The contracts between the runtime and what it runs.

use arrow::record_batch::RecordBatch;

use crate::error::Result;

/// Where a subtask runs, handed to the operators, sources and sinks it builds.
#[derive(Debug, Clone)]
pub struct SubtaskContext {
    /// The job's id.
    pub job_id: String,
    /// The job's name.
    pub job_name: String,
    /// The vertex this subtask belongs to.
    pub vertex_id: u32,
    /// This subtask's index, `0..parallelism`.
    pub subtask_index: u32,
    /// The vertex's parallelism.
    pub parallelism: u32,
}

/// A vectorized stream transformation. Operators are synchronous: they never
/// wait on the outside, so a chain of them runs without task switches.
pub trait Operator: Send {
    /// Processes one batch that arrived on input `input` (0 for single-input
    /// operators), appending any results to `out`.
    fn process_batch(
        &mut self,
        input: usize,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()>;

    /// Event time advanced to `watermark`. Returns the watermark to forward
    /// downstream, if any.
    fn process_watermark(
        &mut self,
        watermark: i64,
        _out: &mut Vec<RecordBatch>,
    ) -> Result<Option<i64>> {
        Ok(Some(watermark))
    }

    /// All inputs ended: emit whatever is still held back.
    fn finish(&mut self, _out: &mut Vec<RecordBatch>) -> Result<()> {
        Ok(())
    }
}

/// Reads the outside world into batches.
#[async_trait::async_trait]
pub trait Source: Send {
    /// The next batch, or `None` when a bounded source is exhausted. May wait
    /// (rate limits, new data); the runtime cancels the wait on cancellation.
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>>;
}

/// Writes batches to the outside world.
#[async_trait::async_trait]
pub trait Sink: Send {
    /// Writes one batch (with a row-kind column when the stream has updates).
    async fn write_batch(&mut self, batch: RecordBatch) -> Result<()>;

    /// The input ended: flush and make everything written visible.
    async fn finish(&mut self) -> Result<()>;
}
