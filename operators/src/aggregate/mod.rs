//! Streaming GROUP BY: keeps one accumulator state per key and, after every
//! input batch, emits the changes of the groups that batch touched as a
//! changelog (`+I` for a new group, `-U`/`+U` for a changed result, `-D` when
//! the last row of a group is retracted), as Flink's GroupAggregate does.
//!
//! The input's first `key_count` columns are the group key; each aggregate
//! reads one further column (or none, for `COUNT(*)`). The planner arranges
//! that with a Calc before the hash exchange.
//!
//! For skewed keys the aggregation splits in two phases, as Flink's
//! local/global aggregation: a [`LocalGroupAggregate`] before the exchange
//! pre-aggregates each mini-batch into partial states, and a global
//! GroupAggregate ([`GroupAggregate::new_global`]) merges them. With
//! [`MiniBatch`] settings an aggregate buffers its input and processes it at
//! once on flush.

mod accumulators;
mod local;
mod mini_batch;
mod multiset;
mod state_columns;

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Int8Array, Int64Array, UInt32Array,
};
use arrow::compute::kernels::cmp::distinct;
use arrow::compute::{interleave, or, take};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

pub use accumulators::{AggregateFunction, AggregateSpec};
pub(crate) use accumulators::{GroupAccumulator, new_accumulator};
pub use local::{LocalGroupAggregate, RECORD_COUNT_DELTA_COLUMN};
pub use mini_batch::MiniBatch;
use mini_batch::MiniBatchBuffer;
use state_columns::split_states;
pub(crate) use state_columns::{append_states, restore_states};

use crate::error::{Result, StreamError};
use crate::key_index::KeyIndex;
use crate::operator::{KEY_GROUP_COLUMN, Operator};
use crate::row_kind::{RowKind, changelog_schema, row_kind_at, split_row_kinds};

/// What a group aggregate's input rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// Rows to accumulate, insert-only or a changelog: the keys, then the
    /// aggregates' arguments.
    Rows,
    /// Partial aggregates of [`LocalGroupAggregate`]s: the keys, the
    /// record-count delta, then each accumulator's state columns.
    Partials,
}

/// The streaming group aggregate operator.
pub struct GroupAggregate {
    key_count: usize,
    input: Input,
    specs: Vec<AggregateSpec>,
    accumulators: Vec<Box<dyn GroupAccumulator>>,
    /// Group ids by key.
    keys: KeyIndex,
    /// Rows accumulated per group (inserts minus retractions), Flink's
    /// record counter: a group whose count drops to zero is deleted.
    record_counts: Vec<i64>,
    /// Per group, the batch number that last touched it, to list each
    /// touched group once.
    touched_in: Vec<u64>,
    batch_number: u64,
    output_schema: SchemaRef,
    /// The input held back, in mini-batch mode.
    mini_batch: Option<MiniBatchBuffer>,
}

impl GroupAggregate {
    /// A group aggregate over `key_types` key columns producing
    /// `output_schema` (keys, then one column per aggregate; without the
    /// row-kind column).
    pub fn new(
        key_types: &[DataType],
        specs: Vec<AggregateSpec>,
        output_schema: SchemaRef,
    ) -> Result<Self> {
        Self::with_input(key_types, specs, output_schema, Input::Rows)
    }

    /// The global half of a two-phase aggregation: its input is what
    /// [`LocalGroupAggregate`]s over the same keys and `specs` emit; its
    /// output and state are those of [`GroupAggregate::new`]'s.
    pub fn new_global(
        key_types: &[DataType],
        specs: Vec<AggregateSpec>,
        output_schema: SchemaRef,
    ) -> Result<Self> {
        ensure_mergeable(&specs)?;
        Self::with_input(key_types, specs, output_schema, Input::Partials)
    }

