//! Catalogs, as Flink's SQL has them: `default_catalog.default_database`
//! holds the tables a script declares; `CREATE CATALOG` opens others (a
//! Paimon warehouse) whose tables persist between jobs. Names resolve
//! against the current catalog and database (`USE CATALOG`, `USE`), and a
//! catalog table a query names is loaded from its catalog and declared
//! like a script's own, under its qualified name.

use datafusion::catalog::{MemoryCatalogProvider, MemorySchemaProvider};
use rtdw_connector_core::catalog::Catalog;

use super::*;
use crate::hints::OptionsHint;
use crate::script::Column;

pub(super) use crate::{DEFAULT_CATALOG, DEFAULT_DATABASE};

/// A table's place: catalog, database, name.
pub(super) struct TablePath {
    catalog: String,
    database: String,
    name: String,
}

impl TablePath {
    /// Whether the table is a script's own (the built-in catalog).
    fn is_declared(&self) -> bool {
        self.catalog == DEFAULT_CATALOG
    }

    /// The name the planner knows the table by: a script's own by its
    /// name, a catalog's by `catalog.database.name`.
    pub(super) fn key(&self) -> String {
        if self.is_declared() {
            self.name.clone()
        } else {
            format!("{}.{}.{}", self.catalog, self.database, self.name)
        }
    }
}

impl Planner {
    /// Where a name as written (`t`, `db.t`, `catalog.db.t`) points, from
    /// the current catalog and database.
    pub(super) fn table_path(&self, reference: &TableReference) -> TablePath {
        let (catalog, database) = (self.current_catalog.clone(), self.current_database.clone());
        match reference {
            TableReference::Bare { table } => TablePath {
                catalog,
                database,
                name: table.to_string(),
            },
            TableReference::Partial { schema, table } => TablePath {
                catalog,
                database: schema.to_string(),
                name: table.to_string(),
            },
            TableReference::Full {
                catalog,
                schema,
                table,
            } => TablePath {
                catalog: catalog.to_string(),
                database: schema.to_string(),
                name: table.to_string(),
            },
        }
    }

    /// The planner's name for a table as a query or INSERT names it.
    pub(super) fn table_key(&self, reference: &TableReference) -> String {
        self.table_path(reference).key()
    }

    /// The catalog called `name`, or an error at the statement.
    fn catalog(&self, name: &str) -> Result<Arc<dyn Catalog>, SqlError> {
        self.catalogs.get(name).cloned().ok_or_else(|| {
            let mut known: Vec<&str> = self.catalogs.keys().map(String::as_str).collect();
            known.push(DEFAULT_CATALOG);
            known.sort_unstable();
            self.unsupported(format!(
                "catalog '{name}' does not exist; catalogs: {}",
                known.join(", ")
            ))
        })
    }

