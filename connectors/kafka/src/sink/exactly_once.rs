//! The `kafka` sink at `sink.delivery-guarantee` = `exactly-once`, a
//! two-phase writer: the records between two checkpoint barriers go into
//! one Kafka transaction, which the barrier flushes (prepares) and the
//! completed checkpoint commits.
//!
//! Each transaction has a producer of its own, on a transactional id
//! `{prefix}-{subtask}-{slot}`: a slot is free again once its transaction
//! committed, so a subtask uses two ids in the steady state, more while
//! checkpoints are slow to complete. A new producer bumps its id's epoch,
//! so no two transactions on one id share a producer id and epoch; the
//! checkpoint keeps the producer id and epoch of every prepared
//! transaction (read from its coordinator), and a restore commits exactly
//! that transaction through [`TransactionAdmin`], never a later one on the
//! same id. Then every other transaction still open on the ids this
//! subtask owns is aborted, and its producer fenced, so a `read_committed`
//! consumer is not held at the last stable offset.

use std::collections::HashMap;

use arrow::record_batch::RecordBatch;
use rdkafka::producer::Producer;
use rtdw_connector_core::two_phase::{CommitOutcome, TwoPhaseWriter};
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::{ErrorClass, Result, StreamError};
use serde::{Deserialize, Serialize};

use crate::client::{REQUEST_TIMEOUT, kafka_error};
use crate::sink::{KafkaProducer, PRODUCER_DEFAULTS, RecordSender, producer};
use crate::transactions::{Described, TransactionAdmin, TransactionError};

/// The transactional ids of one sink subtask, and which ids of other
/// subtasks' it owns after a change of parallelism.
#[derive(Debug, Clone)]
pub(crate) struct TransactionalIds {
    /// `sink.transactional-id-prefix`.
    prefix: String,
    subtask: u32,
    parallelism: u32,
}

impl TransactionalIds {
    /// The ids of subtask `subtask` of `parallelism`.
    pub(crate) fn new(prefix: &str, subtask: u32, parallelism: u32) -> Self {
        TransactionalIds {
            prefix: prefix.to_string(),
            subtask,
            parallelism: parallelism.max(1),
        }
    }

    /// The id of `slot`.
    fn name(&self, slot: u32) -> String {
        format!("{}-{}-{}", self.prefix, self.subtask, slot)
    }

    /// The start every id of the sink shares.
    fn stem(&self) -> String {
        format!("{}-", self.prefix)
    }

    /// Whether `id` is an id of this sink whose leftovers are this
    /// subtask's to clean: those of subtask `s` go to `s % parallelism`,
    /// as the sink's state does.
    fn owns(&self, id: &str) -> bool {
        let Some((subtask, slot)) = id
            .strip_prefix(&self.stem())
            .and_then(|rest| rest.split_once('-'))
        else {
            return false;
        };
        match (subtask.parse::<u32>(), slot.parse::<u32>()) {
            (Ok(subtask), Ok(_)) => subtask % self.parallelism == self.subtask,
            _ => false,
        }
    }
}

/// What the checkpoint keeps of a prepared transaction: enough to commit
/// it from another process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PreparedTransaction {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// The transaction records go into until the next barrier.
struct OpenTransaction {
    id: String,
    producer: KafkaProducer,
    /// Records sent in it.
    records: usize,
}

/// A producer being created with its transaction begun.
type BegunProducer = tokio::task::JoinHandle<Result<KafkaProducer>>;

/// The two-phase writer of one exactly-once sink subtask.
pub(crate) struct ExactlyOnceWriter {
    table: TableDescriptor,
    sender: RecordSender,
    ids: TransactionalIds,
    /// `transaction.timeout.ms` of every transaction.
    timeout_ms: i32,
    admin: TransactionAdmin,
    open: Option<OpenTransaction>,
    /// The transaction begun ahead for the records after the last barrier.
    next: Option<(String, BegunProducer)>,
    /// Prepared transactions awaiting their checkpoint, with their
    /// producers, by transactional id: their slots are taken.
    prepared: HashMap<String, KafkaProducer>,
    /// What committing each restored transaction found, by transactional
    /// id, until the sink asks to commit it.
    resumed: HashMap<String, CommitOutcome>,
    /// Whether the transactions left open on this subtask's ids were
    /// aborted.
    cleaned: bool,
}

