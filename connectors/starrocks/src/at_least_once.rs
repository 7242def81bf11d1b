//! The `starrocks` sink at `sink.semantic` = `at-least-once` (the
//! default): buffered rows go out as one plain Stream Load, under a label
//! of their own, when the buffer is full, when
//! `sink.buffer-flush.interval-ms` passed, and at every checkpoint barrier,
//! which waits for the load: a restored job may load rows again (upserts
//! into a primary-key table make that harmless) but never loses any.

use std::time::Duration;

use arrow::record_batch::RecordBatch;
use rtdw_operators::{Result, Sink};

use crate::encoding::RowBuffer;
use crate::label::Labels;
use crate::loads::Loads;

/// One subtask of an at-least-once `starrocks` sink.
pub(crate) struct AtLeastOnceSink {
    loads: Loads,
    rows: RowBuffer,
    labels: Labels,
    flush_interval: Duration,
}

impl AtLeastOnceSink {
    /// A subtask loading through `loads`, buffering in `rows`, labelling
    /// loads with `labels`.
    pub(crate) fn new(
        loads: Loads,
        rows: RowBuffer,
        labels: Labels,
        flush_interval: Duration,
    ) -> Self {
        AtLeastOnceSink {
            loads,
            rows,
            labels,
            flush_interval,
        }
    }

    /// Loads what is buffered, waiting for StarRocks to take it.
    async fn load_buffered(&mut self) -> Result<()> {
        if let Some((body, columns)) = self.rows.take() {
            let label = self.labels.batch();
            self.loads.stream_load(&label, &columns, body).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Sink for AtLeastOnceSink {
    async fn write_batch(&mut self, batch: RecordBatch) -> Result<()> {
        if self.rows.add(&batch)? {
            self.load_buffered().await?;
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        self.load_buffered().await
    }

    async fn pre_commit(&mut self, _checkpoint_id: u64) -> Result<String> {
        self.load_buffered().await?;
        Ok(String::new())
    }

    fn flush_interval(&self) -> Option<Duration> {
        Some(self.flush_interval)
    }

    async fn flush(&mut self) -> Result<()> {
        self.load_buffered().await
    }
}
