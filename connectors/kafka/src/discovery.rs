//! The coordinator's side of a `kafka` source: the partitions of the topics
//! it reads, as splits (Flink's `KafkaSourceEnumerator` discovery).

use rdkafka::consumer::{BaseConsumer, Consumer};
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::{ErrorClass, SourceSplit};

use crate::client::{REQUEST_TIMEOUT, client, kafka_error};
use crate::options::Topics;
use crate::source::PartitionId;

/// Every partition of the topics `table` reads, as a split without state
/// (a subtask resolves where it starts). A named topic that does not exist
/// is the user's error; a pattern may match none yet.
pub(crate) fn partitions(table: &TableDescriptor) -> Result<Vec<SourceSplit>, ConnectorError> {
    let topics = Topics::of_source(table)?;
    let consumer: BaseConsumer = client(table, &[], &[])?;
    let metadata = consumer
        .fetch_metadata(None, REQUEST_TIMEOUT)
        .map_err(|e| kafka_error(table, "cannot list the cluster's topics", e))?;
    if let Topics::Named(names) = &topics {
        for name in names {
            if !metadata.topics().iter().any(|t| t.name() == name) {
                return Err(ConnectorError::external(
                    &table.name,
                    format!("topic '{name}' does not exist"),
                    ErrorClass::User,
                    "create it, or correct the 'topic' option",
                ));
            }
        }
    }
    let mut splits = Vec::new();
    for topic in metadata.topics() {
        if !topics.includes(topic.name()) || topic.name().starts_with("__") {
            continue;
        }
        for partition in topic.partitions() {
            let id = PartitionId {
                topic: topic.name().into(),
                partition: partition.id(),
            };
            splits.push(SourceSplit {
                id: id.split_id(),
                state: String::new(),
                finished: false,
            });
        }
    }
    Ok(splits)
}
