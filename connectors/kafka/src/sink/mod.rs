//! The `kafka` sink with `sink.delivery-guarantee` `none` or
//! `at-least-once` (Flink's `KafkaSink`): rows are encoded by the value
//! format and sent as they come; at `at-least-once` every checkpoint barrier
//! waits until the brokers acknowledged everything sent before it, so a
//! restored job may write a record again but never loses one.

use std::collections::VecDeque;

use arrow::record_batch::RecordBatch;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rtdw_connector_core::format::RecordEncoder;
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::{END_OF_INPUT, Result, Sink, StreamError, SubtaskContext};

use crate::client::{REQUEST_TIMEOUT, client, kafka_error};
use crate::layout::RecordLayout;
use crate::options::client_properties;

/// Sends in flight before the sink waits for the oldest to be acknowledged.
const MAX_IN_FLIGHT: usize = 100_000;

/// What a checkpoint barrier waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guarantee {
    /// Nothing: records may be lost on a failure.
    None,
    /// Every record sent before the barrier is acknowledged.
    AtLeastOnce,
}

/// How a record's partition is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Partitioner {
    /// The Kafka client's own choice.
    Default,
    /// One partition per sink subtask: `subtask % partitions`.
    Fixed,
    /// Each record to the next partition in turn.
    RoundRobin,
}

/// One subtask of a `kafka` sink.
pub(crate) struct KafkaSink {
    table: TableDescriptor,
    topic: String,
    producer: FutureProducer,
    layout: RecordLayout,
    /// Encodes the value columns.
    encoder: Box<dyn RecordEncoder>,
    /// Encodes the key columns, when the table has a key.
    key_encoder: Option<Box<dyn RecordEncoder>>,
    guarantee: Guarantee,
    partitioner: Partitioner,
    subtask: u32,
    /// The topic's partition count, looked up at the first write when the
    /// partitioner needs it.
    partitions: Option<i32>,
    next_partition: i32,
    in_flight: VecDeque<DeliveryFuture>,
}

impl KafkaSink {
    /// A subtask writing `topic` of `table`, its rows split into key and
    /// value as `layout` says.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        table: &TableDescriptor,
        topic: String,
        layout: RecordLayout,
        encoder: Box<dyn RecordEncoder>,
        key_encoder: Option<Box<dyn RecordEncoder>>,
        guarantee: Guarantee,
        partitioner: Partitioner,
        ctx: &SubtaskContext,
    ) -> Result<Self, ConnectorError> {
        // Keys go to the partition Kafka's Java clients (and Flink) choose:
        // murmur2 of the key, unless the table says otherwise.
        let java_partitioner = [("partitioner", "murmur2_random")];
        let extra: &[(&str, &str)] = match client_properties(table).contains_key("partitioner") {
            true => &[],
            false => &java_partitioner,
        };
        let producer: FutureProducer = client(table, extra)?;
        Ok(KafkaSink {
            table: table.clone(),
            topic,
            producer,
            layout,
            encoder,
            key_encoder,
            guarantee,
            partitioner,
            subtask: ctx.subtask_index,
            partitions: None,
            next_partition: 0,
            in_flight: VecDeque::new(),
        })
    }

    fn error(&self, context: &str, error: KafkaError) -> StreamError {
        kafka_error(&self.table, context, error).into()
    }

    /// The partition count of the topic, looked up once.
    async fn partition_count(&mut self) -> Result<i32> {
        if let Some(count) = self.partitions {
            return Ok(count);
        }
        let table = self.table.clone();
        let topic = self.topic.clone();
        let count = tokio::task::spawn_blocking(move || -> Result<i32, ConnectorError> {
            let consumer: BaseConsumer = client(&table, &[])?;
            let metadata = consumer
                .fetch_metadata(Some(&topic), REQUEST_TIMEOUT)
                .map_err(|e| kafka_error(&table, &format!("cannot look up topic '{topic}'"), e))?;
            let partitions = metadata
                .topics()
                .first()
                .map_or(0, |t| t.partitions().len());
            Ok(partitions as i32)
        })
        .await
        .map_err(|e| StreamError::Failed(format!("looking up Kafka partitions: {e}")))??;
        if count == 0 {
            return Err(ConnectorError::external(
                &self.table.name,
                format!("topic '{}' has no partitions", self.topic),
                rtdw_operators::ErrorClass::User,
                "create the topic first",
            )
            .into());
        }
        self.partitions = Some(count);
        Ok(count)
    }

    /// The partition the next record goes to, `None` for the client's
    /// choice.
    async fn partition(&mut self) -> Result<Option<i32>> {
        Ok(match self.partitioner {
            Partitioner::Default => None,
            Partitioner::Fixed => Some(self.subtask as i32 % self.partition_count().await?),
            Partitioner::RoundRobin => {
                let count = self.partition_count().await?;
                let partition = self.next_partition % count;
                self.next_partition = (partition + 1) % count;
                Some(partition)
            }
        })
    }

    /// Sends one record, waiting for acknowledgements while the client's
    /// queue is full.
    async fn send(&mut self, key: Option<&[u8]>, payload: &[u8]) -> Result<()> {
        let partition = self.partition().await?;
        loop {
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&self.topic).payload(payload);
            if let Some(key) = key {
                record = record.key(key);
            }
            if let Some(partition) = partition {
                record = record.partition(partition);
            }
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    self.in_flight.push_back(delivery);
                    if self.in_flight.len() >= MAX_IN_FLIGHT {
                        self.await_oldest().await?;
                    }
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    if self.in_flight.is_empty() {
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    } else {
                        self.await_oldest().await?;
                    }
                }
                Err((error, _)) => return Err(self.error("cannot send a record", error)),
            }
        }
    }

    /// Waits for the oldest send's acknowledgement.
    async fn await_oldest(&mut self) -> Result<()> {
        let Some(delivery) = self.in_flight.pop_front() else {
            return Ok(());
        };
        match delivery.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((error, _))) => Err(self.error("a record was not delivered", error)),
            Err(_) => Err(StreamError::Failed(format!(
                "table '{}': the Kafka producer dropped a delivery",
                self.table.name
            ))),
        }
    }

    /// Waits until every record sent so far is acknowledged.
    async fn await_all(&mut self) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.await_oldest().await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Sink for KafkaSink {
    async fn write_batch(&mut self, batch: RecordBatch) -> Result<()> {
        let encode_error = |e| {
            StreamError::Failed(format!(
                "table '{}': cannot encode a row for Kafka: {e}",
                self.table.name
            ))
        };
        let mut values = Vec::with_capacity(batch.num_rows());
        self.encoder
            .encode(&self.layout.value_rows(&batch)?, &mut values)
            .map_err(encode_error)?;
        let mut keys = Vec::new();
        if let Some(key_encoder) = self.key_encoder.as_mut() {
            key_encoder
                .encode(&self.layout.key_rows(&batch)?, &mut keys)
                .map_err(encode_error)?;
        }
        for (i, value) in values.iter().enumerate() {
            self.send(keys.get(i).map(Vec::as_slice), value).await?;
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        self.await_all().await
    }

    async fn pre_commit(&mut self, checkpoint_id: u64) -> Result<String> {
        // At the end of the input every guarantee waits: the subtask ends
        // and its producer with it.
        if self.guarantee == Guarantee::AtLeastOnce || checkpoint_id == END_OF_INPUT {
            self.await_all().await?;
        }
        Ok(String::new())
    }
}