    /// The same aggregate in mini-batch mode: it buffers its input and
    /// processes it on flush (the mini-batch is full, a watermark, the end
    /// of input, [`Operator::flush`]), so that a key updated many times in a
    /// mini-batch emits one change.
    pub fn with_mini_batch(mut self, mini_batch: MiniBatch) -> Self {
        self.mini_batch = Some(MiniBatchBuffer::new(mini_batch));
        self
    }

    fn with_input(
        key_types: &[DataType],
        specs: Vec<AggregateSpec>,
        output_schema: SchemaRef,
        input: Input,
    ) -> Result<Self> {
        let accumulators = specs
            .iter()
            .map(new_accumulator)
            .collect::<Result<Vec<_>>>()?;
        Ok(GroupAggregate {
            key_count: key_types.len(),
            input,
            specs,
            accumulators,
            keys: KeyIndex::new(key_types)?,
            record_counts: Vec::new(),
            touched_in: Vec::new(),
            batch_number: 0,
            output_schema: changelog_schema(&output_schema),
            mini_batch: None,
        })
    }

    /// Number of groups held in state.
    pub fn group_count(&self) -> usize {
        self.record_counts.len()
    }

    /// Finds or creates the group of each row.
    fn assign_groups(&mut self, keys: &[ArrayRef], num_rows: usize) -> Result<Vec<u32>> {
        let groups = self.keys.ids(keys, num_rows)?;
        let count = self.keys.len();
        self.record_counts.resize(count, 0);
        self.touched_in.resize(count, 0);
        for acc in &mut self.accumulators {
            acc.resize(count);
        }
        Ok(groups)
    }

    /// The distinct groups in `groups`, in order of first appearance.
    fn distinct_groups(&mut self, groups: &[u32]) -> Vec<u32> {
        self.batch_number += 1;
        let mut touched = Vec::new();
        for &g in groups {
            let mark = &mut self.touched_in[g as usize];
            if *mark != self.batch_number {
                *mark = self.batch_number;
                touched.push(g);
            }
        }
        touched
    }

    /// Updates the record counters and returns each row's weight: +1 for an
    /// accumulated row, -1 for a retraction, 0 for a retraction of a group
    /// that holds no rows (ignored, as Flink does).
    fn count_rows(&mut self, groups: &[u32], kinds: Option<&Int8Array>) -> Result<Vec<i8>> {
        let mut weights = Vec::with_capacity(groups.len());
        for (i, &g) in groups.iter().enumerate() {
            let count = &mut self.record_counts[g as usize];
            let weight = if !row_kind_at(kinds, i)?.is_retraction() {
                1
            } else if *count > 0 {
                -1
            } else {
                0
            };
            *count += i64::from(weight);
            weights.push(weight);
        }
        Ok(weights)
    }

    fn evaluate(&self, groups: &[u32]) -> Result<Vec<ArrayRef>> {
        self.accumulators
            .iter()
            .map(|a| a.evaluate(groups))
            .collect()
    }

