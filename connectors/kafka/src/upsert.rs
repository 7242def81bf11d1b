//! The `upsert-kafka` connector (Flink's): a table with a primary key kept
//! in a (usually compacted) topic, the key columns in the record key.
//!
//! - **Source**: every record is the new row of its key, a record without
//!   a value (a tombstone) deletes its key. The source emits them as
//!   upserts; the planner adds a hash exchange on the key and a
//!   `ChangelogNormalize`, which turns them into Flink's changelog from the
//!   last row of each key (`+I` first, then `-U`/`+U`, a tombstone `-D`
//!   with the whole old row), so aggregates over the table retract
//!   correctly. A topic is read from its earliest offset, as in Flink.
//! - **Sink**: `+I`/`+U` rows are written as values, `-U`/`-D` as
//!   tombstones of their key, with the same delivery guarantees as
//!   `kafka`; `sink.buffer-flush.*` holds changes back and sends only the
//!   last of each key.

use std::time::Duration;

use rtdw_connector_core::format::Formats;
use rtdw_connector_core::options::{ConnectorOption, OptionType, TableOptions};
use rtdw_connector_core::split::not_known;
use rtdw_connector_core::{
    ConnectorError, ConnectorFactory, FormatSlot, MetadataColumn, Roles, SinkCapabilities,
    SourceCapabilities, TableDescriptor,
};
use rtdw_operators::{Sink, Source, SourceSplit, SubtaskContext};

use crate::options::{
    BOOTSTRAP_SERVERS, BOUNDED_MODE, BOUNDED_SPECIFIC_OFFSETS, BOUNDED_TIMESTAMP,
    DELIVERY_GUARANTEE, DISCOVERY_INTERVAL, KEY_FIELDS_PREFIX, KEY_FORMAT_SLOT, OffsetSpec,
    PROPERTIES, TOPIC, TRANSACTIONAL_ID_PREFIX, Topics, VALUE_FIELDS_INCLUDE, VALUE_FORMAT_SLOT,
    bound,
};
use crate::sink::UpsertBuffering;
use crate::{
    Flavor, create_sink, create_source, discovery, discovery_interval, record, sink_encoding,
    sink_settings, source_decoding,
};

/// Flink's `key.format` of `upsert-kafka`: required.
const KEY_FORMAT: ConnectorOption = ConnectorOption::new(
    "key.format",
    OptionType::String,
    "The format of the record keys, which hold the primary key's columns (an insert-only format); its options go under 'key.<format>.'.",
)
.required();

/// Flink's `value.format` of `upsert-kafka`: required.
const VALUE_FORMAT: ConnectorOption = ConnectorOption::new(
    "value.format",
    OptionType::String,
    "The format of the record values (an insert-only format); its options go under 'value.<format>.'.",
)
.required();

/// Flink's `sink.buffer-flush.max-rows`.
const BUFFER_MAX_ROWS: ConnectorOption = ConnectorOption::new(
    "sink.buffer-flush.max-rows",
    OptionType::Integer,
    "Keys whose changes the sink holds back before it sends the last change of each; '0' sends every change at once. Set together with 'sink.buffer-flush.interval'.",
)
.default_value("0")
.sink_only();

/// Flink's `sink.buffer-flush.interval`.
const BUFFER_INTERVAL: ConnectorOption = ConnectorOption::new(
    "sink.buffer-flush.interval",
    OptionType::Duration,
    "How long the sink holds a change back at most (every checkpoint sends them too); '0 s' holds nothing back. Set together with 'sink.buffer-flush.max-rows'.",
)
.default_value("0 s")
.sink_only();

/// Every option of the `upsert-kafka` connector.
const OPTIONS: &[ConnectorOption] = &[
    TOPIC,
    BOOTSTRAP_SERVERS,
    PROPERTIES,
    KEY_FORMAT,
    KEY_FIELDS_PREFIX,
    VALUE_FORMAT,
    VALUE_FIELDS_INCLUDE,
    BOUNDED_MODE,
    BOUNDED_SPECIFIC_OFFSETS,
    BOUNDED_TIMESTAMP,
    DISCOVERY_INTERVAL,
    BUFFER_MAX_ROWS,
    BUFFER_INTERVAL,
    DELIVERY_GUARANTEE,
    TRANSACTIONAL_ID_PREFIX,
];

