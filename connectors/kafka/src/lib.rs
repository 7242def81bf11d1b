//! The `kafka` connector, with Flink's options and semantics, on librdkafka.
//!
//! - **Source** (split-based, Flink's `KafkaSource`): each partition of the
//!   topics a table reads (`topic` or `topic-pattern`) is a split the
//!   coordinator discovers ([`discovery`]) and assigns; a subtask resolves
//!   where a new partition starts (`scan.startup.mode`) and, for a bounded
//!   source, where it ends (`scan.bounded.mode`), and keeps both with the
//!   next offset in every checkpoint. Values are decoded by the table's
//!   format; malformed records follow its error policy, named by topic,
//!   partition and offset. Metadata columns: `topic`, `partition`,
//!   `offset`, `timestamp`, `timestamp-type`, `leader-epoch`.
//! - **Keys** ([`layout`]): `key.format` and `key.fields` put columns in
//!   the record key, `value.fields-include` = `EXCEPT_KEY` leaves them out
//!   of the value, as in Flink.
//! - **Sink** ([`sink`]): values encoded by the table's format, sent with
//!   `sink.delivery-guarantee` `exactly-once` (a Kafka transaction per
//!   checkpoint, committed when it completes and resumed after a restore
//!   through [`transactions`]), `at-least-once` (every checkpoint waits for
//!   the brokers' acknowledgements) or `none`.
//!
//! librdkafka is linked into this crate only; the `rtdw` binary registers
//! [`KafkaFactory`] with the connector registry.

mod client;
mod decoding;
mod discovery;
mod layout;
mod options;
mod protocol;
mod record;
mod sink;
mod source;
mod transactions;
mod upsert;

pub use upsert::UpsertKafkaFactory;

use std::time::Duration;

use rtdw_connector_core::format::{Formats, ResolvedFormat};
use rtdw_connector_core::options::{ConnectorOption, TableOptions};
use rtdw_connector_core::split::not_known;
use rtdw_connector_core::two_phase::TwoPhaseSink;
use rtdw_connector_core::{
    ConnectorError, ConnectorFactory, FormatSlot, MetadataColumn, Roles, SinkCapabilities,
    SourceCapabilities, TableDescriptor,
};
use rtdw_operators::row_kind::has_row_kinds;
use rtdw_operators::{ErrorClass, Sink, Source, SourceSplit, SubtaskContext};

use crate::decoding::{KeyReader, RecordDecoding};
use crate::layout::RecordLayout;
use crate::options::{
    BOOTSTRAP_SERVERS, BOUNDED_MODE, DELIVERY_GUARANTEE, DISCOVERY_INTERVAL, FORMAT_SLOT, GROUP_ID,
    KEY_FORMAT, KEY_FORMAT_SLOT, OffsetSpec, PARTITIONER, STARTUP_MODE, TRANSACTIONAL_ID_PREFIX,
    Topics, VALUE_FORMAT_SLOT, bound, client_properties, startup, value_format_slot,
};
use crate::protocol::security::{Connector, Security};
use crate::sink::{
    ExactlyOnceWriter, Guarantee, KafkaSink, Partitioner, RecordEncoding, RecordSender,
    TransactionalIds,
};
use crate::source::KafkaSource;
use crate::transactions::TransactionAdmin;

/// The `kafka` connector.
pub struct KafkaFactory;