    /// Builds the changelog for the touched groups from their results before
    /// and after the batch.
    fn emit(
        &mut self,
        touched: &[u32],
        old_counts: &[i64],
        old_values: &[ArrayRef],
        new_values: &[ArrayRef],
    ) -> Result<Option<RecordBatch>> {
        let changed = values_changed(old_values, new_values, touched.len())?;
        // (source, index): source 0 = before the batch, 1 = after.
        let mut picks: Vec<(usize, usize)> = Vec::new();
        let mut kinds: Vec<i8> = Vec::new();
        for (j, &g) in touched.iter().enumerate() {
            let was = old_counts[j] > 0;
            let is = self.record_counts[g as usize] > 0;
            match (was, is) {
                (false, true) => {
                    picks.push((1, j));
                    kinds.push(RowKind::Insert as i8);
                }
                (was, false) => {
                    if was {
                        picks.push((0, j));
                        kinds.push(RowKind::Delete as i8);
                    }
                    // What is left of a group without rows (a retraction
                    // of a value it never held, rounding) is forgotten.
                    for acc in &mut self.accumulators {
                        acc.reset(g as usize);
                    }
                }
                (true, true) if changed.value(j) => {
                    picks.push((0, j));
                    kinds.push(RowKind::UpdateBefore as i8);
                    picks.push((1, j));
                    kinds.push(RowKind::UpdateAfter as i8);
                }
                (true, true) => {}
            }
        }
        if picks.is_empty() {
            return Ok(None);
        }
        let key_arrays = self.keys.key_columns(touched)?;
        let key_indices = UInt32Array::from_iter_values(picks.iter().map(|&(_, j)| j as u32));
        let mut columns = Vec::with_capacity(self.output_schema.fields().len());
        for keys in &key_arrays {
            columns.push(take(keys.as_ref(), &key_indices, None)?);
        }
        for (old, new) in old_values.iter().zip(new_values) {
            columns.push(interleave(&[old.as_ref(), new.as_ref()], &picks)?);
        }
        columns.push(Arc::new(Int8Array::from(kinds)));
        Ok(Some(RecordBatch::try_new(
            self.output_schema.clone(),
            columns,
        )?))
    }
}

/// Fails unless every aggregate can merge partial aggregates.
fn ensure_mergeable(specs: &[AggregateSpec]) -> Result<()> {
    match specs.iter().find(|s| !s.merges_partials()) {
        None => Ok(()),
        Some(spec) => Err(StreamError::Failed(format!(
            "{:?} over {} cannot merge partial aggregates, so it cannot run in two phases",
            spec.function, spec.input_type
        ))),
    }
}

/// Per touched group: did any aggregate's result change?
fn values_changed(old: &[ArrayRef], new: &[ArrayRef], len: usize) -> Result<BooleanArray> {
    let mut changed = BooleanArray::from(vec![false; len]);
    for (o, n) in old.iter().zip(new) {
        changed = or(&changed, &distinct(o, n)?)?;
    }
    Ok(changed)
}

impl GroupAggregate {
    /// Applies one batch of input (or a whole mini-batch) to the state and
    /// emits the changes of the groups it touched.
    fn apply(&mut self, batch: &RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let (data, kinds) = split_row_kinds(batch)?;
        let groups = self.assign_groups(&data.columns()[..self.key_count], data.num_rows())?;
        let touched = self.distinct_groups(&groups);
        let old_counts: Vec<i64> = touched
            .iter()
            .map(|&g| self.record_counts[g as usize])
            .collect();
        let old_values = self.evaluate(&touched)?;
        match self.input {
            Input::Rows => self.accumulate(&data, kinds.as_ref(), &groups)?,
            Input::Partials => self.merge_partials(&data, &groups, &touched)?,
        }
        let new_values = self.evaluate(&touched)?;
        if let Some(changes) = self.emit(&touched, &old_counts, &old_values, &new_values)? {
            out.push(changes);
        }
        Ok(())
    }

    /// Accumulates (or retracts) input rows into their groups.
    fn accumulate(
        &mut self,
        data: &RecordBatch,
        kinds: Option<&Int8Array>,
        groups: &[u32],
    ) -> Result<()> {
        let weights = self.count_rows(groups, kinds)?;
        for (acc, spec) in self.accumulators.iter_mut().zip(&self.specs) {
            let input = spec.input_column.map(|c| data.column(c));
            acc.update(input, groups, &weights)?;
        }
        Ok(())
    }

