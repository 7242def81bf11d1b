//! The run loop of one subtask: pull from the source or the input gate, push
//! through the chained operators, hand results to the sink or the output;
//! take a snapshot at each checkpoint barrier and commit the sink when a
//! checkpoint completes.

use std::collections::BTreeMap;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use rtdw_observability::traces::follow_trace_parent;
use rtdw_operators::{
    Barrier, END_OF_INPUT, Element, Result, SourceSplit, StreamError, SubtaskContext,
};
use rtdw_plan::runtime::SubtaskChain;
use tokio::sync::mpsc;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::checkpoint::{Snapshot, Snapshotter};
use crate::idle::IdleDetector;
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
    /// Checkpoint triggers (for a source) and completions.
    pub control: mpsc::UnboundedReceiver<Control>,
    /// Takes its snapshots when checkpoints are enabled.
    pub snapshotter: Option<Snapshotter>,
    /// The newest checkpoint it took part in (0: none yet).
    pub last_checkpoint: u64,
    /// For a source with an idle timeout: when it has read nothing for it.
    pub idle: Option<IdleDetector>,
}

/// What the task manager tells a running subtask.
#[derive(Debug, Clone)]
pub enum Control {
    /// Start this checkpoint (sent to source subtasks); with `stop`, the
    /// source ends its input after the barrier.
    Trigger {
        /// The barrier to emit.
        barrier: Barrier,
        /// End the input after it.
        stop: bool,
    },
    /// This checkpoint completed; `is_final` when it is the job's final one,
    /// taken after every input ended.
    Complete {
        /// The checkpoint.
        checkpoint_id: u64,
        /// W3C `traceparent` of the checkpoint's trace.
        trace_parent: std::sync::Arc<str>,
        /// It is the job's final checkpoint.
        is_final: bool,
    },
    /// Splits discovered since deployment, for a split-based source.
    AddSplits(Vec<SourceSplit>),
}

