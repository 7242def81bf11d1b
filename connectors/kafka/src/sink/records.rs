//! Rows to Kafka records, sent through a producer that counts their
//! acknowledgements: the part every delivery guarantee shares. The
//! producer is the caller's, since the exactly-once sink changes it with
//! every transaction.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rtdw_connector_core::format::RecordEncoder;
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::row_kind::{RowKind, row_kind_at, split_row_kinds};
use rtdw_operators::{ErrorClass, Result, StreamError};

use crate::client::{REQUEST_TIMEOUT, client_with_context, kafka_error};
use crate::layout::RecordLayout;

/// How often a sink waiting for acknowledgements (or for room in a full
/// queue) looks again.
const ACK_POLL: Duration = Duration::from_millis(1);

/// A producer of the sink: librdkafka's delivery reports are counted by its
/// [`Deliveries`] on the producer's own polling thread, rather than each
/// record holding a future.
pub(crate) type KafkaProducer = ThreadedProducer<Deliveries>;

/// A producer of `table` with `defaults` and `fixed` settings (as
/// [`crate::client::client`] takes them).
pub(crate) fn producer(
    table: &TableDescriptor,
    defaults: &[(&str, &str)],
    fixed: &[(&str, &str)],
) -> Result<KafkaProducer, ConnectorError> {
    client_with_context(table, defaults, fixed, Deliveries::default())
}

/// Counts what a producer sent and what the brokers acknowledged, and keeps
/// the first delivery error.
#[derive(Default)]
pub(crate) struct Deliveries {
    sent: AtomicU64,
    settled: AtomicU64,
    failed: Mutex<Option<KafkaError>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
            failed.get_or_insert_with(|| error.clone());
        }
        self.settled.fetch_add(1, Ordering::Release);
    }
}

impl Deliveries {
    /// The first delivery error, if any.
    fn failure(&self) -> Option<KafkaError> {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether every record sent has been acknowledged or failed.
    fn settled(&self) -> bool {
        self.settled.load(Ordering::Acquire) >= self.sent.load(Ordering::Acquire)
    }
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

/// How a row becomes a record: which columns go to the key and the value,
/// and their formats.
pub(crate) struct RecordEncoding {
    pub layout: RecordLayout,
    /// Encodes the value columns.
    pub value: Box<dyn RecordEncoder>,
    /// Encodes the key columns, when the table has a key.
    pub key: Option<Box<dyn RecordEncoder>>,
    /// For `upsert-kafka`: rows are changes by key, `-U` and `-D` written
    /// as tombstones, and held back as this says.
    pub upserts: Option<UpsertBuffering>,
}

/// How an upsert sink holds changes back (`sink.buffer-flush.max-rows` and
/// `sink.buffer-flush.interval`): until this many keys changed or this
/// long passed since the first change held, and at every checkpoint; only
/// the last change of each key is sent. Zero rows: nothing is held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UpsertBuffering {
    pub max_rows: usize,
    pub interval: Duration,
}

/// Changes held back by an upsert sink: the last record of each key.
struct UpsertBuffer {
    settings: UpsertBuffering,
    /// Since when the oldest change waits.
    since: Option<Instant>,
    /// Position in `records` by key.
    positions: HashMap<Vec<u8>, usize>,
    /// Key and value (`None`: a tombstone), in order of each key's first
    /// change.
    records: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl UpsertBuffer {
    /// Holds `value` as the change of `key`, replacing the one held.
    fn put(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.since.get_or_insert_with(Instant::now);
        match self.positions.get(&key) {
            Some(&at) => self.records[at].1 = value,
            None => {
                self.positions.insert(key.clone(), self.records.len());
                self.records.push((key, value));
            }
        }
    }

    /// Whether the held changes are to be sent now.
    fn due(&self) -> bool {
        self.records.len() >= self.settings.max_rows
            || self
                .since
                .is_some_and(|since| since.elapsed() >= self.settings.interval)
    }

    /// Takes the held changes out.
    fn drain(&mut self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        self.since = None;
        self.positions.clear();
        std::mem::take(&mut self.records)
    }
}

/// Encodes and sends the rows of one sink subtask.
pub(crate) struct RecordSender {
    table: TableDescriptor,
    topic: String,
    encoding: RecordEncoding,
    /// Upserts held back, when the table buffers them.
    buffer: Option<UpsertBuffer>,
    partitioner: Partitioner,
    subtask: u32,
    /// The topic's partition count, looked up at the first write when the
    /// partitioner needs it.
    partitions: Option<i32>,
    next_partition: i32,
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
        let buffer = encoding
            .upserts
            .filter(|settings| settings.max_rows > 0)
            .map(|settings| UpsertBuffer {
                settings,
                since: None,
                positions: HashMap::new(),
                records: Vec::new(),
            });
        RecordSender {
            table: table.clone(),
            topic,
            encoding,
            buffer,
            partitioner,
            subtask,
            partitions: None,
            next_partition: 0,
        }
    }

