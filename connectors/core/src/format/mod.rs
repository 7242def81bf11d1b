//! Formats: how rows become bytes and back, shared by every connector that
//! carries bytes (files now, Kafka messages next). As in Flink, a table
//! names its format with an option (`format`, `value.format`) and gives the
//! format's options under the format's name (`json.ignore-parse-errors`).
//!
//! A decoder turns a run of records into one batch; a malformed record
//! follows the table's error policy ([`DecodePolicy`]): fail naming its
//! position, or skip it, count it and log it.

mod canal;
mod change;
mod csv;
mod debezium;
mod json;
mod maxwell;
mod policy;
mod raw;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::error::ConnectorError;
use crate::options::{ConnectorOption, DeclaredOption, TableOptions};
use crate::table::TableDescriptor;

pub use policy::{DecodePolicy, DroppedRecords, MALFORMED};

/// Why a record cannot be decoded or a row encoded; the position is added
/// by the caller, who knows it.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Not of the table's shape, or not the format's syntax.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// Not valid JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Row kinds that do not fit.
    #[error(transparent)]
    Stream(#[from] rtdw_operators::StreamError),
    /// Of the format's syntax, but not a valid event of it.
    #[error("{0}")]
    Invalid(String),
}

/// Decodes records into batches of the table's columns (and the row-kind
/// column, for a changelog format).
pub trait RecordDecoder: Send {
    /// The schema of the batches [`RecordDecoder::decode`] returns.
    fn schema(&self) -> &SchemaRef;

    /// Decodes records, in order, into one batch; `None` when they hold no
    /// rows. Fails, without saying which, when any record is malformed.
    fn decode(&mut self, records: &[&[u8]]) -> Result<Option<RecordBatch>, FormatError>;
}

/// Encodes rows into records, one per change.
pub trait RecordEncoder: Send {
    /// Encodes a batch (with the row-kind column for a changelog input),
    /// appending one record per row to `records`.
    fn encode(
        &mut self,
        batch: &RecordBatch,
        records: &mut Vec<Vec<u8>>,
    ) -> Result<(), FormatError>;
}

/// One format: its declaration, its decoder and its encoder.
pub trait FormatFactory: Send + Sync {
    /// The name a table gives in `format`.
    fn name(&self) -> &'static str;

    /// One line saying what it reads and writes.
    fn description(&self) -> &'static str;

    /// Its options, keys without the `<name>.` prefix.
    fn options(&self) -> &'static [ConnectorOption];

    /// True when it carries updates and deletes (a changelog format).
    fn changelog(&self) -> bool {
        false
    }

    /// True when a keyed sink can write upserts in it: the new content of
    /// each changed row without the old. Changelog formats that write
    /// before-images cannot.
    fn accepts_upserts(&self) -> bool {
        false
    }

    /// Checks the table's columns against what the format can carry.
    fn validate(&self, table: &TableDescriptor, schema: &SchemaRef) -> Result<(), ConnectorError> {
        let _ = (table, schema);
        Ok(())
    }

    /// A decoder for rows of `schema`, configured by `options`.
    fn create_decoder(
        &self,
        schema: &SchemaRef,
        options: &FormatOptions<'_>,
    ) -> Result<Box<dyn RecordDecoder>, ConnectorError>;

    /// An encoder for rows of `schema`, configured by `options`.
    fn create_encoder(
        &self,
        schema: &SchemaRef,
        options: &FormatOptions<'_>,
    ) -> Result<Box<dyn RecordEncoder>, ConnectorError>;
}

/// A table's options as one format sees them: its keys under their full
/// prefix.
#[derive(Debug, Clone)]
pub struct FormatOptions<'a> {
    options: TableOptions<'a>,
    prefix: String,
}

impl<'a> FormatOptions<'a> {
    /// The full key of one of the format's options.
    pub fn key(&self, option: &ConnectorOption) -> String {
        format!("{}{}", self.prefix, option.key)
    }

