//! Per-group accumulator states of the streaming aggregate, column-oriented:
//! one vector slot per group, updated a batch at a time, able to retract.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Float64Array, Int64Array, PrimitiveArray,
};
use arrow::compute::cast;
use arrow::datatypes::{
    ArrowNativeTypeOp, ArrowPrimitiveType, DataType, Decimal128Type, Float64Type, Int64Type,
};
use datafusion_common::ScalarValue;

use super::multiset::{Multiset, MultisetResult};
use crate::error::{Result, StreamError};

/// The aggregate functions of a streaming GROUP BY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFunction {
    /// `COUNT(*)`: rows.
    CountStar,
    /// `COUNT(x)`: rows where `x` is not NULL.
    Count,
    /// `COUNT(DISTINCT x)`: distinct non-NULL values of `x`.
    CountDistinct,
    /// `SUM(x)`: NULL when no non-NULL value was accumulated.
    Sum,
    /// `AVG(x)`: NULL when no non-NULL value was accumulated.
    Avg,
    /// `MIN(x)`.
    Min,
    /// `MAX(x)`.
    Max,
}

/// One aggregate of a GROUP BY: which function, over which input column,
/// producing which type.
#[derive(Debug, Clone)]
pub struct AggregateSpec {
    /// The function.
    pub function: AggregateFunction,
    /// The input column it reads; `None` for `COUNT(*)`.
    pub input_column: Option<usize>,
    /// The input column's type (`Int64` for `COUNT(*)`).
    pub input_type: DataType,
    /// The result type.
    pub output_type: DataType,
    /// The input is a changelog that can take back values it added: `MIN`
    /// and `MAX` then keep every value, so that retracting the current
    /// extreme reveals the next one.
    pub input_retracts: bool,
}

impl AggregateSpec {
    /// Whether partial results of this aggregate, computed apart by local
    /// aggregates, can be merged by a global one (Flink's two-phase
    /// aggregation). `COUNT(DISTINCT x)` and `MIN`/`MAX` over a changelog
    /// cannot: their state is the multiset of the group's values, and a
    /// local aggregate may see the retraction of a value another one added,
    /// a negative occurrence the multiset does not hold (it ignores
    /// retractions of values it never saw). Shipping the values would also
    /// save next to nothing over shipping the rows.
    pub fn merges_partials(&self) -> bool {
        match self.function {
            AggregateFunction::CountDistinct => false,
            AggregateFunction::Min | AggregateFunction::Max => !self.input_retracts,
            AggregateFunction::CountStar
            | AggregateFunction::Count
            | AggregateFunction::Sum
            | AggregateFunction::Avg => true,
        }
    }
}

/// Accumulator states of one aggregate for every group of a subtask.
pub(crate) trait GroupAccumulator: Send {
    /// Makes room for `groups` groups.
    fn resize(&mut self, groups: usize);
    /// Adds (`weight` +1) or retracts (`weight` -1) each row's value into its
    /// group; rows of weight 0 are skipped.
    fn update(&mut self, input: Option<&ArrayRef>, groups: &[u32], weights: &[i8]) -> Result<()>;
    /// The current result of each listed group.
    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef>;
    /// Forgets a group whose rows were all retracted.
    fn reset(&mut self, group: usize);
    /// The state of each listed group as columns, for a checkpoint or as
    /// the partial result of a local aggregate.
    fn state(&self, groups: &[u32]) -> Result<Vec<ArrayRef>>;
    /// A short name and the type of each column [`GroupAccumulator::state`]
    /// returns, e.g. `count` and `sum` for `SUM`.
    fn state_fields(&self) -> Vec<(&'static str, DataType)>;
    /// How many columns [`GroupAccumulator::state`] returns.
    fn state_width(&self) -> usize {
        self.state_fields().len()
    }
    /// Loads the state columns of consecutive groups starting at `first`
    /// (room for them was made with [`GroupAccumulator::resize`]).
    fn restore(&mut self, first: usize, columns: &[ArrayRef]) -> Result<()>;
    /// Merges partial states, in the layout [`GroupAccumulator::state`]
    /// produces, into the groups: row `i` of `partial` into group
    /// `groups[i]`. Partials of a changelog are deltas (retractions were
    /// subtracted), so merging adds them.
    fn merge(&mut self, partial: &[ArrayRef], groups: &[u32]) -> Result<()>;
}

/// Column `index` of restored state, of the type `T` expects.
fn state_column<T: arrow::datatypes::ArrowPrimitiveType>(
    columns: &[ArrayRef],
    index: usize,
) -> Result<&arrow::array::PrimitiveArray<T>> {
    columns
        .get(index)
        .and_then(|c| c.as_primitive_opt::<T>())
        .ok_or_else(|| {
            StreamError::Failed(format!(
                "aggregate state column {index} is missing or not {}",
                T::DATA_TYPE
            ))
        })
}

/// Column `index` of partial states, of the type `T` expects, with one row
/// per group in `groups`.
fn partial_column<'a, T: ArrowPrimitiveType>(
    columns: &'a [ArrayRef],
    index: usize,
    groups: &[u32],
) -> Result<&'a PrimitiveArray<T>> {
    let column = state_column::<T>(columns, index)?;
    if column.len() != groups.len() {
        return Err(StreamError::Failed(format!(
            "partial aggregate column {index} has {} rows for {} groups",
            column.len(),
            groups.len()
        )));
    }
    Ok(column)
}

