//! How a table's columns split between a record's key and its value
//! (Flink's `key.fields`, `key.fields-prefix`, `value.fields-include`).
//!
//! The key format sees the `key.fields` columns, named without
//! `key.fields-prefix`; the value format sees every physical column
//! (`ALL`) or those that are not key columns (`EXCEPT_KEY`). Reading, a
//! column the value holds comes from the value, as in Flink, and the other
//! key columns from the key; writing, each record gets both parts.

use std::sync::Arc;

use arrow::array::{ArrayRef, UInt32Array, new_null_array};
use arrow::compute::take;
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use rtdw_connector_core::options::TableOptions;
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::Result;
use rtdw_operators::row_kind::has_row_kinds;

use crate::options::{KEY_FIELDS, KEY_FIELDS_PREFIX, KEY_FORMAT, VALUE_FIELDS_INCLUDE};

/// The key and value parts of a table's records.
#[derive(Debug, Clone)]
pub(crate) struct RecordLayout {
    /// The table's physical columns.
    table_schema: SchemaRef,
    /// Table column positions the key format carries, in `key.fields` order.
    key_columns: Vec<usize>,
    /// The key format's schema: those columns without the prefix.
    key_schema: SchemaRef,
    /// Table column positions the value format carries.
    value_columns: Vec<usize>,
    /// The value format's schema.
    value_schema: SchemaRef,
}

