//! The `kafka` connector's options, as Flink's Kafka SQL connector names
//! them, and their typed readings.

use std::collections::BTreeMap;

use rtdw_connector_core::options::{ConnectorOption, OptionType, TableOptions};
use rtdw_connector_core::{ConnectorError, FormatSlot, TableDescriptor};

/// Flink's `topic`: one topic, or a `;`-separated list for a source.
pub(crate) const TOPIC: ConnectorOption = ConnectorOption::new(
    "topic",
    OptionType::String,
    "The topic to read or write; a source takes a list separated by ';' ('orders;refunds').",
);

/// Flink's `topic-pattern`.
pub(crate) const TOPIC_PATTERN: ConnectorOption = ConnectorOption::new(
    "topic-pattern",
    OptionType::String,
    "A regular expression over topic names: the source reads every topic it matches (whole name), found again at each partition discovery.",
)
.source_only();

/// Flink's `properties.bootstrap.servers`.
pub(crate) const BOOTSTRAP_SERVERS: ConnectorOption = ConnectorOption::new(
    "properties.bootstrap.servers",
    OptionType::String,
    "The Kafka brokers to connect to, host:port separated by commas.",
)
.required();

/// Flink's `properties.group.id`.
pub(crate) const GROUP_ID: ConnectorOption = ConnectorOption::new(
    "properties.group.id",
    OptionType::String,
    "The consumer group of the source: read by 'group-offsets'.",
)
.source_only();

/// Flink's `properties.*`: any librdkafka / Kafka client property.
pub(crate) const PROPERTIES: ConnectorOption = ConnectorOption::new(
    "properties.*",
    OptionType::String,
    "Any Kafka client property, passed to librdkafka as given (e.g. 'properties.security.protocol').",
);

/// Flink's `format`.
pub(crate) const FORMAT: ConnectorOption = ConnectorOption::new(
    "format",
    OptionType::String,
    "The format of the message values (the same as 'value.format'); its options go under its name ('json.ignore-parse-errors').",
);

/// Flink's `value.format`.
pub(crate) const VALUE_FORMAT: ConnectorOption = ConnectorOption::new(
    "value.format",
    OptionType::String,
    "The format of the message values; its options go under 'value.<format>.' ('value.json.ignore-parse-errors').",
);

/// Flink's `key.format`.
pub(crate) const KEY_FORMAT: ConnectorOption = ConnectorOption::new(
    "key.format",
    OptionType::String,
    "The format of the message keys (an insert-only format); its options go under 'key.<format>.' ('key.json.ignore-parse-errors'). Requires 'key.fields'.",
);

/// Flink's `key.fields`.
pub(crate) const KEY_FIELDS: ConnectorOption = ConnectorOption::new(
    "key.fields",
    OptionType::String,
    "The physical columns the key holds, in order, separated by ';' ('user_id;item_id').",
);

/// Flink's `key.fields-prefix`.
pub(crate) const KEY_FIELDS_PREFIX: ConnectorOption = ConnectorOption::new(
    "key.fields-prefix",
    OptionType::String,
    "A prefix the key columns' names carry in the table and not in the key format ('k_' makes column 'k_id' the key's 'id'); requires 'value.fields-include' = 'EXCEPT_KEY'.",
);

/// Flink's `value.fields-include`.
pub(crate) const VALUE_FIELDS_INCLUDE: ConnectorOption = ConnectorOption::new(
    "value.fields-include",
    OptionType::Enum(&["ALL", "EXCEPT_KEY"]),
    "Which physical columns the value holds: all of them, or all but the key columns.",
)
.default_value("ALL");

/// The key format named by `key.format`.
pub(crate) const KEY_FORMAT_SLOT: FormatSlot = FormatSlot {
    option: &KEY_FORMAT,
    prefix: "key.",
};

/// The value format named by `format`.
pub(crate) const FORMAT_SLOT: FormatSlot = FormatSlot {
    option: &FORMAT,
    prefix: "",
};

/// The value format named by `value.format`.
pub(crate) const VALUE_FORMAT_SLOT: FormatSlot = FormatSlot {
    option: &VALUE_FORMAT,
    prefix: "value.",
};

