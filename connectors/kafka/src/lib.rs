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
mod discovery;
mod layout;
mod options;
mod protocol;
mod record;
mod sink;
mod source;
mod transactions;

use std::time::Duration;

use rtdw_connector_core::format::{Formats, RecordDecoder, ResolvedFormat};
use rtdw_connector_core::options::{ConnectorOption, TableOptions};
use rtdw_connector_core::two_phase::TwoPhaseSink;
use rtdw_connector_core::{
    ConnectorError, ConnectorFactory, FormatSlot, MetadataColumn, Roles, SinkCapabilities,
    SourceCapabilities, TableDescriptor,
};
use rtdw_operators::row_kind::has_row_kinds;
use rtdw_operators::{Sink, Source, SourceSplit, SubtaskContext};

use crate::layout::RecordLayout;
use crate::options::{
    BOOTSTRAP_SERVERS, BOUNDED_MODE, DELIVERY_GUARANTEE, DISCOVERY_INTERVAL, FORMAT_SLOT, GROUP_ID,
    KEY_FORMAT, KEY_FORMAT_SLOT, OffsetSpec, PARTITIONER, STARTUP_MODE, TRANSACTIONAL_ID_PREFIX,
    Topics, VALUE_FORMAT_SLOT, bound, client_properties, startup, value_format_slot,
};
use crate::sink::{
    ExactlyOnceWriter, Guarantee, KafkaSink, Partitioner, RecordEncoding, RecordSender,
    TransactionalIds,
};
use crate::source::{KafkaSource, KeyReader};

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
        let changelog = has_row_kinds(source_decoding(table, formats)?.0.schema());
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
        sink_encoding(table, formats)?;
        Ok(SinkCapabilities {
            accepts_updates: format.factory.changelog(),
            accepts_upserts: format.factory.accepts_upserts(),
        })
    }

    fn discover_splits(
        &self,
        table: &TableDescriptor,
    ) -> Result<Option<Vec<SourceSplit>>, ConnectorError> {
        discovery::partitions(table).map(Some)
    }

    fn discovery_interval(
        &self,
        table: &TableDescriptor,
    ) -> Result<Option<Duration>, ConnectorError> {
        if bound(table)?.is_some() {
            return Ok(None);
        }
        let interval = TableOptions::new(table)
            .duration(&DISCOVERY_INTERVAL)?
            .filter(|interval| !interval.is_zero());
        Ok(interval)
    }

    fn create_source(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn Source>, ConnectorError> {
        let format = formats.resolve(table, value_format_slot(table)?)?;
        let (decoder, key) = source_decoding(table, formats)?;
        Ok(Box::new(KafkaSource::new(
            table,
            &ctx.job_id,
            decoder,
            format.policy()?,
            key,
            startup(table)?,
            bound(table)?,
        )?))
    }

    fn create_sink(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn Sink>, ConnectorError> {
        let encoding = sink_encoding(table, formats)?;
        let (delivery, partitioner) = sink_settings(table)?;
        let topic = Topics::of_sink(table)?;
        match delivery {
            Delivery::ExactlyOnce { prefix, timeout_ms } => {
                let sender =
                    RecordSender::new(table, topic, encoding, partitioner, ctx.subtask_index);
                let ids = TransactionalIds::new(&prefix, ctx.subtask_index, ctx.parallelism);
                let bootstrap = TableOptions::new(table).require_string(&BOOTSTRAP_SERVERS)?;
                let writer = ExactlyOnceWriter::new(table, sender, ids, bootstrap, timeout_ms);
                Ok(Box::new(TwoPhaseSink::new(
                    writer,
                    ctx.subtask_index,
                    ctx.parallelism,
                )))
            }
            Delivery::Plain(guarantee) => Ok(Box::new(KafkaSink::new(
                table,
                topic,
                encoding,
                guarantee,
                partitioner,
                ctx,
            )?)),
        }
    }
}

/// How a sink delivers, from `sink.delivery-guarantee`.
enum Delivery {
    /// Without transactions.
    Plain(Guarantee),
    /// In Kafka transactions on ids starting with `prefix`, each open at
    /// most `timeout_ms` on the broker.
    ExactlyOnce { prefix: String, timeout_ms: i32 },
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

/// The prefix and timeout of an exactly-once sink. Resuming a transaction
/// speaks the Kafka protocol over plaintext TCP, so other security
/// protocols are refused here rather than failing at the first restore.
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
    if let Some(protocol) = properties
        .get("security.protocol")
        .filter(|protocol| !protocol.eq_ignore_ascii_case("plaintext"))
    {
        return Err(options.invalid(
            "properties.security.protocol",
            protocol,
            "must be 'PLAINTEXT' with 'sink.delivery-guarantee' = 'exactly-once' (resuming a transaction after a failure speaks the Kafka protocol over plaintext TCP)",
        ));
    }
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
    })
}

/// The key format of `table`, when it has a key: resolved, checked to be
/// insert-only (a key is one row), and checked against the key columns.
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

/// The value decoder of a source table, and the key reader when its value
/// does not hold every column.
fn source_decoding(
    table: &TableDescriptor,
    formats: &Formats,
) -> Result<(Box<dyn RecordDecoder>, Option<KeyReader>), ConnectorError> {
    let layout = RecordLayout::of_table(table)?;
    let format = formats.resolve(table, value_format_slot(table)?)?;
    format.factory.validate(table, layout.value_schema())?;
    let decoder = format
        .factory
        .create_decoder(layout.value_schema(), &format.options)?;
    let key = match key_format(table, formats, &layout)? {
        Some(key) if layout.reads_key() => {
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
    Ok((decoder, key))
}

/// The layout, value encoder and key encoder (when the table has a key) of
/// a sink table.
fn sink_encoding(
    table: &TableDescriptor,
    formats: &Formats,
) -> Result<RecordEncoding, ConnectorError> {
    let layout = RecordLayout::of_table(table)?;
    let format = formats.resolve(table, value_format_slot(table)?)?;
    format.factory.validate(table, layout.value_schema())?;
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
    Ok(RecordEncoding {
        layout,
        value: encoder,
        key: key_encoder,
    })
}
