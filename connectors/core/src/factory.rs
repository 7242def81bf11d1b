//! The connector factory (Flink's `DynamicTableFactory`): what a connector
//! declares about itself, and how it builds one subtask's source or sink.

use std::time::Duration;

use rtdw_operators::lookup::LookupTable;
use rtdw_operators::{Sink, Source, SourceSplit, SubtaskContext};

use crate::committer::{CommittableWriter, GlobalCommitter};
use crate::error::ConnectorError;
use crate::format::Formats;
use crate::options::{ConnectorOption, Role};
use crate::table::TableDescriptor;

/// The roles a connector can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Roles {
    /// Read as a scan source.
    pub source: bool,
    /// Written as a sink.
    pub sink: bool,
    /// Queried by key as the dimension side of a lookup join.
    pub lookup: bool,
}

impl Roles {
    /// The roles' names, for listings: `source, sink`.
    pub fn describe(self) -> String {
        let names: Vec<&str> = [
            (self.source, "source"),
            (self.sink, "sink"),
            (self.lookup, "lookup"),
        ]
        .into_iter()
        .filter_map(|(has, name)| has.then_some(name))
        .collect();
        names.join(", ")
    }
}

/// An option whose value names a format, and the prefix of that format's
/// options: `format` with prefix `""` gives `json.ignore-parse-errors`;
/// Kafka's `key.format` with prefix `"key."` gives
/// `key.json.ignore-parse-errors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatSlot {
    /// The option naming the format.
    pub option: &'static ConnectorOption,
    /// Put before `<format>.<key>` for the format's options.
    pub prefix: &'static str,
}

/// A column a connector offers besides the data (`METADATA FROM 'key'`).
#[derive(Debug, Clone, Copy)]
pub struct MetadataColumn {
    /// The key in `METADATA FROM 'key'`.
    pub key: &'static str,
    /// Its SQL type, as Flink's docs write it.
    pub sql_type: &'static str,
    /// That type in Arrow: a declared column must have it.
    pub data_type: fn() -> arrow::datatypes::DataType,
    /// Whether a sink can write it (else read-only: `METADATA VIRTUAL`).
    pub writable: bool,
    /// What it holds.
    pub doc: &'static str,
}

/// What the planner needs to know about a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceCapabilities {
    /// True when the source ends by itself.
    pub bounded: bool,
    /// True when the source emits updates and deletes: a row-kind column
    /// ([`rtdw_operators::row_kind::ROW_KIND_COLUMN`]) follows the data
    /// columns of its batches.
    pub changelog: bool,
    /// True when that changelog holds upserts by the table's primary key
    /// (Flink's upsert mode: no `-U`, and a `-D` carries only the key):
    /// the planner follows the source with a hash exchange on the key and
    /// a `ChangelogNormalize`, which restores the before-images.
    pub upserts: bool,
}

/// What the planner needs to know about a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkCapabilities {
    /// True when the sink can consume updates and deletes, not only inserts.
    pub accepts_updates: bool,
    /// True when, given a primary key, the sink can consume upserts: the new
    /// content of each changed row without the old (`+I`, `+U`, `-D`).
    /// Formats that write before-images (debezium-json) cannot.
    pub accepts_upserts: bool,
}

/// One connector: its declaration, its checks, and its instances.
///
/// The registry validates a table's options against [`options`] (and the
/// options of the formats its [`format_slots`] name) before it calls
/// [`validate_source`] / [`validate_sink`], which check what a table of
/// options cannot say (ranges, combinations, column types).
///
/// [`options`]: ConnectorFactory::options
/// [`format_slots`]: ConnectorFactory::format_slots
/// [`validate_source`]: ConnectorFactory::validate_source
/// [`validate_sink`]: ConnectorFactory::validate_sink
#[async_trait::async_trait]
pub trait ConnectorFactory: Send + Sync {
    /// The `connector` option's value that selects it.
    fn name(&self) -> &'static str;

    /// One line saying what it connects to.
    fn description(&self) -> &'static str;

    /// The roles it can play.
    fn roles(&self) -> Roles;

    /// Its own options (the framework's [`crate::options::COMMON_OPTIONS`]
    /// and the formats' come on top).
    fn options(&self) -> &'static [ConnectorOption];

