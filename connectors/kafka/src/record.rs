//! A consumed Kafka record, owned, and the metadata columns a `kafka` source
//! offers from it (Flink's `topic`, `partition`, `offset`, `timestamp`,
//! `timestamp-type`, `headers`, `leader-epoch`).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, Int32Array, Int64Array, MapArray, MapBuilder, MapFieldNames,
    StringArray, StringBuilder, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::error::ArrowError;
use rdkafka::Message;
use rdkafka::message::{BorrowedMessage, Headers, Timestamp};
use rtdw_connector_core::types::map_type;
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
    /// The headers, in order (a value may be NULL), when the table reads
    /// them.
    pub(crate) headers: Vec<(String, Option<Vec<u8>>)>,
}

impl Record {
    /// Copies what the source needs out of a consumed message; `topic` is
    /// the message's topic name, shared between records; headers are
    /// copied only `with_headers`.
    pub(crate) fn from_message(
        message: &BorrowedMessage<'_>,
        topic: Arc<str>,
        with_headers: bool,
    ) -> Self {
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
            headers: match message.headers() {
                Some(headers) if with_headers => headers
                    .iter()
                    .map(|header| (header.key.to_string(), header.value.map(<[u8]>::to_vec)))
                    .collect(),
                _ => Vec::new(),
            },
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

/// MAP<STRING, BYTES>.
fn headers_type() -> DataType {
    map_type(DataType::Utf8, DataType::Binary)
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
        key: "headers",
        sql_type: "MAP<STRING, BYTES> NOT NULL",
        data_type: headers_type,
        writable: false,
        doc: "The headers of the record, by key (the last value of a repeated key).",
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
    Headers,
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
                    "headers" => RecordMetadata::Headers,
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
    pub(crate) fn column(self, records: &[&Record]) -> Result<ArrayRef, ArrowError> {
        Ok(match self {
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
            RecordMetadata::Headers => Arc::new(headers_column(records)?),
            RecordMetadata::LeaderEpoch => Arc::new(Int32Array::from_iter(
                records.iter().map(|r| r.leader_epoch),
            )),
        })
    }
}

/// The headers of `records` as a map per record, laid out as
/// [`map_type`] says; of a key given more than once, the last value is
/// kept (a map holds a key once).
fn headers_column(records: &[&Record]) -> Result<MapArray, ArrowError> {
    let names = MapFieldNames {
        entry: "entries".into(),
        key: "key".into(),
        value: "value".into(),
    };
    let mut builder = MapBuilder::new(Some(names), StringBuilder::new(), BinaryBuilder::new());
    for record in records {
        for (i, (key, value)) in record.headers.iter().enumerate() {
            let repeated = record.headers[i + 1..]
                .iter()
                .any(|(later, _)| later == key);
            if repeated {
                continue;
            }
            builder.keys().append_value(key);
            builder.values().append_option(value.as_deref());
        }
        builder.append(true)?;
    }
    Ok(builder.finish())
}
