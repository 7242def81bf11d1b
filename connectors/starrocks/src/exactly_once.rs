//! The `starrocks` sink at `sink.semantic` = `exactly-once`, a two-phase
//! writer on the Stream Load transaction interface: the rows between two
//! checkpoint barriers go into one transaction (begun with the first of
//! them, loaded into whenever the buffer fills), which the barrier
//! prepares and the completed checkpoint commits.
//!
//! A subtask numbers its transactions one after another, labelled
//! `{prefix}-{table}-{subtask}-{n}` (the Flink connector's labels), and
//! its checkpointed state holds the next number: with a transaction at
//! every checkpoint, `n` is the id of the checkpoint that prepares it. A
//! restore commits the restored checkpoint's labels again (a committed
//! label is a success), then, for every subtask it takes over, rolls back
//! what that subtask began after the checkpoint: the labels from its next
//! number on, up to the first StarRocks does not hold open.

use arrow::record_batch::RecordBatch;
use rtdw_connector_core::two_phase::{CommitOutcome, TwoPhaseWriter};
use rtdw_operators::Result;
use serde::{Deserialize, Serialize};

use crate::encoding::RowBuffer;
use crate::error::StarRocksError;
use crate::label::Labels;
use crate::loads::Loads;
use crate::response::LabelState;

/// A prepared transaction, committed when its checkpoint completes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PreparedLabel {
    /// Its label.
    pub label: String,
}

/// What a checkpoint keeps of a subtask's labels: enough to find the
/// transactions it began after the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WriterState {
    /// Its label prefix.
    pub prefix: String,
    /// The StarRocks table in its labels.
    pub table: String,
    /// The number of its next transaction.
    pub next: u64,
    /// The checkpoint the state was taken at.
    pub checkpoint: u64,
}

/// The two-phase writer of one exactly-once sink subtask.
pub(crate) struct TransactionWriter {
    loads: Loads,
    rows: RowBuffer,
    labels: Labels,
    /// The sink's parallelism.
    parallelism: u32,
    /// The number of the next transaction.
    next: u64,
    /// The label of the open transaction.
    open: Option<String>,
    /// The last barrier's checkpoint.
    checkpoint: u64,
    /// Whether what this subtask's labels may have left open was rolled
    /// back.
    cleaned: bool,
}

impl TransactionWriter {
    /// The writer of a subtask (of `parallelism`) loading through
    /// `loads`, buffering in `rows`, labelling its transactions with
    /// `labels`.
    pub(crate) fn new(loads: Loads, rows: RowBuffer, labels: Labels, parallelism: u32) -> Self {
        TransactionWriter {
            loads,
            rows,
            labels,
            parallelism: parallelism.max(1),
            next: 1,
            open: None,
            checkpoint: 0,
            cleaned: false,
        }
    }

    /// Loads what is buffered into the open transaction, begun first if
    /// there is none.
    async fn load_buffered(&mut self) -> Result<()> {
        let Some((body, columns)) = self.rows.take() else {
            return Ok(());
        };
        let label = match &self.open {
            Some(label) => label.clone(),
            None => self.begin().await?,
        };
        self.loads.load(&label, &columns, body).await
    }

    /// Begins the subtask's next transaction.
    async fn begin(&mut self) -> Result<String> {
        if !self.cleaned {
            roll_back_lingering(&self.loads, &self.labels, self.next).await?;
            self.cleaned = true;
        }
        let label = self.labels.transaction(self.next);
        self.loads.begin(&label).await?;
        tracing::debug!(target_table = %self.loads.target(), label, "transaction begun");
        self.next += 1;
        self.open = Some(label.clone());
        Ok(label)
    }

    /// Whether this subtask takes over what subtask `subtask` left (as
    /// the two-phase sink assigns restored state).
    fn takes_over(&self, subtask: u32) -> bool {
        subtask % self.parallelism == self.labels.subtask()
    }
}

/// Rolls back the transactions `labels` began from number `from` on,
/// up to the first label StarRocks holds no open transaction for.
async fn roll_back_lingering(loads: &Loads, labels: &Labels, from: u64) -> Result<()> {
    for number in from.. {
        let label = labels.transaction(number);
        match loads.state(&label).await? {
            LabelState::Unknown | LabelState::Aborted => return Ok(()),
            state if state.is_open() => {
                loads.rollback(&label).await?;
                tracing::info!(target_table = %loads.target(), label, "rolled back a transaction left open");
            }
            state => {
                return Err(loads.error(
                    "rolling back transactions left open",
                    StarRocksError::LabelTaken {
                        label,
                        existing: state.name().to_string(),
                    },
                ));
            }
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl TwoPhaseWriter for TransactionWriter {
    type Committable = PreparedLabel;
    type State = WriterState;

    async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if self.rows.add(&batch)? {
            self.load_buffered().await?;
        }
        Ok(())
    }

    async fn prepare_commit(&mut self, checkpoint_id: u64) -> Result<Vec<PreparedLabel>> {
        self.load_buffered().await?;
        self.checkpoint = checkpoint_id;
        let Some(label) = self.open.take() else {
            return Ok(Vec::new());
        };
        self.loads.prepare(&label).await?;
        Ok(vec![PreparedLabel { label }])
    }

    fn snapshot_state(&self) -> WriterState {
        WriterState {
            prefix: self.labels.prefix().to_string(),
            table: self.loads.target_table().to_string(),
            next: self.next,
            checkpoint: self.checkpoint,
        }
    }

    async fn commit(&mut self, committable: &PreparedLabel) -> Result<CommitOutcome> {
        self.loads.commit(&committable.label).await
    }

    async fn restore(
        &mut self,
        states: Vec<(u32, WriterState)>,
        _restored: &[PreparedLabel],
    ) -> Result<()> {
        let restored_checkpoint = states.iter().map(|(_, s)| s.checkpoint).max().unwrap_or(0);
        let own = states.iter().find(|(subtask, state)| {
            *subtask == self.labels.subtask() && state.prefix == self.labels.prefix()
        });
        // As the Flink connector: a subtask without numbers of its own
        // starts after the restored checkpoint's id.
        self.next = match own {
            Some((_, state)) => state.next,
            None => restored_checkpoint.saturating_add(1),
        };
        for (subtask, state) in &states {
            if !self.takes_over(*subtask) {
                continue;
            }
            let labels = Labels::new(&state.prefix, &state.table, *subtask);
            roll_back_lingering(&self.loads, &labels, state.next).await?;
        }
        Ok(())
    }
}
