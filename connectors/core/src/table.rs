//! A table declared in SQL: its columns and connector options.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

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
    /// Partition columns (`PARTITIONED BY (...)`), possibly none: a
    /// connector that lays out data by partition (Paimon, files) uses them.
    pub partition_keys: Vec<String>,
    /// The metadata columns (`METADATA FROM 'key'`), in declaration order.
    pub metadata: Vec<MetadataField>,
}

/// A column declared `name TYPE METADATA [FROM 'key'] [VIRTUAL]`: a value
/// the connector offers besides the data (a file's path, a record's offset).
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataField {
    /// The column's name.
    pub column: String,
    /// The connector's metadata key (the column name without `FROM`).
    pub key: String,
    /// The column's type.
    pub data_type: DataType,
    /// `VIRTUAL`: read only, not written by a sink.
    pub is_virtual: bool,
}

impl TableDescriptor {
    /// What the table's source emits: the physical columns, then the
    /// metadata columns.
    pub fn source_schema(&self) -> SchemaRef {
        if self.metadata.is_empty() {
            return self.schema.clone();
        }
        let fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .chain(
                self.metadata
                    .iter()
                    .map(|m| Field::new(&m.column, m.data_type.clone(), true)),
            )
            .collect();
        Arc::new(Schema::new(fields))
    }

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
