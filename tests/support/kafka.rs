//! Topics of a test's own on a real Apache Kafka broker
//! (`services.sh up kafka`: the run's shared broker, else one of the
//! test's own), created through the Kafka admin API, written by a producer
//! and read back by a consumer of the test's own, independent of rtdw.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use futures::executor::block_on;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::support::services::{Service, unique_name};

/// How long a broker request may take in a test.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A record to produce: its partition, timestamp (milliseconds) and value.
pub struct Produce {
    pub partition: i32,
    pub timestamp: Option<i64>,
    pub value: Vec<u8>,
}

/// A record's headers: `(key, value)` pairs in order, a value may be NULL.
pub type Headers<'a> = Vec<(&'a str, Option<&'a [u8]>)>;

/// A record as a consumer read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// One topic of this test's own; the broker stays up while it lives.
pub struct KafkaTopic {
    /// `host:port` of the broker.
    pub bootstrap: String,
    /// The topic's unique name.
    pub name: String,
    service: Service,
}

impl KafkaTopic {
    /// Creates a topic named after `base` with `partitions` partitions.
    pub fn create(base: &str, partitions: i32) -> KafkaTopic {
        let service = Service::shared_or_own("kafka");
        let bootstrap = service.var("RTDW_KAFKA_BOOTSTRAP").to_string();
        let name = unique_name(base, '-');
        let topic = KafkaTopic {
            bootstrap,
            name,
            service,
        };
        let admin = topic.admin();
        let new = NewTopic::new(&topic.name, partitions, TopicReplication::Fixed(1));
        let results =
            block_on(admin.create_topics([&new], &AdminOptions::new())).unwrap_or_else(|e| {
                panic!("create topic {}: {e}\n{}", topic.name, topic.service.log())
            });
        for result in results {
            result.unwrap_or_else(|(name, e)| panic!("create topic {name}: {e}"));
        }
        topic
    }