impl RecordLayout {
    /// The layout `table`'s options describe; errors name the option.
    pub(crate) fn of_table(table: &TableDescriptor) -> Result<Self, ConnectorError> {
        let options = TableOptions::new(table);
        let key_names: Vec<&str> = options
            .string(&KEY_FIELDS)
            .map(|names| {
                names
                    .split(';')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        match (options.string(&KEY_FORMAT).is_some(), key_names.is_empty()) {
            (true, true) => {
                return Err(ConnectorError::MissingOption {
                    table: table.name.clone(),
                    key: format!("{}' (required by '{}')", KEY_FIELDS.key, KEY_FORMAT.key),
                });
            }
            (false, false) => {
                return Err(ConnectorError::MissingOption {
                    table: table.name.clone(),
                    key: format!("{}' (required by '{}')", KEY_FORMAT.key, KEY_FIELDS.key),
                });
            }
            _ => {}
        }
        Self::with_key(table, &key_names)
    }

    /// The layout of an `upsert-kafka` table: the key holds the primary
    /// key's columns, which the table must have.
    pub(crate) fn of_upsert_table(table: &TableDescriptor) -> Result<Self, ConnectorError> {
        if table.primary_key.is_empty() {
            return Err(ConnectorError::InvalidOption {
                table: table.name.clone(),
                key: "PRIMARY KEY".into(),
                value: "(none)".into(),
                expected: "an 'upsert-kafka' table needs a PRIMARY KEY: its columns are the record key, and rows update and delete by it".into(),
            });
        }
        let key_names: Vec<&str> = table.primary_key.iter().map(String::as_str).collect();
        Self::with_key(table, &key_names)
    }

    /// The layout with `key_names` in the key, as `key.fields-prefix` and
    /// `value.fields-include` say.
    fn with_key(table: &TableDescriptor, key_names: &[&str]) -> Result<Self, ConnectorError> {
        let options = TableOptions::new(table);
        let invalid =
            |key: &str, value: &str, expected: &str| options.invalid(key, value, expected);
        let prefix = options.string(&KEY_FIELDS_PREFIX).unwrap_or_default();
        let except_key = options.choice(&VALUE_FIELDS_INCLUDE)? == Some("EXCEPT_KEY");
        if !prefix.is_empty() && !except_key {
            return Err(invalid(
                VALUE_FIELDS_INCLUDE.key,
                "ALL",
                "must be 'EXCEPT_KEY' when 'key.fields-prefix' is set",
            ));
        }
        let schema = table.schema.clone();
        let mut key_columns = Vec::new();
        let mut key_fields = Vec::new();
        for name in key_names {
            let Some((position, field)) = schema.column_with_name(name) else {
                return Err(invalid(
                    KEY_FIELDS.key,
                    name,
                    "must name physical columns of the table",
                ));
            };
            let Some(stripped) = name.strip_prefix(prefix) else {
                return Err(invalid(
                    KEY_FIELDS.key,
                    name,
                    &format!("must name columns starting with the key prefix '{prefix}'"),
                ));
            };
            key_columns.push(position);
            key_fields.push(Field::new(stripped, field.data_type().clone(), true));
        }
        let value_columns: Vec<usize> = (0..schema.fields().len())
            .filter(|c| !(except_key && key_columns.contains(c)))
            .collect();
        let value_schema = Arc::new(Schema::new(
            value_columns
                .iter()
                .map(|&c| schema.field(c).clone())
                .collect::<Vec<_>>(),
        ));
        Ok(RecordLayout {
            table_schema: schema,
            key_columns,
            key_schema: Arc::new(Schema::new(key_fields)),
            value_columns,
            value_schema,
        })
    }

    /// Whether records have a key part.
    pub(crate) fn has_key(&self) -> bool {
        !self.key_columns.is_empty()
    }

    /// Whether reading needs the key: some column is not in the value.
    pub(crate) fn reads_key(&self) -> bool {
        self.value_columns.len() < self.table_schema.fields().len()
    }

    /// The columns the key format carries, without the prefix.
    pub(crate) fn key_schema(&self) -> &SchemaRef {
        &self.key_schema
    }

    /// The columns the value format carries.
    pub(crate) fn value_schema(&self) -> &SchemaRef {
        &self.value_schema
    }

    /// The key format's rows of a batch of the table (the sink's input).
    pub(crate) fn key_rows(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let columns = self
            .key_columns
            .iter()
            .map(|&c| batch.column(c).clone())
            .collect();
        Ok(RecordBatch::try_new(self.key_schema.clone(), columns)?)
    }

    /// The value format's rows of a batch of the table, with its row-kind
    /// column when it has one.
    pub(crate) fn value_rows(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        if self.value_columns.len() == self.table_schema.fields().len() {
            return Ok(batch.clone());
        }
        let mut fields: Vec<Field> = self
            .value_columns
            .iter()
            .map(|&c| batch.schema().field(c).clone())
            .collect();
        let mut columns: Vec<ArrayRef> = self
            .value_columns
            .iter()
            .map(|&c| batch.column(c).clone())
            .collect();
        if has_row_kinds(batch.schema_ref()) {
            let last = batch.num_columns() - 1;
            fields.push(batch.schema().field(last).clone());
            columns.push(batch.column(last).clone());
        }
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }

    /// The table column `position` as the decoders give it: from the value
    /// when the value holds it (`Ok`), else from the key (`Err`).
    fn source_of(&self, position: usize) -> std::result::Result<usize, usize> {
        match self.value_columns.iter().position(|&c| c == position) {
            Some(from_value) => Ok(from_value),
            None => Err(self
                .key_columns
                .iter()
                .position(|&c| c == position)
                .unwrap_or_default()),
        }
    }

    /// The schema of the rows [`RecordLayout::assemble`] builds from
    /// batches of the value and key decoders' schemas: the table's
    /// columns, then the value's row-kind column, if any.
    pub(crate) fn row_schema(&self, values: &SchemaRef, keys: &SchemaRef) -> SchemaRef {
        let mut fields: Vec<Field> = (0..self.table_schema.fields().len())
            .map(|position| match self.source_of(position) {
                Ok(from_value) => values.field(from_value).clone(),
                Err(from_key) => keys
                    .field(from_key)
                    .clone()
                    .with_name(self.table_schema.field(position).name())
                    .with_nullable(true),
            })
            .collect();
        if has_row_kinds(values) {
            fields.push(values.field(values.fields().len() - 1).clone());
        }
        Arc::new(Schema::new(fields))
    }

    /// Rows of `schema` ([`RecordLayout::row_schema`], without a row-kind
    /// column) holding only key columns, from the key rows `key_of_row`
    /// points at (`None`: NULL key columns); the other columns are NULL.
    /// They are the deletes of an upsert table's tombstones.
    pub(crate) fn key_only_rows(
        &self,
        schema: &SchemaRef,
        keys: &RecordBatch,
        key_of_row: &[Option<u32>],
    ) -> Result<RecordBatch> {
        let indexes = UInt32Array::from(key_of_row.to_vec());
        let columns: Vec<ArrayRef> = (0..self.table_schema.fields().len())
            .map(
                |position| match self.key_columns.iter().position(|&c| c == position) {
                    Some(from_key) => take(keys.column(from_key), &indexes, None),
                    None => Ok(new_null_array(
                        schema.field(position).data_type(),
                        key_of_row.len(),
                    )),
                },
            )
            .collect::<std::result::Result<_, _>>()?;
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }

    /// Rows of `schema` ([`RecordLayout::row_schema`]) from decoded values
    /// and the key rows of their records: `key_of_row[i]` is the row of
    /// `keys` that value row `i` came with, `None` for a record without a
    /// key (its key columns are NULL).
    pub(crate) fn assemble(
        &self,
        schema: &SchemaRef,
        values: &RecordBatch,
        keys: &RecordBatch,
        key_of_row: &[Option<u32>],
    ) -> Result<RecordBatch> {
        let indexes = UInt32Array::from(key_of_row.to_vec());
        let mut columns: Vec<ArrayRef> = (0..self.table_schema.fields().len())
            .map(|position| match self.source_of(position) {
                Ok(from_value) => Ok(values.column(from_value).clone()),
                Err(from_key) => take(keys.column(from_key), &indexes, None),
            })
            .collect::<std::result::Result<_, _>>()?;
        if has_row_kinds(values.schema_ref()) {
            columns.push(values.column(values.num_columns() - 1).clone());
        }
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }
}
