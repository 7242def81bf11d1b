//! The registry of connectors and formats one process knows: the `rtdw`
//! binary assembles it from the connector crates and hands it to the
//! planner (validation at submit time) and the task manager (instances).

use std::collections::BTreeMap;
use std::sync::Arc;

use rtdw_operators::lookup::LookupTable;
use rtdw_operators::{Operator, Sink, Source, SourceSplit, SubtaskContext};

use crate::catalog::{Catalog, CatalogFactory};
use crate::committer::{CommitterSink, WriterOperator};

use crate::error::ConnectorError;
use crate::factory::{ConnectorFactory, SinkCapabilities, SourceCapabilities};
use crate::format::Formats;
use crate::options::{self, COMMON_OPTIONS, DeclaredOption, Role};
use crate::table::TableDescriptor;

/// Connectors, formats and catalog types by name.
#[derive(Clone, Default)]
pub struct ConnectorRegistry {
    connectors: BTreeMap<&'static str, Arc<dyn ConnectorFactory>>,
    formats: Formats,
    catalogs: BTreeMap<&'static str, Arc<dyn CatalogFactory>>,
}

impl std::fmt::Debug for ConnectorRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorRegistry")
            .field("connectors", &self.connectors.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ConnectorRegistry {
    /// The connectors and formats that ship in this crate: `datagen`,
    /// `print`, `blackhole`, `filesystem` and every built-in format.
    pub fn builtin() -> Self {
        let mut registry = ConnectorRegistry {
            connectors: BTreeMap::new(),
            formats: Formats::builtin(),
            catalogs: BTreeMap::new(),
        };
        for connector in crate::builtin_connectors() {
            registry.register(connector);
        }
        registry
    }

    /// Adds a connector (from a connector crate of its own).
    pub fn register(&mut self, connector: Arc<dyn ConnectorFactory>) {
        self.connectors.insert(connector.name(), connector);
    }

    /// Adds a catalog type (from a connector crate).
    pub fn register_catalog(&mut self, catalog: Arc<dyn CatalogFactory>) {
        self.catalogs.insert(catalog.type_name(), catalog);
    }

    /// Opens catalog `name` of the type its `type` option names.
    pub fn open_catalog(
        &self,
        name: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn Catalog>, ConnectorError> {
        let types: Vec<&str> = self.catalogs.keys().copied().collect();
        let failed = |reason: String| ConnectorError::Catalog {
            catalog: name.to_string(),
            reason,
        };
        let kind = options.get("type").ok_or_else(|| {
            failed(format!(
                "option 'type' is missing; types: {}",
                types.join(", ")
            ))
        })?;
        let factory = self.catalogs.get(kind.trim()).ok_or_else(|| {
            let suggestion = options::nearest(kind, &types)
                .map(|n| format!(" (did you mean '{n}'?)"))
                .unwrap_or_default();
            failed(format!(
                "unknown type '{kind}'{suggestion}; types: {}",
                types.join(", ")
            ))
        })?;
        factory.open(name, options)
    }

    /// Every connector, by name.
    pub fn connectors(&self) -> impl Iterator<Item = &Arc<dyn ConnectorFactory>> {
        self.connectors.values()
    }

    /// The connector called `name`.
    pub fn connector(&self, name: &str) -> Option<&Arc<dyn ConnectorFactory>> {
        self.connectors.get(name)
    }

    /// The formats.
    pub fn formats(&self) -> &Formats {
        &self.formats
    }

    /// Every option a connector declares, the framework's first, without
    /// the options of formats (those depend on the table).
    pub fn declared_options(connector: &dyn ConnectorFactory) -> Vec<DeclaredOption> {
        COMMON_OPTIONS
            .iter()
            .chain(connector.options())
            .map(DeclaredOption::plain)
            .collect()
    }

    /// The connector of `table` for `role`, with every option of the table
    /// checked against what it and its formats declare.
    fn resolve(
        &self,
        table: &TableDescriptor,
        role: Role,
    ) -> Result<&Arc<dyn ConnectorFactory>, ConnectorError> {
        let name = table.require_connector()?;
        let plays = |c: &Arc<dyn ConnectorFactory>| match role {
            Role::Source => c.roles().source,
            Role::Sink => c.roles().sink,
            Role::Lookup => c.roles().lookup,
        };
        let connector = self
            .connectors
            .get(name.trim())
            .filter(|c| plays(c))
            .ok_or_else(|| {
                let available: Vec<&str> = self
                    .connectors
                    .values()
                    .filter(|c| plays(c))
                    .map(|c| c.name())
                    .collect();
                let suggestion = options::nearest(name, &available)
                    .map(|n| format!(" (did you mean '{n}'?)"))
                    .or_else(|| {
                        self.connectors
                            .contains_key(name)
                            .then(|| format!(" ('{name}' cannot be a {})", role.name()))
                    })
                    .unwrap_or_default();
                ConnectorError::UnknownConnector {
                    table: table.name.clone(),
                    connector: name.to_string(),
                    role: role.name(),
                    suggestion,
                    available: available.join(", "),
                }
            })?;
        let mut declared = Self::declared_options(connector.as_ref());
        declared.extend(
            self.formats
                .declared_options(table, connector.format_slots())?,
        );
        options::validate(table, connector.name(), role, &declared)?;
        if !table.partition_keys.is_empty() && !connector.supports_partitioning() {
            return Err(ConnectorError::Unsupported {
                table: table.name.clone(),
                reason: format!(
                    "connector '{}' does not lay out data by partition: remove PARTITIONED BY",
                    connector.name()
                ),
            });
        }
        validate_metadata(table, connector.as_ref(), role)?;
        Ok(connector)
    }

    /// Checks a table's options for use as a source.
    pub fn validate_source(
        &self,
        table: &TableDescriptor,
    ) -> Result<SourceCapabilities, ConnectorError> {
        self.resolve(table, Role::Source)?
            .validate_source(table, &self.formats)
    }

    /// Checks a table's options for use as a sink.
    pub fn validate_sink(
        &self,
        table: &TableDescriptor,
    ) -> Result<SinkCapabilities, ConnectorError> {
        self.resolve(table, Role::Sink)?
            .validate_sink(table, &self.formats)
    }

    /// Checks a table's options for lookups by the columns `keys`.
    pub fn validate_lookup(
        &self,
        table: &TableDescriptor,
        keys: &[String],
    ) -> Result<(), ConnectorError> {
        self.resolve(table, Role::Lookup)?
            .validate_lookup(table, keys)
    }

    /// Builds the lookup table of one subtask of a lookup join.
    pub fn create_lookup(
        &self,
        table: &TableDescriptor,
        keys: &[String],
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn LookupTable>, ConnectorError> {
        self.resolve(table, Role::Lookup)?
            .create_lookup(table, keys, ctx)
    }

    /// Checks a table, already validated for `role`, against its outside
    /// system ([`ConnectorFactory::check_external`]).
    pub async fn check_external(
        &self,
        table: &TableDescriptor,
        role: Role,
    ) -> Result<(), ConnectorError> {
        self.resolve(table, role)?.check_external(table, role).await
    }

    /// The splits of a split-based source table, given those the job
    /// already holds; `None` for other sources.
    pub fn discover_splits(
        &self,
        table: &TableDescriptor,
        known: &[SourceSplit],
    ) -> Result<Option<Vec<SourceSplit>>, ConnectorError> {
        self.resolve(table, Role::Source)?
            .discover_splits(table, known)
    }

    /// How often to look for new splits of a continuous split source.
    pub fn discovery_interval(
        &self,
        table: &TableDescriptor,
    ) -> Result<Option<std::time::Duration>, ConnectorError> {
        self.resolve(table, Role::Source)?.discovery_interval(table)
    }

    /// Builds the source instance of one subtask.
    pub fn create_source(
        &self,
        table: &TableDescriptor,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn Source>, ConnectorError> {
        self.resolve(table, Role::Source)?
            .create_source(table, &self.formats, ctx)
    }

    /// Whether a sink table's output of a checkpoint goes in as one commit
    /// ([`ConnectorFactory::commits_globally`]).
    pub fn commits_globally(&self, table: &TableDescriptor) -> Result<bool, ConnectorError> {
        Ok(self.resolve(table, Role::Sink)?.commits_globally())
    }

    /// Builds the writer operator of one subtask of a sink that commits
    /// globally.
    pub fn create_sink_writer(
        &self,
        table: &TableDescriptor,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn Operator>, ConnectorError> {
        let writer =
            self.resolve(table, Role::Sink)?
                .create_sink_writer(table, &self.formats, ctx)?;
        Ok(Box::new(WriterOperator::new(writer)))
    }

    /// Builds the committer of a sink that commits globally.
    pub fn create_committer(
        &self,
        table: &TableDescriptor,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn Sink>, ConnectorError> {
        let committer = self
            .resolve(table, Role::Sink)?
            .create_committer(table, ctx)?;
        Ok(Box::new(CommitterSink::new(committer)))
    }

    /// Builds the sink instance of one subtask.
    pub fn create_sink(
        &self,
        table: &TableDescriptor,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn Sink>, ConnectorError> {
        self.resolve(table, Role::Sink)?
            .create_sink(table, &self.formats, ctx)
    }
}

/// Checks a table's metadata columns against what its connector offers:
/// the key, the type, and for a sink that a persisted one is writable.
fn validate_metadata(
    table: &TableDescriptor,
    connector: &dyn ConnectorFactory,
    role: Role,
) -> Result<(), ConnectorError> {
    let offered = connector.metadata_columns();
    for field in &table.metadata {
        let invalid = |reason: String| ConnectorError::InvalidMetadata {
            table: table.name.clone(),
            column: field.column.clone(),
            reason,
        };
        let Some(column) = offered.iter().find(|c| c.key == field.key) else {
            let keys: Vec<&str> = offered.iter().map(|c| c.key).collect();
            let suggestion = options::nearest(&field.key, &keys)
                .map(|k| format!(" (did you mean '{k}'?)"))
                .unwrap_or_default();
            let available = if keys.is_empty() {
                "none".to_string()
            } else {
                keys.join(", ")
            };
            return Err(invalid(format!(
                "connector '{}' offers no metadata '{}'{suggestion}; it offers: {available}",
                connector.name(),
                field.key
            )));
        };
        if (column.data_type)() != field.data_type {
            return Err(invalid(format!(
                "metadata '{}' is {}, the column is declared {}",
                column.key, column.sql_type, field.data_type
            )));
        }
        if role == Role::Sink && !field.is_virtual && !column.writable {
            return Err(invalid(format!(
                "connector '{}' cannot write metadata '{}'; declare the column VIRTUAL",
                connector.name(),
                column.key
            )));
        }
    }
    Ok(())
}