impl ConnectorFactory for KafkaFactory {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn description(&self) -> &'static str {
        "Reads topic partitions as splits with offsets kept in checkpoints; writes records exactly once in Kafka transactions, or at least once."
    }

    fn roles(&self) -> Roles {
        Roles {
            source: true,
            sink: true,
            lookup: false,
        }
    }

    fn options(&self) -> &'static [ConnectorOption] {
        options::OPTIONS
    }

    fn format_slots(&self) -> &'static [FormatSlot] {
        &[FORMAT_SLOT, VALUE_FORMAT_SLOT, KEY_FORMAT_SLOT]
    }

    fn metadata_columns(&self) -> &'static [MetadataColumn] {
        record::METADATA
    }

    fn changelog_modes(&self) -> &'static str {
        "source and sink: inserts only, or every change with a changelog format (debezium-json, canal-json, maxwell-json)"
    }

    fn validate_source(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
    ) -> Result<SourceCapabilities, ConnectorError> {
        Topics::of_source(table)?;
        let changelog = has_row_kinds(source_decoding(table, formats, Flavor::Plain)?.schema());
        let startup = startup(table)?;
        let bound = bound(table)?;
        let has_group = TableOptions::new(table).string(&GROUP_ID).is_some();
        for (mode, spec) in [
            (&STARTUP_MODE, Some(&startup)),
            (&BOUNDED_MODE, bound.as_ref()),
        ] {
            if spec == Some(&OffsetSpec::Group) && !has_group {
                return Err(ConnectorError::InvalidOption {
                    table: table.name.clone(),
                    key: mode.key.to_string(),
                    value: "group-offsets".into(),
                    expected: format!("needs '{}' to read the group's offsets", GROUP_ID.key),
                });
            }
        }
        record::RecordMetadata::of_table(table)?;
        self.discovery_interval(table)?;
        Ok(SourceCapabilities {
            bounded: bound.is_some(),
            changelog,
            upserts: false,
        })
    }

    fn validate_sink(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
    ) -> Result<SinkCapabilities, ConnectorError> {
        Topics::of_sink(table)?;
        sink_settings(table)?;
        let format = formats.resolve(table, value_format_slot(table)?)?;
        sink_encoding(table, formats, Flavor::Plain)?;
        Ok(SinkCapabilities {
            accepts_updates: format.factory.changelog(),
            accepts_upserts: format.factory.accepts_upserts(),
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
        create_source(table, formats, ctx, Flavor::Plain, startup(table)?)
    }

    fn create_sink(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn Sink>, ConnectorError> {
        create_sink(table, formats, ctx, Flavor::Plain)
    }
}

/// How a table's rows map to records: the two connectors of this crate
/// share everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// `kafka`: `key.fields` in the key, each record a row (or a change of
    /// a changelog format).
    Plain,
    /// `upsert-kafka`: the primary key in the key, each record an upsert
    /// or, without a value, a delete of its key.
    Upsert,
}

impl Flavor {
    fn layout(self, table: &TableDescriptor) -> Result<RecordLayout, ConnectorError> {
        match self {
            Flavor::Plain => RecordLayout::of_table(table),
            Flavor::Upsert => RecordLayout::of_upsert_table(table),
        }
    }

    fn value_slot(self, table: &TableDescriptor) -> Result<&'static FormatSlot, ConnectorError> {
        match self {
            Flavor::Plain => value_format_slot(table),
            Flavor::Upsert => Ok(&VALUE_FORMAT_SLOT),
        }
    }
}

/// How often an unbounded source of `table` looks for new partitions
/// (`scan.topic-partition-discovery.interval`; never when bounded or 0).
fn discovery_interval(table: &TableDescriptor) -> Result<Option<Duration>, ConnectorError> {
    if bound(table)?.is_some() {
        return Ok(None);
    }
    Ok(TableOptions::new(table)
        .duration(&DISCOVERY_INTERVAL)?
        .filter(|interval| !interval.is_zero()))
}

/// One subtask of a source reading `table` as `flavor` says, partitions
/// new to the job starting at `startup`.
fn create_source(
    table: &TableDescriptor,
    formats: &Formats,
    ctx: &SubtaskContext,
    flavor: Flavor,
    startup: OffsetSpec,
) -> Result<Box<dyn Source>, ConnectorError> {
    let decoding = source_decoding(table, formats, flavor)?;
    Ok(Box::new(KafkaSource::new(
        table,
        &ctx.job_id,
        decoding,
        startup,
        bound(table)?,
    )?))
}

