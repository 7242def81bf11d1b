//! Streaming GROUP BY: keeps one accumulator state per key and, after every
//! input batch, emits the changes of the groups that batch touched as a
//! changelog (`+I` for a new group, `-U`/`+U` for a changed result, `-D` when
//! the last row of a group is retracted), as Flink's GroupAggregate does.
//!
//! The input's first `key_count` columns are the group key; each aggregate
//! reads one further column (or none, for `COUNT(*)`). The planner arranges
//! that with a Calc before the hash exchange.

mod accumulators;

use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, BinaryArray, BooleanArray, Int8Array, Int64Array, UInt32Array,
};
use arrow::compute::kernels::cmp::distinct;
use arrow::compute::{interleave, or, take};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};
use hashbrown::HashTable;
use xxhash_rust::xxh3::xxh3_64;

pub use accumulators::{AggregateFunction, AggregateSpec};
pub(crate) use accumulators::{GroupAccumulator, new_accumulator};

use crate::error::{Result, StreamError};
use crate::keys::{hash_keys, key_group};
use crate::operator::{KEY_GROUP_COLUMN, Operator};
use crate::row_kind::{RowKind, changelog_schema, row_kind_at, split_row_kinds};

/// The streaming group aggregate operator.
pub struct GroupAggregate {
    key_count: usize,
    specs: Vec<AggregateSpec>,
    accumulators: Vec<Box<dyn GroupAccumulator>>,
    converter: RowConverter,
    /// Group ids by key hash; the key bytes live in `group_keys`.
    table: HashTable<u32>,
    group_keys: Rows,
    /// Rows accumulated per group (inserts minus retractions), Flink's
    /// record counter: a group whose count drops to zero is deleted.
    record_counts: Vec<i64>,
    /// Per group, the batch number that last touched it, to list each
    /// touched group once.
    touched_in: Vec<u64>,
    batch_number: u64,
    output_schema: SchemaRef,
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
        let converter = RowConverter::new(key_types.iter().cloned().map(SortField::new).collect())?;
        let accumulators = specs
            .iter()
            .map(new_accumulator)
            .collect::<Result<Vec<_>>>()?;
        let group_keys = converter.empty_rows(0, 0);
        Ok(GroupAggregate {
            key_count: key_types.len(),
            specs,
            accumulators,
            converter,
            table: HashTable::new(),
            group_keys,
            record_counts: Vec::new(),
            touched_in: Vec::new(),
            batch_number: 0,
            output_schema: changelog_schema(&output_schema),
        })
    }

    /// Number of groups held in state.
    pub fn group_count(&self) -> usize {
        self.record_counts.len()
    }

    /// Finds or creates the group of each row.
    fn assign_groups(&mut self, keys: &[ArrayRef], num_rows: usize) -> Result<Vec<u32>> {
        if keys.is_empty() {
            // A global aggregate: every row belongs to the one group.
            if self.record_counts.is_empty() {
                self.record_counts.push(0);
                self.touched_in.push(0);
                for acc in &mut self.accumulators {
                    acc.resize(1);
                }
            }
            return Ok(vec![0; num_rows]);
        }
        let rows = self.converter.convert_columns(keys)?;
        let mut groups = Vec::with_capacity(rows.num_rows());
        for row in rows.iter() {
            let bytes = row.as_ref();
            let hash = xxh3_64(bytes);
            let group_keys = &self.group_keys;
            let existing = self
                .table
                .find(hash, |&g| group_keys.row(g as usize).as_ref() == bytes);
            let group = match existing {
                Some(&g) => g,
                None => {
                    let g = u32::try_from(self.record_counts.len()).map_err(|_| {
                        StreamError::Failed("more than 2^32 groups in one subtask".into())
                    })?;
                    self.group_keys.push(row);
                    self.record_counts.push(0);
                    self.touched_in.push(0);
                    let group_keys = &self.group_keys;
                    self.table
                        .insert_unique(hash, g, |&h| xxh3_64(group_keys.row(h as usize).as_ref()));
                    g
                }
            };
            groups.push(group);
        }
        for acc in &mut self.accumulators {
            acc.resize(self.record_counts.len());
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
                (true, false) => {
                    picks.push((0, j));
                    kinds.push(RowKind::Delete as i8);
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
                _ => {}
            }
        }
        if picks.is_empty() {
            return Ok(None);
        }
        let key_arrays = if self.key_count == 0 {
            Vec::new()
        } else {
            self.converter
                .convert_rows(touched.iter().map(|&g| self.group_keys.row(g as usize)))?
        };
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

/// Per touched group: did any aggregate's result change?
fn values_changed(old: &[ArrayRef], new: &[ArrayRef], len: usize) -> Result<BooleanArray> {
    let mut changed = BooleanArray::from(vec![false; len]);
    for (o, n) in old.iter().zip(new) {
        changed = or(&changed, &distinct(o, n)?)?;
    }
    Ok(changed)
}

impl Operator for GroupAggregate {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let (data, kinds) = split_row_kinds(&batch)?;
        let groups = self.assign_groups(&data.columns()[..self.key_count], data.num_rows())?;
        let touched = self.distinct_groups(&groups);
        let old_counts: Vec<i64> = touched
            .iter()
            .map(|&g| self.record_counts[g as usize])
            .collect();
        let old_values = self.evaluate(&touched)?;
        let weights = self.count_rows(&groups, kinds.as_ref())?;
        for (acc, spec) in self.accumulators.iter_mut().zip(&self.specs) {
            let input = spec.input_column.map(|c| data.column(c));
            acc.update(input, &groups, &weights)?;
        }
        let new_values = self.evaluate(&touched)?;
        if let Some(changes) = self.emit(&touched, &old_counts, &old_values, &new_values)? {
            out.push(changes);
        }
        Ok(())
    }
    fn snapshot_state(&mut self, max_parallelism: u32) -> Result<Option<RecordBatch>> {
        let live: Vec<u32> = (0..self.record_counts.len() as u32)
            .filter(|&g| self.record_counts[g as usize] > 0)
            .collect();
        if live.is_empty() {
            return Ok(None);
        }
        let key_groups: Vec<u32> = if self.key_count == 0 {
            vec![0; live.len()]
        } else {
            let keys = self
                .converter
                .convert_rows(live.iter().map(|&g| self.group_keys.row(g as usize)))?;
            hash_keys(&keys, live.len())?
                .into_iter()
                .map(|h| key_group(h, max_parallelism))
                .collect()
        };
        let mut fields = vec![
            Field::new(KEY_GROUP_COLUMN, DataType::UInt32, false),
            Field::new("_key", DataType::Binary, false),
            Field::new("_record_count", DataType::Int64, false),
        ];
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(key_groups)),
            Arc::new(BinaryArray::from_iter_values(
                live.iter().map(|&g| self.key_bytes(g)),
            )),
            Arc::new(Int64Array::from_iter_values(
                live.iter().map(|&g| self.record_counts[g as usize]),
            )),
        ];
        for (i, acc) in self.accumulators.iter().enumerate() {
            for (j, column) in acc.state(&live)?.into_iter().enumerate() {
                fields.push(Field::new(
                    format!("_acc{i}_{j}"),
                    column.data_type().clone(),
                    true,
                ));
                columns.push(column);
            }
        }
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
    /// The encoded key of group `g` (empty for a global aggregate).
    fn key_bytes(&self, g: u32) -> &[u8] {
        if self.key_count == 0 {
            &[]
        } else {
            self.group_keys.row(g as usize).data()
        }
    }

    /// Adds the groups of one snapshot batch to the state.
    fn restore_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let malformed = |what: &str| StreamError::Failed(format!("aggregate state: {what}"));
        let keys = batch
            .column(1)
            .as_binary_opt::<i32>()
            .ok_or_else(|| malformed("the key column is not binary"))?;
        let counts = batch
            .column(2)
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| malformed("the record-count column is not BIGINT"))?;
        let first = self.record_counts.len();
        if self.key_count == 0 {
            if first > 0 || batch.num_rows() > 1 {
                return Err(malformed("a global aggregate restored more than one group"));
            }
            self.record_counts.push(counts.value(0));
            self.touched_in.push(0);
        } else {
            let parser = self.converter.parser();
            for (i, key) in keys.iter().enumerate() {
                let key = key.ok_or_else(|| malformed("a NULL key"))?;
                let g = u32::try_from(self.record_counts.len())
                    .map_err(|_| malformed("more than 2^32 groups"))?;
                self.group_keys.push(parser.parse(key));
                self.record_counts.push(counts.value(i));
                self.touched_in.push(0);
                let group_keys = &self.group_keys;
                self.table.insert_unique(xxh3_64(key), g, |&h| {
                    xxh3_64(group_keys.row(h as usize).as_ref())
                });
            }
        }
        let mut column = 3;
        for acc in &mut self.accumulators {
            acc.resize(self.record_counts.len());
            let width = acc.state_width();
            let state = batch
                .columns()
                .get(column..column + width)
                .ok_or_else(|| malformed("fewer accumulator columns than aggregates"))?;
            acc.restore(first, state)?;
            column += width;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
