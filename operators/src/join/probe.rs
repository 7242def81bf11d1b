//! The pairs a batch may produce: each arriving row with the stored rows of
//! the other side it could join, and the residual condition evaluated over
//! all of them at once.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use arrow::buffer::BooleanBuffer;
use arrow::compute::take;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion_physical_expr_common::physical_expr::PhysicalExpr;

use super::output::left_then_right;
use super::state::JoinState;
use crate::error::{Result, StreamError};

/// Arriving rows paired with stored rows of the other side, row by row: the
/// pairs of row `i` are [`Candidates::pairs`]`(i)`.
#[derive(Default)]
pub(crate) struct Candidates {
    input_rows: Vec<u32>,
    stored: Vec<u32>,
    ends: Vec<usize>,
}

impl Candidates {
    /// The pairs of `rows` arriving rows: row `i` with each stored row that
    /// `slots_of(i)` yields, or with none where it gives `None`.
    pub(crate) fn collect<I: IntoIterator<Item = u32>>(
        rows: usize,
        mut slots_of: impl FnMut(usize) -> Option<I>,
    ) -> Self {
        let mut candidates = Candidates::default();
        for row in 0..rows {
            for slot in slots_of(row).into_iter().flatten() {
                candidates.input_rows.push(row as u32);
                candidates.stored.push(slot);
            }
            candidates.ends.push(candidates.stored.len());
        }
        candidates
    }

    /// The pairs of arriving row `row`.
    pub(crate) fn pairs(&self, row: usize) -> Range<usize> {
        let start = if row == 0 { 0 } else { self.ends[row - 1] };
        start..self.ends[row]
    }

    /// The stored row of pair `pair`.
    pub(crate) fn slot(&self, pair: usize) -> u32 {
        self.stored[pair]
    }
}

/// Candidates resolved: the stored rows decoded (one row per pair) and the
/// residual condition's verdict per pair.
pub(crate) struct Probe {
    /// The other side's columns, row `p` being pair `p`'s stored row.
    pub(crate) stored_columns: Vec<ArrayRef>,
    /// `None` without a residual condition: every pair joins.
    passed: Option<BooleanBuffer>,
}

impl Probe {
    /// True when pair `pair` joins (a NULL condition does not).
    pub(crate) fn passed(&self, pair: usize) -> bool {
        self.passed.as_ref().is_none_or(|p| p.value(pair))
    }
}

/// Decodes the candidates' stored rows (of side `1 - input_side`) and
/// evaluates `filter` over each pair laid out as `joined_schema`.
pub(crate) fn probe<M: Copy>(
    state: &JoinState<M>,
    candidates: &Candidates,
    input_side: usize,
    input_columns: &[ArrayRef],
    filter: Option<&Arc<dyn PhysicalExpr>>,
    joined_schema: &SchemaRef,
) -> Result<Probe> {
    let stored_columns = state.decode(1 - input_side, &candidates.stored)?;
    let passed = match filter {
        Some(filter) if !candidates.stored.is_empty() => {
            let rows = UInt32Array::from(candidates.input_rows.clone());
            let input = input_columns
                .iter()
                .map(|c| take(c.as_ref(), &rows, None))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let pairs = RecordBatch::try_new(
                joined_schema.clone(),
                left_then_right(input_side, input, stored_columns.clone()),
            )?;
            let verdict = filter.evaluate(&pairs)?.into_array(pairs.num_rows())?;
            let verdict = verdict
                .as_boolean_opt()
                .ok_or_else(|| StreamError::Failed("the join condition is not BOOLEAN".into()))?;
            Some(match verdict.nulls() {
                Some(nulls) => verdict.values() & nulls.inner(),
                None => verdict.values().clone(),
            })
        }
        _ => None,
    };
    Ok(Probe {
        stored_columns,
        passed,
    })
}