/// The `upsert-kafka` connector.
pub struct UpsertKafkaFactory;

impl ConnectorFactory for UpsertKafkaFactory {
    fn name(&self) -> &'static str {
        "upsert-kafka"
    }

    fn description(&self) -> &'static str {
        "Reads a topic as a table keyed by its primary key (a record upserts its key, a tombstone deletes it); writes changes as upserts and tombstones, exactly once in Kafka transactions or at least once."
    }

    fn roles(&self) -> Roles {
        Roles {
            source: true,
            sink: true,
            lookup: false,
        }
    }

    fn options(&self) -> &'static [ConnectorOption] {
        OPTIONS
    }

    fn format_slots(&self) -> &'static [FormatSlot] {
        &[VALUE_FORMAT_SLOT, KEY_FORMAT_SLOT]
    }

    fn metadata_columns(&self) -> &'static [MetadataColumn] {
        record::METADATA
    }

    fn changelog_modes(&self) -> &'static str {
        "source: upserts by the primary key, normalized into a full changelog (ChangelogNormalize); sink: any changelog, written as upserts and tombstones"
    }

    fn validate_source(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
    ) -> Result<SourceCapabilities, ConnectorError> {
        Topics::of_source(table)?;
        source_decoding(table, formats, Flavor::Upsert)?;
        let bound = bound(table)?;
        if bound == Some(OffsetSpec::Group) {
            return Err(TableOptions::new(table).invalid(
                BOUNDED_MODE.key,
                "group-offsets",
                "is not available to 'upsert-kafka', which reads without a consumer group",
            ));
        }
        self.discovery_interval(table)?;
        Ok(SourceCapabilities {
            bounded: bound.is_some(),
            changelog: true,
            upserts: true,
        })
    }

    fn validate_sink(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
    ) -> Result<SinkCapabilities, ConnectorError> {
        Topics::of_sink(table)?;
        sink_settings(table)?;
        sink_encoding(table, formats, Flavor::Upsert)?;
        Ok(SinkCapabilities {
            accepts_updates: true,
            accepts_upserts: true,
        })
    }

    fn discover_splits(
        &self,
        table: &TableDescriptor,
        known: &[SourceSplit],
    ) -> Result<Option<Vec<SourceSplit>>, ConnectorError> {
        discovery::partitions(table).map(|listed| Some(not_known(listed, known)))
    }

    fn discovery_interval(
        &self,
        table: &TableDescriptor,
    ) -> Result<Option<Duration>, ConnectorError> {
        discovery_interval(table)
    }

    fn create_source(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn Source>, ConnectorError> {
        create_source(table, formats, ctx, Flavor::Upsert, OffsetSpec::Earliest)
    }

    fn create_sink(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn Sink>, ConnectorError> {
        create_sink(table, formats, ctx, Flavor::Upsert)
    }
}

/// `sink.buffer-flush.max-rows` and `sink.buffer-flush.interval`: both
/// positive, or both zero (nothing held back), as Flink requires.
pub(crate) fn buffer_settings(table: &TableDescriptor) -> Result<UpsertBuffering, ConnectorError> {
    let options = TableOptions::new(table);
    let max_rows = options.integer(&BUFFER_MAX_ROWS)?.unwrap_or(0);
    let interval = options.duration(&BUFFER_INTERVAL)?.unwrap_or_default();
    let max_rows = usize::try_from(max_rows).map_err(|_| {
        options.invalid(
            BUFFER_MAX_ROWS.key,
            &max_rows.to_string(),
            "must not be negative",
        )
    })?;
    if (max_rows > 0) == interval.is_zero() {
        return Err(options.invalid(
            BUFFER_MAX_ROWS.key,
            &max_rows.to_string(),
            "must be greater than zero together with 'sink.buffer-flush.interval' to hold changes back, or both zero",
        ));
    }
    Ok(UpsertBuffering { max_rows, interval })
}
