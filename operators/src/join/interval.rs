//! The event-time interval join (Flink's `RowTimeIntervalJoin`) of two
//! insert-only streams:
//!
//! ```sql
//! a JOIN b ON a.k = b.k AND b.t BETWEEN a.t - lower AND a.t + upper
//! ```
//!
//! A left row at time `lt` and a right row at time `rt` match when their
//! keys are equal (a NULL key or time matches nothing), the residual
//! condition holds, and `lt - lower <= rt <= lt + upper`, both ends
//! inclusive; that is `rt - lt` lies in `[-lower, upper]`. Both bounds are
//! signed: `b.t BETWEEN a.t + 1 AND a.t + 5` is `lower = -1, upper = 5`. If
//! `-lower > upper` nothing matches.
//!
//! A left row can match right rows up to `lt + upper`, a right row left rows
//! up to `rt + lower`: that instant is the row's interval end. A row is kept
//! while its interval end is not before the watermark (rows at the
//! watermark itself may still arrive, as Flink's interval join assumes), and
//! dropped by the watermark that passes it. State is therefore bounded by the
//! watermark and the bounds.
//!
//! Late rows are joined like any other against the rows still in state
//! (whose partners may already be gone), as Flink does; a row whose interval
//! end has already passed is not stored.
//!
//! An arriving row scans the other side's rows under its key for times in
//! its interval, as Flink does; the watermark keeps that list to the rows of
//! about one interval.
//!
//! The output is insert-only. Outer joins emit a row of an outer side padded
//! with NULLs once no match can come any more and none came: when the
//! watermark drops it, when it arrives too late to be stored, or at once when
//! its key or time is NULL. The forwarded watermark is held back by
//! `max(lower, upper, 0)` plus 1 ms, so that every row emitted afterwards
//! has both time columns strictly after it.
//!
//! Time columns are `TIMESTAMP(3)` or `TIMESTAMP(6)` (Arrow `Timestamp` in
//! milliseconds or microseconds, each side its own); times are compared in
//! microseconds, watermarks and bounds scaled from milliseconds.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int64Type, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use datafusion_physical_expr_common::physical_expr::PhysicalExpr;

use super::output::Changes;
use super::probe::{Candidates, probe};
use super::snapshot::{self, SideRows};
use super::state::JoinState;
use super::{JoinKind, key_types, side_of, split_input};
use crate::error::{Result, StreamError};
use crate::operator::Operator;
use crate::row_kind::RowKind;

/// Microseconds per millisecond.
const MICROS: i64 = 1000;

/// Bookkeeping of one stored row.
#[derive(Debug, Clone, Copy)]
struct Timed {
    /// The row's time in microseconds.
    time: i64,
    /// True once the row joined a row of the other side.
    matched: bool,
}

/// The interval join of two insert-only streams.
pub struct IntervalJoin {
    kind: JoinKind,
    schemas: [SchemaRef; 2],
    key_columns: [Vec<usize>; 2],
    time_columns: [usize; 2],
    /// Per side, how far after its own time (µs) a row can match rows of the
    /// other side: `[upper, lower]`.
    reach: [i64; 2],
    /// How far (ms) the forwarded watermark is held back.
    delay_ms: i64,
    filter: Option<Arc<dyn PhysicalExpr>>,
    output_schema: SchemaRef,
    /// The input watermark (ms).
    watermark: i64,
    /// Per side, the stored rows by interval end, soonest first.
    expiry: [BinaryHeap<Reverse<(i64, u32)>>; 2],
    state: JoinState<Timed>,
}

