//! Mini-batches (Flink's `table.exec.mini-batch.*`): an aggregate holds its
//! input back and processes it in one go, so a key updated many times in a
//! mini-batch costs one state update and emits one change.

use std::time::Duration;

use arrow::compute::concat_batches;
use arrow::record_batch::RecordBatch;

use crate::error::{Result, StreamError};

/// When an aggregate flushes its mini-batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MiniBatch {
    /// `table.exec.mini-batch.allow-latency`: how long rows may be held;
    /// the runtime flushes at this interval.
    pub allow_latency: Duration,
    /// `table.exec.mini-batch.size`: held rows that trigger a flush; `None`
    /// for no limit.
    pub size: Option<usize>,
}

/// The input batches of the current mini-batch.
pub(crate) struct MiniBatchBuffer {
    config: MiniBatch,
    batches: Vec<RecordBatch>,
    rows: usize,
}

impl MiniBatchBuffer {
    /// An empty buffer flushing as `config` says.
    pub(crate) fn new(config: MiniBatch) -> Self {
        MiniBatchBuffer {
            config,
            batches: Vec::new(),
            rows: 0,
        }
    }

    /// How often the runtime should flush the buffer.
    pub(crate) fn allow_latency(&self) -> Duration {
        self.config.allow_latency
    }

    /// Holds `batch`; true when the buffer reached its size and must be
    /// flushed.
    pub(crate) fn push(&mut self, batch: RecordBatch) -> bool {
        if batch.num_rows() > 0 {
            self.rows += batch.num_rows();
            self.batches.push(batch);
        }
        self.config.size.is_some_and(|size| self.rows >= size)
    }

    /// Everything held as one batch (`None` when nothing is), emptying the
    /// buffer.
    pub(crate) fn take(&mut self) -> Result<Option<RecordBatch>> {
        self.rows = 0;
        let batches = std::mem::take(&mut self.batches);
        match batches.as_slice() {
            [] => Ok(None),
            [only] => Ok(Some(only.clone())),
            [first, ..] => Ok(Some(concat_batches(first.schema_ref(), &batches)?)),
        }
    }

    /// Fails when rows are held at a checkpoint: they are in no state, so
    /// the runtime must flush them before the barrier passes.
    pub(crate) fn ensure_empty(&self, operator: &str) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        Err(StreamError::Failed(format!(
            "{operator} holds {} rows of a mini-batch at a checkpoint: they must be flushed before the barrier",
            self.rows
        )))
    }
}