/// Adds each non-NULL partial value into its group's slot, wrapping like
/// Flink's integer sums.
fn merge_into<T: ArrowPrimitiveType>(
    slots: &mut [T::Native],
    partial: &PrimitiveArray<T>,
    groups: &[u32],
) {
    for (i, &g) in groups.iter().enumerate() {
        if partial.is_valid(i) {
            let slot = &mut slots[g as usize];
            *slot = slot.add_wrapping(partial.value(i));
        }
    }
}

/// Copies restored values into the slots from `first` on.
fn load_into<T: Copy>(slots: &mut [T], first: usize, values: &[T]) {
    slots[first..first + values.len()].copy_from_slice(values);
}

/// Builds the accumulator for an aggregate.
pub(crate) fn new_accumulator(spec: &AggregateSpec) -> Result<Box<dyn GroupAccumulator>> {
    let unsupported = || {
        StreamError::Failed(format!(
            "{:?} over {} producing {} is not supported",
            spec.function, spec.input_type, spec.output_type
        ))
    };
    Ok(match spec.function {
        AggregateFunction::CountStar => Box::new(Count {
            counts: Vec::new(),
            skip_nulls: false,
        }),
        AggregateFunction::Count => Box::new(Count {
            counts: Vec::new(),
            skip_nulls: true,
        }),
        AggregateFunction::Sum | AggregateFunction::Avg => {
            let average = spec.function == AggregateFunction::Avg;
            let (sum, sum_type) = match (&spec.output_type, &spec.input_type, average) {
                (DataType::Int64, _, false) => (SumState::Int(Vec::new()), DataType::Int64),
                (DataType::Float64, _, _) => (SumState::Float(Vec::new()), DataType::Float64),
                (DataType::Decimal128(_, _), DataType::Decimal128(_, scale), _) => (
                    SumState::Decimal(Vec::new()),
                    DataType::Decimal128(38, *scale),
                ),
                _ => return Err(unsupported()),
            };
            Box::new(Sum {
                sum,
                non_null: Vec::new(),
                average,
                sum_type,
                input_type: spec.input_type.clone(),
                output_type: spec.output_type.clone(),
            })
        }
        AggregateFunction::CountDistinct => Box::new(Multiset::new(
            MultisetResult::DistinctCount,
            spec.input_type.clone(),
        )?),
        AggregateFunction::Min | AggregateFunction::Max if spec.input_retracts => {
            let result = if spec.function == AggregateFunction::Max {
                MultisetResult::Max
            } else {
                MultisetResult::Min
            };
            Box::new(Multiset::new(result, spec.input_type.clone())?)
        }
        AggregateFunction::Min | AggregateFunction::Max => Box::new(Extreme {
            values: Vec::new(),
            max: spec.function == AggregateFunction::Max,
            output_type: spec.output_type.clone(),
        }),
    })
}