    /// A variable of the broker's `services.sh env` (its other listeners,
    /// credentials and CA file).
    pub fn var(&self, name: &str) -> String {
        self.service.var(name).to_string()
    }

    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        config
    }

    fn admin(&self) -> AdminClient<DefaultClientContext> {
        self.config().create().expect("a Kafka admin client")
    }

    /// Grows the topic to `total` partitions.
    pub fn add_partitions(&self, total: usize) {
        let results = block_on(self.admin().create_partitions(
            [&NewPartitions::new(&self.name, total)],
            &AdminOptions::new(),
        ))
        .expect("create partitions");
        for result in results {
            result.unwrap_or_else(|(name, e)| panic!("add partitions to {name}: {e}"));
        }
    }

    /// Produces `records` in order; returns where each landed (partition,
    /// offset), as the broker acknowledged it.
    pub fn produce(&self, records: &[Produce]) -> Vec<(i32, i64)> {
        self.send_all(records.iter().map(|record| {
            let message = FutureRecord::to(&self.name)
                .payload(record.value.as_slice())
                .partition(record.partition);
            match record.timestamp {
                Some(timestamp) => message.timestamp(timestamp),
                None => message,
            }
        }))
    }

    /// Produces keyed records in order, a `None` value as a tombstone, each
    /// to the partition of its key as Kafka's Java clients choose it
    /// (murmur2); returns where each landed.
    pub fn produce_keyed(&self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Vec<(i32, i64)> {
        self.send_all(records.iter().map(|(key, value)| {
            let message = FutureRecord::to(&self.name).key(key.as_slice());
            match value {
                Some(value) => message.payload(value.as_slice()),
                None => message,
            }
        }))
    }

    /// Produces values with their headers to partition 0, in order;
    /// returns where each landed.
    pub fn produce_with_headers(&self, records: &[(Vec<u8>, Headers<'_>)]) -> Vec<(i32, i64)> {
        self.send_all(records.iter().map(|(value, headers)| {
            let headers = headers
                .iter()
                .fold(OwnedHeaders::new(), |all, (key, value)| {
                    all.insert(Header { key, value: *value })
                });
            FutureRecord::to(&self.name)
                .payload(value.as_slice())
                .partition(0)
                .headers(headers)
        }))
    }

    /// Sends `messages` in order and waits for each acknowledgement.
    fn send_all<'a>(
        &'a self,
        messages: impl Iterator<Item = FutureRecord<'a, [u8], [u8]>>,
    ) -> Vec<(i32, i64)> {
        let producer: FutureProducer = self
            .config()
            .set("linger.ms", "5")
            .set("partitioner", "murmur2_random")
            .create()
            .expect("a Kafka producer");
        let deliveries: Vec<_> = messages
            .map(|message| {
                producer
                    .send_result(message)
                    .unwrap_or_else(|(e, _)| panic!("produce to {}: {e}", self.name))
            })
            .collect();
        deliveries
            .into_iter()
            .map(|delivery| {
                let delivered = block_on(delivery)
                    .expect("a delivery report")
                    .unwrap_or_else(|(e, _)| panic!("deliver to {}: {e}", self.name));
                (delivered.partition, delivered.offset)
            })
            .collect()
    }

    /// Produces `values` to partition 0 in one Kafka transaction, committed
    /// (the log then ends with the transaction's commit marker).
    pub fn produce_in_transaction(&self, values: &[Vec<u8>]) {
        let producer: FutureProducer = self
            .config()
            .set("transactional.id", format!("{}-txn", self.name))
            .create()
            .expect("a transactional Kafka producer");
        producer
            .init_transactions(TIMEOUT)
            .expect("init transactions");
        producer.begin_transaction().expect("begin a transaction");
        let deliveries: Vec<_> = values
            .iter()
            .map(|value| {
                producer
                    .send_result(
                        FutureRecord::<(), [u8]>::to(&self.name)
                            .payload(value.as_slice())
                            .partition(0),
                    )
                    .unwrap_or_else(|(e, _)| panic!("produce to {}: {e}", self.name))
            })
            .collect();
        for delivery in deliveries {
            block_on(delivery)
                .expect("a delivery report")
                .unwrap_or_else(|(e, _)| panic!("deliver to {}: {e}", self.name));
        }
        producer
            .commit_transaction(TIMEOUT)
            .expect("commit the transaction");
    }

    /// The offsets consumer group `group` committed, by partition, and the
    /// end (high watermark) of each partition.
    pub fn committed_and_ends(&self, group: &str) -> (BTreeMap<i32, i64>, BTreeMap<i32, i64>) {
        let consumer: BaseConsumer = self
            .config()
            .set("group.id", group)
            .create()
            .expect("a Kafka consumer");
        let metadata = consumer
            .fetch_metadata(Some(&self.name), TIMEOUT)
            .expect("topic metadata");
        let mut query = TopicPartitionList::new();
        let mut ends = BTreeMap::new();
        for partition in metadata.topics()[0].partitions() {
            query.add_partition(&self.name, partition.id());
            let (_, high) = consumer
                .fetch_watermarks(&self.name, partition.id(), TIMEOUT)
                .expect("watermarks");
            ends.insert(partition.id(), high);
        }
        let committed = consumer
            .committed_offsets(query, TIMEOUT)
            .expect("committed offsets")
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(offset) => Some((e.partition(), offset)),
                _ => None,
            })
            .collect();
        (committed, ends)
    }

    /// Every record of every partition up to the current end, read with
    /// `isolation.level` = `isolation` (`read_committed` skips aborted
    /// records and waits for open transactions).
    pub fn consume_all(&self, isolation: &str) -> Vec<Consumed> {
        let consumer: BaseConsumer = self
            .config()
            .set("isolation.level", isolation)
            .set("enable.auto.commit", "false")
            .set("group.id", format!("{}-check", self.name))
            .create()
            .expect("a Kafka consumer");
        let metadata = consumer
            .fetch_metadata(Some(&self.name), TIMEOUT)
            .expect("topic metadata");
        let mut assignment = TopicPartitionList::new();
        let mut ends = Vec::new();
        for partition in metadata.topics()[0].partitions() {
            let (_, high) = consumer
                .fetch_watermarks(&self.name, partition.id(), TIMEOUT)
                .expect("watermarks");
            assignment
                .add_partition_offset(&self.name, partition.id(), Offset::Beginning)
                .expect("assign");
            ends.push((partition.id(), high));
        }
        consumer.assign(&assignment).expect("assign");
        let mut records = Vec::new();
        let mut last_progress = std::time::Instant::now();
        let mut since_check = 0;
        loop {
            // Positions are checked when the consumer idles and every
            // 10 000 records: asking for them costs more than a record.
            if since_check == 0 {
                let positions = consumer.position().expect("positions");
                let done = ends.iter().all(|(partition, high)| {
                    *high == 0
                        || matches!(
                            positions.find_partition(&self.name, *partition).map(|e| e.offset()),
                            Some(Offset::Offset(p)) if p >= *high
                        )
                });
                if done {
                    break;
                }
            }
            assert!(
                last_progress.elapsed() < TIMEOUT,
                "reading {} stalled",
                self.name
            );
            match consumer.poll(Duration::from_millis(100)) {
                Some(message) => {
                    let message = message.expect("a record");
                    records.push(Consumed {
                        partition: message.partition(),
                        offset: message.offset(),
                        key: message.key().map(<[u8]>::to_vec),
                        value: message.payload().map(<[u8]>::to_vec),
                    });
                    last_progress = std::time::Instant::now();
                    since_check = (since_check + 1) % 10_000;
                }
                None => since_check = 0,
            }
        }
        records
    }
}