    /// `CREATE CATALOG name WITH (...)`.
    pub(super) fn create_catalog(
        &mut self,
        name: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<(), SqlError> {
        if name == DEFAULT_CATALOG || self.catalogs.contains_key(name) {
            return Err(self.unsupported(format!("catalog '{name}' already exists")));
        }
        let catalog = self
            .connectors
            .open_catalog(name, options)
            .map_err(|e| self.unsupported(e.to_string()))?;
        self.state
            .catalog_list()
            .register_catalog(name.to_string(), Arc::new(MemoryCatalogProvider::new()));
        self.catalogs.insert(name.to_string(), catalog);
        Ok(())
    }

    /// `USE CATALOG name`: unqualified names now point into it, at its
    /// `default` database (Paimon's default).
    pub(super) fn use_catalog(&mut self, name: &str) -> Result<(), SqlError> {
        let database = if name == DEFAULT_CATALOG {
            DEFAULT_DATABASE
        } else {
            self.catalog(name)?;
            "default"
        };
        self.use_path(name, database);
        Ok(())
    }

    /// The catalog and database a database name as written points to.
    fn database_of(&self, name: &[String]) -> Result<(String, String), SqlError> {
        match name {
            [database] => Ok((self.current_catalog.clone(), database.clone())),
            [catalog, database] => Ok((catalog.clone(), database.clone())),
            _ => Err(self.unsupported(format!("'{}' is not a database name", name.join(".")))),
        }
    }

    /// `USE [catalog.]database`.
    pub(super) async fn use_database(&mut self, name: &[String]) -> Result<(), SqlError> {
        let (catalog, database) = self.database_of(name)?;
        if catalog == DEFAULT_CATALOG {
            if database != DEFAULT_DATABASE {
                return Err(self.unsupported(format!(
                    "database '{database}' does not exist in {DEFAULT_CATALOG}; it has only {DEFAULT_DATABASE}"
                )));
            }
        } else {
            let exists = self
                .catalog(&catalog)?
                .database_exists(&database)
                .await
                .map_err(|e| self.unsupported(e.to_string()))?;
            if !exists {
                return Err(self.unsupported(format!(
                    "database '{database}' does not exist in catalog '{catalog}'"
                )));
            }
        }
        self.use_path(&catalog, &database);
        Ok(())
    }

    /// Points unqualified names at `catalog.database`, for rtdw and for
    /// DataFusion's resolution of the queries.
    fn use_path(&mut self, catalog: &str, database: &str) {
        self.current_catalog = catalog.to_string();
        self.current_database = database.to_string();
        let options = self.state.config_mut().options_mut();
        options.catalog.default_catalog = catalog.to_string();
        options.catalog.default_schema = database.to_string();
    }

    /// `CREATE DATABASE [IF NOT EXISTS] [catalog.]name`.
    pub(super) async fn create_database(
        &mut self,
        name: &[String],
        if_not_exists: bool,
    ) -> Result<(), SqlError> {
        let (catalog, database) = self.database_of(name)?;
        if catalog == DEFAULT_CATALOG {
            return Err(self.unsupported(format!(
                "{DEFAULT_CATALOG} holds only {DEFAULT_DATABASE}; create databases in a catalog (CREATE CATALOG ... WITH ('type' = 'paimon', ...))"
            )));
        }
        self.catalog(&catalog)?
            .create_database(&database, if_not_exists)
            .await
            .map_err(|e| self.unsupported(e.to_string()))
    }

    /// `CREATE TABLE` in a catalog: the table is created there (unless it
    /// exists and `IF NOT EXISTS` is given). A script's own table is
    /// declared instead.
    pub(super) async fn create_catalog_table(
        &mut self,
        definition: TableDefinition,
        at: Location,
    ) -> Result<(), SqlError> {
        let reference = TableReference::parse_str(&definition.descriptor.name);
        let path = self.table_path(&reference);
        if path.is_declared() {
            let mut definition = definition;
            definition.descriptor.name = path.name;
            return self.create_table(definition, at);
        }
        if definition.watermark.is_some()
            || definition
                .columns
                .iter()
                .any(|c| !matches!(c, Column::Physical(_)))
        {
            return Err(SqlError::at(
                at,
                format!(
                    "table '{}' of catalog '{}' stores physical columns only: computed and metadata columns and watermarks belong to a script's own table",
                    path.key(),
                    path.catalog
                ),
            ));
        }
        let mut descriptor = definition.descriptor;
        descriptor.name = path.key();
        self.catalog(&path.catalog)?
            .create_table(
                &path.database,
                &path.name,
                &descriptor,
                definition.if_not_exists,
            )
            .await
            .map_err(|e| SqlError::at(at, e.to_string()))
    }

    /// Declares the table a `/*+ OPTIONS(...) */` hint scans: the hinted
    /// table with the hint's options on top of its own.
    pub(super) async fn declare_hinted(&mut self, hint: &OptionsHint) -> Result<(), SqlError> {
        if self.tables.contains_key(&hint.scanned) {
            return Ok(());
        }
        let hinted = TableReference::parse_str(&hint.table);
        self.load_catalog_table(&hinted).await?;
        let key = self.table_key(&hinted);
        let table = self.tables.get(&key).ok_or_else(|| {
            SqlError::at(
                hint.location,
                format!("table '{}' of the hint is not declared", hint.table),
            )
        })?;
        let mut definition = table.definition.clone();
        definition.descriptor.options.extend(hint.options.clone());
        definition.descriptor.name = hint.scanned.clone();
        self.create_table(definition, hint.location)
    }

    /// Declares the catalog table `reference` names, unless it is known
    /// or a script's own (which DataFusion reports when missing).
    pub(super) async fn load_catalog_table(
        &mut self,
        reference: &TableReference,
    ) -> Result<(), SqlError> {
        let path = self.table_path(reference);
        let key = path.key();
        if path.is_declared() || self.tables.contains_key(&key) {
            return Ok(());
        }
        let descriptor = self
            .catalog(&path.catalog)?
            .get_table(&path.database, &path.name, &key)
            .await
            .map_err(|e| self.unsupported(e.to_string()))?
            .ok_or_else(|| {
                self.unsupported(format!(
                    "table '{}' does not exist in database '{}' of catalog '{}'",
                    path.name, path.database, path.catalog
                ))
            })?;
        let catalog = self
            .state
            .catalog_list()
            .catalog(&path.catalog)
            .ok_or_else(|| {
                self.unsupported(format!("catalog '{}' is not registered", path.catalog))
            })?;
        if catalog.schema(&path.database).is_none() {
            catalog
                .register_schema(&path.database, Arc::new(MemorySchemaProvider::new()))
                .map_err(|e| self.error(e))?;
        }
        let columns = descriptor
            .schema
            .fields()
            .iter()
            .map(|f| Column::Physical(f.name().clone()))
            .collect();
        let definition = TableDefinition {
            descriptor,
            columns,
            watermark: None,
            if_not_exists: false,
        };
        let registered = TableReference::full(path.catalog, path.database, path.name);
        self.declare_table(definition, self.location, registered, key)
    }
}