/// Flink's `scan.startup.mode`.
pub(crate) const STARTUP_MODE: ConnectorOption = ConnectorOption::new(
    "scan.startup.mode",
    OptionType::Enum(&[
        "earliest-offset",
        "latest-offset",
        "group-offsets",
        "timestamp",
        "specific-offsets",
    ]),
    "Where a partition is first read from: its earliest or latest offset, the group's committed offset ('properties.auto.offset.reset' when it has none), the first record at 'scan.startup.timestamp-millis', or 'scan.startup.specific-offsets'.",
)
.default_value("group-offsets")
.source_only();

/// Flink's `scan.startup.specific-offsets`.
pub(crate) const STARTUP_SPECIFIC_OFFSETS: ConnectorOption = ConnectorOption::new(
    "scan.startup.specific-offsets",
    OptionType::String,
    "Offsets per partition for 'specific-offsets', e.g. 'partition:0,offset:42;partition:1,offset:300'; other partitions start at their earliest offset.",
)
.source_only();

/// Flink's `scan.startup.timestamp-millis`.
pub(crate) const STARTUP_TIMESTAMP: ConnectorOption = ConnectorOption::new(
    "scan.startup.timestamp-millis",
    OptionType::Integer,
    "The time (milliseconds since the epoch) 'timestamp' starts at.",
)
.source_only();

/// Flink's `scan.bounded.mode`.
pub(crate) const BOUNDED_MODE: ConnectorOption = ConnectorOption::new(
    "scan.bounded.mode",
    OptionType::Enum(&[
        "unbounded",
        "latest-offset",
        "group-offsets",
        "timestamp",
        "specific-offsets",
    ]),
    "Where a partition ends, making the source bounded: its latest offset when first read, the group's committed offset, the first record at 'scan.bounded.timestamp-millis', or 'scan.bounded.specific-offsets'.",
)
.default_value("unbounded")
.source_only();

/// Flink's `scan.bounded.specific-offsets`.
pub(crate) const BOUNDED_SPECIFIC_OFFSETS: ConnectorOption = ConnectorOption::new(
    "scan.bounded.specific-offsets",
    OptionType::String,
    "Offsets per partition (exclusive) for 'specific-offsets', as 'scan.startup.specific-offsets'; other partitions end at their latest offset.",
)
.source_only();

/// Flink's `scan.bounded.timestamp-millis`.
pub(crate) const BOUNDED_TIMESTAMP: ConnectorOption = ConnectorOption::new(
    "scan.bounded.timestamp-millis",
    OptionType::Integer,
    "The time (milliseconds since the epoch) 'timestamp' ends at (exclusive).",
)
.source_only();

/// Flink's `scan.topic-partition-discovery.interval`.
pub(crate) const DISCOVERY_INTERVAL: ConnectorOption = ConnectorOption::new(
    "scan.topic-partition-discovery.interval",
    OptionType::Duration,
    "How often an unbounded source looks for new partitions (and, with 'topic-pattern', new topics); '0 s' turns it off.",
)
.default_value("5 min")
.source_only();

/// Flink's `sink.delivery-guarantee`.
pub(crate) const DELIVERY_GUARANTEE: ConnectorOption = ConnectorOption::new(
    "sink.delivery-guarantee",
    OptionType::Enum(&["none", "at-least-once", "exactly-once"]),
    "'exactly-once' writes the records of each checkpoint in a Kafka transaction committed when the checkpoint completes (needs 'sink.transactional-id-prefix'); 'at-least-once' waits at every checkpoint until the brokers acknowledged every record written before it; 'none' does not wait.",
)
.default_value("at-least-once")
.sink_only();

/// Flink's `sink.transactional-id-prefix`.
pub(crate) const TRANSACTIONAL_ID_PREFIX: ConnectorOption = ConnectorOption::new(
    "sink.transactional-id-prefix",
    OptionType::String,
    "The start of the transactional ids of an 'exactly-once' sink, unique to the sink among every job writing to the cluster: ids are '<prefix>-<subtask>-<slot>'.",
)
.sink_only();

/// Flink's `sink.partitioner`.
pub(crate) const PARTITIONER: ConnectorOption = ConnectorOption::new(
    "sink.partitioner",
    OptionType::Enum(&["default", "fixed", "round-robin"]),
    "Which partition a record goes to: 'default' lets the Kafka client choose (by key hash, sticky without a key), 'fixed' sends each sink subtask to one partition, 'round-robin' cycles over the partitions.",
)
.default_value("default")
.sink_only();