    /// Encodes `batch` and sends one record per row through `producer`
    /// (or holds it back, for a buffering upsert sink), returning how many
    /// rows it took.
    pub(crate) async fn write(
        &mut self,
        producer: &KafkaProducer,
        batch: &RecordBatch,
    ) -> Result<usize> {
        self.check(producer)?;
        let (values, keys) = self.encode(batch)?;
        match self.buffer.as_mut() {
            Some(buffer) => {
                for (key, value) in keys.into_iter().zip(values) {
                    buffer.put(key, value);
                }
                if buffer.due() {
                    self.send_buffered(producer).await?;
                }
            }
            None => {
                for (i, value) in values.iter().enumerate() {
                    self.send(producer, keys.get(i).map(Vec::as_slice), value.as_deref())
                        .await?;
                }
            }
        }
        // Sending waits only when librdkafka's queue is full: let the
        // subtask's neighbours (heartbeats, barriers) run between batches.
        tokio::task::yield_now().await;
        Ok(batch.num_rows())
    }

    /// The value of each row of `batch` (`None`: a tombstone, for the
    /// retractions of an upsert sink) and the key of each, when the table
    /// has a key.
    #[allow(clippy::type_complexity)]
    fn encode(&mut self, batch: &RecordBatch) -> Result<(Vec<Option<Vec<u8>>>, Vec<Vec<u8>>)> {
        let encode_error = |e| {
            StreamError::Failed(format!(
                "table '{}': cannot encode a row for Kafka: {e}",
                self.table.name
            ))
        };
        // An upsert sink's formats see rows without their kinds, and only
        // the rows that are not retractions have a value.
        let (rows, retractions) = match self.encoding.upserts {
            Some(_) => {
                let (data, kinds) = split_row_kinds(batch)?;
                let retractions: Vec<bool> = (0..data.num_rows())
                    .map(|i| row_kind_at(kinds.as_ref(), i).map(RowKind::is_retraction))
                    .collect::<Result<_>>()?;
                (data, Some(retractions).filter(|r| r.contains(&true)))
            }
            None => (batch.clone(), None),
        };
        let valued = match &retractions {
            Some(retractions) => {
                let kept: BooleanArray = retractions.iter().map(|r| Some(!r)).collect();
                filter_record_batch(&rows, &kept)?
            }
            None => rows.clone(),
        };
        let mut encoded = Vec::with_capacity(valued.num_rows());
        self.encoding
            .value
            .encode(&self.encoding.layout.value_rows(&valued)?, &mut encoded)
            .map_err(encode_error)?;
        let mut encoded = encoded.into_iter();
        let values = match &retractions {
            Some(retractions) => retractions
                .iter()
                .map(|&retraction| if retraction { None } else { encoded.next() })
                .collect(),
            None => encoded.map(Some).collect(),
        };
        let mut keys = Vec::new();
        if let Some(key_encoder) = self.encoding.key.as_mut() {
            key_encoder
                .encode(&self.encoding.layout.key_rows(&rows)?, &mut keys)
                .map_err(encode_error)?;
        }
        Ok((values, keys))
    }

    /// How long upserts may be held back, when they are.
    pub(crate) fn buffer_interval(&self) -> Option<Duration> {
        self.buffer.as_ref().map(|buffer| buffer.settings.interval)
    }

    /// Sends the upserts held back when they waited their interval (or
    /// filled the buffer).
    pub(crate) async fn send_due(&mut self, producer: &KafkaProducer) -> Result<()> {
        if self.buffer.as_ref().is_some_and(UpsertBuffer::due) {
            self.send_buffered(producer).await?;
        }
        Ok(())
    }

    /// Sends the upserts held back.
    pub(crate) async fn send_buffered(&mut self, producer: &KafkaProducer) -> Result<()> {
        let Some(buffer) = self.buffer.as_mut() else {
            return Ok(());
        };
        for (key, value) in buffer.drain() {
            self.send(producer, Some(&key), value.as_deref()).await?;
        }
        Ok(())
    }

    /// Sends what is held back and waits until every record sent through
    /// `producer` is acknowledged.
    pub(crate) async fn await_all(&mut self, producer: &KafkaProducer) -> Result<()> {
        self.send_buffered(producer).await?;
        while !producer.context().settled() {
            tokio::time::sleep(ACK_POLL).await;
        }
        self.check(producer)
    }

    /// Fails with the first record `producer` could not deliver.
    fn check(&self, producer: &KafkaProducer) -> Result<()> {
        match producer.context().failure() {
            Some(error) => Err(self.error("a record was not delivered", error)),
            None => Ok(()),
        }
    }

    fn error(&self, context: &str, error: KafkaError) -> StreamError {
        kafka_error(&self.table, context, error).into()
    }

    /// Sends one record (a tombstone without `payload`), waiting while the
    /// client's queue is full.
    async fn send(
        &mut self,
        producer: &KafkaProducer,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
    ) -> Result<()> {
        let partition = self.partition(producer).await?;
        loop {
            let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.topic);
            if let Some(payload) = payload {
                record = record.payload(payload);
            }
            if let Some(key) = key {
                record = record.key(key);
            }
            if let Some(partition) = partition {
                record = record.partition(partition);
            }
            match producer.send(record) {
                Ok(()) => {
                    producer.context().sent.fetch_add(1, Ordering::Release);
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    self.check(producer)?;
                    tokio::time::sleep(ACK_POLL).await;
                }
                Err((error, _)) => return Err(self.error("cannot send a record", error)),
            }
        }
    }

    /// The partition the next record goes to, `None` for the client's
    /// choice.
    async fn partition(&mut self, producer: &KafkaProducer) -> Result<Option<i32>> {
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
    async fn partition_count(&mut self, producer: &KafkaProducer) -> Result<i32> {
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
