//! The `paimon` connector (Paimon's Flink connector options and semantics):
//! Apache Paimon lake tables, read and written through the `paimon` crate
//! (Apache Paimon's Rust implementation), so the files, manifests and
//! snapshots are Paimon's own and every Paimon reader reads them.
//!
//! - **Tables** ([`table`]): a table at a `path`, created from the
//!   declaration with `auto-create`; a declaration is checked against the
//!   table at submit time.
//! - **Sink** ([`writer`], [`committer`]): writer subtasks write data files
//!   (a primary-key table's rows with their row kinds, merged by the
//!   table's merge engine at read time) and hand commit messages to one
//!   committer, which makes each checkpoint one snapshot whose commit
//!   identifier is the checkpoint id: exactly once through restores.
//! - **Source** ([`splits`], [`source`]): one split per bucket, read in
//!   full at the starting snapshot, then snapshot by snapshot (or only in
//!   full, with `scan.bounded`), positions in checkpoints.
//! - **Lookup** ([`lookup`]): the dimension side of lookup joins, the
//!   latest snapshot held in memory by key, read again when a new one
//!   appears.
//! - **Arrow versions** ([`bridge`]): the crate is on arrow 58, rtdw on
//!   59; batches cross through the Arrow C data interface.

use std::time::Duration;

mod bridge;
mod catalog;
mod committable;
mod committer;
mod lookup;
mod options;
mod source;
mod splits;
mod table;
mod writer;

use rtdw_connector_core::committer::{CommittableWriter, GlobalCommitter};
use rtdw_connector_core::format::Formats;
use rtdw_connector_core::options::{ConnectorOption, Role};
use rtdw_connector_core::{
    ConnectorError, ConnectorFactory, Roles, SinkCapabilities, SourceCapabilities, TableDescriptor,
};
use rtdw_operators::lookup::LookupTable;
use rtdw_operators::{Source, SourceSplit, SubtaskContext};

pub use crate::catalog::PaimonCatalogFactory;
use crate::committer::PaimonCommitter;
use crate::lookup::PaimonLookup;
use crate::options::{PaimonSettings, ScanSettings};
use crate::source::PaimonSource;
use crate::writer::PaimonWriter;

/// The `paimon` connector.
pub struct PaimonFactory;

/// The changelog producers whose changelog comes from compaction, which
/// rtdw's writers do not run.
const COMPACTION_PRODUCERS: &[&str] = &["lookup", "full-compaction"];

