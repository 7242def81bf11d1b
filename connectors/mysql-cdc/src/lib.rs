//! The `mysql-cdc` connector (Flink CDC's options and semantics), in
//! native Rust on `mysql_async`: MySQL 8 and MariaDB 10.5+ tables as one
//! changelog stream.
//!
//! - **Snapshot without locks** ([`snapshot`]): the enumerator
//!   ([`splits::plan`], run by the coordinator) cuts each captured table
//!   into primary-key chunks; reader subtasks read them in parallel, each
//!   bracketed by binlog positions and merged with the binlog events
//!   between them, so a chunk's rows are the table at its high mark.
//!   Finished chunks are checkpointed one by one.
//! - **Binlog** ([`binlog`]): once a completed checkpoint holds every chunk
//!   finished, the enumerator creates the one binlog split, starting at the
//!   lowest high mark; its reader skips the events a chunk already holds
//!   and emits `+I`, `-U`/`+U` and `-D` with full images. Offsets (file,
//!   position, row events of the open transaction, GTIDs) are checkpointed,
//!   so a restore resumes exactly; heartbeats keep an idle source's lag
//!   current.
//! - **Types** ([`values`]): Flink CDC's mapping; snapshot and binlog give
//!   the same values. Rows decode by the column names and types their
//!   table-map event carries (`binlog_row_metadata=FULL`), so rows before
//!   and after an `ALTER TABLE` each decode by their own layout.

mod binlog;
mod catalog;
mod connection;
mod options;
mod position;
mod rows;
mod snapshot;
mod source;
mod splits;
mod values;

use std::time::Duration;

use rtdw_connector_core::format::Formats;
use rtdw_connector_core::options::ConnectorOption;
use rtdw_connector_core::split::block_on_discovery;
use rtdw_connector_core::{
    ConnectorError, ConnectorFactory, MetadataColumn, Roles, SourceCapabilities, TableDescriptor,
};
use rtdw_operators::{Source, SourceSplit, SubtaskContext};

use crate::connection::Endpoint;
use crate::options::{CdcOptions, Startup};
use crate::rows::BatchBuilder;
use crate::source::CdcSource;

/// How often a source that snapshots looks whether its snapshot is done
/// (a completed checkpoint holds every chunk finished) to start the
/// binlog.
const SNAPSHOT_PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// The `mysql-cdc` connector.
pub struct MySqlCdcFactory;

impl ConnectorFactory for MySqlCdcFactory {
    fn name(&self) -> &'static str {
        "mysql-cdc"
    }

    fn description(&self) -> &'static str {
        "Reads MySQL and MariaDB tables as a changelog: a lock-free parallel snapshot, then the binlog, exactly once."
    }

    fn roles(&self) -> Roles {
        Roles {
            source: true,
            sink: false,
            lookup: false,
        }
    }

    fn options(&self) -> &'static [ConnectorOption] {
        options::OPTIONS
    }

    fn metadata_columns(&self) -> &'static [MetadataColumn] {
        rows::METADATA
    }

    fn changelog_modes(&self) -> &'static str {
        "source: every change (+I for snapshot rows and inserts, -U/+U for updates, -D for deletes)"
    }

    fn validate_source(
        &self,
        table: &TableDescriptor,
        _formats: &Formats,
    ) -> Result<SourceCapabilities, ConnectorError> {
        let options = CdcOptions::of_table(table)?;
        BatchBuilder::new(table)?;
        Ok(SourceCapabilities {
            bounded: options.startup == Startup::Snapshot,
            changelog: true,
            upserts: false,
        })
    }

    fn discover_splits(
        &self,
        table: &TableDescriptor,
        known: &[SourceSplit],
    ) -> Result<Option<Vec<SourceSplit>>, ConnectorError> {
        let options = CdcOptions::of_table(table)?;
        block_on_discovery(table, async {
            let endpoint = Endpoint::new(&table.name, &options);
            let planned = splits::plan(&endpoint, table, &options, known).await;
            endpoint.close().await;
            planned
        })
        .map(Some)
    }

    fn discovery_interval(
        &self,
        table: &TableDescriptor,
    ) -> Result<Option<Duration>, ConnectorError> {
        let options = CdcOptions::of_table(table)?;
        Ok((options.startup == Startup::Initial).then_some(SNAPSHOT_PROGRESS_INTERVAL))
    }

    fn create_source(
        &self,
        table: &TableDescriptor,
        _formats: &Formats,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn Source>, ConnectorError> {
        let options = CdcOptions::of_table(table)?;
        let ids = options.server_ids(table, ctx.parallelism)?;
        let server_id =
            ids.of_subtask(ctx.subtask_index)
                .ok_or_else(|| ConnectorError::InvalidOption {
                    table: table.name.clone(),
                    key: options::SERVER_ID.key.into(),
                    value: String::new(),
                    expected: format!("must hold an id for subtask {}", ctx.subtask_index),
                })?;
        Ok(Box::new(CdcSource::new(table, options, server_id)?))
    }
}
