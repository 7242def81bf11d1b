//! Sources and sinks, with Flink's connector names and option keys.
//!
//! A table declared with `CREATE TABLE ... WITH ('connector' = ...)` becomes a
//! [`TableDescriptor`]. At plan time [`validate_source`] / [`validate_sink`]
//! check its options (so a typo fails the submission, not the job); at run
//! time [`create_source`] / [`create_sink`] build the subtask's instance.

mod blackhole;
mod datagen;
mod error;
mod filesystem;
mod options;
mod print;
mod table;

use rtdw_operators::{Sink, Source, SubtaskContext};

pub use error::ConnectorError;
pub use table::TableDescriptor;

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

/// What the planner needs to know about a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceCapabilities {
    /// True when the source ends by itself.
    pub bounded: bool,
    /// True when the source emits updates and deletes: a row-kind column
    /// ([`rtdw_operators::row_kind::ROW_KIND_COLUMN`]) follows the data
    /// columns of its batches.
    pub changelog: bool,
}

/// The connector names this build knows.
pub const CONNECTORS: &[&str] = &["blackhole", "datagen", "filesystem", "print"];

fn unknown(table: &TableDescriptor, role: &str) -> ConnectorError {
    ConnectorError::UnknownConnector {
        table: table.name.clone(),
        connector: table.connector().unwrap_or_default().to_string(),
        role: role.to_string(),
        available: CONNECTORS.join(", "),
    }
}

/// Checks a table's options for use as a source.
pub fn validate_source(table: &TableDescriptor) -> Result<SourceCapabilities, ConnectorError> {
    match table.require_connector()? {
        "datagen" => datagen::DatagenConfig::parse(table).map(|c| SourceCapabilities {
            bounded: c.is_bounded(),
            changelog: false,
        }),
        "filesystem" => filesystem::SourceConfig::parse(table).map(|c| SourceCapabilities {
            bounded: true,
            changelog: c.is_changelog(),
        }),
        _ => Err(unknown(table, "source")),
    }
}

/// Checks a table's options for use as a sink.
pub fn validate_sink(table: &TableDescriptor) -> Result<SinkCapabilities, ConnectorError> {
    match table.require_connector()? {
        "print" => print::PrintConfig::parse(table).map(|_| SinkCapabilities {
            accepts_updates: true,
            accepts_upserts: true,
        }),
        "blackhole" => blackhole::parse(table).map(|_| SinkCapabilities {
            accepts_updates: true,
            accepts_upserts: true,
        }),
        "filesystem" => filesystem::SinkConfig::parse(table).map(|c| SinkCapabilities {
            accepts_updates: c.accepts_updates(),
            accepts_upserts: false,
        }),
        _ => Err(unknown(table, "sink")),
    }
}

/// Builds the source instance of one subtask.
pub fn create_source(
    table: &TableDescriptor,
    ctx: &SubtaskContext,
) -> Result<Box<dyn Source>, ConnectorError> {
    match table.require_connector()? {
        "datagen" => Ok(Box::new(datagen::DatagenSource::new(
            datagen::DatagenConfig::parse(table)?,
            table.schema.clone(),
            ctx,
        )?)),
        "filesystem" => Ok(Box::new(filesystem::FileSource::new(
            filesystem::SourceConfig::parse(table)?,
            table.schema.clone(),
            ctx,
        )?)),
        _ => Err(unknown(table, "source")),
    }
}

/// Builds the sink instance of one subtask.
pub fn create_sink(
    table: &TableDescriptor,
    ctx: &SubtaskContext,
) -> Result<Box<dyn Sink>, ConnectorError> {
    match table.require_connector()? {
        "print" => Ok(Box::new(print::PrintSink::new(
            print::PrintConfig::parse(table)?,
            ctx,
        ))),
        "blackhole" => {
            blackhole::parse(table)?;
            Ok(Box::new(blackhole::BlackholeSink))
        }
        "filesystem" => Ok(Box::new(filesystem::FileSink::new(
            filesystem::SinkConfig::parse(table)?,
            table.schema.clone(),
            ctx,
        )?)),
        _ => Err(unknown(table, "sink")),
    }
}
