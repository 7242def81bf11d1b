//! `filesystem`: reads and writes files in a directory, with Flink's options
//! `path` and `format` (any format of [`crate::format`], one record per
//! line) and the format's own options under its name.
//!
//! Files whose names start with `.` or `_` are hidden from readers; a sink
//! writes into such a hidden in-progress file and renames it to its final
//! `part-<job>-<subtask>-<n>` name when its input ends, so a reader never sees
//! a partial file.

mod sink;
mod source;

use std::path::PathBuf;
use std::time::Duration;

use arrow::datatypes::{DataType, TimeUnit};
use rtdw_operators::{ErrorClass, Sink, Source, SourceSplit, SubtaskContext};

use crate::error::ConnectorError;
use crate::factory::{
    ConnectorFactory, FormatSlot, MetadataColumn, Roles, SinkCapabilities, SourceCapabilities,
};
use crate::format::Formats;
use crate::options::{ConnectorOption, OptionType, TableOptions};
use crate::table::TableDescriptor;
use crate::two_phase::TwoPhaseSink;

/// Flink's `path`.
const PATH: ConnectorOption = ConnectorOption::new(
    "path",
    OptionType::String,
    "The directory (or, for a source, the single file) read or written.",
)
.required();

/// Flink's `format`.
const FORMAT: ConnectorOption = ConnectorOption::new(
    "format",
    OptionType::String,
    "The format of the files' records, one per line.",
)
.required();

/// Flink's `source.monitor-interval`.
const MONITOR_INTERVAL: ConnectorOption = ConnectorOption::new(
    "source.monitor-interval",
    OptionType::Duration,
    "Look for new files this often and keep reading (an unbounded source); unset, the source reads the files there at the start and ends.",
)
.source_only();

/// What a file source offers besides the data, as Flink's filesystem
/// connector does.
const METADATA: &[MetadataColumn] = &[
    MetadataColumn {
        key: "file.path",
        sql_type: "STRING",
        data_type: || DataType::Utf8,
        writable: false,
        doc: "The full path of the file the row was read from.",
    },
    MetadataColumn {
        key: "file.name",
        sql_type: "STRING",
        data_type: || DataType::Utf8,
        writable: false,
        doc: "The name of that file.",
    },
    MetadataColumn {
        key: "file.size",
        sql_type: "BIGINT",
        data_type: || DataType::Int64,
        writable: false,
        doc: "The size of that file in bytes.",
    },
    MetadataColumn {
        key: "file.modification-time",
        sql_type: "TIMESTAMP_LTZ(3)",
        data_type: || DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        writable: false,
        doc: "When that file was last modified.",
    },
];

/// The format slot: `format`, its options under `<format>.`.
const FORMAT_SLOT: FormatSlot = FormatSlot {
    option: &FORMAT,
    prefix: "",
};

/// The `filesystem` connector.
pub(crate) struct FilesystemFactory;

impl ConnectorFactory for FilesystemFactory {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn description(&self) -> &'static str {
        "Reads the files under a directory, one record per line; writes files exactly once (two-phase, committed with checkpoints)."
    }

    fn roles(&self) -> Roles {
        Roles {
            source: true,
            sink: true,
            lookup: false,
        }
    }

    fn options(&self) -> &'static [ConnectorOption] {
        &[PATH, FORMAT, MONITOR_INTERVAL]
    }

    fn format_slots(&self) -> &'static [FormatSlot] {
        std::slice::from_ref(&FORMAT_SLOT)
    }

    fn metadata_columns(&self) -> &'static [MetadataColumn] {
        METADATA
    }

    fn changelog_modes(&self) -> &'static str {
        "source and sink: inserts only, or every change with a changelog format (debezium-json, canal-json, maxwell-json)"
    }

    fn validate_source(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
    ) -> Result<SourceCapabilities, ConnectorError> {
        let format = formats.resolve(table, &FORMAT_SLOT)?;
        format.factory.validate(table, &table.schema)?;
        format
            .factory
            .create_decoder(&table.schema, &format.options)?;
        Ok(SourceCapabilities {
            bounded: self.discovery_interval(table)?.is_none(),
            changelog: format.factory.changelog(),
            upserts: false,
        })
    }

    fn validate_sink(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
    ) -> Result<SinkCapabilities, ConnectorError> {
        let format = formats.resolve(table, &FORMAT_SLOT)?;
        format.factory.validate(table, &table.schema)?;
        format
            .factory
            .create_encoder(&table.schema, &format.options)?;
        Ok(SinkCapabilities {
            accepts_updates: format.factory.changelog(),
            accepts_upserts: format.factory.accepts_upserts(),
        })
    }

    fn create_source(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
        _ctx: &SubtaskContext,
    ) -> Result<Box<dyn Source>, ConnectorError> {
        let format = formats.resolve(table, &FORMAT_SLOT)?;
        let decoder = format
            .factory
            .create_decoder(&table.schema, &format.options)?;
        let continuous = self.discovery_interval(table)?.is_some();
        Ok(Box::new(source::FileSource::new(
            table,
            decoder,
            format.policy()?,
            continuous,
        )?))
    }

    fn discover_splits(
        &self,
        table: &TableDescriptor,
        known: &[SourceSplit],
    ) -> Result<Option<Vec<SourceSplit>>, ConnectorError> {
        let path = path(table)?;
        let files = source::list_files(&path).map_err(|e| {
            ConnectorError::external(
                &table.name,
                format!("cannot list {}", path.display()),
                ErrorClass::User,
                e,
            )
        })?;
        let listed = files
            .into_iter()
            .map(|file| SourceSplit {
                id: file.to_string_lossy().into_owned(),
                state: String::new(),
                finished: false,
            })
            .collect();
        Ok(Some(crate::split::not_known(listed, known)))
    }

    fn discovery_interval(
        &self,
        table: &TableDescriptor,
    ) -> Result<Option<Duration>, ConnectorError> {
        TableOptions::new(table).duration(&MONITOR_INTERVAL)
    }

    fn create_sink(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn Sink>, ConnectorError> {
        let format = formats.resolve(table, &FORMAT_SLOT)?;
        let encoder = format
            .factory
            .create_encoder(&table.schema, &format.options)?;
        let writer = sink::FileWriter::new(table, path(table)?, encoder, ctx)?;
        Ok(Box::new(TwoPhaseSink::new(
            writer,
            ctx.subtask_index,
            ctx.parallelism,
        )))
    }
}

/// The table's `path`.
fn path(table: &TableDescriptor) -> Result<PathBuf, ConnectorError> {
    TableOptions::new(table)
        .require_string(&PATH)
        .map(PathBuf::from)
}

/// True for names readers skip: in-progress and metadata files.
pub(crate) fn is_hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

#[cfg(test)]
mod tests;
