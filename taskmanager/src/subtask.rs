//! The run loop of one subtask: pull from the source or the input gate, push
//! through the chained operators, hand results to the sink or the output.

use std::time::Instant;

use arrow::record_batch::RecordBatch;
use rtdw_operators::{Element, Result, SubtaskContext};
use rtdw_sql::runtime::SubtaskChain;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::input::{InputEvent, InputGate};
use crate::metrics::SubtaskMetrics;
use crate::output::Output;

/// Everything one subtask runs.
pub struct SubtaskRuntime {
    /// Who it is.
    pub ctx: SubtaskContext,
    /// Its source, operators and sink.
    pub chain: SubtaskChain,
    /// Its incoming channels (`None` for a source vertex).
    pub inputs: Option<InputGate>,
    /// Its outgoing channels.
    pub output: Output,
    /// What it counts.
    pub metrics: SubtaskMetrics,
}

/// How a subtask ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its input ended and everything was emitted.
    Finished,
    /// It was cancelled.
    Canceled,
}

/// Runs a subtask until its input ends, it fails, or `cancel` fires. Every
/// log line it writes carries its job, vertex and subtask.
pub async fn run(runtime: SubtaskRuntime, cancel: CancellationToken) -> Result<Outcome> {
    let span = tracing::info_span!(
        "subtask",
        job = %runtime.ctx.job_id,
        vertex = runtime.ctx.vertex_id,
        subtask = runtime.ctx.subtask_index
    );
    async move {
        tokio::select! {
            result = runtime.run_to_end() => result.map(|_| Outcome::Finished),
            _ = cancel.cancelled() => Ok(Outcome::Canceled),
        }
    }
    .instrument(span)
    .await
}

impl SubtaskRuntime {
    async fn run_to_end(mut self) -> Result<()> {
        if let Some(mut source) = self.chain.source.take() {
            while let Some(batch) = source.next_batch().await? {
                self.metrics.batch_in(&batch);
                self.push(0, 0, batch).await?;
            }
        } else if let Some(mut gate) = self.inputs.take() {
            loop {
                match gate.next().await? {
                    InputEvent::Batch { input, batch } => {
                        self.metrics.batch_in(&batch);
                        self.push(0, input, batch).await?
                    }
                    InputEvent::Watermark(ts) => self.watermark(ts).await?,
                    InputEvent::Barrier(barrier) => {
                        self.output.broadcast(Element::Barrier(barrier)).await?
                    }
                    InputEvent::Ended => break,
                }
            }
        }
        self.finish().await
    }

    /// Pushes a batch into operator `start` (on its input `input`) and on
    /// through the rest of the chain.
    async fn push(&mut self, start: usize, input: usize, batch: RecordBatch) -> Result<()> {
        let started = Instant::now();
        let mut batches = vec![batch];
        for (i, operator) in self.chain.operators.iter_mut().enumerate().skip(start) {
            let mut next = Vec::new();
            let rows_in: usize = batches.iter().map(RecordBatch::num_rows).sum();
            for batch in batches {
                operator.process_batch(if i == start { input } else { 0 }, batch, &mut next)?;
            }
            self.metrics
                .operator(i, rows_in, next.iter().map(RecordBatch::num_rows).sum());
            batches = next;
            if batches.is_empty() {
                break;
            }
        }
        self.metrics.busy(started.elapsed());
        for batch in batches {
            self.emit(batch).await?;
        }
        Ok(())
    }

    async fn emit(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.metrics.batch_out(&batch);
        let started = Instant::now();
        match self.chain.sink.as_mut() {
            Some(sink) => {
                sink.write_batch(batch).await?;
                self.metrics.busy(started.elapsed());
            }
            None => {
                self.output.send_batch(batch).await?;
                self.metrics.backpressured(started.elapsed());
            }
        }
        Ok(())
    }

    async fn watermark(&mut self, mut ts: i64) -> Result<()> {
        self.metrics.watermark(ts);
        for i in 0..self.chain.operators.len() {
            let mut out = Vec::new();
            let forwarded = self.chain.operators[i].process_watermark(ts, &mut out)?;
            for batch in out {
                self.push(i + 1, 0, batch).await?;
            }
            match forwarded {
                Some(next) => ts = next,
                None => return Ok(()),
            }
        }
        if self.chain.sink.is_none() {
            self.output.broadcast(Element::Watermark(ts)).await?;
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<()> {
        for i in 0..self.chain.operators.len() {
            let mut out = Vec::new();
            self.chain.operators[i].finish(&mut out)?;
            for batch in out {
                self.push(i + 1, 0, batch).await?;
            }
        }
        if let Some(sink) = self.chain.sink.as_mut() {
            sink.finish().await?;
        }
        tracing::debug!("input ended");
        self.output.finish().await
    }
}
