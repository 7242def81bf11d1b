//! A list of accumulators' states laid out as columns, one accumulator after
//! another: how the group and window aggregates write them into snapshots,
//! read them back, and how partial aggregates arrive.

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::Field;

use super::GroupAccumulator;
use crate::error::{Result, StreamError};

/// Appends the snapshot fields (`_acc{i}_{j}`: aggregate `i`'s state column
/// `j`) and columns of `accumulators`' states of `groups`.
pub(crate) fn append_states(
    accumulators: &[Box<dyn GroupAccumulator>],
    groups: &[u32],
    fields: &mut Vec<Field>,
    columns: &mut Vec<ArrayRef>,
) -> Result<()> {
    for (i, acc) in accumulators.iter().enumerate() {
        for (j, column) in acc.state(groups)?.into_iter().enumerate() {
            fields.push(Field::new(
                format!("_acc{i}_{j}"),
                column.data_type().clone(),
                true,
            ));
            columns.push(column);
        }
    }
    Ok(())
}

/// Each accumulator's state columns out of `columns`, which hold them one
/// accumulator after another; `None` when there are fewer.
pub(crate) fn split_states<'a>(
    accumulators: &[Box<dyn GroupAccumulator>],
    columns: &'a [ArrayRef],
) -> Option<Vec<&'a [ArrayRef]>> {
    let mut next = 0;
    accumulators
        .iter()
        .map(|acc| {
            let width = acc.state_width();
            let state = columns.get(next..next + width)?;
            next += width;
            Some(state)
        })
        .collect()
}

/// Makes room for `groups` groups in each accumulator and loads the states
/// in `columns` (as [`append_states`] wrote them) into the consecutive
/// groups from `first` on. `state` names the operator's state in errors.
pub(crate) fn restore_states(
    accumulators: &mut [Box<dyn GroupAccumulator>],
    groups: usize,
    first: usize,
    columns: &[ArrayRef],
    state: &str,
) -> Result<()> {
    let states = split_states(accumulators, columns).ok_or_else(|| {
        StreamError::Failed(format!(
            "{state}: fewer accumulator columns than aggregates"
        ))
    })?;
    for (acc, columns) in accumulators.iter_mut().zip(states) {
        acc.resize(groups);
        acc.restore(first, columns)?;
    }
    Ok(())
}
