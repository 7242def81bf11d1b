//! Output rows of a join, collected as indexes while a batch is applied and
//! gathered into one Arrow batch at the end.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int8Array, UInt32Array, new_null_array};
use arrow::compute::take;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::error::Result;
use crate::row_kind::RowKind;

/// The output columns in order: the left side's, then the right side's.
pub(crate) fn left_then_right(
    input_side: usize,
    input: Vec<ArrayRef>,
    stored: Vec<ArrayRef>,
) -> Vec<ArrayRef> {
    let (mut left, right) = if input_side == 0 {
        (input, stored)
    } else {
        (stored, input)
    };
    left.extend(right);
    left
}

/// The changes a batch emits, in order. Each row names an arriving row and
/// a candidate pair's stored row (see [`super::probe::Probe`]); `None`
/// stands for NULL padding.
#[derive(Default)]
pub(crate) struct Changes {
    input: Vec<Option<u32>>,
    stored: Vec<Option<u32>>,
    kinds: Vec<i8>,
}

impl Changes {
    /// `copies` rows joining arriving row `row` with pair `pair`'s stored row.
    pub(crate) fn joined(&mut self, row: usize, pair: usize, kind: RowKind, copies: u32) {
        self.push(Some(row as u32), Some(pair as u32), kind, copies);
    }

    /// Arriving row `row` padded with NULLs.
    pub(crate) fn input_padded(&mut self, row: usize, kind: RowKind) {
        self.push(Some(row as u32), None, kind, 1);
    }

    /// `copies` rows of pair `pair`'s stored row padded with NULLs.
    pub(crate) fn stored_padded(&mut self, pair: usize, kind: RowKind, copies: u32) {
        self.push(None, Some(pair as u32), kind, copies);
    }

    fn push(&mut self, input: Option<u32>, stored: Option<u32>, kind: RowKind, copies: u32) {
        for _ in 0..copies {
            self.input.push(input);
            self.stored.push(stored);
            self.kinds.push(kind as i8);
        }
    }

    /// The changes as a batch of `schema` (`None` if there are none), the
    /// arriving rows' columns gathered from `input_columns` and the stored
    /// rows' from `stored_columns`; a row-kind column is appended when
    /// `with_kinds`.
    pub(crate) fn into_batch(
        self,
        input_side: usize,
        input_columns: &[ArrayRef],
        stored_columns: &[ArrayRef],
        schema: &SchemaRef,
        with_kinds: bool,
    ) -> Result<Option<RecordBatch>> {
        if self.kinds.is_empty() {
            return Ok(None);
        }
        let input = gather(input_columns, &UInt32Array::from(self.input))?;
        let stored = gather(stored_columns, &UInt32Array::from(self.stored))?;
        let mut columns = left_then_right(input_side, input, stored);
        if with_kinds {
            columns.push(Arc::new(Int8Array::from(self.kinds)));
        }
        Ok(Some(RecordBatch::try_new(schema.clone(), columns)?))
    }
}

/// `take` of every column, NULL where an index is NULL.
pub(crate) fn gather(columns: &[ArrayRef], indices: &UInt32Array) -> Result<Vec<ArrayRef>> {
    columns
        .iter()
        .map(|c| {
            if indices.null_count() == indices.len() {
                Ok(new_null_array(c.data_type(), indices.len()))
            } else {
                Ok(take(c.as_ref(), indices, None)?)
            }
        })
        .collect()
}
