//! Upsert output: a sink keyed by its primary key needs only the new
//! content of each changed row, so the `-U` rows of a changelog whose
//! changes are keyed the same way are dropped before it (Flink's
//! `[+I, +U, -D]` upsert mode).

use arrow::array::{Array, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;

use crate::error::Result;
use crate::operator::Operator;
use crate::row_kind::{RowKind, split_row_kinds};

/// Drops `-U` (update-before) rows and passes every other row on.
#[derive(Debug, Default)]
pub struct DropUpdateBefore;

impl Operator for DropUpdateBefore {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let (_, kinds) = split_row_kinds(&batch)?;
        let Some(kinds) = kinds else {
            out.push(batch);
            return Ok(());
        };
        let keep: BooleanArray = (0..kinds.len())
            .map(|i| Some(!kinds.is_valid(i) || kinds.value(i) != RowKind::UpdateBefore as i8))
            .collect();
        let kept = filter_record_batch(&batch, &keep)?;
        if kept.num_rows() > 0 {
            out.push(kept);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, Int8Array, Int64Array};
    use arrow::datatypes::{DataType, Field, Int8Type, Int64Type, Schema};

    use super::*;
    use crate::row_kind::with_row_kinds;

    #[test]
    fn only_update_before_rows_are_dropped() {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        let data = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2, 3, 4]))])
            .unwrap();
        // +I 1, -U 2, +U 3, -D 4.
        let batch = with_row_kinds(&data, Int8Array::from(vec![0, 1, 2, 3])).unwrap();
        let mut out = Vec::new();
        DropUpdateBefore.process_batch(0, batch, &mut out).unwrap();
        let values = out[0].column(0).as_primitive::<Int64Type>();
        assert_eq!(values.values(), &[1, 3, 4]);
        let kinds = out[0].column(1).as_primitive::<Int8Type>();
        assert_eq!(kinds.values(), &[0, 2, 3]);
    }
}