impl ExactlyOnceWriter {
    /// The writer of subtask `ids`, writing through `sender` and finishing
    /// transactions through `admin`.
    pub(crate) fn new(
        table: &TableDescriptor,
        sender: RecordSender,
        ids: TransactionalIds,
        admin: TransactionAdmin,
        timeout_ms: i32,
    ) -> Self {
        ExactlyOnceWriter {
            table: table.clone(),
            sender,
            ids,
            timeout_ms,
            admin,
            open: None,
            next: None,
            prepared: HashMap::new(),
            resumed: HashMap::new(),
            cleaned: false,
        }
    }

    fn admin_error(&self, context: &str, error: TransactionError) -> StreamError {
        ConnectorError::external(&self.table.name, context, ErrorClass::Transient, error).into()
    }

    /// Makes sure a transaction is open: the one begun ahead at the last
    /// barrier, or one begun now on the lowest free slot.
    async fn ensure_open(&mut self) -> Result<()> {
        if self.open.is_none() {
            if !self.cleaned {
                self.abort_leftovers().await?;
            }
            let (id, producer) = match self.next.take() {
                Some(next) => next,
                None => self.begin_next(),
            };
            let producer = producer.await.map_err(|e| {
                StreamError::Failed(format!("beginning a Kafka transaction: {e}"))
            })??;
            self.open = Some(OpenTransaction {
                id,
                producer,
                records: 0,
            });
        }
        Ok(())
    }

    /// Starts beginning a transaction on the lowest free slot, in the
    /// background: a new producer takes a round trip to the transaction
    /// coordinator, which the next records need not wait for.
    fn begin_next(&self) -> (String, BegunProducer) {
        let slot = (0..)
            .find(|slot| !self.prepared.contains_key(&self.ids.name(*slot)))
            .expect("a free slot exists below u32::MAX");
        let id = self.ids.name(slot);
        let task = tokio::spawn(begin(self.table.clone(), id.clone(), self.timeout_ms));
        (id, task)
    }

    /// Aborts every transaction left open on the ids this subtask owns,
    /// fencing their producers.
    async fn abort_leftovers(&mut self) -> Result<()> {
        let open = self
            .admin
            .ongoing(&self.ids.stem())
            .await
            .map_err(|e| self.admin_error("cannot list open transactions", e))?;
        for id in open.into_iter().filter(|id| self.ids.owns(id)) {
            tracing::info!(table = %self.table.name, transactional_id = %id, "aborting a transaction left open");
            self.admin
                .abort_and_fence(&id, self.timeout_ms)
                .await
                .map_err(|e| self.admin_error("cannot abort a transaction left open", e))?;
        }
        self.cleaned = true;
        Ok(())
    }

    /// Commits a prepared transaction whose producer is gone, by its
    /// producer id and epoch, deciding from what its coordinator says.
    async fn resume(&mut self, prepared: &PreparedTransaction) -> Result<CommitOutcome> {
        let id = &prepared.transactional_id;
        let described = self
            .admin
            .describe(id)
            .await
            .map_err(|e| self.admin_error("cannot describe a prepared transaction", e))?;
        match resumption(prepared, described.as_ref()) {
            Resumption::Commit => {
                self.admin
                    .commit(id, prepared.producer_id, prepared.producer_epoch)
                    .await
                    .map_err(|e| self.admin_error("cannot commit a prepared transaction", e))?;
                tracing::info!(table = %self.table.name, transactional_id = %id, "committed a restored transaction");
                Ok(CommitOutcome::Committed)
            }
            Resumption::Done => Ok(CommitOutcome::AlreadyCommitted),
            Resumption::TimedOut => {
                tracing::error!(
                    table = %self.table.name,
                    transactional_id = %id,
                    producer_id = prepared.producer_id,
                    producer_epoch = prepared.producer_epoch,
                    "the broker aborted a prepared transaction before it could be committed: \
                     it outlived 'properties.transaction.timeout.ms' ({} ms), and the records \
                     of its checkpoint are lost; keep the timeout above the checkpoint interval \
                     plus the longest restart",
                    self.timeout_ms
                );
                Ok(CommitOutcome::AlreadyCommitted)
            }
        }
    }
}

