//! The local half of Flink's two-phase aggregation. Chained before the hash
//! exchange, it pre-aggregates each mini-batch of its subtask's rows per key,
//! so a hot key crosses the network once per mini-batch and subtask instead
//! of once per row, and the global aggregate merges a few partial rows
//! instead of accumulating all of them.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Int64Array};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::mini_batch::{MiniBatch, MiniBatchBuffer};
use super::{AggregateSpec, ensure_mergeable, new_accumulator};
use crate::error::Result;
use crate::key_index::KeyIndex;
use crate::operator::Operator;
use crate::row_kind::{row_kind_at, split_row_kinds};

/// Name of the local aggregate's output column after the keys: per key, the
/// accumulated rows of the mini-batch minus its retracted rows.
pub const RECORD_COUNT_DELTA_COLUMN: &str = "_record_count_delta";

/// Pre-aggregates mini-batches of rows into partial aggregates.
///
/// Input: the keys, then the aggregates' arguments (as for
/// [`super::GroupAggregate::new`]), insert-only or a changelog. Output, at
/// every flush, insert-only: one row per key of the mini-batch with the
/// keys, [`RECORD_COUNT_DELTA_COLUMN`] (BIGINT), then each aggregate's
/// partial state columns, which a global
/// [`super::GroupAggregate::new_global`] merges. Retractions are subtracted,
/// so partial states are deltas. Nothing is kept between flushes: the
/// operator has no checkpointed state, and is flushed before every barrier.
pub struct LocalGroupAggregate {
    key_types: Vec<DataType>,
    specs: Vec<AggregateSpec>,
    /// Per aggregate, how many state columns it outputs.
    state_widths: Vec<usize>,
    buffer: MiniBatchBuffer,
    output_schema: SchemaRef,
}

impl LocalGroupAggregate {
    /// A local aggregate grouping by the leading `key_fields` input columns,
    /// computing partial aggregates of `specs` (which must all merge
    /// partials: [`AggregateSpec::merges_partials`]) and flushing as
    /// `mini_batch` says.
    pub fn new(
        key_fields: &[FieldRef],
        specs: Vec<AggregateSpec>,
        mini_batch: MiniBatch,
    ) -> Result<Self> {
        ensure_mergeable(&specs)?;
        let mut fields: Vec<FieldRef> = key_fields.to_vec();
        fields.push(Arc::new(Field::new(
            RECORD_COUNT_DELTA_COLUMN,
            DataType::Int64,
            false,
        )));
        let mut state_widths = Vec::with_capacity(specs.len());
        let mut numbered = 0;
        for spec in &specs {
            let state = new_accumulator(spec)?.state_fields();
            state_widths.push(state.len());
            for (name, data_type) in state {
                fields.push(Arc::new(Field::new(
                    format!("{name}${numbered}"),
                    data_type,
                    true,
                )));
                numbered += 1;
            }
        }
        Ok(LocalGroupAggregate {
            key_types: key_fields.iter().map(|f| f.data_type().clone()).collect(),
            specs,
            state_widths,
            buffer: MiniBatchBuffer::new(mini_batch),
            output_schema: Arc::new(Schema::new(fields)),
        })
    }

    /// What the operator emits: keys, record-count delta, partial states.
    pub fn output_schema(&self) -> SchemaRef {
        self.output_schema.clone()
    }

    /// The output fields holding each aggregate's partial state, by
    /// aggregate, e.g. `[count1$0]` for `COUNT(*)` and `[count$1, sum$2]`
    /// for `SUM(x)`.
    pub fn partial_fields(&self) -> Vec<&[FieldRef]> {
        let mut next = self.key_types.len() + 1;
        let fields = self.output_schema.fields();
        self.state_widths
            .iter()
            .map(|&width| {
                let partial = &fields[next..next + width];
                next += width;
                partial
            })
            .collect()
    }

    /// The partial aggregates of one mini-batch.
    fn aggregate(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let (data, kinds) = split_row_kinds(batch)?;
        let mut keys = KeyIndex::new(&self.key_types)?;
        let groups = keys.ids(&data.columns()[..self.key_types.len()], data.num_rows())?;
        let group_count = keys.len();
        let mut deltas = vec![0i64; group_count];
        let mut weights = Vec::with_capacity(groups.len());
        for (i, &g) in groups.iter().enumerate() {
            let weight: i8 = if row_kind_at(kinds.as_ref(), i)?.is_retraction() {
                -1
            } else {
                1
            };
            deltas[g as usize] += i64::from(weight);
            weights.push(weight);
        }
        let ids: Vec<u32> = (0..group_count as u32).collect();
        let mut columns: Vec<ArrayRef> = keys.key_columns(&ids)?;
        columns.push(Arc::new(Int64Array::from(deltas)));
        for spec in &self.specs {
            let mut accumulator = new_accumulator(spec)?;
            accumulator.resize(group_count);
            let input = spec.input_column.map(|c| data.column(c));
            accumulator.update(input, &groups, &weights)?;
            columns.extend(accumulator.state(&ids)?);
        }
        Ok(RecordBatch::try_new(self.output_schema.clone(), columns)?)
    }
}

impl Operator for LocalGroupAggregate {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        if self.buffer.push(batch) {
            self.flush(out)?;
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        if let Some(batch) = self.buffer.take()? {
            out.push(self.aggregate(&batch)?);
        }
        Ok(())
    }

    fn flush_interval(&self) -> Option<Duration> {
        Some(self.buffer.allow_latency())
    }

    fn snapshot_state(&mut self, _max_parallelism: u32) -> Result<Option<RecordBatch>> {
        self.buffer.ensure_empty("LocalGroupAggregate")?;
        Ok(None)
    }
}