struct Count {
    counts: Vec<i64>,
    skip_nulls: bool,
}

impl GroupAccumulator for Count {
    fn resize(&mut self, groups: usize) {
        self.counts.resize(groups, 0);
    }

    fn update(&mut self, input: Option<&ArrayRef>, groups: &[u32], weights: &[i8]) -> Result<()> {
        for (i, (&g, &w)) in groups.iter().zip(weights).enumerate() {
            let counted = match input {
                Some(values) if self.skip_nulls => values.is_valid(i),
                _ => true,
            };
            if counted {
                self.counts[g as usize] += i64::from(w);
            }
        }
        Ok(())
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        Ok(Arc::new(Int64Array::from_iter_values(
            groups.iter().map(|&g| self.counts[g as usize]),
        )))
    }

    fn reset(&mut self, group: usize) {
        self.counts[group] = 0;
    }

    fn state(&self, groups: &[u32]) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.evaluate(groups)?])
    }

    fn state_fields(&self) -> Vec<(&'static str, DataType)> {
        let name = if self.skip_nulls { "count" } else { "count1" };
        vec![(name, DataType::Int64)]
    }

    fn restore(&mut self, first: usize, columns: &[ArrayRef]) -> Result<()> {
        let counts = state_column::<Int64Type>(columns, 0)?;
        load_into(&mut self.counts, first, counts.values());
        Ok(())
    }

    fn merge(&mut self, partial: &[ArrayRef], groups: &[u32]) -> Result<()> {
        let counts = partial_column::<Int64Type>(partial, 0, groups)?;
        merge_into(&mut self.counts, counts, groups);
        Ok(())
    }
}

/// Running sums by representation; AVG divides by the non-NULL count.
enum SumState {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Decimal(Vec<i128>),
}

struct Sum {
    sum: SumState,
    non_null: Vec<i64>,
    average: bool,
    /// The type of the running sums: BIGINT, DOUBLE or `DECIMAL(38, s)` of
    /// the input's scale.
    sum_type: DataType,
    input_type: DataType,
    output_type: DataType,
}

/// Adds (`weight` > 0) or subtracts a value, wrapping like Flink's integer sums.
fn apply_weight<T: ArrowNativeTypeOp>(sum: T, value: T, weight: i8) -> T {
    if weight > 0 {
        sum.add_wrapping(value)
    } else {
        sum.sub_wrapping(value)
    }
}

/// Adds each weighted, valid value into its group's running sum.
fn add_weighted<T: Copy>(
    sums: &mut [T],
    values: &[T],
    valid: impl Fn(usize) -> bool,
    groups: &[u32],
    weights: &[i8],
    combine: impl Fn(T, T, i8) -> T,
) {
    for (i, (&g, &w)) in groups.iter().zip(weights).enumerate() {
        if w != 0 && valid(i) {
            let slot = &mut sums[g as usize];
            *slot = combine(*slot, values[i], w);
        }
    }
}

impl Sum {
    /// The input cast to the sum's representation.
    fn widened(&self, input: &ArrayRef) -> Result<ArrayRef> {
        Ok(cast(input, &self.sum_type)?)
    }

    fn input_scale(&self) -> i8 {
        match self.input_type {
            DataType::Decimal128(_, s) => s,
            _ => 0,
        }
    }
}

impl GroupAccumulator for Sum {
    fn resize(&mut self, groups: usize) {
        self.non_null.resize(groups, 0);
        match &mut self.sum {
            SumState::Int(v) => v.resize(groups, 0),
            SumState::Float(v) => v.resize(groups, 0.0),
            SumState::Decimal(v) => v.resize(groups, 0),
        }
    }