/// A new producer of `table` on transactional id `id`, with a
/// transaction begun. Initialising it aborts whatever the id still had
/// open.
async fn begin(table: TableDescriptor, id: String, timeout_ms: i32) -> Result<KafkaProducer> {
    let fixed = [
        ("transactional.id".to_string(), id),
        ("transaction.timeout.ms".to_string(), timeout_ms.to_string()),
    ];
    tokio::task::spawn_blocking(move || -> Result<KafkaProducer, ConnectorError> {
        let fixed: Vec<(&str, &str)> = fixed
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        let producer = producer(&table, PRODUCER_DEFAULTS, &fixed)?;
        producer
            .init_transactions(REQUEST_TIMEOUT)
            .map_err(|e| kafka_error(&table, "cannot initialise a transactional producer", e))?;
        producer
            .begin_transaction()
            .map_err(|e| kafka_error(&table, "cannot begin a transaction", e))?;
        Ok(producer)
    })
    .await
    .map_err(|e| StreamError::Failed(format!("beginning a Kafka transaction: {e}")))?
    .map_err(StreamError::from)
}

/// What a restore does with a prepared transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resumption {
    /// It is still open: commit it.
    Commit,
    /// It was committed, or its id moved on, which this sink lets happen
    /// only after committing it.
    Done,
    /// The broker aborted it when it outlived its timeout.
    TimedOut,
}

/// Decides what to do with `prepared` from what its coordinator says now.
/// Only a transaction with the very producer id and epoch is committed:
/// a later transaction on the same id has another epoch.
fn resumption(prepared: &PreparedTransaction, now: Option<&Described>) -> Resumption {
    let Some(now) = now else {
        // The id expired (`transactional.id.expiration.ms`, 7 days by
        // default) long after its transaction ended.
        return Resumption::Done;
    };
    let same_producer = now.producer_id == prepared.producer_id;
    let aborted = matches!(now.state.as_str(), "PrepareAbort" | "CompleteAbort");
    match now.producer_epoch.checked_sub(prepared.producer_epoch) {
        Some(0) if same_producer => match now.state.as_str() {
            "Ongoing" | "PrepareCommit" => Resumption::Commit,
            _ if aborted => Resumption::TimedOut,
            _ => Resumption::Done,
        },
        // A timeout abort bumps the epoch once and leaves the id there;
        // a producer of this sink taking the id over bumps it too but
        // never ends in an abort at that epoch.
        Some(1) if same_producer && aborted => Resumption::TimedOut,
        _ => Resumption::Done,
    }
}

#[async_trait::async_trait]
impl TwoPhaseWriter for ExactlyOnceWriter {
    type Committable = PreparedTransaction;
    type State = ();

