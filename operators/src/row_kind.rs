//! Row kinds: how a changelog stream marks inserts, updates and deletes.
//!
//! A batch of a stream that is not insert-only carries, as its last column,
//! an `Int8` column named [`ROW_KIND_COLUMN`] whose values are
//! [`RowKind`] bytes (Flink's encoding: 0 = `+I`, 1 = `-U`, 2 = `+U`, 3 = `-D`).
//! Insert-only streams omit the column.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int8Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::error::{Result, StreamError};

/// Name of the trailing row-kind column of changelog batches.
pub const ROW_KIND_COLUMN: &str = "_row_kind";

/// The kind of change a row stands for, with Flink's meaning and encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum RowKind {
    /// `+I`: a new row.
    Insert = 0,
    /// `-U`: the old content of an updated row (a retraction).
    UpdateBefore = 1,
    /// `+U`: the new content of an updated row.
    UpdateAfter = 2,
    /// `-D`: a deleted row (a retraction).
    Delete = 3,
}

impl RowKind {
    /// Decodes Flink's byte value.
    pub fn from_byte(value: i8) -> Result<Self> {
        match value {
            0 => Ok(RowKind::Insert),
            1 => Ok(RowKind::UpdateBefore),
            2 => Ok(RowKind::UpdateAfter),
            3 => Ok(RowKind::Delete),
            other => Err(StreamError::Failed(format!(
                "invalid row kind byte {other}"
            ))),
        }
    }

    /// Flink's short string: `+I`, `-U`, `+U` or `-D`.
    pub fn short_string(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }

    /// The row kind a short string names (`+I`, `-U`, `+U`, `-D`), the
    /// inverse of [`RowKind::short_string`].
    pub fn from_short_string(text: &str) -> Option<Self> {
        [
            RowKind::Insert,
            RowKind::UpdateBefore,
            RowKind::UpdateAfter,
            RowKind::Delete,
        ]
        .into_iter()
        .find(|kind| kind.short_string() == text)
    }

    /// True for `-U` and `-D`, which take back an earlier row.
    pub fn is_retraction(self) -> bool {
        matches!(self, RowKind::UpdateBefore | RowKind::Delete)
    }
}

/// The field of the row-kind column.
pub fn row_kind_field() -> Field {
    Field::new(ROW_KIND_COLUMN, DataType::Int8, false)
}

/// True when the batch's last column is the row-kind column.
pub fn has_row_kinds(schema: &Schema) -> bool {
    schema
        .fields()
        .last()
        .is_some_and(|f| f.name() == ROW_KIND_COLUMN && f.data_type() == &DataType::Int8)
}

/// Splits a batch into its data columns and its row kinds (`None` when the
/// batch is insert-only).
pub fn split_row_kinds(batch: &RecordBatch) -> Result<(RecordBatch, Option<Int8Array>)> {
    if !has_row_kinds(batch.schema_ref()) {
        return Ok((batch.clone(), None));
    }
    let last = batch.num_columns() - 1;
    let kinds = batch
        .column(last)
        .as_any()
        .downcast_ref::<Int8Array>()
        .cloned()
        .ok_or_else(|| StreamError::Failed("row-kind column is not Int8".into()))?;
    let data = batch.project(&(0..last).collect::<Vec<_>>())?;
    Ok((data, Some(kinds)))
}

/// Appends a row-kind column to a batch of data columns.
pub fn with_row_kinds(data: &RecordBatch, kinds: Int8Array) -> Result<RecordBatch> {
    let mut fields: Vec<Arc<Field>> = data.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(row_kind_field()));
    let mut columns: Vec<ArrayRef> = data.columns().to_vec();
    columns.push(Arc::new(kinds));
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// The schema of a changelog stream with the given data columns.
pub fn changelog_schema(data: &Schema) -> SchemaRef {
    let mut fields: Vec<Arc<Field>> = data.fields().iter().cloned().collect();
    fields.push(Arc::new(row_kind_field()));
    Arc::new(Schema::new(fields))
}

/// The row kind of row `i` of a batch: `+I` when the batch has no kinds.
pub fn row_kind_at(kinds: Option<&Int8Array>, i: usize) -> Result<RowKind> {
    match kinds {
        None => Ok(RowKind::Insert),
        Some(k) if k.is_valid(i) => RowKind::from_byte(k.value(i)),
        Some(_) => Err(StreamError::Failed("null row kind".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_name_their_row_kinds_and_nothing_else() {
        for byte in 0..4 {
            let kind = RowKind::from_byte(byte).unwrap();
            assert_eq!(RowKind::from_short_string(kind.short_string()), Some(kind));
        }
        assert_eq!(RowKind::from_short_string("+X"), None);
    }
}