    /// The options that name formats.
    fn format_slots(&self) -> &'static [FormatSlot] {
        &[]
    }

    /// The metadata columns it offers.
    fn metadata_columns(&self) -> &'static [MetadataColumn] {
        &[]
    }

    /// Whether its tables can be `PARTITIONED BY` columns (their data laid
    /// out by partition); other connectors refuse the clause.
    fn supports_partitioning(&self) -> bool {
        false
    }

    /// How it reads and writes changes, for `rtdw connectors describe`.
    fn changelog_modes(&self) -> &'static str;

    /// Checks a source table (options already validated) and says what it
    /// produces.
    fn validate_source(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
    ) -> Result<SourceCapabilities, ConnectorError> {
        let _ = (table, formats);
        Err(self.unsupported_role(table, "source"))
    }

    /// Checks a sink table (options already validated) and says what it
    /// takes.
    fn validate_sink(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
    ) -> Result<SinkCapabilities, ConnectorError> {
        let _ = formats;
        Err(self.unsupported_role(table, "sink"))
    }

    /// Checks a lookup table (options already validated) for lookups by
    /// the columns `keys`.
    fn validate_lookup(
        &self,
        table: &TableDescriptor,
        keys: &[String],
    ) -> Result<(), ConnectorError> {
        let _ = keys;
        Err(self.unsupported_role(table, "lookup table"))
    }

    /// Checks a table against its outside system at submit time, after its
    /// options were validated: the server answers, the credentials work,
    /// the table and the declared columns exist. Called by the planner for
    /// every table a job reads, writes or looks up, so such mistakes fail
    /// the submission instead of the running job. Connectors to nothing
    /// outside have nothing to check.
    async fn check_external(
        &self,
        table: &TableDescriptor,
        role: Role,
    ) -> Result<(), ConnectorError> {
        let _ = (table, role);
        Ok(())
    }

    /// For a split-based source (FLIP-27), the splits of its input as it
    /// is now (files, partitions): the coordinator assigns them to the
    /// source subtasks, which then get them through
    /// [`Source::add_splits`]. `None` for a source that reads without
    /// splits.
    ///
    /// `known` are the splits the job already holds, with the states of
    /// the last completed checkpoint that held them (or of the restored
    /// one): a source whose splits depend on how far others went (a CDC
    /// source's binlog split follows its finished snapshot chunks) decides
    /// from them. Returns the splits to add, and replacements of known
    /// ones (same id): the subtask holding such a split gets the new one
    /// through [`Source::add_splits`] and merges it.
    fn discover_splits(
        &self,
        table: &TableDescriptor,
        known: &[SourceSplit],
    ) -> Result<Option<Vec<SourceSplit>>, ConnectorError> {
        let _ = (table, known);
        Ok(None)
    }

    /// How often the coordinator looks for new splits while the job runs,
    /// for a split-based source that is continuous.
    fn discovery_interval(
        &self,
        table: &TableDescriptor,
    ) -> Result<Option<Duration>, ConnectorError> {
        let _ = table;
        Ok(None)
    }

    /// Builds the source of one subtask.
    fn create_source(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn Source>, ConnectorError> {
        let _ = (formats, ctx);
        Err(self.unsupported_role(table, "source"))
    }

    /// Builds the lookup table of one subtask of a lookup join, queried by
    /// the columns `keys`.
    fn create_lookup(
        &self,
        table: &TableDescriptor,
        keys: &[String],
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn LookupTable>, ConnectorError> {
        let _ = (keys, ctx);
        Err(self.unsupported_role(table, "lookup table"))
    }

    /// Builds the sink of one subtask.
    fn create_sink(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn Sink>, ConnectorError> {
        let _ = (formats, ctx);
        Err(self.unsupported_role(table, "sink"))
    }

    /// True when the sink's output of a checkpoint goes in as one commit
    /// (a Paimon snapshot): the planner places subtasks of
    /// [`ConnectorFactory::create_sink_writer`] and then a single one of
    /// [`ConnectorFactory::create_committer`], instead of
    /// [`ConnectorFactory::create_sink`] subtasks.
    fn commits_globally(&self) -> bool {
        false
    }

    /// Builds the writer of one subtask of a sink that commits globally.
    fn create_sink_writer(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn CommittableWriter>, ConnectorError> {
        let _ = (formats, ctx);
        Err(self.unsupported_role(table, "sink"))
    }

    /// Builds the committer of a sink that commits globally.
    fn create_committer(
        &self,
        table: &TableDescriptor,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn GlobalCommitter>, ConnectorError> {
        let _ = ctx;
        Err(self.unsupported_role(table, "sink"))
    }

    /// The error for a role the connector does not play.
    fn unsupported_role(&self, table: &TableDescriptor, role: &'static str) -> ConnectorError {
        ConnectorError::UnknownConnector {
            table: table.name.clone(),
            connector: self.name().to_string(),
            role,
            suggestion: format!(" ('{}' cannot be a {role})", self.name()),
            available: String::new(),
        }
    }
}

/// Metadata columns as a Markdown table (key, type, writable,
/// description), as the docs pages hold it.
pub fn metadata_markdown_table(columns: &[MetadataColumn]) -> String {
    let mut text = String::from("| Key | Type | Writable | Description |\n|---|---|---|---|\n");
    for column in columns {
        text.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            column.key,
            column.sql_type,
            if column.writable { "yes" } else { "no" },
            column.doc
        ));
    }
    text
}