    async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.ensure_open().await?;
        let open = self.open.as_mut().expect("opened above");
        open.records += self.sender.write(&open.producer, &batch).await?;
        Ok(())
    }

    async fn prepare_commit(&mut self, _checkpoint_id: u64) -> Result<Vec<PreparedTransaction>> {
        // A transaction without records stays open for the next
        // checkpoint: there is nothing to commit.
        if self.open.as_ref().is_none_or(|open| open.records == 0) {
            return Ok(Vec::new());
        }
        let open = self.open.take().expect("checked above");
        self.sender.await_all(&open.producer).await?;
        let described = self
            .admin
            .describe(&open.id)
            .await
            .map_err(|e| self.admin_error("cannot describe the transaction to prepare", e))?;
        let described = described
            .filter(|described| described.state == "Ongoing")
            .ok_or_else(|| {
                StreamError::Failed(format!(
                    "table '{}': transaction '{}' is no longer open on the broker (it outlived 'properties.transaction.timeout.ms' of {} ms, or another producer took its id)",
                    self.table.name, open.id, self.timeout_ms
                ))
            })?;
        self.prepared.insert(open.id.clone(), open.producer);
        self.next = Some(self.begin_next());
        Ok(vec![PreparedTransaction {
            transactional_id: open.id,
            producer_id: described.producer_id,
            producer_epoch: described.producer_epoch,
        }])
    }

    fn snapshot_state(&self) {}

    async fn commit(&mut self, committable: &PreparedTransaction) -> Result<CommitOutcome> {
        let id = &committable.transactional_id;
        if let Some(outcome) = self.resumed.remove(id) {
            return Ok(outcome);
        }
        let Some(producer) = self.prepared.remove(id) else {
            return self.resume(committable).await;
        };
        let table = self.table.clone();
        let producer = tokio::task::spawn_blocking(move || {
            producer
                .commit_transaction(REQUEST_TIMEOUT)
                .map(|()| producer)
                .map_err(|e| kafka_error(&table, "cannot commit a transaction", e))
        })
        .await
        .map_err(|e| StreamError::Failed(format!("committing a Kafka transaction: {e}")))??;
        // Closing a producer waits for its threads; nothing waits for that.
        tokio::task::spawn_blocking(move || drop(producer));
        Ok(CommitOutcome::Committed)
    }

    async fn restore(
        &mut self,
        _states: Vec<(u32, ())>,
        restored: &[PreparedTransaction],
    ) -> Result<()> {
        // Commit first: aborting what is left open must not meet a
        // restored transaction still open.
        for prepared in restored {
            let outcome = self.resume(prepared).await?;
            self.resumed
                .insert(prepared.transactional_id.clone(), outcome);
        }
        self.abort_leftovers().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(epoch: i16) -> PreparedTransaction {
        PreparedTransaction {
            transactional_id: "job-0-1".into(),
            producer_id: 7,
            producer_epoch: epoch,
        }
    }

    fn now(state: &str, producer_id: i64, epoch: i16) -> Described {
        Described {
            state: state.into(),
            producer_id,
            producer_epoch: epoch,
        }
    }

    #[test]
    fn only_the_very_transaction_is_committed() {
        for state in ["Ongoing", "PrepareCommit"] {
            assert_eq!(
                resumption(&prepared(3), Some(&now(state, 7, 3))),
                Resumption::Commit
            );
            // A later transaction on the id, or one of another producer.
            assert_eq!(
                resumption(&prepared(3), Some(&now(state, 7, 4))),
                Resumption::Done
            );
            assert_eq!(
                resumption(&prepared(3), Some(&now(state, 8, 3))),
                Resumption::Done
            );
        }
        assert_eq!(
            resumption(&prepared(3), Some(&now("CompleteCommit", 7, 3))),
            Resumption::Done
        );
        assert_eq!(resumption(&prepared(3), None), Resumption::Done);
    }

    #[test]
    fn an_abort_at_the_epoch_or_the_next_is_a_timeout() {
        for state in ["PrepareAbort", "CompleteAbort"] {
            assert_eq!(
                resumption(&prepared(3), Some(&now(state, 7, 3))),
                Resumption::TimedOut
            );
            assert_eq!(
                resumption(&prepared(3), Some(&now(state, 7, 4))),
                Resumption::TimedOut
            );
            // Two bumps: the sink took the id over and aborted a later
            // transaction of its own.
            assert_eq!(
                resumption(&prepared(3), Some(&now(state, 7, 5))),
                Resumption::Done
            );
        }
    }

    #[test]
    fn a_subtask_owns_the_ids_of_the_subtasks_it_takes_over() {
        let ids = TransactionalIds::new("orders-sink", 1, 2);
        assert_eq!(ids.name(0), "orders-sink-1-0");
        assert!(ids.owns("orders-sink-1-4"));
        assert!(ids.owns("orders-sink-3-0"));
        assert!(!ids.owns("orders-sink-2-0"));
        // Another sink whose prefix extends this one's.
        assert!(!ids.owns("orders-sink-x-1-0"));
        assert!(!ids.owns("orders-sink-1-0-0"));
    }
}