impl IntervalJoin {
    /// An interval join of `kind` on `left_keys` = `right_keys` and
    /// `left.t - lower_ms <= right.t <= left.t + upper_ms`, `left_time` and
    /// `right_time` being the time columns' indexes. `filter` is the
    /// residual condition over the output's layout; `output_schema` the
    /// left data columns then the right ones (no row-kind column: the
    /// output is insert-only).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: JoinKind,
        left_schema: SchemaRef,
        right_schema: SchemaRef,
        left_keys: Vec<usize>,
        right_keys: Vec<usize>,
        left_time: usize,
        right_time: usize,
        lower_ms: i64,
        upper_ms: i64,
        filter: Option<Arc<dyn PhysicalExpr>>,
        output_schema: SchemaRef,
    ) -> Result<Self> {
        let schemas = [left_schema, right_schema];
        let key_columns = [left_keys, right_keys];
        let key_types = key_types(&schemas, &key_columns, &output_schema)?;
        let time_columns = [left_time, right_time];
        for (schema, &time) in schemas.iter().zip(&time_columns) {
            let field = schema.fields().get(time).ok_or_else(|| {
                StreamError::Failed(format!("interval join time column {time} does not exist"))
            })?;
            time_scale(field.data_type())?;
        }
        let micros = |ms: i64| {
            ms.checked_mul(MICROS).ok_or_else(|| {
                StreamError::Failed(format!("interval join bound {ms} ms is out of range"))
            })
        };
        Ok(IntervalJoin {
            kind,
            state: JoinState::new(&key_types, [&schemas[0], &schemas[1]], false)?,
            schemas,
            key_columns,
            time_columns,
            reach: [micros(upper_ms)?, micros(lower_ms)?],
            delay_ms: lower_ms.max(upper_ms).max(0),
            filter,
            output_schema,
            watermark: i64::MIN,
            expiry: [BinaryHeap::new(), BinaryHeap::new()],
        })
    }

    /// Number of rows stored for input `input` (0 = left, 1 = right; 0 for
    /// any other).
    pub fn stored_rows(&self, input: usize) -> usize {
        self.state.len(input)
    }

    /// Drops the stored rows whose interval end `expired` accepts, emitting
    /// the unmatched ones of outer sides padded.
    fn evict(&mut self, expired: impl Fn(i64) -> bool, out: &mut Vec<RecordBatch>) -> Result<()> {
        for side in 0..2 {
            let mut gone = Vec::new();
            while let Some(&Reverse((end, slot))) = self.expiry[side].peek() {
                if !expired(end) {
                    break;
                }
                self.expiry[side].pop();
                gone.push(slot);
            }
            let unmatched: Vec<u32> = gone
                .iter()
                .copied()
                .filter(|&s| self.kind.is_outer(side) && !self.state.meta(side, s).matched)
                .collect();
            if !unmatched.is_empty() {
                let mut changes = Changes::default();
                for pair in 0..unmatched.len() {
                    changes.stored_padded(pair, RowKind::Insert, 1);
                }
                let other = RecordBatch::new_empty(self.schemas[1 - side].clone());
                let padded = changes.into_batch(
                    1 - side,
                    other.columns(),
                    &self.state.decode(side, &unmatched)?,
                    &self.output_schema,
                    false,
                )?;
                out.extend(padded);
            }
            for slot in gone {
                let key = self.state.remove_row(side, slot);
                self.state.release_if_empty(key);
            }
        }
        self.state.compact();
        Ok(())
    }

    /// The stored rows of `side` for a snapshot, with their key groups.
    fn snapshot_side(&self, side: usize, max_parallelism: u32) -> Result<(Vec<u32>, SideRows)> {
        let dump = self
            .state
            .dump(side, &self.key_columns[side], max_parallelism)?;
        let matched: ArrayRef = Arc::new(BooleanArray::from_iter(
            dump.metas.iter().map(|m| Some(m.matched)),
        ));
        let rows = SideRows {
            columns: dump.columns,
            meta: vec![matched],
        };
        Ok((dump.key_groups, rows))
    }

    /// The last instant (µs) a row of `side` at `time` can match a row of
    /// the other side.
    fn interval_end(&self, side: usize, time: i64) -> i64 {
        time.saturating_add(self.reach[side])
    }

    /// True when a row of `side` at `time` can still meet rows that are not
    /// late: its interval has not ended before the watermark.
    fn is_live(&self, side: usize, time: i64) -> bool {
        self.interval_end(side, time) >= self.watermark.saturating_mul(MICROS)
    }

    /// Schedules stored row `slot` of `side` at `time` to be dropped once
    /// the watermark passes its interval end.
    fn schedule(&mut self, side: usize, slot: u32, time: i64) {
        let end = self.interval_end(side, time);
        self.expiry[side].push(Reverse((end, slot)));
    }
}

/// Microseconds per unit of a time column of type `data_type`.
fn time_scale(data_type: &DataType) -> Result<i64> {
    match data_type {
        DataType::Timestamp(TimeUnit::Millisecond, _) => Ok(MICROS),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Ok(1),
        other => Err(StreamError::Failed(format!(
            "an interval join's time column must be TIMESTAMP(3) or TIMESTAMP(6), not {other}"
        ))),
    }
}

/// Each row's time in microseconds (`None` where NULL).
fn times(column: &ArrayRef) -> Result<Vec<Option<i64>>> {
    let scale = time_scale(column.data_type())?;
    let values = cast(column, &DataType::Int64)?;
    Ok(values
        .as_primitive::<Int64Type>()
        .iter()
        .map(|v| v.map(|v| v.saturating_mul(scale)))
        .collect())
}