    /// Adds the record-count deltas of partial aggregates to their groups'
    /// counters and merges their states into the accumulators.
    fn merge_partials(
        &mut self,
        data: &RecordBatch,
        groups: &[u32],
        touched: &[u32],
    ) -> Result<()> {
        let malformed = |what: &str| StreamError::Failed(format!("partial aggregates: {what}"));
        let deltas = data
            .columns()
            .get(self.key_count)
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .filter(|c| c.null_count() == 0)
            .ok_or_else(|| {
                malformed("the record-count delta column is missing, NULL or not BIGINT")
            })?;
        for (&g, &delta) in groups.iter().zip(deltas.values()) {
            self.record_counts[g as usize] += delta;
        }
        let partials = split_states(&self.accumulators, &data.columns()[self.key_count + 1..])
            .ok_or_else(|| malformed("fewer state columns than aggregates"))?;
        for (acc, partial) in self.accumulators.iter_mut().zip(partials) {
            acc.merge(partial, groups)?;
        }
        // As in one phase, a group never holds fewer than no rows: the
        // retractions of rows it does not hold are ignored.
        for &g in touched {
            let count = &mut self.record_counts[g as usize];
            *count = (*count).max(0);
        }
        Ok(())
    }
}

impl Operator for GroupAggregate {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        match &mut self.mini_batch {
            None => self.apply(&batch, out),
            Some(buffer) => {
                if buffer.push(batch) {
                    self.flush(out)?;
                }
                Ok(())
            }
        }
    }

    fn flush(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        let Some(buffer) = &mut self.mini_batch else {
            return Ok(());
        };
        match buffer.take()? {
            Some(batch) => self.apply(&batch, out),
            None => Ok(()),
        }
    }

    fn flush_interval(&self) -> Option<Duration> {
        self.mini_batch.as_ref().map(MiniBatchBuffer::allow_latency)
    }

    fn snapshot_state(&mut self, max_parallelism: u32) -> Result<Option<RecordBatch>> {
        if let Some(buffer) = &self.mini_batch {
            buffer.ensure_empty("GroupAggregate")?;
        }
        let live: Vec<u32> = (0..self.record_counts.len() as u32)
            .filter(|&g| self.record_counts[g as usize] > 0)
            .collect();
        if live.is_empty() {
            return Ok(None);
        }
        let key_groups = self.keys.key_groups(&live, max_parallelism)?;
        let mut fields = vec![
            Field::new(KEY_GROUP_COLUMN, DataType::UInt32, false),
            Field::new("_key", DataType::Binary, false),
            Field::new("_record_count", DataType::Int64, false),
        ];
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(key_groups)),
            Arc::new(BinaryArray::from_iter_values(
                live.iter().map(|&g| self.keys.encoded(g)),
            )),
            Arc::new(Int64Array::from_iter_values(
                live.iter().map(|&g| self.record_counts[g as usize]),
            )),
        ];
        append_states(&self.accumulators, &live, &mut fields, &mut columns)?;
        Ok(Some(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?))
    }

    fn restore_state(&mut self, batches: Vec<RecordBatch>) -> Result<()> {
        for batch in batches {
            self.restore_batch(&batch)?;
        }
        Ok(())
    }
}

impl GroupAggregate {
    /// Adds the groups of one snapshot batch to the state.
    fn restore_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let malformed = |what: &str| StreamError::Failed(format!("aggregate state: {what}"));
        let keys = batch
            .columns()
            .get(1)
            .and_then(|c| c.as_binary_opt::<i32>())
            .ok_or_else(|| malformed("the key column is missing or not binary"))?;
        let counts = batch
            .columns()
            .get(2)
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .ok_or_else(|| malformed("the record-count column is missing or not BIGINT"))?;
        let first = self.record_counts.len();
        for (key, count) in keys.iter().zip(counts.iter()) {
            let key = key.ok_or_else(|| malformed("a NULL key"))?;
            let count = count.ok_or_else(|| malformed("a NULL record count"))?;
            self.keys.insert_encoded(key)?;
            self.record_counts.push(count);
            self.touched_in.push(0);
        }
        restore_states(
            &mut self.accumulators,
            self.record_counts.len(),
            first,
            batch.columns().get(3..).unwrap_or_default(),
            "aggregate state",
        )
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod two_phase_tests;