    fn update(&mut self, input: Option<&ArrayRef>, groups: &[u32], weights: &[i8]) -> Result<()> {
        let input = input.ok_or_else(|| StreamError::Failed("SUM without an argument".into()))?;
        let values = self.widened(input)?;
        let valid = |i: usize| values.is_valid(i);
        for (i, (&g, &w)) in groups.iter().zip(weights).enumerate() {
            if values.is_valid(i) {
                self.non_null[g as usize] += i64::from(w);
            }
        }
        match &mut self.sum {
            SumState::Int(sums) => add_weighted(
                sums,
                values.as_primitive::<Int64Type>().values(),
                valid,
                groups,
                weights,
                apply_weight,
            ),
            SumState::Float(sums) => add_weighted(
                sums,
                values.as_primitive::<Float64Type>().values(),
                valid,
                groups,
                weights,
                apply_weight,
            ),
            SumState::Decimal(sums) => add_weighted(
                sums,
                values.as_primitive::<Decimal128Type>().values(),
                valid,
                groups,
                weights,
                apply_weight,
            ),
        }
        Ok(())
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        let present = |g: u32| self.non_null[g as usize] > 0;
        let count = |g: u32| self.non_null[g as usize];
        let array: ArrayRef = match (&self.sum, &self.output_type) {
            (SumState::Int(s), _) => Arc::new(Int64Array::from_iter(
                groups.iter().map(|&g| present(g).then(|| s[g as usize])),
            )),
            (SumState::Float(s), _) => Arc::new(Float64Array::from_iter(groups.iter().map(|&g| {
                present(g).then(|| {
                    if !self.average {
                        s[g as usize]
                    } else if self.input_type.is_integer() {
                        // Flink averages integers in integer arithmetic:
                        // AVG of 1 and 2 is 1.
                        (s[g as usize] / count(g) as f64).trunc()
                    } else {
                        s[g as usize] / count(g) as f64
                    }
                })
            }))),
            (SumState::Decimal(s), DataType::Decimal128(p, scale)) => {
                let rescale = 10i128.pow(u32::try_from(*scale - self.input_scale()).unwrap_or(0));
                let values = groups.iter().map(|&g| {
                    present(g).then(|| {
                        if self.average {
                            s[g as usize] * rescale / i128::from(count(g))
                        } else {
                            s[g as usize]
                        }
                    })
                });
                Arc::new(Decimal128Array::from_iter(values).with_precision_and_scale(*p, *scale)?)
            }
            (SumState::Decimal(_), other) => {
                return Err(StreamError::Failed(format!(
                    "decimal SUM producing {other}"
                )));
            }
        };
        Ok(array)
    }

    fn reset(&mut self, group: usize) {
        self.non_null[group] = 0;
        match &mut self.sum {
            SumState::Int(v) => v[group] = 0,
            SumState::Float(v) => v[group] = 0.0,
            SumState::Decimal(v) => v[group] = 0,
        }
    }
    fn state(&self, groups: &[u32]) -> Result<Vec<ArrayRef>> {
        let non_null =
            Int64Array::from_iter_values(groups.iter().map(|&g| self.non_null[g as usize]));
        let sums: ArrayRef = match &self.sum {
            SumState::Int(v) => Arc::new(Int64Array::from_iter_values(
                groups.iter().map(|&g| v[g as usize]),
            )),
            SumState::Float(v) => Arc::new(Float64Array::from_iter_values(
                groups.iter().map(|&g| v[g as usize]),
            )),
            SumState::Decimal(v) => Arc::new(
                Decimal128Array::from_iter_values(groups.iter().map(|&g| v[g as usize]))
                    .with_data_type(self.sum_type.clone()),
            ),
        };
        Ok(vec![Arc::new(non_null), sums])
    }

    fn state_fields(&self) -> Vec<(&'static str, DataType)> {
        vec![("count", DataType::Int64), ("sum", self.sum_type.clone())]
    }

    fn restore(&mut self, first: usize, columns: &[ArrayRef]) -> Result<()> {
        load_into(
            &mut self.non_null,
            first,
            state_column::<Int64Type>(columns, 0)?.values(),
        );
        match &mut self.sum {
            SumState::Int(v) => {
                load_into(v, first, state_column::<Int64Type>(columns, 1)?.values())
            }
            SumState::Float(v) => {
                load_into(v, first, state_column::<Float64Type>(columns, 1)?.values())
            }
            SumState::Decimal(v) => load_into(
                v,
                first,
                state_column::<Decimal128Type>(columns, 1)?.values(),
            ),
        }
        Ok(())
    }