#[async_trait::async_trait]
impl ConnectorFactory for PaimonFactory {
    fn name(&self) -> &'static str {
        "paimon"
    }

    fn description(&self) -> &'static str {
        "Reads and writes Apache Paimon tables (append tables, and primary-key tables merged by their merge engine): streaming reads follow new snapshots; writes make one snapshot per checkpoint, exactly once, in files any Paimon reader reads."
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

    fn supports_partitioning(&self) -> bool {
        true
    }

    fn changelog_modes(&self) -> &'static str {
        "source: a primary-key table's snapshot as inserts, then its changes as upserts (+I, +U, -D; the planner restores the before-images); an append table's rows as inserts. Lookup: the rows of a key in the latest snapshot. Sink: a primary-key table takes any changelog (upserts, deletes and retractions, kept as Paimon row kinds); an append table inserts only"
    }

    fn validate_source(
        &self,
        table: &TableDescriptor,
        _formats: &Formats,
    ) -> Result<SourceCapabilities, ConnectorError> {
        PaimonSettings::from_table(table)?;
        let scan = ScanSettings::from_table(table)?;
        let keyed = !table.primary_key.is_empty();
        Ok(SourceCapabilities {
            bounded: scan.bounded,
            changelog: keyed,
            upserts: keyed,
        })
    }

    fn discover_splits(
        &self,
        table: &TableDescriptor,
        known: &[SourceSplit],
    ) -> Result<Option<Vec<SourceSplit>>, ConnectorError> {
        splits::discover(table, known).map(Some)
    }

    fn discovery_interval(
        &self,
        table: &TableDescriptor,
    ) -> Result<Option<Duration>, ConnectorError> {
        let scan = ScanSettings::from_table(table)?;
        Ok((!scan.bounded).then_some(scan.discovery_interval))
    }

    fn create_source(
        &self,
        table: &TableDescriptor,
        _formats: &Formats,
        _ctx: &SubtaskContext,
    ) -> Result<Box<dyn Source>, ConnectorError> {
        Ok(Box::new(PaimonSource::new(table)?))
    }

    fn validate_lookup(
        &self,
        table: &TableDescriptor,
        keys: &[String],
    ) -> Result<(), ConnectorError> {
        PaimonLookup::new(table, keys).map(drop)
    }

    fn create_lookup(
        &self,
        table: &TableDescriptor,
        keys: &[String],
        _ctx: &SubtaskContext,
    ) -> Result<Box<dyn LookupTable>, ConnectorError> {
        Ok(Box::new(PaimonLookup::new(table, keys)?))
    }

    fn validate_sink(
        &self,
        table: &TableDescriptor,
        _formats: &Formats,
    ) -> Result<SinkCapabilities, ConnectorError> {
        let settings = PaimonSettings::from_table(table)?;
        let keyed = !table.primary_key.is_empty();
        let option = |key: &str| {
            settings
                .table_options
                .get(key)
                .map(|v| v.trim().to_string())
        };
        if let Some(producer) = option("changelog-producer")
            && COMPACTION_PRODUCERS.contains(&producer.as_str())
        {
            return Err(ConnectorError::Unsupported {
                table: table.name.clone(),
                reason: format!(
                    "'changelog-producer' = '{producer}' makes the changelog at compaction, which rtdw's Paimon writer does not run; use 'input' or 'none'"
                ),
            });
        }
        let bucket: i64 = match option("bucket") {
            Some(value) => value.parse().map_err(|_| ConnectorError::InvalidOption {
                table: table.name.clone(),
                key: "bucket".into(),
                value: value.clone(),
                expected: "must be an integer".into(),
            })?,
            None => -1,
        };
        if keyed && bucket < 1 {
            return Err(ConnectorError::Unsupported {
                table: table.name.clone(),
                reason: "rtdw writes primary-key Paimon tables with a fixed number of buckets: set 'bucket' to 1 or more".into(),
            });
        }
        if !keyed && bucket >= 1 && option("bucket-key").is_none() {
            return Err(ConnectorError::MissingOption {
                table: table.name.clone(),
                key: "bucket-key".into(),
            });
        }
        // As Paimon's Flink sink: the retractions (`-U`) are kept where
        // they count, for the input changelog and aggregating merges.
        let engine = option("merge-engine").unwrap_or_default();
        let aggregates = settings
            .table_options
            .keys()
            .any(|k| k.starts_with("fields.") && k.ends_with(".aggregate-function"));
        let needs_retractions = option("changelog-producer").as_deref() == Some("input")
            || engine == "aggregation"
            || (engine == "partial-update" && aggregates);
        Ok(SinkCapabilities {
            accepts_updates: keyed,
            accepts_upserts: keyed && !needs_retractions,
        })
    }

    async fn check_external(
        &self,
        declared: &TableDescriptor,
        _role: Role,
    ) -> Result<(), ConnectorError> {
        let settings = PaimonSettings::from_table(declared)?;
        let table = table::open_or_create(&settings, declared).await?;
        table::check_declaration(declared, &table, &settings)
    }

    fn commits_globally(&self) -> bool {
        true
    }

    fn create_sink_writer(
        &self,
        table: &TableDescriptor,
        _formats: &Formats,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn CommittableWriter>, ConnectorError> {
        let settings = PaimonSettings::from_table(table)?;
        Ok(Box::new(PaimonWriter::new(
            table.clone(),
            settings,
            commit_user(ctx),
        )))
    }

    fn create_committer(
        &self,
        table: &TableDescriptor,
        _ctx: &SubtaskContext,
    ) -> Result<Box<dyn GlobalCommitter>, ConnectorError> {
        let settings = PaimonSettings::from_table(table)?;
        Ok(Box::new(PaimonCommitter::new(table.clone(), settings)))
    }
}

/// The commit user of a job's writers: the same for every attempt of the
/// job, so a restore recognises the commits it made before.
fn commit_user(ctx: &SubtaskContext) -> String {
    let safe: String = ctx
        .job_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("rtdw-{safe}")
}
