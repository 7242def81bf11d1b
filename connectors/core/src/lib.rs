//! rtdw's connector framework, as Flink's: a [`ConnectorFactory`] per
//! connector declares its name, options, roles, changelog modes and
//! metadata columns, validates a table at submit time and builds each
//! subtask's source or sink; [`format`]s turn rows into bytes and back for
//! every connector that carries bytes; the [`ConnectorRegistry`] holds what
//! one process knows.
//!
//! ```text
//!   CREATE TABLE ... WITH ('connector' = 'filesystem', 'format' = 'json', ...)
//!        |
//!        v
//!   TableDescriptor --registry.validate_source--> options checked against
//!        |                                        the declared tables, then
//!        |                                        the factory's own checks
//!        v
//!   registry.create_source(table, subtask) --> Box<dyn Source> (FileSource
//!                                               decoding through a format)
//! ```
//!
//! This crate holds the framework and the built-in connectors (`datagen`,
//! `print`, `blackhole`, `filesystem`); each connector to an outside system
//! lives in a crate of its own, with its client library, and registers its
//! factory with the registry the `rtdw` binary assembles.

mod blackhole;
pub mod catalog;
pub mod committer;
mod datagen;
pub mod error;
pub mod factory;
mod filesystem;
pub mod format;
pub mod metadata;
pub mod options;
mod print;
pub mod registry;
pub mod split;
mod table;
pub mod two_phase;
pub mod types;

use std::sync::Arc;

pub use error::ConnectorError;
pub use factory::{
    ConnectorFactory, FormatSlot, MetadataColumn, Roles, SinkCapabilities, SourceCapabilities,
};
pub use registry::ConnectorRegistry;
pub use table::{MetadataField, TableDescriptor};

/// The connectors this crate ships.
fn builtin_connectors() -> Vec<Arc<dyn ConnectorFactory>> {
    vec![
        Arc::new(datagen::DatagenFactory),
        Arc::new(print::PrintFactory),
        Arc::new(blackhole::BlackholeFactory),
        Arc::new(filesystem::FilesystemFactory),
    ]
}