/// Every option of the `kafka` connector.
pub(crate) const OPTIONS: &[ConnectorOption] = &[
    TOPIC,
    TOPIC_PATTERN,
    BOOTSTRAP_SERVERS,
    GROUP_ID,
    PROPERTIES,
    FORMAT,
    VALUE_FORMAT,
    KEY_FORMAT,
    KEY_FIELDS,
    KEY_FIELDS_PREFIX,
    VALUE_FIELDS_INCLUDE,
    STARTUP_MODE,
    STARTUP_SPECIFIC_OFFSETS,
    STARTUP_TIMESTAMP,
    BOUNDED_MODE,
    BOUNDED_SPECIFIC_OFFSETS,
    BOUNDED_TIMESTAMP,
    DISCOVERY_INTERVAL,
    DELIVERY_GUARANTEE,
    TRANSACTIONAL_ID_PREFIX,
    PARTITIONER,
];

/// The value format's slot: `format` or `value.format`, exactly one.
pub(crate) fn value_format_slot(
    table: &TableDescriptor,
) -> Result<&'static FormatSlot, ConnectorError> {
    let has = |slot: &FormatSlot| table.options.contains_key(slot.option.key);
    match (has(&FORMAT_SLOT), has(&VALUE_FORMAT_SLOT)) {
        (true, false) => Ok(&FORMAT_SLOT),
        (false, true) => Ok(&VALUE_FORMAT_SLOT),
        (false, false) => Err(ConnectorError::MissingOption {
            table: table.name.clone(),
            key: "format' or 'value.format".into(),
        }),
        (true, true) => Err(invalid(
            table,
            VALUE_FORMAT.key,
            "value.format",
            "must not be given together with 'format' (they are the same option)",
        )),
    }
}

/// Which topics a table reads or writes.
#[derive(Debug, Clone)]
pub(crate) enum Topics {
    /// `topic`: these, in order.
    Named(Vec<String>),
    /// `topic-pattern`: every topic whose whole name matches.
    Pattern(regex::Regex),
}

impl Topics {
    /// The topics of a source table: `topic` or `topic-pattern`, exactly one.
    pub(crate) fn of_source(table: &TableDescriptor) -> Result<Self, ConnectorError> {
        let options = TableOptions::new(table);
        match (options.string(&TOPIC), options.string(&TOPIC_PATTERN)) {
            (Some(list), None) => {
                let topics: Vec<String> = list
                    .split(';')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(String::from)
                    .collect();
                if topics.is_empty() {
                    return Err(invalid(table, TOPIC.key, list, "must name a topic"));
                }
                Ok(Topics::Named(topics))
            }
            (None, Some(pattern)) => regex::Regex::new(&format!("^(?:{pattern})$"))
                .map(Topics::Pattern)
                .map_err(|e| {
                    invalid(
                        table,
                        TOPIC_PATTERN.key,
                        pattern,
                        &format!("must be a regular expression: {e}"),
                    )
                }),
            (None, None) => Err(ConnectorError::MissingOption {
                table: table.name.clone(),
                key: "topic' or 'topic-pattern".into(),
            }),
            (Some(_), Some(pattern)) => Err(invalid(
                table,
                TOPIC_PATTERN.key,
                pattern,
                "must not be given together with 'topic'",
            )),
        }
    }

    /// The one topic a sink table writes.
    pub(crate) fn of_sink(table: &TableDescriptor) -> Result<String, ConnectorError> {
        let topic = TableOptions::new(table).require_string(&TOPIC)?.trim();
        if topic.is_empty() || topic.contains(';') {
            return Err(invalid(
                table,
                TOPIC.key,
                topic,
                "must name exactly one topic for a sink",
            ));
        }
        Ok(topic.to_string())
    }

    /// Whether the source reads `topic`.
    pub(crate) fn includes(&self, topic: &str) -> bool {
        match self {
            Topics::Named(topics) => topics.iter().any(|t| t == topic),
            Topics::Pattern(pattern) => pattern.is_match(topic),
        }
    }
}

/// Where a partition starts or ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OffsetSpec {
    /// The first offset the partition still holds.
    Earliest,
    /// The offset after its last record, when first looked up.
    Latest,
    /// The group's committed offset.
    Group,
    /// The first record at or after this time (milliseconds).
    Timestamp(i64),
    /// Given per partition; others take the fallback.
    Specific(BTreeMap<i32, i64>),
}