/// One subtask of a sink writing `table` as `flavor` says.
fn create_sink(
    table: &TableDescriptor,
    formats: &Formats,
    ctx: &SubtaskContext,
    flavor: Flavor,
) -> Result<Box<dyn Sink>, ConnectorError> {
    let encoding = sink_encoding(table, formats, flavor)?;
    let (delivery, partitioner) = sink_settings(table)?;
    let topic = Topics::of_sink(table)?;
    let sender = RecordSender::new(table, topic, encoding, partitioner, ctx.subtask_index);
    match delivery {
        Delivery::ExactlyOnce {
            prefix,
            timeout_ms,
            security,
        } => {
            let ids = TransactionalIds::new(&prefix, ctx.subtask_index, ctx.parallelism);
            let bootstrap = TableOptions::new(table).require_string(&BOOTSTRAP_SERVERS)?;
            let connector = Connector::new(&security).map_err(|problem| {
                ConnectorError::external(
                    &table.name,
                    "cannot set up the TLS of the sink's transaction requests",
                    ErrorClass::User,
                    problem,
                )
            })?;
            let admin = TransactionAdmin::new(bootstrap, connector);
            let writer = ExactlyOnceWriter::new(table, sender, ids, admin, timeout_ms);
            Ok(Box::new(TwoPhaseSink::new(
                writer,
                ctx.subtask_index,
                ctx.parallelism,
            )))
        }
        Delivery::Plain(guarantee) => Ok(Box::new(KafkaSink::new(table, sender, guarantee)?)),
    }
}

/// How a sink delivers, from `sink.delivery-guarantee`.
enum Delivery {
    /// Without transactions.
    Plain(Guarantee),
    /// In Kafka transactions on ids starting with `prefix`, each open at
    /// most `timeout_ms` on the broker, resumed through connections made
    /// as `security` says.
    ExactlyOnce {
        prefix: String,
        timeout_ms: i32,
        security: Security,
    },
}

/// The transaction timeout of an exactly-once sink unless its table sets
/// `properties.transaction.timeout.ms`: the brokers' default
/// `transaction.max.timeout.ms`, the longest they accept.
const DEFAULT_TRANSACTION_TIMEOUT_MS: i32 = 15 * 60 * 1000;

/// `sink.delivery-guarantee` (with what `exactly-once` needs) and
/// `sink.partitioner`.
fn sink_settings(table: &TableDescriptor) -> Result<(Delivery, Partitioner), ConnectorError> {
    let options = TableOptions::new(table);
    let delivery = match options.choice(&DELIVERY_GUARANTEE)? {
        Some("none") => Delivery::Plain(Guarantee::None),
        Some("exactly-once") => exactly_once_settings(table)?,
        _ => Delivery::Plain(Guarantee::AtLeastOnce),
    };
    let partitioner = match options.choice(&PARTITIONER)? {
        Some("fixed") => Partitioner::Fixed,
        Some("round-robin") => Partitioner::RoundRobin,
        _ => Partitioner::Default,
    };
    Ok((delivery, partitioner))
}

/// The prefix, timeout and connection security of an exactly-once sink.
/// Its transaction requests authenticate as the data path does; settings
/// they cannot follow (another SASL mechanism) are refused here rather
/// than failing at the first checkpoint.
fn exactly_once_settings(table: &TableDescriptor) -> Result<Delivery, ConnectorError> {
    let options = TableOptions::new(table);
    let prefix = options.string(&TRANSACTIONAL_ID_PREFIX).ok_or_else(|| {
        options.invalid(
            DELIVERY_GUARANTEE.key,
            "exactly-once",
            &format!(
                "needs '{}' to name the sink's Kafka transactions",
                TRANSACTIONAL_ID_PREFIX.key
            ),
        )
    })?;
    let properties = client_properties(table);
    let security = Security::of_properties(&properties)
        .map_err(|e| options.invalid(&format!("properties.{}", e.key), &e.value, &e.expected))?;
    let timeout_ms = match properties.get("transaction.timeout.ms") {
        None => DEFAULT_TRANSACTION_TIMEOUT_MS,
        Some(value) => value
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|ms| *ms > 0)
            .ok_or_else(|| {
                options.invalid(
                    "properties.transaction.timeout.ms",
                    value,
                    "must be a positive number of milliseconds",
                )
            })?,
    };
    Ok(Delivery::ExactlyOnce {
        prefix: prefix.to_string(),
        timeout_ms,
        security,
    })
}

