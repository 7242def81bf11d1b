//! The `kafka` sink (Flink's `KafkaSink`), by `sink.delivery-guarantee`:
//! at `none` rows are encoded and sent as they come; at `at-least-once`
//! every checkpoint barrier waits until the brokers acknowledged everything
//! sent before it, so a restored job may write a record again but never
//! loses one; at `exactly-once` ([`exactly_once`]) the records of each
//! checkpoint go into a Kafka transaction committed when the checkpoint
//! completes.

mod exactly_once;
mod records;

use arrow::record_batch::RecordBatch;
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::{END_OF_INPUT, Result, Sink};

pub(crate) use exactly_once::{ExactlyOnceWriter, TransactionalIds};
pub(crate) use records::{
    KafkaProducer, Partitioner, RecordEncoding, RecordSender, UpsertBuffering, producer,
};

/// What a checkpoint barrier waits for, without transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guarantee {
    /// Nothing: records may be lost on a failure.
    None,
    /// Every record sent before the barrier is acknowledged.
    AtLeastOnce,
}

/// Producer settings every `kafka` sink has unless its table sets them:
/// keys go to the partition Kafka's Java clients (and Flink) choose,
/// murmur2 of the key.
pub(crate) const PRODUCER_DEFAULTS: &[(&str, &str)] = &[("partitioner", "murmur2_random")];

/// One subtask of a `kafka` sink at `none` or `at-least-once`.
pub(crate) struct KafkaSink {
    producer: KafkaProducer,
    sender: RecordSender,
    guarantee: Guarantee,
}

impl KafkaSink {
    /// A subtask writing `table` through `sender`.
    pub(crate) fn new(
        table: &TableDescriptor,
        sender: RecordSender,
        guarantee: Guarantee,
    ) -> Result<Self, ConnectorError> {
        let producer = producer(table, PRODUCER_DEFAULTS, &[])?;
        Ok(KafkaSink {
            producer,
            sender,
            guarantee,
        })
    }
}

#[async_trait::async_trait]
impl Sink for KafkaSink {
    async fn write_batch(&mut self, batch: RecordBatch) -> Result<()> {
        self.sender.write(&self.producer, &batch).await.map(drop)
    }

    async fn finish(&mut self) -> Result<()> {
        self.sender.await_all(&self.producer).await
    }

    fn flush_interval(&self) -> Option<std::time::Duration> {
        self.sender.buffer_interval()
    }

    async fn flush(&mut self) -> Result<()> {
        self.sender.send_due(&self.producer).await
    }

    async fn pre_commit(&mut self, checkpoint_id: u64) -> Result<String> {
        // Held-back upserts go out at every checkpoint. At the end of the
        // input every guarantee waits: the subtask ends and its producer
        // with it.
        self.sender.send_buffered(&self.producer).await?;
        if self.guarantee == Guarantee::AtLeastOnce || checkpoint_id == END_OF_INPUT {
            self.sender.await_all(&self.producer).await?;
        }
        Ok(String::new())
    }
}
