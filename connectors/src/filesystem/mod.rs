//! `filesystem`: reads and writes files in a directory, with Flink's options
//! `path`, `format` (`csv`, `json`, `debezium-json`), `csv.field-delimiter`,
//! `<format>.ignore-parse-errors` and, for sources,
//! `debezium-json.schema-include`.
//!
//! Files whose names start with `.` or `_` are hidden from readers; a sink
//! writes into such a hidden in-progress file and renames it to its final
//! `part-<job>-<subtask>-<n>` name when its input ends, so a reader never sees
//! a partial file.

mod debezium;
mod sink;
mod source;

use std::path::PathBuf;

pub(crate) use sink::FileSink;
pub(crate) use source::FileSource;

use crate::error::ConnectorError;
use crate::options::Options;
use crate::table::TableDescriptor;

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Comma-separated values, no header line.
    Csv { delimiter: u8 },
    /// One JSON object per line.
    Json,
    /// One Debezium change event per line: `{"before":..,"after":..,"op":..}`.
    DebeziumJson,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Csv { .. } => "csv",
            Format::Json => "json",
            Format::DebeziumJson => "debezium-json",
        }
    }
}

fn parse_format(options: &mut Options<'_>) -> Result<Format, ConnectorError> {
    let name = options.require("format")?;
    let format = options.choice("format", &["csv", "json", "debezium-json"], "csv")?;
    let delimiter = options.get("csv.field-delimiter").unwrap_or(",");
    Ok(match format {
        "csv" => {
            let bytes = delimiter.as_bytes();
            let delimiter = match bytes {
                [b] => *b,
                _ if delimiter == "\\t" => b'\t',
                _ => {
                    return Err(options.invalid(
                        "csv.field-delimiter",
                        delimiter,
                        "must be a single character",
                    ));
                }
            };
            Format::Csv { delimiter }
        }
        "json" => Format::Json,
        "debezium-json" => Format::DebeziumJson,
        _ => return Err(options.invalid("format", name, "is unknown")),
    })
}

/// The validated options of a filesystem source table.
#[derive(Debug, Clone)]
pub(crate) struct SourceConfig {
    table: String,
    path: PathBuf,
    format: Format,
    ignore_parse_errors: bool,
    /// `debezium-json` events come in Kafka Connect's envelope,
    /// `{"schema":..,"payload":{..}}`.
    schema_include: bool,
}

impl SourceConfig {
    /// Validates a filesystem source table's options.
    pub fn parse(table: &TableDescriptor) -> Result<Self, ConnectorError> {
        let mut options = Options::source(table);
        let path = PathBuf::from(options.require("path")?);
        let format = parse_format(&mut options)?;
        let key = format!("{}.ignore-parse-errors", format.name());
        let ignore_parse_errors = options.flag(&key, false)?;
        // Asked for only with its format, so other formats reject it.
        let schema_include = format == Format::DebeziumJson
            && options.flag("debezium-json.schema-include", false)?;
        options.finish()?;
        Ok(SourceConfig {
            table: table.name.clone(),
            path,
            format,
            ignore_parse_errors,
            schema_include,
        })
    }

    /// Only a changelog format yields updates and deletes.
    pub fn is_changelog(&self) -> bool {
        self.format == Format::DebeziumJson
    }
}

/// The validated options of a filesystem sink table.
#[derive(Debug, Clone)]
pub(crate) struct SinkConfig {
    table: String,
    path: PathBuf,
    format: Format,
}

impl SinkConfig {
    /// Validates a filesystem sink table's options.
    pub fn parse(table: &TableDescriptor) -> Result<Self, ConnectorError> {
        let mut options = Options::sink(table);
        let path = PathBuf::from(options.require("path")?);
        let format = parse_format(&mut options)?;
        options.finish()?;
        Ok(SinkConfig {
            table: table.name.clone(),
            path,
            format,
        })
    }

    /// Only a changelog format can carry updates and deletes.
    pub fn accepts_updates(&self) -> bool {
        self.format == Format::DebeziumJson
    }
}

/// True for names readers skip: in-progress and metadata files.
pub(crate) fn is_hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

#[cfg(test)]
mod tests;