    fn merge(&mut self, partial: &[ArrayRef], groups: &[u32]) -> Result<()> {
        let non_null = partial_column::<Int64Type>(partial, 0, groups)?;
        merge_into(&mut self.non_null, non_null, groups);
        match &mut self.sum {
            SumState::Int(v) => {
                merge_into(v, partial_column::<Int64Type>(partial, 1, groups)?, groups)
            }
            SumState::Float(v) => merge_into(
                v,
                partial_column::<Float64Type>(partial, 1, groups)?,
                groups,
            ),
            SumState::Decimal(v) => merge_into(
                v,
                partial_column::<Decimal128Type>(partial, 1, groups)?,
                groups,
            ),
        }
        Ok(())
    }
}

/// MIN/MAX over an insert-only input: only the extreme is kept. (A
/// retraction of the current extreme cannot be answered from it, so a
/// changelog input gets [`Multiset`] instead, and a retraction here is an
/// error.)
struct Extreme {
    values: Vec<Option<ScalarValue>>,
    max: bool,
    output_type: DataType,
}

impl Extreme {
    /// Keeps `value` as the group's extreme when it beats the current one.
    fn offer(&mut self, group: usize, value: ScalarValue) {
        let slot = &mut self.values[group];
        let replace = match slot {
            None => true,
            Some(current) => match value.partial_cmp(current) {
                Some(std::cmp::Ordering::Greater) => self.max,
                Some(std::cmp::Ordering::Less) => !self.max,
                _ => false,
            },
        };
        if replace {
            *slot = Some(value);
        }
    }
}

impl GroupAccumulator for Extreme {
    fn resize(&mut self, groups: usize) {
        self.values.resize(groups, None);
    }

    fn update(&mut self, input: Option<&ArrayRef>, groups: &[u32], weights: &[i8]) -> Result<()> {
        let input =
            input.ok_or_else(|| StreamError::Failed("MIN/MAX without an argument".into()))?;
        for (i, (&g, &w)) in groups.iter().zip(weights).enumerate() {
            if w < 0 {
                return Err(StreamError::Failed(
                    "MIN/MAX received a retraction on an insert-only plan".into(),
                ));
            }
            if w > 0 && input.is_valid(i) {
                self.offer(g as usize, ScalarValue::try_from_array(input, i)?);
            }
        }
        Ok(())
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        let null = ScalarValue::try_from(&self.output_type)?;
        let scalars = groups.iter().map(|&g| {
            self.values[g as usize]
                .clone()
                .unwrap_or_else(|| null.clone())
        });
        if groups.is_empty() {
            return Ok(arrow::array::new_empty_array(&self.output_type));
        }
        Ok(ScalarValue::iter_to_array(scalars)?)
    }

    fn reset(&mut self, group: usize) {
        self.values[group] = None;
    }
    fn state(&self, groups: &[u32]) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.evaluate(groups)?])
    }

    fn state_fields(&self) -> Vec<(&'static str, DataType)> {
        let name = if self.max { "max" } else { "min" };
        vec![(name, self.output_type.clone())]
    }

    fn restore(&mut self, first: usize, columns: &[ArrayRef]) -> Result<()> {
        let values = columns
            .first()
            .ok_or_else(|| StreamError::Failed("MIN/MAX state column is missing".into()))?;
        for i in 0..values.len() {
            self.values[first + i] = if values.is_null(i) {
                None
            } else {
                Some(ScalarValue::try_from_array(values, i)?)
            };
        }
        Ok(())
    }

    fn merge(&mut self, partial: &[ArrayRef], groups: &[u32]) -> Result<()> {
        let values = partial
            .first()
            .filter(|values| values.len() == groups.len())
            .ok_or_else(|| {
                StreamError::Failed("partial MIN/MAX column is missing or of another length".into())
            })?;
        for (i, &g) in groups.iter().enumerate() {
            if values.is_valid(i) {
                self.offer(g as usize, ScalarValue::try_from_array(values, i)?);
            }
        }
        Ok(())
    }
}
