//! Sinks whose output of a checkpoint becomes visible in one commit (Flink's
//! Sink V2 with a committer of parallelism 1, as Paimon's Flink sink: every
//! checkpoint is one snapshot of the table).
//!
//! The planner splits such a sink into two vertices:
//!
//! ```text
//!   ... -> SinkWriter (parallelism N) --rebalance--> Committer (parallelism 1)
//! ```
//!
//! A [`CommittableWriter`] writes files in each writer subtask; at each
//! barrier ([`AsyncOperator::prepare_snapshot_pre_barrier`]) it flushes them
//! and sends what makes them visible (its committables) to the committer,
//! ahead of the barrier. Barrier alignment then guarantees that when the
//! committer snapshots checkpoint `n`, it holds every writer's committables
//! of `n`; it stores them in its checkpoint state, and commits them when `n`
//! completes, through a [`GlobalCommitter`]. After a restore it commits the
//! restored checkpoint's committables again; the committer skips those that
//! went in before the failure.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, BinaryArray, BinaryBuilder, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rtdw_operators::{AsyncOperator, Operator, Result, Sink, StreamError};

use crate::two_phase::CommitOutcome;

/// The writer side, one per writer subtask.
#[async_trait::async_trait]
pub trait CommittableWriter: Send {
    /// Writes one batch (with a row-kind column when the stream has
    /// updates); not visible until committed.
    async fn write(&mut self, batch: &RecordBatch) -> Result<()>;

    /// At the barrier of `checkpoint_id` (or [`rtdw_operators::END_OF_INPUT`]):
    /// flushes what was written since the last call and returns what makes
    /// it visible, encoded.
    async fn prepare_commit(&mut self, checkpoint_id: u64) -> Result<Vec<Vec<u8>>>;
}

/// The committer side: one for the whole sink.
#[async_trait::async_trait]
pub trait GlobalCommitter: Send {
    /// Makes the committables of every writer for `checkpoint_id` visible
    /// at once. Must be idempotent: after a restore the committables of
    /// the restored checkpoint come again, and a checkpoint that went in
    /// before the failure reports [`CommitOutcome::AlreadyCommitted`].
    async fn commit(
        &mut self,
        checkpoint_id: u64,
        committables: Vec<Vec<u8>>,
    ) -> Result<CommitOutcome>;

    /// After the restored committables were committed, `recommitted` of
    /// them for the first time. A committer whose writers must see those
    /// commits before they write (Paimon's primary-key tables number their
    /// rows after the latest snapshot) fails here when `recommitted > 0`,
    /// so the job restarts from a table that holds them: the next restore
    /// finds them committed.
    async fn restored(&mut self, recommitted: usize) -> Result<()> {
        let _ = recommitted;
        Ok(())
    }
}

/// The columns of the batches from writers to the committer.
pub fn committable_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("checkpoint_id", DataType::UInt64, false),
        Field::new("committable", DataType::Binary, false),
    ]))
}

/// A writer subtask: an asynchronous operator over a [`CommittableWriter`]
/// whose output is its committables.
pub struct WriterOperator {
    writer: Box<dyn CommittableWriter>,
}

impl WriterOperator {
    /// The operator of `writer`.
    pub fn new(writer: Box<dyn CommittableWriter>) -> Self {
        WriterOperator { writer }
    }
}

impl Operator for WriterOperator {
    fn asynchronous(&mut self) -> Option<&mut dyn AsyncOperator> {
        Some(self)
    }

    fn process_batch(
        &mut self,
        _input: usize,
        _batch: RecordBatch,
        _out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        Err(StreamError::Failed(
            "a sink writer is asynchronous: the runtime must await it".into(),
        ))
    }
}

#[async_trait::async_trait]
impl AsyncOperator for WriterOperator {
    async fn process_batch_async(
        &mut self,
        batch: RecordBatch,
        _out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        self.writer.write(&batch).await
    }

