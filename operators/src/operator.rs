//! The contracts between the runtime and what it runs.

use std::time::Duration;

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
    /// The job's number of key groups.
    pub max_parallelism: u32,
}

/// Name of the leading column of a keyed-state snapshot: each row's key group.
pub const KEY_GROUP_COLUMN: &str = "_key_group";

/// A vectorized stream transformation. Operators are synchronous: they never
/// wait on the outside, so a chain of them runs without task switches; the
/// one exception, a lookup join, says so through [`Operator::asynchronous`].
pub trait Operator: Send {
    /// For an operator that must wait on the outside for each batch (a
    /// lookup join querying a database), its asynchronous processing: the
    /// runtime awaits [`AsyncOperator::process_batch_async`] instead of
    /// calling [`Operator::process_batch`]. `None` for every other one.
    fn asynchronous(&mut self) -> Option<&mut dyn AsyncOperator> {
        None
    }

    /// Processes one batch that arrived on input `input` (0 for single-input
    /// operators), appending any results to `out`.
    fn process_batch(
        &mut self,
        input: usize,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()>;

    /// Event time advanced to `watermark`. Returns the watermark to forward
    /// downstream, if any. By default emits what is buffered
    /// ([`Operator::flush`]), so that it goes out before the watermark, and
    /// forwards the watermark.
    fn process_watermark(
        &mut self,
        watermark: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<Option<i64>> {
        self.flush(out)?;
        Ok(Some(watermark))
    }

    /// A watermark this operator generated while processing the batches so
    /// far and not yet returned (watermark assigners); the runtime forwards
    /// it downstream through the rest of the chain.
    fn generated_watermark(&mut self) -> Option<i64> {
        None
    }

    /// The source of this chain reads by splits, one split per batch
    /// ([`Source::split_view`]): it now reads `reading`. Called when that
    /// set changes, before the batches of new splits arrive. Watermark
    /// assigners keep a watermark per split from then on.
    fn source_splits(&mut self, reading: &[String]) {
        let _ = reading;
    }

    /// The batch pushed next into the chain was read from source split
    /// `split` ([`Source::split_view`]).
    fn next_batch_split(&mut self, split: &str) {
        let _ = split;
    }

    /// Rows dropped so far because the watermark had passed every window
    /// they belong to (event-time operators); the runtime exports it as a
    /// metric.
    fn late_rows_dropped(&self) -> u64 {
        0
    }

    /// All inputs ended: emit whatever is still held back. By default
    /// emits what is buffered ([`Operator::flush`]).
    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.flush(out)
    }

    /// Emit what is buffered; the runtime calls it before a checkpoint
    /// barrier passes and on processing-time ticks
    /// ([`Operator::flush_interval`]).
    fn flush(&mut self, _out: &mut Vec<RecordBatch>) -> Result<()> {
        Ok(())
    }

    /// How often the runtime should call [`Operator::flush`]: the allowed
    /// latency for mini-batch operators; `None` for operators that buffer
    /// nothing.
    fn flush_interval(&self) -> Option<Duration> {
        None
    }

    /// The operator's keyed state for a checkpoint, taken at a barrier: one
    /// batch whose first column ([`KEY_GROUP_COLUMN`], `UInt32`) holds each
    /// row's key group out of `max_parallelism`. `None` for a stateless
    /// operator.
    fn snapshot_state(&mut self, _max_parallelism: u32) -> Result<Option<RecordBatch>> {
        Ok(None)
    }

    /// Loads keyed state from snapshot batches (as [`Operator::snapshot_state`]
    /// made them) holding only this subtask's key groups; called before the
    /// first element arrives.
    fn restore_state(&mut self, batches: Vec<RecordBatch>) -> Result<()> {
        if batches.iter().any(|b| b.num_rows() > 0) {
            return Err(crate::StreamError::Failed(
                "a stateless operator was handed state to restore: the checkpoint belongs to another plan".into(),
            ));
        }
        Ok(())
    }
}

/// The processing of an operator that waits on the outside for each batch
/// (see [`Operator::asynchronous`]).
#[async_trait::async_trait]
pub trait AsyncOperator: Send {
    /// Processes one batch of its single input, appending the results to
    /// `out`.
    async fn process_batch_async(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()>;

    /// At the barrier of `checkpoint_id`, before the chain's snapshot, and
    /// with [`crate::END_OF_INPUT`] at the end of the input (Flink's
    /// `prepareSnapshotPreBarrier`): appends to `out` what must reach the
    /// next vertex ahead of the barrier, such as a sink writer's
    /// committables for its committer.
    async fn prepare_snapshot_pre_barrier(
        &mut self,
        checkpoint_id: u64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let _ = (checkpoint_id, out);
        Ok(())
    }
}

/// A unit of a split-based source's input (Flink's FLIP-27 split: a file, a
/// Kafka partition, a snapshot chunk), handed to a source subtask by the
/// coordinator's split assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSplit {
    /// Unique within the source, stable across runs (a path, a partition).
    pub id: String,
    /// Where reading it stands (connector-defined JSON); empty for a split
    /// not started.
    pub state: String,
    /// Read to its end: kept only so that the source remembers it and the
    /// split is not read again when the input is listed anew.
    pub finished: bool,
}

/// What a split-based source reads now, when each of its batches comes
/// from one split.
#[derive(Debug, Clone, Copy)]
pub struct SplitView<'a> {
    /// The ids of the splits it reads (not finished).
    pub reading: &'a [String],
    /// The split its last batch came from (`None` for an empty batch).
    pub last_batch: Option<&'a str>,
}

