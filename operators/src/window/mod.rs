//! Window aggregation over Flink's window table functions:
//! `SELECT k, window_start, window_end, COUNT(*), SUM(x) FROM TABLE(TUMBLE(TABLE
//! t, DESCRIPTOR(ts), INTERVAL '5' MINUTES)) GROUP BY k, window_start,
//! window_end`, and the same over HOP and CUMULATE ([`WindowKind`]).
//!
//! Every row is accumulated into each of its windows, per group key. When the
//! watermark reaches a window's last millisecond (`window_end - 1 <=
//! watermark`) the window fires: its final row is emitted (insert-only) and
//! its state dropped. Windows firing at one watermark are emitted in
//! window-end order. At the end of a bounded input every open window fires,
//! as Flink's end-of-input watermark does.
//!
//! Rows are dropped, as in Flink, when
//! - their every window has already fired (late rows, Flink's
//!   `numLateRecordsDropped`: [`WindowAggregate::late_rows_dropped`]); a row
//!   with only some windows fired (HOP, CUMULATE) still counts in the others;
//! - their event time is NULL (Flink's `numNullRowTimeRecordsDropped`,
//!   counted apart: [`WindowAggregate::null_time_rows_dropped`]).

mod assigner;
mod key_table;
mod slots;
mod snapshot;

use arrow::array::Array;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;

pub use assigner::WindowKind;
use assigner::{Windows, has_fired};
use key_table::KeyTable;
use slots::WindowSlots;

use crate::aggregate::{AggregateSpec, GroupAccumulator, new_accumulator};
use crate::error::{Result, StreamError};
use crate::event_time::{self, EventTimeUnit};
use crate::operator::Operator;

/// The window aggregate operator (Flink's `WindowAggregate` over a window
/// table function, without local/global splitting).
///
/// Input: the group keys (the first `key_types.len()` columns), the
/// aggregates' argument columns and the event-time column; insert-only.
/// Output: the keys, `window_start`, `window_end`, then one column per
/// aggregate; insert-only.
pub struct WindowAggregate {
    key_count: usize,
    time_column: usize,
    /// Columns an input batch must have at least.
    min_input_columns: usize,
    window: WindowKind,
    specs: Vec<AggregateSpec>,
    /// One per aggregate, with a slot per open (key, window).
    accumulators: Vec<Box<dyn GroupAccumulator>>,
    keys: KeyTable,
    slots: WindowSlots,
    /// The highest watermark whose windows have fired (including one a
    /// restore brought back): rows whose every window ends by it are late.
    fired_up_to: i64,
    late_rows_dropped: u64,
    null_time_rows_dropped: u64,
    window_unit: EventTimeUnit,
    output_schema: SchemaRef,
}

impl WindowAggregate {
    /// A window aggregate grouping by `key_types` key columns, reading event
    /// time from input column `time_column` (`TIMESTAMP(3)` or
    /// `TIMESTAMP(6)`), and producing `output_schema`: the keys,
    /// `window_start` and `window_end` (both of the same timestamp type,
    /// normally the time column's), then one column per aggregate.
    pub fn new(
        key_types: &[DataType],
        time_column: usize,
        window: WindowKind,
        specs: Vec<AggregateSpec>,
        output_schema: SchemaRef,
    ) -> Result<Self> {
        window.validate()?;
        let key_count = key_types.len();
        let fields = output_schema.fields();
        if fields.len() != key_count + 2 + specs.len() {
            return Err(StreamError::Failed(format!(
                "a window aggregate with {key_count} keys and {} aggregates outputs {} columns, not {}",
                specs.len(),
                key_count + 2 + specs.len(),
                fields.len()
            )));
        }
        let window_unit = EventTimeUnit::of(fields[key_count].data_type())?;
        if fields[key_count + 1].data_type() != fields[key_count].data_type() {
            return Err(StreamError::Failed(
                "window_start and window_end must have the same type".into(),
            ));
        }
        let min_input_columns = specs
            .iter()
            .filter_map(|s| s.input_column)
            .chain([time_column])
            .map(|c| c + 1)
            .chain([key_count])
            .max()
            .unwrap_or(0);
        Ok(WindowAggregate {
            key_count,
            time_column,
            min_input_columns,
            window,
            accumulators: specs
                .iter()
                .map(new_accumulator)
                .collect::<Result<Vec<_>>>()?,
            specs,
            keys: KeyTable::new(key_types)?,
            slots: WindowSlots::new(),
            fired_up_to: i64::MIN,
            late_rows_dropped: 0,
            null_time_rows_dropped: 0,
            window_unit,
            output_schema,
        })
    }

    /// Rows dropped because their event time was NULL (Flink's
    /// `numNullRowTimeRecordsDropped`); not counted as late.
    pub fn null_time_rows_dropped(&self) -> u64 {
        self.null_time_rows_dropped
    }