    async fn prepare_snapshot_pre_barrier(
        &mut self,
        checkpoint_id: u64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let committables = self.writer.prepare_commit(checkpoint_id).await?;
        if committables.is_empty() {
            return Ok(());
        }
        let ids = UInt64Array::from(vec![checkpoint_id; committables.len()]);
        let mut values = BinaryBuilder::new();
        for committable in &committables {
            values.append_value(committable);
        }
        let batch = RecordBatch::try_new(
            committable_schema(),
            vec![Arc::new(ids), Arc::new(values.finish())],
        )?;
        out.push(batch);
        Ok(())
    }
}

/// What the committer puts into a checkpoint: the committables not yet
/// committed, by checkpoint, base64-encoded.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Pending {
    checkpoints: BTreeMap<u64, Vec<String>>,
}

/// The committer subtask: a [`Sink`] over a [`GlobalCommitter`].
pub struct CommitterSink {
    committer: Box<dyn GlobalCommitter>,
    /// Committables received and not yet committed, by checkpoint.
    pending: BTreeMap<u64, Vec<Vec<u8>>>,
}

impl CommitterSink {
    /// The sink of `committer`.
    pub fn new(committer: Box<dyn GlobalCommitter>) -> Self {
        CommitterSink {
            committer,
            pending: BTreeMap::new(),
        }
    }

    /// Commits every pending checkpoint up to `checkpoint_id`, in order;
    /// returns how many went in for the first time.
    async fn commit_up_to(&mut self, checkpoint_id: u64) -> Result<usize> {
        let later = match checkpoint_id.checked_add(1) {
            Some(next) => self.pending.split_off(&next),
            None => BTreeMap::new(),
        };
        let due = std::mem::replace(&mut self.pending, later);
        let mut committed = 0;
        for (id, committables) in due {
            if self.committer.commit(id, committables).await? == CommitOutcome::Committed {
                committed += 1;
            }
        }
        Ok(committed)
    }
}

