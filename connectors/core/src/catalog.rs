//! Catalogs (Flink's `Catalog`): databases and tables that live in an
//! outside system, such as a Paimon warehouse, so that they persist
//! between jobs. `CREATE CATALOG lake WITH ('type' = 'paimon', ...)` opens
//! one through the [`CatalogFactory`] of its type; a job then names its
//! tables `lake.db.table` (or `db.table`, `table` after `USE CATALOG` and
//! `USE`), and the catalog describes each as a connector table.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::ConnectorError;
use crate::table::TableDescriptor;

/// An open catalog.
#[async_trait::async_trait]
pub trait Catalog: Send + Sync {
    /// Creates database `name`; with `if_not_exists`, one that exists is
    /// no error.
    async fn create_database(&self, name: &str, if_not_exists: bool) -> Result<(), ConnectorError>;

    /// Whether database `name` exists.
    async fn database_exists(&self, name: &str) -> Result<bool, ConnectorError>;

    /// Table `name` of `database` as a connector table named `qualified`,
    /// `None` when it does not exist.
    async fn get_table(
        &self,
        database: &str,
        name: &str,
        qualified: &str,
    ) -> Result<Option<TableDescriptor>, ConnectorError>;

    /// Creates table `name` in `database` from a declaration (its columns,
    /// keys and `WITH` options, which must not name a connector); with
    /// `if_not_exists`, one that exists is left as it is.
    async fn create_table(
        &self,
        database: &str,
        name: &str,
        declared: &TableDescriptor,
        if_not_exists: bool,
    ) -> Result<(), ConnectorError>;
}

/// Opens catalogs of one `type`.
pub trait CatalogFactory: Send + Sync {
    /// The `type` option's value that selects it.
    fn type_name(&self) -> &'static str;

    /// Opens catalog `name` with the `WITH` options of its `CREATE CATALOG`.
    fn open(
        &self,
        name: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn Catalog>, ConnectorError>;
}