/// The next tick of a flush timer; never, without one.
async fn next_tick(ticks: &mut Option<tokio::time::Interval>) {
    match ticks {
        Some(ticks) => {
            ticks.tick().await;
        }
        None => std::future::pending().await,
    }
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
        let mut source_position = String::new();
        // Mini-batch operators (and a sink holding rows back) are flushed
        // at least this often.
        let flush_every = self
            .chain
            .operators
            .iter()
            .filter_map(|o| o.flush_interval())
            .chain(self.chain.sink.as_ref().and_then(|s| s.flush_interval()))
            .min();
        if let Some(mut source) = self.chain.source.take() {
            let mut last_flush = Instant::now();
            // The source's position at each checkpoint not yet completed.
            let mut positions: BTreeMap<u64, String> = BTreeMap::new();
            // The splits the chain was last told the source reads.
            let mut reading: Vec<String> = Vec::new();
            'read: loop {
                if flush_every.is_some_and(|every| last_flush.elapsed() >= every) {
                    self.flush().await?;
                    last_flush = Instant::now();
                }
                while let Ok(control) = self.control.try_recv() {
                    match control {
                        Control::Trigger { barrier, stop } => {
                            let position = source.snapshot_position()?;
                            positions.insert(barrier.checkpoint_id, position.clone());
                            self.checkpoint(&barrier, position).await?;
                            if stop {
                                tracing::info!(
                                    checkpoint = barrier.checkpoint_id,
                                    "source stopped after the barrier"
                                );
                                break 'read;
                            }
                        }
                        Control::Complete {
                            checkpoint_id,
                            trace_parent,
                            ..
                        } => {
                            self.commit(checkpoint_id, &trace_parent).await?;
                            // A completed checkpoint subsumes older ones.
                            let newer = positions.split_off(&(checkpoint_id + 1));
                            if let Some(position) =
                                std::mem::replace(&mut positions, newer).remove(&checkpoint_id)
                            {
                                source.notify_checkpoint_complete(checkpoint_id, &position);
                            }
                        }
                        Control::AddSplits(splits) => source.add_splits(splits)?,
                    }
                }
                match source.next_batch().await? {
                    Some(batch) => {
                        let now_idle = self
                            .idle
                            .as_mut()
                            .is_some_and(|idle| idle.observe(batch.num_rows(), Instant::now()));
                        if now_idle {
                            tracing::debug!(
                                "source idle: its channels stop holding back watermarks"
                            );
                            self.output.broadcast(Element::Idle).await?;
                        }
                        self.metrics.batch_in(&batch);
                        self.metrics.source_progress(source.as_ref());
                        if let Some(view) = source.split_view() {
                            self.chain.tell_splits(view, &mut reading);
                        }
                        self.push(0, 0, batch).await?;
                    }
                    None => break,
                }
            }
            self.metrics.source_progress(source.as_ref());
            source_position = source.snapshot_position()?;
        } else if let Some(mut gate) = self.inputs.take() {
            let mut ticks = flush_every.map(|every| {
                let mut ticks = tokio::time::interval(every);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticks
            });
            loop {
                tokio::select! {
                    biased;
                    _ = next_tick(&mut ticks) => self.flush().await?,
                    Some(control) = self.control.recv() => match control {
                        Control::Complete { checkpoint_id, trace_parent, .. } => {
                            self.commit(checkpoint_id, &trace_parent).await?
                        }
                        Control::Trigger { barrier, .. } => tracing::warn!(
                            checkpoint = barrier.checkpoint_id,
                            "trigger for a subtask that is not a source ignored"
                        ),
                        Control::AddSplits(_) => tracing::warn!(
                            "splits for a subtask that is not a source ignored"
                        ),
                    },
                    event = gate.next() => match event? {
                        InputEvent::Batch { input, batch } => {
                            self.metrics.batch_in(&batch);
                            self.push(0, input, batch).await?
                        }
                        InputEvent::Watermark(ts) => self.watermark(0, ts).await?,
                        InputEvent::Barrier(barrier) => {
                            self.checkpoint(&barrier, String::new()).await?
                        }
                        InputEvent::Ended => break,
                    },
                }
            }
        }
        self.finish(source_position).await
    }

    /// Commits the sink, in a span of the checkpoint's trace.
    async fn commit(&mut self, checkpoint_id: u64, trace_parent: &str) -> Result<()> {
        if self.chain.sink.is_none() {
            return Ok(());
        }
        crate::fault::before_commit(checkpoint_id);
        let span = tracing::info_span!(
            "commit",
            checkpoint = checkpoint_id,
            vertex = tracing::field::Empty,
            subtask = tracing::field::Empty
        );
        let span = self.in_checkpoint_trace(span, trace_parent);
        match self.chain.sink.as_mut() {
            Some(sink) => sink.commit(checkpoint_id).instrument(span).await,
            None => Ok(()),
        }
    }

    /// `span` (named for a checkpoint phase), tagged with this subtask and
    /// joined to the checkpoint's trace.
    fn in_checkpoint_trace(&self, span: tracing::Span, trace_parent: &str) -> tracing::Span {
        span.record("vertex", self.ctx.vertex_id);
        span.record("subtask", self.ctx.subtask_index);
        follow_trace_parent(&span, trace_parent);
        span
    }

    /// Makes every operator emit what it buffers (mini-batches), in chain
    /// order, each one's output going through the operators after it.
    async fn flush(&mut self) -> Result<()> {
        for i in 0..self.chain.operators.len() {
            let mut out = Vec::new();
            self.chain.operators[i].flush(&mut out)?;
            for batch in out {
                self.push(i + 1, 0, batch).await?;
            }
            // A watermark assigner looks for idle splits when flushed.
            if let Some(watermark) = self.chain.operators[i].generated_watermark() {
                self.watermark(i + 1, watermark).await?;
            }
        }
        if let Some(sink) = self.chain.sink.as_mut() {
            sink.flush().await?;
        }
        Ok(())
    }

    /// Lets the asynchronous operators emit what must precede the barrier
    /// of `checkpoint_id` (a sink writer's committables), in chain order.
    async fn prepare_pre_barrier(&mut self, checkpoint_id: u64) -> Result<()> {
        for i in 0..self.chain.operators.len() {
            let mut out = Vec::new();
            if let Some(waiting) = self.chain.operators[i].asynchronous() {
                waiting
                    .prepare_snapshot_pre_barrier(checkpoint_id, &mut out)
                    .await?;
            }
            for batch in out {
                self.push(i + 1, 0, batch).await?;
            }
        }
        Ok(())
    }

    /// Takes this subtask's snapshot at `barrier` and passes the barrier on;
    /// buffered rows are flushed first, so they belong to this checkpoint.
    async fn checkpoint(&mut self, barrier: &Barrier, source_state: String) -> Result<()> {
        self.flush().await?;
        self.prepare_pre_barrier(barrier.checkpoint_id).await?;
        let Some(snapshotter) = self.snapshotter.clone() else {
            tracing::warn!(
                checkpoint = barrier.checkpoint_id,
                "barrier ignored: checkpoints are off"
            );
            return Ok(());
        };
        self.last_checkpoint = barrier.checkpoint_id;
        let span = tracing::info_span!(
            "snapshot",
            checkpoint = barrier.checkpoint_id,
            vertex = tracing::field::Empty,
            subtask = tracing::field::Empty
        );
        let span = self.in_checkpoint_trace(span, &barrier.trace_parent);
        let mut keyed = Vec::new();
        {
            let _snapshot = span.enter();
            for (i, operator) in self.chain.operators.iter_mut().enumerate() {
                if let Some(state) = operator.snapshot_state(self.ctx.max_parallelism)? {
                    keyed.push((i, state));
                }
            }
        }
        let sink_state = match self.chain.sink.as_mut() {
            Some(sink) => {
                sink.pre_commit(barrier.checkpoint_id)
                    .instrument(span)
                    .await?
            }
            None => {
                self.output
                    .broadcast(Element::Barrier(barrier.clone()))
                    .instrument(span)
                    .await?;
                String::new()
            }
        };
        snapshotter.upload_and_acknowledge(
            barrier,
            Snapshot {
                keyed,
                source_state,
                sink_state,
            },
        );
        Ok(())
    }

    /// Pushes a batch into operator `start` (on its input `input`) and on
    /// through the rest of the chain.
    async fn push(&mut self, start: usize, input: usize, batch: RecordBatch) -> Result<()> {
        let started = Instant::now();
        let mut batches = vec![batch];
        let mut generated = None;
        for (i, operator) in self.chain.operators.iter_mut().enumerate().skip(start) {
            let mut next = Vec::new();
            let rows_in: usize = batches.iter().map(RecordBatch::num_rows).sum();
            for batch in batches {
                match operator.asynchronous() {
                    Some(waiting) => waiting.process_batch_async(batch, &mut next).await?,
                    None => operator.process_batch(
                        if i == start { input } else { 0 },
                        batch,
                        &mut next,
                    )?,
                }
            }
            self.metrics
                .operator(i, rows_in, next.iter().map(RecordBatch::num_rows).sum());
            self.metrics.late_rows(i, operator.late_rows_dropped());
            if let Some(watermark) = operator.generated_watermark() {
                generated = Some((i + 1, watermark));
            }
            batches = next;
            if batches.is_empty() {
                break;
            }
        }
        self.metrics.busy(started.elapsed());
        for batch in batches {
            self.emit(batch).await?;
        }
        // A watermark assigner's watermark follows the rows it was derived
        // from, through the operators after it.
        if let Some((after, watermark)) = generated {
            Box::pin(self.watermark(after, watermark)).await?;
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

    /// Event time advanced to `ts` before operator `start`: the operators
    /// from there on fire what it completes and pass it on.
    async fn watermark(&mut self, start: usize, mut ts: i64) -> Result<()> {
        self.metrics.watermark(ts);
        for i in start..self.chain.operators.len() {
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

    /// Emits what the operators held back; then either commits the sink
    /// (checkpoints off) or pre-commits it, acknowledges the end-of-input
    /// snapshot and waits for the job's final checkpoint to commit.
    async fn finish(mut self, source_position: String) -> Result<()> {
        for i in 0..self.chain.operators.len() {
            let mut out = Vec::new();
            self.chain.operators[i].finish(&mut out)?;
            for batch in out {
                self.push(i + 1, 0, batch).await?;
            }
        }
        self.prepare_pre_barrier(END_OF_INPUT).await?;
        let Some(snapshotter) = self.snapshotter.clone() else {
            if let Some(sink) = self.chain.sink.as_mut() {
                sink.finish().await?;
            }
            tracing::debug!("input ended");
            return self.output.finish().await;
        };
        let sink_state = match self.chain.sink.as_mut() {
            Some(sink) => sink.pre_commit(END_OF_INPUT).await?,
            None => String::new(),
        };
        snapshotter.acknowledge_end(
            source_position.clone(),
            sink_state.clone(),
            self.last_checkpoint,
        );
        tracing::debug!("input ended; waiting for the final checkpoint");
        std::mem::replace(&mut self.output, Output::new(Vec::new()))
            .finish()
            .await?;
        while let Some(control) = self.control.recv().await {
            match control {
                // The coordinator takes this subtask's end-of-input state
                // for checkpoints after it ended. A trigger means it has not
                // learnt of the end (the report can race a restart): tell it
                // again, which also aborts the checkpoint that waits for us.
                Control::Trigger { barrier, .. } => {
                    tracing::debug!(
                        checkpoint = barrier.checkpoint_id,
                        "trigger after the end of input: reporting the end again"
                    );
                    snapshotter.acknowledge_end(
                        source_position.clone(),
                        sink_state.clone(),
                        self.last_checkpoint,
                    );
                }
                Control::Complete {
                    is_final: true,
                    trace_parent,
                    ..
                } => return self.commit(END_OF_INPUT, &trace_parent).await,
                Control::Complete {
                    checkpoint_id,
                    trace_parent,
                    ..
                } => self.commit(checkpoint_id, &trace_parent).await?,
                // Not in the end state: a restore discovers them again.
                Control::AddSplits(splits) => tracing::info!(
                    splits = splits.len(),
                    "splits for a source that ended ignored"
                ),
            }
        }
        Err(StreamError::Failed(
            "the task manager stopped before the job's final checkpoint".into(),
        ))
    }
}
