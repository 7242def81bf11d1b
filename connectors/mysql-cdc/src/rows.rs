//! Rows into batches: the declared physical columns, the metadata columns
//! (`database_name`, `table_name`, `op_ts`, `row_kind`) and the row kind.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int8Builder, StringBuilder, TimestampMillisecondBuilder};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use rtdw_connector_core::{ConnectorError, MetadataColumn, TableDescriptor};
use rtdw_operators::row_kind::{RowKind, changelog_schema};

use crate::catalog::TableId;
use crate::values::{Cell, ColumnBuilder};

fn timestamp_ltz() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// Flink CDC's metadata columns of `mysql-cdc`.
pub(crate) const METADATA: &[MetadataColumn] = &[
    MetadataColumn {
        key: "database_name",
        sql_type: "STRING NOT NULL",
        data_type: || DataType::Utf8,
        writable: false,
        doc: "The database of the row's table.",
    },
    MetadataColumn {
        key: "table_name",
        sql_type: "STRING NOT NULL",
        data_type: || DataType::Utf8,
        writable: false,
        doc: "The row's table.",
    },
    MetadataColumn {
        key: "op_ts",
        sql_type: "TIMESTAMP_LTZ(3) NOT NULL",
        data_type: timestamp_ltz,
        writable: false,
        doc: "When the change was committed in the database; 0 (the epoch) for snapshot rows.",
    },
    MetadataColumn {
        key: "row_kind",
        sql_type: "STRING NOT NULL",
        data_type: || DataType::Utf8,
        writable: false,
        doc: "The change's kind: '+I', '-U', '+U' or '-D'.",
    },
];

/// A declared metadata column's source.
#[derive(Debug, Clone, Copy)]
enum Metadata {
    Database,
    Table,
    OpTs,
    RowKind,
}

enum MetadataBuilder {
    Text(StringBuilder),
    Time(TimestampMillisecondBuilder),
}

/// Builds the source's batches.
pub(crate) struct BatchBuilder {
    schema: SchemaRef,
    columns: Vec<ColumnBuilder>,
    metadata: Vec<(Metadata, MetadataBuilder)>,
    kinds: Int8Builder,
    rows: usize,
}

impl BatchBuilder {
    /// A builder of `table`'s source batches (a changelog).
    pub(crate) fn new(table: &TableDescriptor) -> Result<BatchBuilder, ConnectorError> {
        let columns = table
            .schema
            .fields()
            .iter()
            .map(|field| {
                ColumnBuilder::new(field.data_type()).ok_or_else(|| {
                    ConnectorError::UnsupportedColumn {
                        table: table.name.clone(),
                        column: field.name().clone(),
                        data_type: field.data_type().to_string(),
                        reason: "no MySQL column type maps to it".into(),
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let metadata = table
            .metadata
            .iter()
            .map(|m| {
                let (source, builder) = match m.key.as_str() {
                    "database_name" => (
                        Metadata::Database,
                        MetadataBuilder::Text(StringBuilder::new()),
                    ),
                    "table_name" => (Metadata::Table, MetadataBuilder::Text(StringBuilder::new())),
                    "row_kind" => (
                        Metadata::RowKind,
                        MetadataBuilder::Text(StringBuilder::new()),
                    ),
                    _ => (
                        Metadata::OpTs,
                        MetadataBuilder::Time(
                            TimestampMillisecondBuilder::new().with_timezone("UTC"),
                        ),
                    ),
                };
                (source, builder)
            })
            .collect();
        Ok(BatchBuilder {
            schema: changelog_schema(&table.source_schema()),
            columns,
            metadata,
            kinds: Int8Builder::new(),
            rows: 0,
        })
    }

    /// Rows appended since the last batch.
    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    /// Appends a row of declared cells.
    pub(crate) fn push(&mut self, cells: &[Cell], kind: RowKind, table: &TableId, op_ts_ms: i64) {
        for (builder, cell) in self.columns.iter_mut().zip(cells) {
            builder.append(cell);
        }
        for (source, builder) in &mut self.metadata {
            match (source, builder) {
                (Metadata::Database, MetadataBuilder::Text(b)) => b.append_value(&table.database),
                (Metadata::Table, MetadataBuilder::Text(b)) => b.append_value(&table.table),
                (Metadata::RowKind, MetadataBuilder::Text(b)) => {
                    b.append_value(kind.short_string())
                }
                (_, MetadataBuilder::Time(b)) => b.append_value(op_ts_ms),
                (_, MetadataBuilder::Text(b)) => b.append_null(),
            }
        }
        self.kinds.append_value(kind as i8);
        self.rows += 1;
    }

    /// The rows appended so far as a batch; the builder starts over.
    pub(crate) fn finish(&mut self) -> rtdw_operators::Result<RecordBatch> {
        let mut arrays: Vec<ArrayRef> = self.columns.iter_mut().map(|c| c.finish()).collect();
        for (_, builder) in &mut self.metadata {
            arrays.push(match builder {
                MetadataBuilder::Text(b) => Arc::new(b.finish()),
                MetadataBuilder::Time(b) => Arc::new(b.finish()),
            });
        }
        arrays.push(Arc::new(self.kinds.finish()));
        self.rows = 0;
        Ok(RecordBatch::try_new(self.schema.clone(), arrays)?)
    }
}
