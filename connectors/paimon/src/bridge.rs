//! Batches and schemas across the two Arrow versions: rtdw is on arrow 59,
//! the `paimon` crate on arrow 58. Both implement the Arrow C data
//! interface, whose structs have one layout by definition; a batch crosses
//! as a struct array, zero copy, and its buffers are released by the side
//! that allocated them.

use std::sync::Arc;

use arrow::array::{Array, StructArray};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

/// An error of the Arrow C data interface on either side.
#[derive(Debug, thiserror::Error)]
#[error("passing Arrow data to or from Paimon failed: {0}")]
pub struct BridgeError(String);

/// A batch of rtdw's Arrow as the `paimon` crate's.
pub fn to_paimon(batch: &RecordBatch) -> Result<arrow58::record_batch::RecordBatch, BridgeError> {
    let data = StructArray::from(batch.clone()).into_data();
    let (array, schema) = arrow::ffi::to_ffi(&data).map_err(|e| BridgeError(e.to_string()))?;
    let mut array = std::mem::ManuallyDrop::new(array);
    let mut schema = std::mem::ManuallyDrop::new(schema);
    // SAFETY: both crates' FFI structs are `#[repr(C)]` Arrow C data
    // interface structs. `from_raw` moves the value out of the pointee and
    // leaves it released; the pointee is then never dropped (ManuallyDrop),
    // so the release callback runs exactly once, from the arrow 58 side.
    let (array, schema) = unsafe {
        (
            arrow58::ffi::FFI_ArrowArray::from_raw(
                (&mut *array as *mut arrow::ffi::FFI_ArrowArray).cast(),
            ),
            arrow58::ffi::FFI_ArrowSchema::from_raw(
                (&mut *schema as *mut arrow::ffi::FFI_ArrowSchema).cast(),
            ),
        )
    };
    // SAFETY: the structs were exported just above by a conforming producer.
    let data = unsafe { arrow58::ffi::from_ffi(array, &schema) }
        .map_err(|e| BridgeError(e.to_string()))?;
    Ok(arrow58::record_batch::RecordBatch::from(
        arrow58::array::StructArray::from(data),
    ))
}

/// A batch of the `paimon` crate's Arrow as rtdw's.
pub fn from_paimon(batch: &arrow58::record_batch::RecordBatch) -> Result<RecordBatch, BridgeError> {
    use arrow58::array::Array as _;
    let data = arrow58::array::StructArray::from(batch.clone()).into_data();
    let (array, schema) = arrow58::ffi::to_ffi(&data).map_err(|e| BridgeError(e.to_string()))?;
    let mut array = std::mem::ManuallyDrop::new(array);
    let mut schema = std::mem::ManuallyDrop::new(schema);
    // SAFETY: as in `to_paimon`, the other way round.
    let (array, schema) = unsafe {
        (
            arrow::ffi::FFI_ArrowArray::from_raw(
                (&mut *array as *mut arrow58::ffi::FFI_ArrowArray).cast(),
            ),
            arrow::ffi::FFI_ArrowSchema::from_raw(
                (&mut *schema as *mut arrow58::ffi::FFI_ArrowSchema).cast(),
            ),
        )
    };
    // SAFETY: exported just above by a conforming producer.
    let data =
        unsafe { arrow::ffi::from_ffi(array, &schema) }.map_err(|e| BridgeError(e.to_string()))?;
    let columns = StructArray::from(data);
    let num_rows = columns.len();
    let (fields, arrays, _) = columns.into_parts();
    RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        arrays,
        &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(num_rows)),
    )
    .map_err(|e| BridgeError(e.to_string()))
}

/// A schema of the `paimon` crate's Arrow as rtdw's.
pub fn schema_from_paimon(schema: &arrow58::datatypes::Schema) -> Result<SchemaRef, BridgeError> {
    let exported =
        arrow58::ffi::FFI_ArrowSchema::try_from(schema).map_err(|e| BridgeError(e.to_string()))?;
    let mut exported = std::mem::ManuallyDrop::new(exported);
    // SAFETY: as in `to_paimon`.
    let imported = unsafe {
        arrow::ffi::FFI_ArrowSchema::from_raw(
            (&mut *exported as *mut arrow58::ffi::FFI_ArrowSchema).cast(),
        )
    };
    Schema::try_from(&imported)
        .map(Arc::new)
        .map_err(|e| BridgeError(e.to_string()))
}

/// A schema of rtdw's Arrow as the `paimon` crate's.
pub fn schema_to_paimon(schema: &Schema) -> Result<arrow58::datatypes::Schema, BridgeError> {
    let exported =
        arrow::ffi::FFI_ArrowSchema::try_from(schema).map_err(|e| BridgeError(e.to_string()))?;
    let mut exported = std::mem::ManuallyDrop::new(exported);
    // SAFETY: as in `to_paimon`.
    let imported = unsafe {
        arrow58::ffi::FFI_ArrowSchema::from_raw(
            (&mut *exported as *mut arrow::ffi::FFI_ArrowSchema).cast(),
        )
    };
    arrow58::datatypes::Schema::try_from(&imported).map_err(|e| BridgeError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, TimeUnit};

    use super::*;

    #[test]
    fn batches_cross_both_ways_unchanged() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![Some("a"), None, Some("ccc")])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(5), Some(6), None])
                        .with_timezone("UTC"),
                ),
            ],
        )
        .unwrap();
        let there = to_paimon(&batch).unwrap();
        assert_eq!(there.num_rows(), 3);
        assert_eq!(there.schema().field(1).name(), "name");
        let back = from_paimon(&there).unwrap();
        assert_eq!(back, batch);
        assert_eq!(schema_from_paimon(there.schema().as_ref()).unwrap(), schema);
    }

    #[test]
    fn a_batch_without_columns_keeps_its_row_count() {
        let batch = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(4)),
        )
        .unwrap();
        let there = to_paimon(&batch).unwrap();
        assert_eq!(from_paimon(&there).unwrap().num_rows(), 4);
    }
}
