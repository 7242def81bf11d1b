//! Checkpoints of the window aggregate.
//!
//! A snapshot holds one row per open (key, window): its key group, encoded
//! key, window bounds and accumulator state. It also records how far windows
//! have fired, so that a restored operator (which starts at watermark
//! `i64::MIN` until the runtime replays watermarks) still drops the rows of
//! windows that fired before the checkpoint instead of opening them again.
//! That progress is written as one row per key group (window columns NULL),
//! so that every subtask of a rescaled job receives it whichever key groups
//! it takes over; a restore keeps the lowest progress it receives (at an
//! aligned checkpoint all subtasks have the same watermark).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Int64Array, UInt32Array, new_null_array,
};
use arrow::compute::{concat_batches, filter_record_batch, is_null, min};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::WindowAggregate;
use super::assigner::Window;
use crate::aggregate::{append_states, restore_states};
use crate::error::{Result, StreamError};
use crate::keys::{hash_keys, key_group};
use crate::operator::KEY_GROUP_COLUMN;

const KEY: usize = 1;
const WINDOW_START: usize = 2;
const WINDOW_END: usize = 3;
const FIRED_UP_TO: usize = 4;
/// The first accumulator state column.
const STATE: usize = 5;

fn malformed(what: &str) -> StreamError {
    StreamError::Failed(format!("window aggregate state: {what}"))
}

/// Column `index` of a snapshot batch as BIGINT.
fn int64_column(batch: &RecordBatch, index: usize) -> Result<&Int64Array> {
    batch
        .columns()
        .get(index)
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
        .ok_or_else(|| malformed(&format!("column {index} is missing or not BIGINT")))
}

impl WindowAggregate {
    /// The open windows and the firing progress, as described in the module
    /// documentation; `None` before any row or watermark arrived.
    pub(super) fn snapshot(&self, max_parallelism: u32) -> Result<Option<RecordBatch>> {
        let open = self.slots.open();
        if open.is_empty() && self.fired_up_to == i64::MIN {
            return Ok(None);
        }
        let keys = self.keys.decode(open.iter().map(|&s| self.slots.key(s)))?;
        let key_groups = hash_keys(&keys, open.len())?
            .into_iter()
            .map(|h| key_group(h, max_parallelism));
        let windows = || open.iter().map(|&s| self.slots.window(s));
        let mut fields = vec![
            Field::new(KEY_GROUP_COLUMN, DataType::UInt32, false),
            Field::new("_key", DataType::Binary, true),
            Field::new("_window_start", DataType::Int64, true),
            Field::new("_window_end", DataType::Int64, true),
            Field::new("_fired_up_to", DataType::Int64, true),
        ];
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from_iter_values(key_groups)),
            Arc::new(BinaryArray::from_iter_values(
                open.iter().map(|&s| self.keys.bytes(self.slots.key(s))),
            )),
            Arc::new(Int64Array::from_iter_values(windows().map(|w| w.start))),
            Arc::new(Int64Array::from_iter_values(windows().map(|w| w.end))),
            new_null_array(&DataType::Int64, open.len()),
        ];
        append_states(&self.accumulators, &open, &mut fields, &mut columns)?;
        let schema = Arc::new(Schema::new(fields));
        let windows = RecordBatch::try_new(schema.clone(), columns)?;
        if self.fired_up_to == i64::MIN {
            return Ok(Some(windows));
        }
        let progress = progress_rows(&schema, self.fired_up_to, max_parallelism)?;
        Ok(Some(concat_batches(&schema, [&windows, &progress])?))
    }

    /// Loads the open windows and the firing progress of snapshot batches.
    pub(super) fn restore(&mut self, batches: Vec<RecordBatch>) -> Result<()> {
        let mut progress: Option<i64> = None;
        for batch in &batches {
            let fired_up_to = int64_column(batch, FIRED_UP_TO)?;
            if let Some(lowest) = min(fired_up_to) {
                progress = Some(progress.map_or(lowest, |p| p.min(lowest)));
            }
            self.restore_windows(&filter_record_batch(batch, &is_null(fired_up_to)?)?)?;
        }
        if let Some(progress) = progress {
            self.fired_up_to = self.fired_up_to.max(progress);
        }
        Ok(())
    }

    /// Opens the windows of snapshot rows, in consecutive new slots.
    fn restore_windows(&mut self, batch: &RecordBatch) -> Result<()> {
        let keys = batch
            .columns()
            .get(KEY)
            .and_then(|c| c.as_binary_opt::<i32>())
            .ok_or_else(|| malformed("the key column is missing or not binary"))?;
        let starts = int64_column(batch, WINDOW_START)?;
        let ends = int64_column(batch, WINDOW_END)?;
        if keys.null_count() + starts.null_count() + ends.null_count() > 0 {
            return Err(malformed("a window row without its key or bounds"));
        }
        let first = self.slots.capacity();
        for i in 0..batch.num_rows() {
            let key = self.keys.intern(keys.value(i))?;
            let window = Window {
                start: starts.value(i),
                end: ends.value(i),
            };
            self.slots.open_appended(key, window)?;
            self.keys.retain(key);
        }
        restore_states(
            &mut self.accumulators,
            self.slots.capacity(),
            first,
            batch.columns().get(STATE..).unwrap_or_default(),
            "window aggregate state",
        )
    }
}

/// One row per key group carrying the firing progress, NULL elsewhere.
fn progress_rows(
    schema: &SchemaRef,
    fired_up_to: i64,
    max_parallelism: u32,
) -> Result<RecordBatch> {
    let rows = max_parallelism as usize;
    let columns = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| -> ArrayRef {
            match i {
                0 => Arc::new(UInt32Array::from_iter_values(0..max_parallelism)),
                FIRED_UP_TO => Arc::new(Int64Array::from_value(fired_up_to, rows)),
                _ => new_null_array(field.data_type(), rows),
            }
        })
        .collect();
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