impl Operator for IntervalJoin {
    fn process_batch(
        &mut self,
        input: usize,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let side = side_of(input)?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let (data, kinds) = split_input(&batch, &self.schemas[side])?;
        if let Some(kinds) = &kinds
            && kinds.iter().any(|k| k != Some(RowKind::Insert as i8))
        {
            return Err(StreamError::Failed(
                "an interval join's inputs must be insert-only".into(),
            ));
        }
        let other = 1 - side;
        let times = times(data.column(self.time_columns[side]))?;
        let rows = self
            .state
            .encode(side, data.columns(), &self.key_columns[side])?;
        // The row's time and key, if it can match at all.
        let joinable = |i: usize| times[i].filter(|_| !rows.has_null_key(i));

        let this = &*self;
        let candidates = Candidates::collect(data.num_rows(), |i| {
            let t = joinable(i)?;
            let key = this.state.find_key(rows.key(i))?;
            let interval = t.saturating_sub(this.reach[other])..=this.interval_end(side, t);
            let in_interval =
                move |&slot: &u32| interval.contains(&this.state.meta(other, slot).time);
            Some(this.state.rows(key, other).filter(in_interval))
        });
        let probe = probe(
            &self.state,
            &candidates,
            side,
            data.columns(),
            self.filter.as_ref(),
            &self.output_schema,
        )?;

        let mut changes = Changes::default();
        for i in 0..data.num_rows() {
            let mut matched = false;
            for p in candidates.pairs(i).filter(|&p| probe.passed(p)) {
                matched = true;
                changes.joined(i, p, RowKind::Insert, 1);
                self.state.meta_mut(other, candidates.slot(p)).matched = true;
            }
            match joinable(i) {
                Some(time) if self.is_live(side, time) => {
                    let key = self.state.intern_key(rows.key(i))?;
                    let meta = Timed { time, matched };
                    let slot = self.state.insert_row(side, key, rows.row(i), meta)?;
                    self.schedule(side, slot, time);
                }
                _ if !matched && self.kind.is_outer(side) => {
                    changes.input_padded(i, RowKind::Insert);
                }
                _ => {}
            }
        }
        let output = changes.into_batch(
            side,
            data.columns(),
            &probe.stored_columns,
            &self.output_schema,
            false,
        )?;
        out.extend(output);
        Ok(())
    }

    fn process_watermark(
        &mut self,
        watermark: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<Option<i64>> {
        self.watermark = self.watermark.max(watermark);
        let now = self.watermark.saturating_mul(MICROS);
        self.evict(|end| end < now, out)?;
        Ok(Some(if self.watermark == i64::MAX {
            i64::MAX
        } else {
            self.watermark
                .saturating_sub(self.delay_ms)
                .saturating_sub(1)
        }))
    }

    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.evict(|_| true, out)
    }

    fn snapshot_state(&mut self, max_parallelism: u32) -> Result<Option<RecordBatch>> {
        let meta_fields = [Field::new("_matched", DataType::Boolean, false)];
        let sides = [
            self.snapshot_side(0, max_parallelism)?,
            self.snapshot_side(1, max_parallelism)?,
        ];
        snapshot::write(&self.schemas, &meta_fields, sides)
    }

    fn restore_state(&mut self, batches: Vec<RecordBatch>) -> Result<()> {
        let malformed = |what: &str| StreamError::Failed(format!("join state: {what}"));
        for batch in batches {
            let sides = snapshot::read(&batch, &self.schemas, 1)?;
            for (side, rows) in sides.into_iter().enumerate() {
                let [matched] = &rows.meta[..] else {
                    return Err(malformed("no matched column"));
                };
                let matched = matched
                    .as_boolean_opt()
                    .ok_or_else(|| malformed("the matched column is not BOOLEAN"))?;
                let times = times(&rows.columns[self.time_columns[side]])?;
                let metas = times
                    .iter()
                    .enumerate()
                    .map(|(i, time)| {
                        Ok(Timed {
                            time: time.ok_or_else(|| malformed("a stored row has no time"))?,
                            matched: matched.value(i),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let slots =
                    self.state
                        .load(side, &rows.columns, &self.key_columns[side], &metas)?;
                for (slot, meta) in slots.into_iter().zip(metas) {
                    self.schedule(side, slot, meta.time);
                }
            }
        }
        Ok(())
    }
}
