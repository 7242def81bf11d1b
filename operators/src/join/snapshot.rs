//! The layout of a join's snapshot: one batch holding the stored rows of
//! both sides.
//!
//! Columns: [`KEY_GROUP_COLUMN`], `_side` (`UInt8`, 0 = left, 1 = right),
//! the left input's columns, the right input's columns (each nullable; a
//! row's other side is NULL), then the join's bookkeeping columns.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, UInt8Array, UInt32Array, new_null_array};
use arrow::compute::kernels::cmp::eq;
use arrow::compute::{concat_batches, filter};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt8Type};
use arrow::record_batch::RecordBatch;

use crate::error::{Result, StreamError};
use crate::operator::KEY_GROUP_COLUMN;

/// One side's rows of a snapshot, as columns.
pub(crate) struct SideRows {
    /// The side's data columns.
    pub(crate) columns: Vec<ArrayRef>,
    /// The join's bookkeeping columns.
    pub(crate) meta: Vec<ArrayRef>,
}

/// The snapshot batch of both sides' rows, each side's given with each
/// row's key group (`None` when there are no rows).
pub(crate) fn write(
    schemas: &[SchemaRef; 2],
    meta_fields: &[Field],
    sides: [(Vec<u32>, SideRows); 2],
) -> Result<Option<RecordBatch>> {
    let schema = snapshot_schema(schemas, meta_fields);
    let mut batches = Vec::with_capacity(2);
    for (side, (key_groups, rows)) in sides.into_iter().enumerate() {
        let n = key_groups.len();
        if n == 0 {
            continue;
        }
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(key_groups)),
            Arc::new(UInt8Array::from(vec![side as u8; n])),
        ];
        for (s, input) in schemas.iter().enumerate() {
            if s == side {
                columns.extend(rows.columns.iter().cloned());
            } else {
                columns.extend(
                    input
                        .fields()
                        .iter()
                        .map(|f| new_null_array(f.data_type(), n)),
                );
            }
        }
        columns.extend(rows.meta);
        batches.push(RecordBatch::try_new(schema.clone(), columns)?);
    }
    if batches.is_empty() {
        return Ok(None);
    }
    Ok(Some(concat_batches(&schema, &batches)?))
}

/// Reads a snapshot batch back into each side's rows (data and bookkeeping
/// columns), checked against the inputs' schemas.
pub(crate) fn read(
    batch: &RecordBatch,
    schemas: &[SchemaRef; 2],
    meta_count: usize,
) -> Result<[SideRows; 2]> {
    let malformed = |what: String| StreamError::Failed(format!("join state: {what}"));
    let widths = [schemas[0].fields().len(), schemas[1].fields().len()];
    let expected = 2 + widths[0] + widths[1] + meta_count;
    if batch.num_columns() != expected {
        return Err(malformed(format!(
            "{} columns where {expected} were expected: the checkpoint belongs to another plan",
            batch.num_columns()
        )));
    }
    let sides = batch
        .column(1)
        .as_primitive_opt::<UInt8Type>()
        .ok_or_else(|| malformed("the side column is not UInt8".into()))?;
    let meta = &batch.columns()[expected - meta_count..];
    let mut start = 2;
    let mut read_side = |side: usize| -> Result<SideRows> {
        let mask = eq(sides, &UInt8Array::new_scalar(side as u8))?;
        let pick = |c: &ArrayRef| Ok::<_, StreamError>(filter(c.as_ref(), &mask)?);
        let own = &batch.columns()[start..start + widths[side]];
        start += widths[side];
        let mut columns = Vec::with_capacity(own.len());
        for (column, field) in own.iter().zip(schemas[side].fields()) {
            if column.data_type() != field.data_type() {
                return Err(malformed(format!(
                    "column {} is {} where {} was expected",
                    field.name(),
                    column.data_type(),
                    field.data_type()
                )));
            }
            columns.push(pick(column)?);
        }
        Ok(SideRows {
            columns,
            meta: meta.iter().map(pick).collect::<Result<_>>()?,
        })
    };
    let left = read_side(0)?;
    let right = read_side(1)?;
    Ok([left, right])
}

fn snapshot_schema(schemas: &[SchemaRef; 2], meta_fields: &[Field]) -> SchemaRef {
    let mut fields = vec![
        Field::new(KEY_GROUP_COLUMN, DataType::UInt32, false),
        Field::new("_side", DataType::UInt8, false),
    ];
    for (prefix, schema) in ["left", "right"].iter().zip(schemas) {
        fields.extend(schema.fields().iter().map(|f| {
            Field::new(
                format!("{prefix}.{}", f.name()),
                f.data_type().clone(),
                true,
            )
        }));
    }
    fields.extend(meta_fields.iter().cloned());
    Arc::new(Schema::new(fields))
}
