//! Metadata columns in a source's batches (`METADATA FROM 'key'`): a
//! source decodes its records through a format, then appends the values of
//! the table's metadata columns (a file's name, a record's offset) after the
//! data columns and before the row-kind column of a changelog format, which
//! is where the planner expects them.

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{Field, FieldRef, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use rtdw_operators::Result;
use rtdw_operators::row_kind::has_row_kinds;

use crate::table::MetadataField;

/// `schema` (the decoder's: data columns, then the row-kind column of a
/// changelog format) with the metadata columns between the two.
pub fn with_metadata_fields(schema: &SchemaRef, metadata: &[MetadataField]) -> SchemaRef {
    if metadata.is_empty() {
        return schema.clone();
    }
    let mut fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
    let row_kind = has_row_kinds(schema).then(|| fields.pop()).flatten();
    for m in metadata {
        fields.push(Arc::new(Field::new(&m.column, m.data_type.clone(), true)));
    }
    fields.extend(row_kind);
    Arc::new(Schema::new(fields))
}

/// `batch` with `values` inserted before its row-kind column (or at its
/// end), as `schema` says.
pub fn append_metadata(
    schema: &SchemaRef,
    batch: RecordBatch,
    values: Vec<ArrayRef>,
) -> Result<RecordBatch> {
    let mut columns = batch.columns().to_vec();
    let row_kind = has_row_kinds(batch.schema_ref())
        .then(|| columns.pop())
        .flatten();
    columns.extend(values);
    columns.extend(row_kind);
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