#[async_trait::async_trait]
impl Sink for CommitterSink {
    async fn write_batch(&mut self, batch: RecordBatch) -> Result<()> {
        let malformed = || {
            StreamError::Failed(
                "a committer received a batch that does not hold committables".into(),
            )
        };
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(malformed)?;
        let values = batch
            .column(1)
            .as_any()
            .downcast_ref::<BinaryArray>()
            .ok_or_else(malformed)?;
        for row in 0..batch.num_rows() {
            if ids.is_null(row) || values.is_null(row) {
                return Err(malformed());
            }
            self.pending
                .entry(ids.value(row))
                .or_default()
                .push(values.value(row).to_vec());
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        self.commit_up_to(u64::MAX).await.map(|_| ())
    }

    async fn pre_commit(&mut self, _checkpoint_id: u64) -> Result<String> {
        let stored = Pending {
            checkpoints: self
                .pending
                .iter()
                .map(|(id, values)| (*id, values.iter().map(|v| BASE64.encode(v)).collect()))
                .collect(),
        };
        serde_json::to_string(&stored)
            .map_err(|e| StreamError::Failed(format!("cannot encode the committer's state: {e}")))
    }

    async fn commit(&mut self, checkpoint_id: u64) -> Result<()> {
        self.commit_up_to(checkpoint_id).await.map(|_| ())
    }

    async fn restore(&mut self, pre_commits: Vec<String>) -> Result<()> {
        for text in pre_commits.iter().filter(|s| !s.is_empty()) {
            let stored: Pending = serde_json::from_str(text).map_err(|e| {
                StreamError::Failed(format!("committer state '{text}' is malformed: {e}"))
            })?;
            for (id, values) in stored.checkpoints {
                let decoded = values
                    .iter()
                    .map(|v| BASE64.decode(v))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| {
                        StreamError::Failed(format!("a restored committable is malformed: {e}"))
                    })?;
                self.pending.entry(id).or_default().extend(decoded);
            }
        }
        let recommitted = self.commit_up_to(u64::MAX).await?;
        self.committer.restored(recommitted).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committables of one checkpoint.
    type Commit = (u64, Vec<Vec<u8>>);

    /// Records what it is asked to commit; a checkpoint counts as committed
    /// once it was.
    #[derive(Default, Clone)]
    struct Recorder {
        commits: Arc<std::sync::Mutex<Vec<Commit>>>,
    }

    #[async_trait::async_trait]
    impl GlobalCommitter for Recorder {
        async fn commit(
            &mut self,
            checkpoint_id: u64,
            committables: Vec<Vec<u8>>,
        ) -> Result<CommitOutcome> {
            let mut commits = self.commits.lock().unwrap();
            if commits.iter().any(|(id, _)| *id == checkpoint_id) {
                return Ok(CommitOutcome::AlreadyCommitted);
            }
            commits.push((checkpoint_id, committables));
            Ok(CommitOutcome::Committed)
        }
    }

    struct Files(Vec<&'static str>);

    #[async_trait::async_trait]
    impl CommittableWriter for Files {
        async fn write(&mut self, _batch: &RecordBatch) -> Result<()> {
            Ok(())
        }
        async fn prepare_commit(&mut self, _checkpoint_id: u64) -> Result<Vec<Vec<u8>>> {
            Ok(std::mem::take(&mut self.0)
                .into_iter()
                .map(|f| f.as_bytes().to_vec())
                .collect())
        }
    }

    async fn committables_of(writer: Files, checkpoint_id: u64) -> Vec<RecordBatch> {
        let mut operator = WriterOperator::new(Box::new(writer));
        let mut out = Vec::new();
        operator
            .prepare_snapshot_pre_barrier(checkpoint_id, &mut out)
            .await
            .unwrap();
        out
    }

    #[tokio::test]
    async fn one_commit_per_checkpoint_holds_every_writers_committables() {
        let recorder = Recorder::default();
        let mut sink = CommitterSink::new(Box::new(recorder.clone()));
        for batch in committables_of(Files(vec!["a1", "a2"]), 1).await {
            sink.write_batch(batch).await.unwrap();
        }
        for batch in committables_of(Files(vec!["b1"]), 1).await {
            sink.write_batch(batch).await.unwrap();
        }
        assert!(committables_of(Files(vec![]), 1).await.is_empty());
        let state = sink.pre_commit(1).await.unwrap();
        for batch in committables_of(Files(vec!["a3"]), 2).await {
            sink.write_batch(batch).await.unwrap();
        }
        sink.commit(1).await.unwrap();
        assert_eq!(
            *recorder.commits.lock().unwrap(),
            [(1, vec![b"a1".to_vec(), b"a2".to_vec(), b"b1".to_vec()])]
        );

        // A restore from checkpoint 1 commits it again, which the committer
        // skips; nothing of checkpoint 2 was in that state.
        let mut restored = CommitterSink::new(Box::new(recorder.clone()));
        restored.restore(vec![state]).await.unwrap();
        assert_eq!(recorder.commits.lock().unwrap().len(), 1);
        for batch in committables_of(Files(vec!["last"]), rtdw_operators::END_OF_INPUT).await {
            sink.write_batch(batch).await.unwrap();
        }
        sink.commit(rtdw_operators::END_OF_INPUT).await.unwrap();
        let commits = recorder.commits.lock().unwrap();
        assert_eq!(
            commits[1..],
            [
                (2, vec![b"a3".to_vec()]),
                (rtdw_operators::END_OF_INPUT, vec![b"last".to_vec()])
            ]
        );
    }

    #[tokio::test]
    async fn a_restore_commits_what_the_failure_left_out() {
        let recorder = Recorder::default();
        let mut sink = CommitterSink::new(Box::new(recorder.clone()));
        for batch in committables_of(Files(vec!["x"]), 7).await {
            sink.write_batch(batch).await.unwrap();
        }
        let state = sink.pre_commit(7).await.unwrap();
        drop(sink);
        let mut restored = CommitterSink::new(Box::new(recorder.clone()));
        restored.restore(vec![state]).await.unwrap();
        assert_eq!(
            *recorder.commits.lock().unwrap(),
            [(7, vec![b"x".to_vec()])]
        );
        let error = restored
            .write_batch(RecordBatch::new_empty(Arc::new(Schema::new(vec![
                Field::new("a", DataType::Int32, true),
                Field::new("b", DataType::Int32, true),
            ]))))
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("does not hold committables"),
            "{error}"
        );
    }
}