    /// A text option of the format, as given (no default).
    pub fn string(&self, option: &ConnectorOption) -> Option<&'a str> {
        self.options
            .table()
            .options
            .get(&self.key(option))
            .map(String::as_str)
    }

    /// A boolean option of the format.
    pub fn boolean(&self, option: &ConnectorOption) -> Result<bool, ConnectorError> {
        self.options.boolean_at(&self.key(option), option)
    }

    /// A character option of the format, or its default.
    pub fn character(&self, option: &ConnectorOption) -> Result<Option<char>, ConnectorError> {
        self.options.character_at(&self.key(option), option)
    }

    /// An enum option of the format, or its default.
    pub fn choice(&self, option: &ConnectorOption) -> Result<Option<&'static str>, ConnectorError> {
        self.options.choice_at(&self.key(option), option)
    }

    /// The table, for error messages.
    pub fn table(&self) -> &'a TableDescriptor {
        self.options.table()
    }

    /// The error for a value of the right type that is not acceptable.
    pub fn invalid(&self, option: &ConnectorOption, value: &str, expected: &str) -> ConnectorError {
        self.options.invalid(&self.key(option), value, expected)
    }
}

/// The format a table's slot names, with the options under its prefix.
pub struct ResolvedFormat<'a> {
    /// The format.
    pub factory: Arc<dyn FormatFactory>,
    /// Its options in the table.
    pub options: FormatOptions<'a>,
}

impl ResolvedFormat<'_> {
    /// The error policy the table sets for this format.
    pub fn policy(&self) -> Result<DecodePolicy, ConnectorError> {
        let ignore = self.options.boolean(&policy::IGNORE_PARSE_ERRORS)?;
        Ok(DecodePolicy::new(
            &self.options.table().name,
            self.factory.name(),
            ignore,
        ))
    }
}

/// The formats this build knows, by name.
#[derive(Clone, Default)]
pub struct Formats {
    by_name: BTreeMap<&'static str, Arc<dyn FormatFactory>>,
}

impl Formats {
    /// The formats that ship with rtdw.
    pub fn builtin() -> Self {
        let mut formats = Formats::default();
        for format in [
            Arc::new(json::JsonFormat) as Arc<dyn FormatFactory>,
            Arc::new(csv::CsvFormat),
            Arc::new(raw::RawFormat),
            Arc::new(debezium::DebeziumJsonFormat),
            Arc::new(canal::CanalJsonFormat),
            Arc::new(maxwell::MaxwellJsonFormat),
        ] {
            formats.register(format);
        }
        formats
    }

    /// Adds a format (from a format crate of its own).
    pub fn register(&mut self, format: Arc<dyn FormatFactory>) {
        self.by_name.insert(format.name(), format);
    }

    /// Every format, by name.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn FormatFactory>> {
        self.by_name.values()
    }

    /// The format called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn FormatFactory>> {
        self.by_name.get(name)
    }

    /// The format the option `key` of `table` names, with its options.
    pub fn resolve<'a>(
        &self,
        table: &'a TableDescriptor,
        slot: &crate::factory::FormatSlot,
    ) -> Result<ResolvedFormat<'a>, ConnectorError> {
        let options = TableOptions::new(table);
        let name = options.require_string(slot.option)?;
        let factory = self
            .get(name.trim())
            .ok_or_else(|| ConnectorError::UnknownFormat {
                table: table.name.clone(),
                key: slot.option.key.to_string(),
                format: name.to_string(),
                available: self.by_name.keys().copied().collect::<Vec<_>>().join(", "),
            })?
            .clone();
        let prefix = format!("{}{}.", slot.prefix, factory.name());
        Ok(ResolvedFormat {
            factory,
            options: FormatOptions { options, prefix },
        })
    }

    /// The options each format slot of `table` adds, under their prefixes;
    /// empty for a slot whose format is not given (the connector's own
    /// validation reports that).
    pub fn declared_options(
        &self,
        table: &TableDescriptor,
        slots: &[crate::factory::FormatSlot],
    ) -> Result<Vec<DeclaredOption>, ConnectorError> {
        let mut declared = Vec::new();
        for slot in slots {
            if !table.options.contains_key(slot.option.key) {
                continue;
            }
            let resolved = self.resolve(table, slot)?;
            let prefix = format!("{}{}.", slot.prefix, resolved.factory.name());
            declared.extend(
                resolved
                    .factory
                    .options()
                    .iter()
                    .map(|o| DeclaredOption::prefixed(&prefix, o)),
            );
        }
        Ok(declared)
    }
}

#[cfg(test)]
mod tests;
