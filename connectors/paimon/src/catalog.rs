//! Paimon's filesystem catalog (`CREATE CATALOG lake WITH ('type' =
//! 'paimon', 'warehouse' = ...)`): databases are the warehouse's
//! `<database>.db` directories and tables the directories below them, laid
//! out as every Paimon engine lays them out, so a table one job creates is
//! there for the next job, a restarted coordinator, and Flink or Spark.
//! Each table reaches the planner as a `paimon` connector table at its path.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use paimon::io::FileIO;
use rtdw_connector_core::catalog::{Catalog, CatalogFactory};
use rtdw_connector_core::options::{DeclaredOption, OptionType, Role, nearest};
use rtdw_connector_core::{ConnectorError, TableDescriptor};

use crate::options::{OPTIONS, PaimonSettings, storage_options};
use crate::table::{arrow_schema, create, open, paimon_error};

/// The options of `CREATE CATALOG ... WITH ('type' = 'paimon', ...)`
/// besides the `s3.*` storage keys.
const CATALOG_OPTIONS: &[&str] = &["type", "warehouse", "metastore", "default-database"];

/// Whether a table option stored in a Paimon schema is carried into the
/// table's description: the options the connector declares that shape how
/// it is written (`bucket`, `merge-engine`, ...), not read-time ones nor
/// options other engines keep for themselves.
fn is_described(key: &str) -> bool {
    OPTIONS.iter().any(|option| {
        option.value_type != OptionType::Duration
            && option.applies_to(Role::Sink)
            && DeclaredOption::plain(option).matches(key)
    })
}

/// Opens Paimon catalogs.
pub struct PaimonCatalogFactory;

impl CatalogFactory for PaimonCatalogFactory {
    fn type_name(&self) -> &'static str {
        "paimon"
    }

    fn open(
        &self,
        name: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn Catalog>, ConnectorError> {
        let failed = |reason: String| ConnectorError::Catalog {
            catalog: name.to_string(),
            reason,
        };
        for key in options.keys() {
            if !CATALOG_OPTIONS.contains(&key.as_str()) && !key.starts_with("s3.") {
                let suggestion = nearest(key, CATALOG_OPTIONS)
                    .map(|n| format!(" (did you mean '{n}'?)"))
                    .unwrap_or_default();
                return Err(failed(format!(
                    "unknown option '{key}'{suggestion}; options: {}, s3.*",
                    CATALOG_OPTIONS.join(", ")
                )));
            }
        }
        if let Some(metastore) = options.get("metastore")
            && metastore != "filesystem"
        {
            return Err(failed(format!(
                "option 'metastore' must be 'filesystem' (the warehouse's own files), got '{metastore}'"
            )));
        }
        let warehouse = options
            .get("warehouse")
            .map(|w| w.trim().trim_end_matches('/').to_string())
            .filter(|w| !w.is_empty())
            .ok_or_else(|| failed("option 'warehouse' is missing: the warehouse's directory, 'file:///...' or 's3://bucket/path'".into()))?;
        let storage = storage_options(&warehouse, options);
        let io = FileIO::from_path(&warehouse)
            .and_then(|builder| builder.with_props(storage.iter()).build())
            .map_err(|e| failed(format!("cannot reach the warehouse '{warehouse}': {e}")))?;
        Ok(Arc::new(PaimonCatalog {
            name: name.to_string(),
            warehouse,
            storage,
            io,
        }))
    }
}

/// An open Paimon catalog.
struct PaimonCatalog {
    name: String,
    warehouse: String,
    storage: HashMap<String, String>,
    io: FileIO,
}

impl PaimonCatalog {
    fn database_path(&self, database: &str) -> String {
        format!("{}/{database}.db", self.warehouse)
    }

    /// What a table of the catalog is to the `paimon` connector.
    fn settings(
        &self,
        database: &str,
        name: &str,
        options: HashMap<String, String>,
    ) -> PaimonSettings {
        PaimonSettings {
            path: format!("{}/{name}", self.database_path(database)),
            auto_create: false,
            storage: self.storage.clone(),
            table_options: options,
        }
    }

    fn failed(&self, reason: String) -> ConnectorError {
        ConnectorError::Catalog {
            catalog: self.name.clone(),
            reason,
        }
    }
}

#[async_trait::async_trait]
impl Catalog for PaimonCatalog {
    async fn create_database(&self, name: &str, if_not_exists: bool) -> Result<(), ConnectorError> {
        if self.database_exists(name).await? {
            return match if_not_exists {
                true => Ok(()),
                false => Err(self.failed(format!("database '{name}' already exists"))),
            };
        }
        let path = format!("{}/", self.database_path(name));
        self.io.mkdirs(&path).await.map_err(|e| {
            paimon_error(
                &self.name,
                format!("cannot create database '{name}' at '{path}'"),
                e,
            )
        })
    }

    async fn database_exists(&self, name: &str) -> Result<bool, ConnectorError> {
        // Listing, not a directory lookup: object stores know a database
        // only by the keys below it.
        let listed = match self.io.list_status(&format!("{}/", self.warehouse)).await {
            Ok(listed) => listed,
            Err(_) => return Ok(false),
        };
        let wanted = format!("{name}.db");
        Ok(listed.iter().any(|status| {
            status.is_dir
                && status.path.trim_end_matches('/').rsplit('/').next() == Some(wanted.as_str())
        }))
    }

    async fn get_table(
        &self,
        database: &str,
        name: &str,
        qualified: &str,
    ) -> Result<Option<TableDescriptor>, ConnectorError> {
        let settings = self.settings(database, name, HashMap::new());
        let Some(table) = open(&settings, qualified).await? else {
            return Ok(None);
        };
        let columns = arrow_schema(&table, qualified)?;
        let fields: Vec<arrow::datatypes::Field> = columns
            .fields()
            .iter()
            .map(|f| {
                f.as_ref()
                    .clone()
                    .with_nullable(true)
                    .with_metadata(HashMap::new())
            })
            .collect();
        let mut options: BTreeMap<String, String> = settings
            .storage
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        options.extend(
            table
                .schema()
                .options()
                .iter()
                .filter(|(key, _)| is_described(key))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        options.insert("connector".into(), "paimon".into());
        options.insert("path".into(), settings.path.clone());
        Ok(Some(TableDescriptor {
            name: qualified.to_string(),
            schema: Arc::new(arrow::datatypes::Schema::new(fields)),
            options,
            primary_key: table.schema().primary_keys().to_vec(),
            partition_keys: table.schema().partition_keys().to_vec(),
            metadata: Vec::new(),
        }))
    }

    async fn create_table(
        &self,
        database: &str,
        name: &str,
        declared: &TableDescriptor,
        if_not_exists: bool,
    ) -> Result<(), ConnectorError> {
        if declared.options.contains_key("connector") {
            return Err(self.failed(format!(
                "table '{}' is created in the catalog, so it takes no 'connector' option; declare a connector table outside the catalog (USE CATALOG default_catalog) instead",
                declared.name
            )));
        }
        if !self.database_exists(database).await? {
            return Err(self.failed(format!(
                "database '{database}' does not exist; CREATE DATABASE {database} first"
            )));
        }
        let options = declared
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let settings = self.settings(database, name, options);
        if open(&settings, &declared.name).await?.is_some() {
            return match if_not_exists {
                true => Ok(()),
                false => Err(self.failed(format!("table '{database}.{name}' already exists"))),
            };
        }
        create(&settings, declared).await
    }
}