    /// Number of (key, window) pairs accumulating rows.
    pub fn open_window_count(&self) -> usize {
        self.slots.open_count()
    }

    /// Accumulates one batch: first each row's key and windows (or its
    /// drop), then, window by window, one vectorized update of every
    /// accumulator over the unchanged input: in round `j`, row `i` goes to
    /// the slot of its `j`-th window with weight 1, or has weight 0 when it
    /// has no such open window.
    fn accumulate(&mut self, batch: &RecordBatch) -> Result<()> {
        let times = event_time::millis(batch.column(self.time_column))?;
        let rows = self.keys.encode(&batch.columns()[..self.key_count])?;
        let mut assigned: Vec<Option<(u32, Windows)>> = Vec::with_capacity(batch.num_rows());
        let mut rounds = 0;
        for i in 0..batch.num_rows() {
            if times.is_null(i) {
                self.null_time_rows_dropped += 1;
                assigned.push(None);
                continue;
            }
            let windows = self.window.windows_of(times.value(i))?;
            if has_fired(windows.last_end(), self.fired_up_to) {
                self.late_rows_dropped += 1;
                assigned.push(None);
                continue;
            }
            let key = match &rows {
                Some(rows) => self.keys.intern(rows.row(i).data())?,
                None => self.keys.intern(&[])?,
            };
            rounds = rounds.max(windows.count());
            assigned.push(Some((key, windows)));
        }
        let mut groups = vec![0u32; batch.num_rows()];
        let mut weights = vec![0i8; batch.num_rows()];
        for j in 0..rounds {
            weights.fill(0);
            let mut any = false;
            for (i, row) in assigned.iter().enumerate() {
                let Some((key, windows)) = *row else { continue };
                if j >= windows.count() {
                    continue;
                }
                let window = windows.nth(j);
                if has_fired(window.end, self.fired_up_to) {
                    continue;
                }
                let (slot, opened) = self.slots.find_or_open(key, window)?;
                if opened {
                    self.keys.retain(key);
                }
                groups[i] = slot;
                weights[i] = 1;
                any = true;
            }
            if !any {
                continue;
            }
            for (acc, spec) in self.accumulators.iter_mut().zip(&self.specs) {
                acc.resize(self.slots.capacity());
                let input = spec.input_column.map(|c| batch.column(c));
                acc.update(input, &groups, &weights)?;
            }
        }
        Ok(())
    }

    /// Fires the windows the watermark reached, emitting their rows.
    fn fire(&mut self, watermark: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.fired_up_to = self.fired_up_to.max(watermark);
        let fired = self.slots.close_fired(self.fired_up_to);
        if fired.is_empty() {
            return Ok(());
        }
        out.push(self.results(&fired)?);
        for &slot in &fired {
            for acc in &mut self.accumulators {
                acc.reset(slot as usize);
            }
            self.keys.release(self.slots.key(slot));
        }
        self.slots.free(&fired);
        Ok(())
    }

    /// The output rows of the given slots' windows.
    fn results(&self, slots: &[u32]) -> Result<RecordBatch> {
        let mut columns = self.keys.decode(slots.iter().map(|&s| self.slots.key(s)))?;
        let windows = || slots.iter().map(|&s| self.slots.window(s));
        columns.push(
            self.window_unit
                .column_of_millis(windows().map(|w| w.start))?,
        );
        columns.push(
            self.window_unit
                .column_of_millis(windows().map(|w| w.end))?,
        );
        for acc in &self.accumulators {
            columns.push(acc.evaluate(slots)?);
        }
        Ok(RecordBatch::try_new(self.output_schema.clone(), columns)?)
    }
}

impl Operator for WindowAggregate {
    /// Rows dropped because every window they fall into had already fired
    /// when they arrived (Flink's `numLateRecordsDropped`). After a restore
    /// the count starts over, but lateness is judged against the watermark
    /// the checkpoint had reached.
    fn late_rows_dropped(&self) -> u64 {
        self.late_rows_dropped
    }

    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        _out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if batch.num_columns() < self.min_input_columns {
            return Err(StreamError::Failed(format!(
                "a window aggregate needs {} input columns, got a batch of {}",
                self.min_input_columns,
                batch.num_columns()
            )));
        }
        self.accumulate(&batch)
    }

    fn process_watermark(
        &mut self,
        watermark: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<Option<i64>> {
        self.fire(watermark, out)?;
        Ok(Some(watermark))
    }

    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.fire(i64::MAX, out)
    }

    fn snapshot_state(&mut self, max_parallelism: u32) -> Result<Option<RecordBatch>> {
        self.snapshot(max_parallelism)
    }

    fn restore_state(&mut self, batches: Vec<RecordBatch>) -> Result<()> {
        self.restore(batches)
    }
}

#[cfg(test)]
mod tests;
