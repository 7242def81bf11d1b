//! The `jdbc` connector (Flink's JDBC connector options and semantics) for
//! MySQL, MariaDB and PostgreSQL, in native Rust: `mysql_async` and
//! `tokio-postgres` speak the protocols, the dialect comes from the URL.
//!
//! - **Sink** ([`sink`]): upserts by the primary key and deletes by key
//!   (or appends without a key), reduced per key and written in one
//!   transaction per flush; every checkpoint barrier flushes, so a restore
//!   replays idempotent upserts and the table ends as in an uninterrupted
//!   run.
//! - **Scan** ([`scan`]): bounded, one split per `scan.partition.*`
//!   range, streamed, with positions in checkpoints.
//! - **Lookup** ([`lookup`]): the dimension side of lookup joins, a
//!   batch's distinct keys in a few concurrent queries, through an optional
//!   partial cache ([`cache`]).
//! - **Submit-time check** ([`catalog`]): the server, the credentials, the
//!   table and its columns, so mistakes fail the submission.
//! - **Values** ([`values`]) cross in the databases' text forms, so Flink's
//!   type mapping is each database's own conversion.

mod cache;
mod catalog;
mod changes;
mod connection;
mod dialect;
mod lookup;
mod options;
mod scan;
mod sink;
mod url;
mod values;

use rtdw_connector_core::format::Formats;
use rtdw_connector_core::options::{ConnectorOption, Role};
use rtdw_connector_core::split::not_known;
use rtdw_connector_core::{
    ConnectorError, ConnectorFactory, Roles, SinkCapabilities, SourceCapabilities, TableDescriptor,
};
use rtdw_operators::lookup::LookupTable;
use rtdw_operators::{Sink, Source, SourceSplit, SubtaskContext};

use crate::lookup::JdbcLookup;
use crate::options::{JdbcOptions, SinkSettings};
use crate::scan::ScanSource;
use crate::sink::{JdbcSink, key_positions};

/// The `jdbc` connector.
pub struct JdbcFactory;

#[async_trait::async_trait]
impl ConnectorFactory for JdbcFactory {
    fn name(&self) -> &'static str {
        "jdbc"
    }

    fn description(&self) -> &'static str {
        "Reads (bounded, in parallel ranges), looks up (lookup joins, with a partial cache) and writes MySQL, MariaDB and PostgreSQL tables: upserts and deletes by primary key in one transaction per flush, flushed at every checkpoint."
    }

    fn roles(&self) -> Roles {
        Roles {
            source: true,
            sink: true,
            lookup: true,
        }
    }

    fn options(&self) -> &'static [ConnectorOption] {
        options::OPTIONS
    }

    fn changelog_modes(&self) -> &'static str {
        "source: inserts (a bounded scan); lookup: the rows of a key when a row passes; sink: with a primary key any changelog, written as upserts and deletes by key; without one inserts only"
    }

    fn validate_source(
        &self,
        table: &TableDescriptor,
        _formats: &Formats,
    ) -> Result<SourceCapabilities, ConnectorError> {
        ScanSource::new(table)?;
        Ok(SourceCapabilities {
            bounded: true,
            changelog: false,
            upserts: false,
        })
    }

    fn validate_sink(
        &self,
        table: &TableDescriptor,
        _formats: &Formats,
    ) -> Result<SinkCapabilities, ConnectorError> {
        JdbcOptions::of_table(table)?;
        SinkSettings::of_table(table)?;
        key_positions(table, &table.primary_key)?;
        let keyed = !table.primary_key.is_empty();
        Ok(SinkCapabilities {
            accepts_updates: keyed,
            accepts_upserts: keyed,
        })
    }

    fn validate_lookup(
        &self,
        table: &TableDescriptor,
        keys: &[String],
    ) -> Result<(), ConnectorError> {
        JdbcLookup::new(table, keys).map(drop)
    }

    async fn check_external(
        &self,
        table: &TableDescriptor,
        _role: Role,
    ) -> Result<(), ConnectorError> {
        catalog::check_table(table).await
    }

    fn discover_splits(
        &self,
        table: &TableDescriptor,
        known: &[SourceSplit],
    ) -> Result<Option<Vec<SourceSplit>>, ConnectorError> {
        Ok(Some(not_known(scan::splits(table)?, known)))
    }

    fn create_source(
        &self,
        table: &TableDescriptor,
        _formats: &Formats,
        _ctx: &SubtaskContext,
    ) -> Result<Box<dyn Source>, ConnectorError> {
        Ok(Box::new(ScanSource::new(table)?))
    }

    fn create_lookup(
        &self,
        table: &TableDescriptor,
        keys: &[String],
        _ctx: &SubtaskContext,
    ) -> Result<Box<dyn LookupTable>, ConnectorError> {
        Ok(Box::new(JdbcLookup::new(table, keys)?))
    }

    fn create_sink(
        &self,
        table: &TableDescriptor,
        _formats: &Formats,
        _ctx: &SubtaskContext,
    ) -> Result<Box<dyn Sink>, ConnectorError> {
        Ok(Box::new(JdbcSink::new(table)?))
    }
}
