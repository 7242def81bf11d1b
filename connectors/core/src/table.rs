//! A table declared in SQL: its columns and connector options.

use std::collections::BTreeMap;

use arrow::datatypes::SchemaRef;

use crate::error::ConnectorError;

/// A table as `CREATE TABLE` declared it.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDescriptor {
    /// The table name as written.
    pub name: String,
    /// The physical columns.
    pub schema: SchemaRef,
    /// The `WITH (...)` options, keys as written.
    pub options: BTreeMap<String, String>,
    /// Primary key columns (`PRIMARY KEY (...) NOT ENFORCED`), possibly empty.
    pub primary_key: Vec<String>,
}

impl TableDescriptor {
    /// The `connector` option, if set.
    pub fn connector(&self) -> Option<&str> {
        self.options.get("connector").map(String::as_str)
    }

    /// The `connector` option, or an error naming the table.
    pub fn require_connector(&self) -> Result<&str, ConnectorError> {
        self.connector()
            .ok_or_else(|| ConnectorError::MissingConnector {
                table: self.name.clone(),
            })
    }
}