/// The source's `scan.startup.*` reading.
pub(crate) fn startup(table: &TableDescriptor) -> Result<OffsetSpec, ConnectorError> {
    offsets(
        table,
        &STARTUP_MODE,
        &STARTUP_SPECIFIC_OFFSETS,
        &STARTUP_TIMESTAMP,
    )
    .map(|spec| spec.unwrap_or(OffsetSpec::Group))
}

/// The source's `scan.bounded.*` reading; `None` when unbounded.
pub(crate) fn bound(table: &TableDescriptor) -> Result<Option<OffsetSpec>, ConnectorError> {
    offsets(
        table,
        &BOUNDED_MODE,
        &BOUNDED_SPECIFIC_OFFSETS,
        &BOUNDED_TIMESTAMP,
    )
}

/// A mode with its specific offsets or timestamp; `None` for `unbounded`.
fn offsets(
    table: &TableDescriptor,
    mode: &ConnectorOption,
    specific: &ConnectorOption,
    timestamp: &ConnectorOption,
) -> Result<Option<OffsetSpec>, ConnectorError> {
    let options = TableOptions::new(table);
    let required = |option: &ConnectorOption, mode_name: &str| ConnectorError::MissingOption {
        table: table.name.clone(),
        key: format!(
            "{}' (required by '{}' = '{mode_name}')",
            option.key, mode.key
        ),
    };
    Ok(match options.choice(mode)? {
        Some("unbounded") | None => None,
        Some("earliest-offset") => Some(OffsetSpec::Earliest),
        Some("latest-offset") => Some(OffsetSpec::Latest),
        Some("group-offsets") => Some(OffsetSpec::Group),
        Some("timestamp") => Some(OffsetSpec::Timestamp(
            options
                .integer(timestamp)?
                .ok_or_else(|| required(timestamp, "timestamp"))?,
        )),
        Some(other) => {
            let text = options
                .string(specific)
                .ok_or_else(|| required(specific, other))?;
            Some(OffsetSpec::Specific(parse_specific_offsets(text).map_err(
                |expected| invalid(table, specific.key, text, &expected),
            )?))
        }
    })
}

/// `partition:0,offset:42;partition:1,offset:300` as partition -> offset.
fn parse_specific_offsets(text: &str) -> Result<BTreeMap<i32, i64>, String> {
    let expected = || {
        "must list 'partition:<n>,offset:<n>' pairs separated by ';', e.g. 'partition:0,offset:42;partition:1,offset:300'"
            .to_string()
    };
    let mut offsets = BTreeMap::new();
    for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (partition, offset) = entry.split_once(',').ok_or_else(expected)?;
        let number = |part: &str, key: &str| {
            part.trim()
                .strip_prefix(key)
                .and_then(|n| n.trim().parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(expected)
        };
        let partition = i32::try_from(number(partition, "partition:")?).map_err(|_| expected())?;
        offsets.insert(partition, number(offset, "offset:")?);
    }
    if offsets.is_empty() {
        return Err(expected());
    }
    Ok(offsets)
}

/// The error for an option value that is not acceptable.
fn invalid(table: &TableDescriptor, key: &str, value: &str, expected: &str) -> ConnectorError {
    TableOptions::new(table).invalid(key, value, expected)
}

/// The Kafka client properties of a table: every `properties.*` option
/// without its prefix.
pub(crate) fn client_properties(table: &TableDescriptor) -> BTreeMap<String, String> {
    table
        .options
        .iter()
        .filter_map(|(key, value)| {
            key.strip_prefix("properties.")
                .map(|property| (property.to_string(), value.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specific_offsets_are_read_as_flink_writes_them() {
        assert_eq!(
            parse_specific_offsets("partition:0,offset:42;partition:1,offset:300"),
            Ok(BTreeMap::from([(0, 42), (1, 300)]))
        );
        assert_eq!(
            parse_specific_offsets(" partition: 2 , offset: 7 ;"),
            Ok(BTreeMap::from([(2, 7)]))
        );
        for bad in [
            "",
            "0:42",
            "partition:0",
            "partition:x,offset:1",
            "partition:0,offset:-1",
        ] {
            assert!(parse_specific_offsets(bad).is_err(), "{bad}");
        }
    }
}