/// Reads the outside world into batches.
#[async_trait::async_trait]
pub trait Source: Send {
    /// The next batch, or `None` when a bounded source is exhausted. May wait
    /// (rate limits, new data); the runtime cancels the wait on cancellation.
    ///
    /// The runtime takes checkpoints between batches, so a source waiting for
    /// data should return an empty batch now and then (every 100 ms or so).
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>>;

    /// The position after the last batch returned, as connector-defined JSON:
    /// what a restore needs to continue exactly there.
    fn snapshot_position(&self) -> Result<String>;

    /// Continues from a position [`Source::snapshot_position`] returned;
    /// called before the first batch.
    fn restore_position(&mut self, position: &str) -> Result<()>;

    /// Hands a split-based source splits to read, before the first batch
    /// (its assignment, restored positions included) and while it runs
    /// (splits discovered since). A split-based source's
    /// [`Source::snapshot_position`] describes every split it holds, so the
    /// coordinator can assign them anew at another parallelism.
    fn add_splits(&mut self, splits: Vec<SourceSplit>) -> Result<()> {
        let _ = splits;
        Err(crate::StreamError::Failed(
            "this source reads no splits".into(),
        ))
    }

    /// Checkpoint `checkpoint_id` completed, and `position` is what
    /// [`Source::snapshot_position`] gave for it: the source may now tell
    /// its outside system how far the job has durably read (Flink's
    /// `notifyCheckpointComplete`; Kafka commits the offsets to the
    /// consumer group, so lag tools see them). Nothing depends on it for
    /// correctness: a restore reads the checkpoint's own position.
    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64, position: &str) {
        let _ = (checkpoint_id, position);
    }

    /// For a split-based source whose every batch comes from one split
    /// (a Kafka partition): the splits it reads and the split of its last
    /// batch. With it, the chain's watermark assigner generates a
    /// watermark per split and forwards their minimum (Flink's per-split
    /// watermarks), so one partition running ahead does not make the rows
    /// of another late. `None` (the default) when batches mix splits.
    fn split_view(&self) -> Option<SplitView<'_>> {
        None
    }

    /// How many records its input holds beyond what it has read, by part
    /// (a Kafka partition as `topic:partition`): the runtime exports them
    /// as `rtdw_source_lag_records{table,partition}`. Empty for a source
    /// without such a measure.
    fn lag(&self) -> Vec<(String, i64)> {
        Vec::new()
    }

    /// How far behind its input the source is in time: now minus the
    /// commit time of the last change it read (a CDC source's binlog
    /// lag), 0 when it has read everything. The runtime exports it as
    /// `rtdw_source_lag_seconds`. `None` for a source without such a
    /// measure.
    fn lag_seconds(&self) -> Option<f64> {
        None
    }

    /// Records skipped so far under a skipping error policy, by reason
    /// (`malformed`): the runtime exports them as
    /// `rtdw_records_dropped_total{table,reason}`.
    fn records_dropped(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

/// The checkpoint id of what a sink pre-commits at the end of its input
/// ([`Sink::pre_commit`]): it becomes visible with the job's final
/// checkpoint.
pub const END_OF_INPUT: u64 = u64::MAX;

/// Writes batches to the outside world.
#[async_trait::async_trait]
pub trait Sink: Send {
    /// Writes one batch (with a row-kind column when the stream has updates).
    async fn write_batch(&mut self, batch: RecordBatch) -> Result<()>;

    /// The input ended and no checkpoints are taken: flush and make
    /// everything written visible.
    async fn finish(&mut self) -> Result<()>;

    /// A barrier of checkpoint `checkpoint_id` passed: flush and set aside
    /// everything written since the previous one, to be made visible when the
    /// checkpoint completes. Returns what the restore of this checkpoint needs
    /// to commit it (connector-defined JSON).
    /// A sink that writes straight through (print, blackhole) has nothing to
    /// set aside.
    async fn pre_commit(&mut self, _checkpoint_id: u64) -> Result<String> {
        Ok(String::new())
    }

    /// Checkpoint `checkpoint_id` completed: make visible everything
    /// pre-committed up to it.
    async fn commit(&mut self, _checkpoint_id: u64) -> Result<()> {
        Ok(())
    }

    /// Starts from a restored checkpoint, given the pre-commits of every
    /// sink subtask in it: commits what those of the subtasks this one takes
    /// over (old index % parallelism == this index) set aside, and discards
    /// what was written after them. Called before the first batch.
    async fn restore(&mut self, _pre_commits: Vec<String>) -> Result<()> {
        Ok(())
    }

    /// How often the runtime calls [`Sink::flush`], for a sink that holds
    /// rows back for at most a time (an upsert sink's
    /// `sink.buffer-flush.interval`); `None` for one that does not.
    fn flush_interval(&self) -> Option<Duration> {
        None
    }

    /// Sends on what the sink held back longer than it may.
    async fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}
