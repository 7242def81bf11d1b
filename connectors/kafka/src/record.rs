//! A consumed Kafka record, owned, and the metadata columns a `kafka` source
//! offers from it (Flink's `topic`, `partition`, `offset`, `timestamp`,
//! `timestamp-type`, `leader-epoch`).

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use rdkafka::Message;
use rdkafka::message::{BorrowedMessage, Timestamp};
use rtdw_connector_core::{ConnectorError, MetadataColumn, TableDescriptor};

/// One record as read, detached from the consumer.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp: Timestamp,
    pub(crate) leader_epoch: Option<i32>,
    /// `None` for a record without a key.
    pub(crate) key: Option<Vec<u8>>,
    /// `None` for a tombstone.
    pub(crate) payload: Option<Vec<u8>>,
}

impl Record {
    /// Copies what the source needs out of a consumed message; `topic` is
    /// the message's topic name, shared between records.
    pub(crate) fn from_message(message: &BorrowedMessage<'_>, topic: Arc<str>) -> Self {
        // SAFETY: `ptr` is the live message `message` borrows; librdkafka
        // only reads its leader epoch field.
        let epoch = unsafe { rdkafka::bindings::rd_kafka_message_leader_epoch(message.ptr()) };
        Record {
            topic,
            partition: message.partition(),
            offset: message.offset(),
            timestamp: message.timestamp(),
            leader_epoch: (epoch >= 0).then_some(epoch),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
        }
    }

    /// Where the record is, for error messages and logs.
    pub(crate) fn position(&self) -> String {
        format!(
            "topic '{}' partition {} offset {}",
            self.topic, self.partition, self.offset
        )
    }
}

/// TIMESTAMP_LTZ(3).
fn timestamp_ltz() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// What a `kafka` source offers besides the data.
pub(crate) const METADATA: &[MetadataColumn] = &[
    MetadataColumn {
        key: "topic",
        sql_type: "STRING NOT NULL",
        data_type: || DataType::Utf8,
        writable: false,
        doc: "The topic of the record.",
    },
    MetadataColumn {
        key: "partition",
        sql_type: "INT NOT NULL",
        data_type: || DataType::Int32,
        writable: false,
        doc: "The partition of the record.",
    },
    MetadataColumn {
        key: "offset",
        sql_type: "BIGINT NOT NULL",
        data_type: || DataType::Int64,
        writable: false,
        doc: "The offset of the record in its partition.",
    },
    MetadataColumn {
        key: "timestamp",
        sql_type: "TIMESTAMP_LTZ(3) NOT NULL",
        data_type: timestamp_ltz,
        writable: false,
        doc: "The timestamp of the record (NULL when it has none).",
    },
    MetadataColumn {
        key: "timestamp-type",
        sql_type: "STRING NOT NULL",
        data_type: || DataType::Utf8,
        writable: false,
        doc: "'NoTimestampType', 'CreateTime' or 'LogAppendTime'.",
    },
    MetadataColumn {
        key: "leader-epoch",
        sql_type: "INT NULL",
        data_type: || DataType::Int32,
        writable: false,
        doc: "The leader epoch of the record, when the broker gives one.",
    },
];

/// One metadata column of a source table.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RecordMetadata {
    Topic,
    Partition,
    Offset,
    Timestamp,
    TimestampType,
    LeaderEpoch,
}

impl RecordMetadata {
    /// The metadata columns of `table`, in declaration order.
    pub(crate) fn of_table(table: &TableDescriptor) -> Result<Vec<Self>, ConnectorError> {
        table
            .metadata
            .iter()
            .map(|m| {
                Ok(match m.key.as_str() {
                    "topic" => RecordMetadata::Topic,
                    "partition" => RecordMetadata::Partition,
                    "offset" => RecordMetadata::Offset,
                    "timestamp" => RecordMetadata::Timestamp,
                    "timestamp-type" => RecordMetadata::TimestampType,
                    "leader-epoch" => RecordMetadata::LeaderEpoch,
                    other => {
                        return Err(ConnectorError::InvalidMetadata {
                            table: table.name.clone(),
                            column: m.column.clone(),
                            reason: format!("the kafka source offers no metadata '{other}'"),
                        });
                    }
                })
            })
            .collect()
    }

    /// The column's values for `records`, one per row.
    pub(crate) fn column(self, records: &[&Record]) -> ArrayRef {
        match self {
            RecordMetadata::Topic => Arc::new(StringArray::from_iter_values(
                records.iter().map(|r| &*r.topic),
            )),
            RecordMetadata::Partition => Arc::new(Int32Array::from_iter_values(
                records.iter().map(|r| r.partition),
            )),
            RecordMetadata::Offset => Arc::new(Int64Array::from_iter_values(
                records.iter().map(|r| r.offset),
            )),
            RecordMetadata::Timestamp => Arc::new(
                TimestampMillisecondArray::from_iter(
                    records.iter().map(|r| r.timestamp.to_millis()),
                )
                .with_timezone("UTC"),
            ),
            RecordMetadata::TimestampType => Arc::new(StringArray::from_iter_values(
                records.iter().map(|r| match r.timestamp {
                    Timestamp::NotAvailable => "NoTimestampType",
                    Timestamp::CreateTime(_) => "CreateTime",
                    Timestamp::LogAppendTime(_) => "LogAppendTime",
                }),
            )),
            RecordMetadata::LeaderEpoch => Arc::new(Int32Array::from_iter(
                records.iter().map(|r| r.leader_epoch),
            )),
        }
    }
}
