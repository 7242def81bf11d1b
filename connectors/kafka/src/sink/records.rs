//! Rows to Kafka records, sent through a producer with their
//! acknowledgements kept in flight: the part every delivery guarantee
//! shares. The producer is the caller's, since the exactly-once sink
//! changes it with every transaction.

use std::collections::VecDeque;

use arrow::record_batch::RecordBatch;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rtdw_connector_core::format::RecordEncoder;
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::{ErrorClass, Result, StreamError};

use crate::client::{REQUEST_TIMEOUT, kafka_error};
use crate::layout::RecordLayout;

/// Sends in flight before the sink waits for the oldest to be acknowledged.
const MAX_IN_FLIGHT: usize = 100_000;

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

/// How a row becomes a record: which columns go to the key and the value,
/// and their formats.
pub(crate) struct RecordEncoding {
    pub layout: RecordLayout,
    /// Encodes the value columns.
    pub value: Box<dyn RecordEncoder>,
    /// Encodes the key columns, when the table has a key.
    pub key: Option<Box<dyn RecordEncoder>>,
}

/// Encodes and sends the rows of one sink subtask.
pub(crate) struct RecordSender {
    table: TableDescriptor,
    topic: String,
    encoding: RecordEncoding,
    partitioner: Partitioner,
    subtask: u32,
    /// The topic's partition count, looked up at the first write when the
    /// partitioner needs it.
    partitions: Option<i32>,
    next_partition: i32,
    in_flight: VecDeque<DeliveryFuture>,
}

impl RecordSender {
    /// A sender of subtask `subtask` writing `topic` of `table`.
    pub(crate) fn new(
        table: &TableDescriptor,
        topic: String,
        encoding: RecordEncoding,
        partitioner: Partitioner,
        subtask: u32,
    ) -> Self {
        RecordSender {
            table: table.clone(),
            topic,
            encoding,
            partitioner,
            subtask,
            partitions: None,
            next_partition: 0,
            in_flight: VecDeque::new(),
        }
    }

    /// Encodes `batch` and sends one record per row through `producer`,
    /// returning how many it sent.
    pub(crate) async fn write(
        &mut self,
        producer: &FutureProducer,
        batch: &RecordBatch,
    ) -> Result<usize> {
        let encode_error = |e| {
            StreamError::Failed(format!(
                "table '{}': cannot encode a row for Kafka: {e}",
                self.table.name
            ))
        };
        let mut values = Vec::with_capacity(batch.num_rows());
        self.encoding
            .value
            .encode(&self.encoding.layout.value_rows(batch)?, &mut values)
            .map_err(encode_error)?;
        let mut keys = Vec::new();
        if let Some(key_encoder) = self.encoding.key.as_mut() {
            key_encoder
                .encode(&self.encoding.layout.key_rows(batch)?, &mut keys)
                .map_err(encode_error)?;
        }
        for (i, value) in values.iter().enumerate() {
            self.send(producer, keys.get(i).map(Vec::as_slice), value)
                .await?;
        }
        Ok(values.len())
    }

    /// Waits until every record sent so far is acknowledged.
    pub(crate) async fn await_all(&mut self) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.await_oldest().await?;
        }
        Ok(())
    }

    fn error(&self, context: &str, error: KafkaError) -> StreamError {
        kafka_error(&self.table, context, error).into()
    }

    /// Sends one record, waiting for acknowledgements while the client's
    /// queue is full.
    async fn send(
        &mut self,
        producer: &FutureProducer,
        key: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<()> {
        let partition = self.partition(producer).await?;
        loop {
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&self.topic).payload(payload);
            if let Some(key) = key {
                record = record.key(key);
            }
            if let Some(partition) = partition {
                record = record.partition(partition);
            }
            match producer.send_result(record) {
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

    /// The partition the next record goes to, `None` for the client's
    /// choice.
    async fn partition(&mut self, producer: &FutureProducer) -> Result<Option<i32>> {
        Ok(match self.partitioner {
            Partitioner::Default => None,
            Partitioner::Fixed => Some(self.subtask as i32 % self.partition_count(producer).await?),
            Partitioner::RoundRobin => {
                let count = self.partition_count(producer).await?;
                let partition = self.next_partition % count;
                self.next_partition = (partition + 1) % count;
                Some(partition)
            }
        })
    }

    /// The partition count of the topic, looked up once through the
    /// producer's own connection.
    async fn partition_count(&mut self, producer: &FutureProducer) -> Result<i32> {
        if let Some(count) = self.partitions {
            return Ok(count);
        }
        let producer = producer.clone();
        let topic = self.topic.clone();
        let metadata = tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&topic), REQUEST_TIMEOUT)
        })
        .await
        .map_err(|e| StreamError::Failed(format!("looking up Kafka partitions: {e}")))?
        .map_err(|e| self.error(&format!("cannot look up topic '{}'", self.topic), e))?;
        let count = metadata
            .topics()
            .first()
            .map_or(0, |topic| topic.partitions().len()) as i32;
        if count == 0 {
            return Err(ConnectorError::external(
                &self.table.name,
                format!("topic '{}' has no partitions", self.topic),
                ErrorClass::User,
                "create the topic first",
            )
            .into());
        }
        self.partitions = Some(count);
        Ok(count)
    }
}