/// The key format of `table`, when it has a key: resolved, checked to be
/// insert-only (a key is one row), and checked against the key columns.
/// (An upsert table's value format must be insert-only too: the records
/// are the changes.)
fn key_format<'a>(
    table: &'a TableDescriptor,
    formats: &Formats,
    layout: &RecordLayout,
) -> Result<Option<ResolvedFormat<'a>>, ConnectorError> {
    if !layout.has_key() {
        return Ok(None);
    }
    let format = formats.resolve(table, &KEY_FORMAT_SLOT)?;
    if format.factory.changelog() {
        return Err(TableOptions::new(table).invalid(
            KEY_FORMAT.key,
            format.factory.name(),
            "must be an insert-only format (a key is one row)",
        ));
    }
    format.factory.validate(table, layout.key_schema())?;
    Ok(Some(format))
}

/// The value format of `table`, checked against the value columns (and,
/// for an upsert table, to be insert-only).
fn value_format<'a>(
    table: &'a TableDescriptor,
    formats: &Formats,
    layout: &RecordLayout,
    flavor: Flavor,
) -> Result<ResolvedFormat<'a>, ConnectorError> {
    let slot = flavor.value_slot(table)?;
    let format = formats.resolve(table, slot)?;
    if flavor == Flavor::Upsert && format.factory.changelog() {
        return Err(TableOptions::new(table).invalid(
            slot.option.key,
            format.factory.name(),
            "must be an insert-only format: each 'upsert-kafka' record is the new row of its key",
        ));
    }
    format.factory.validate(table, layout.value_schema())?;
    Ok(format)
}

/// How a source table's records are decoded: the value decoder, and the
/// key reader when rows need columns from the key.
fn source_decoding(
    table: &TableDescriptor,
    formats: &Formats,
    flavor: Flavor,
) -> Result<RecordDecoding, ConnectorError> {
    let layout = flavor.layout(table)?;
    let format = value_format(table, formats, &layout, flavor)?;
    let decoder = format
        .factory
        .create_decoder(layout.value_schema(), &format.options)?;
    let upserts = flavor == Flavor::Upsert;
    let key = match key_format(table, formats, &layout)? {
        Some(key) if layout.reads_key() || upserts => {
            let key_decoder = key
                .factory
                .create_decoder(layout.key_schema(), &key.options)?;
            let value_schema = decoder.schema().clone();
            Some(KeyReader::new(
                layout,
                key_decoder,
                key.policy()?,
                &value_schema,
            ))
        }
        _ => None,
    };
    RecordDecoding::new(table, decoder, format.policy()?, key, upserts)
}

/// The layout, value encoder and key encoder (when the table has a key) of
/// a sink table.
fn sink_encoding(
    table: &TableDescriptor,
    formats: &Formats,
    flavor: Flavor,
) -> Result<RecordEncoding, ConnectorError> {
    let layout = flavor.layout(table)?;
    let format = value_format(table, formats, &layout, flavor)?;
    let encoder = format
        .factory
        .create_encoder(layout.value_schema(), &format.options)?;
    let key_encoder = match key_format(table, formats, &layout)? {
        Some(key) => Some(
            key.factory
                .create_encoder(layout.key_schema(), &key.options)?,
        ),
        None => None,
    };
    let upserts = match flavor {
        Flavor::Plain => None,
        Flavor::Upsert => Some(upsert::buffer_settings(table)?),
    };
    Ok(RecordEncoding {
        layout,
        value: encoder,
        key: key_encoder,
        upserts,
    })
}
