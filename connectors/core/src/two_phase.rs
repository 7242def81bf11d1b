//! Two-phase sinks as one mechanism (Flink's `TwoPhaseCommittingSink`):
//! a [`TwoPhaseWriter`] prepares committables at each checkpoint barrier
//! (a closed file, a flushed Kafka transaction, Paimon commit messages) and
//! commits them, idempotently, when the checkpoint completes; after a
//! restore it commits the restored checkpoint's committables again and
//! removes what was written after them. [`TwoPhaseSink`] does the
//! bookkeeping every such sink shares: which committables belong to which
//! checkpoint, what goes into the checkpoint, and which subtask takes over
//! which state when the parallelism changed.

use arrow::record_batch::RecordBatch;
use rtdw_operators::{Result, Sink, StreamError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What committing one committable found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// It is visible now.
    Committed,
    /// It was visible already (committed before a failure, then restored).
    AlreadyCommitted,
}

/// The connector's half of a two-phase sink.
#[async_trait::async_trait]
pub trait TwoPhaseWriter: Send {
    /// What makes the output of one checkpoint visible.
    type Committable: Serialize + DeserializeOwned + Clone + Send + Sync;
    /// What the writer keeps across restores besides its committables
    /// (a file numbering, a transactional id counter).
    type State: Serialize + DeserializeOwned + Send;

    /// Writes one batch (with a row-kind column when the stream has
    /// updates), not yet visible.
    async fn write(&mut self, batch: RecordBatch) -> Result<()>;

    /// At the barrier of `checkpoint_id` (or [`rtdw_operators::END_OF_INPUT`]):
    /// flushes what was written since the last call and returns what will
    /// make it visible.
    async fn prepare_commit(&mut self, checkpoint_id: u64) -> Result<Vec<Self::Committable>>;

    /// The state to restore the writer with.
    fn snapshot_state(&self) -> Self::State;

    /// Makes a committable visible. Must be idempotent: after a restore,
    /// committables that were already committed come again.
    async fn commit(&mut self, committable: &Self::Committable) -> Result<CommitOutcome>;

    /// Before the first write of a restored job: `states` are the writer
    /// states of every subtask of the checkpoint, by subtask index;
    /// `restored` the committables of the subtasks this one takes over,
    /// which are committed next. Removes what those subtasks wrote after
    /// the checkpoint (lingering files, open transactions).
    async fn restore(
        &mut self,
        states: Vec<(u32, Self::State)>,
        restored: &[Self::Committable],
    ) -> Result<()>;
}

/// What one sink subtask puts into a checkpoint.
#[derive(Serialize, serde::Deserialize)]
#[serde(bound(
    serialize = "S: Serialize, C: Serialize",
    deserialize = "S: DeserializeOwned, C: DeserializeOwned"
))]
struct Stored<S, C> {
    /// The subtask that wrote it.
    subtask: u32,
    /// The writer's state.
    state: S,
    /// Committables prepared and not yet committed, with the checkpoint
    /// whose barrier prepared them.
    pending: Vec<(u64, C)>,
}

/// A [`Sink`] over a [`TwoPhaseWriter`].
pub struct TwoPhaseSink<W: TwoPhaseWriter> {
    writer: W,
    /// Committables prepared and not yet committed, by checkpoint.
    pending: Vec<(u64, W::Committable)>,
    subtask: u32,
    parallelism: u32,
}

impl<W: TwoPhaseWriter> TwoPhaseSink<W> {
    /// The sink of subtask `subtask` of `parallelism`.
    pub fn new(writer: W, subtask: u32, parallelism: u32) -> Self {
        TwoPhaseSink {
            writer,
            pending: Vec::new(),
            subtask,
            parallelism: parallelism.max(1),
        }
    }
}

#[async_trait::async_trait]
impl<W: TwoPhaseWriter> Sink for TwoPhaseSink<W> {
    async fn write_batch(&mut self, batch: RecordBatch) -> Result<()> {
        self.writer.write(batch).await
    }

    async fn finish(&mut self) -> Result<()> {
        self.pre_commit(u64::MAX).await?;
        self.commit(u64::MAX).await
    }

    async fn pre_commit(&mut self, checkpoint_id: u64) -> Result<String> {
        let prepared = self.writer.prepare_commit(checkpoint_id).await?;
        self.pending
            .extend(prepared.into_iter().map(|c| (checkpoint_id, c)));
        let stored = Stored {
            subtask: self.subtask,
            state: self.writer.snapshot_state(),
            pending: self.pending.clone(),
        };
        serde_json::to_string(&stored)
            .map_err(|e| StreamError::Failed(format!("cannot encode the sink's state: {e}")))
    }

    async fn commit(&mut self, checkpoint_id: u64) -> Result<()> {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(id, _)| *id <= checkpoint_id);
        self.pending = later;
        for (_, committable) in &due {
            self.writer.commit(committable).await?;
        }
        Ok(())
    }

    async fn restore(&mut self, pre_commits: Vec<String>) -> Result<()> {
        let mut states = Vec::new();
        let mut restored = Vec::new();
        for text in pre_commits.iter().filter(|s| !s.is_empty()) {
            let stored: Stored<W::State, W::Committable> =
                serde_json::from_str(text).map_err(|e| {
                    StreamError::Failed(format!("sink state '{text}' is malformed: {e}"))
                })?;
            // The subtasks this one takes over: old index mod parallelism.
            if stored.subtask % self.parallelism == self.subtask {
                restored.extend(stored.pending.into_iter().map(|(_, c)| c));
            }
            states.push((stored.subtask, stored.state));
        }
        self.writer.restore(states, &restored).await?;
        for committable in &restored {
            if self.writer.commit(committable).await? == CommitOutcome::AlreadyCommitted {
                tracing::debug!("a restored committable was committed before the failure");
            }
        }
        Ok(())
    }
}
