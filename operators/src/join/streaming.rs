//! The regular streaming join (Flink's `StreamingJoinOperator`): both
//! inputs are changelogs, every row ever accumulated and not retracted is
//! kept, and the output is the changelog of the join of the two multisets.
//!
//! Each side keeps its rows as a multiset per join key (distinct row ->
//! number of copies). An accumulating row (`+I`, `+U`) adds a copy and emits
//! `+I` joined with every matching row of the other side (once per copy of
//! that row); a retracting row (`-U`, `-D`) removes a copy and emits `-D` for
//! the same rows. Retracting a row that is not stored changes and emits
//! nothing (Flink emits its joins' retractions regardless, though a row
//! never stored never produced them). A row matches when the join keys are
//! equal (a NULL key matches nothing) and the residual condition holds.
//!
//! Outer sides keep, per stored row, its association count: the number of
//! rows of the other side it matches. A row with none is present downstream
//! padded with NULLs; the first match replaces that padded row (`-D` padded,
//! `+I` joined) and the retraction of the last match restores it (`-D`
//! joined, `+I` padded). Output kinds are `+I` and `-D` only, as Flink emits
//! for outer joins; for inner joins they mean the same as `+U`/`-U` would.
//!
//! With a state TTL (Flink's `table.exec.state.ttl`), a stored row that has
//! been neither written (a copy added or retracted) nor matched for the TTL
//! of processing time is dropped without output, so later results may be
//! incomplete, as in Flink. Expired rows are dropped lazily: those of the
//! keys a batch touches before the batch is applied, and all of them in a
//! sweep once per TTL.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, AsArray, Int8Array, Int64Array, UInt32Array};
use arrow::datatypes::{DataType, Field, Int64Type, SchemaRef, UInt32Type};
use arrow::record_batch::RecordBatch;
use datafusion_physical_expr_common::physical_expr::PhysicalExpr;

use super::output::Changes;
use super::probe::{Candidates, Probe, probe};
use super::snapshot::{self, SideRows};
use super::state::{EncodedBatch, JoinState};
use super::{JoinKind, key_types, side_of, split_input};
use crate::error::{Result, StreamError};
use crate::operator::Operator;
use crate::row_kind::{RowKind, changelog_schema, row_kind_at};
use crate::ttl::Ttl;

/// Bookkeeping of one distinct stored row.
#[derive(Debug, Clone, Copy)]
struct RowCounts {
    /// Copies of the row in the multiset.
    count: u32,
    /// Rows of the other side it matches (outer sides only).
    associations: u32,
    /// Processing time (ms since the epoch) it was last added, retracted
    /// (keeping copies) or matched.
    accessed: i64,
}

/// What applying the rows of one batch reads besides the state.
struct BatchContext<'a> {
    /// The side the batch arrived on.
    side: usize,
    rows: &'a EncodedBatch,
    candidates: &'a Candidates,
    probe: &'a Probe,
    /// Processing time of the batch (0 without a TTL).
    now: i64,
}

impl BatchContext<'_> {
    /// The pairs of row `i` that join.
    fn matches(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.candidates.pairs(i).filter(|&p| self.probe.passed(p))
    }
}

/// The keys of a batch's rows.
struct RowKeys {
    /// Per row, its key; `None` for a row that changes nothing.
    keys: Vec<Option<u32>>,
    /// Per row, true for `-U` and `-D`.
    retracting: Vec<bool>,
    /// The distinct keys of the batch.
    touched: Vec<u32>,
}

/// The regular join of two changelog streams, with retraction.
pub struct StreamingJoin {
    kind: JoinKind,
    schemas: [SchemaRef; 2],
    key_columns: [Vec<usize>; 2],
    filter: Option<Arc<dyn PhysicalExpr>>,
    /// Left then right data columns: what the residual condition reads.
    joined_schema: SchemaRef,
    /// `joined_schema`, with the row-kind column when `emit_row_kinds`.
    output_schema: SchemaRef,
    emit_row_kinds: bool,
    ttl: Option<Ttl>,
    state: JoinState<RowCounts>,
}

impl StreamingJoin {
    /// A join of `kind` on `left_keys` = `right_keys` (column indexes of
    /// each input's data columns, pairwise of equal types), with a residual
    /// `filter` over the output's layout (left columns then right columns).
    ///
    /// `left_schema` and `right_schema` are the inputs' data columns;
    /// batches may carry a row-kind column besides. `output_schema` is the
    /// left columns followed by the right ones (nullable on outer joins'
    /// padded sides). `emit_row_kinds` is false only for an inner join of
    /// insert-only inputs, whose output is insert-only too. `state_ttl` of
    /// `None` (or zero) keeps rows forever.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: JoinKind,
        left_schema: SchemaRef,
        right_schema: SchemaRef,
        left_keys: Vec<usize>,
        right_keys: Vec<usize>,
        filter: Option<Arc<dyn PhysicalExpr>>,
        output_schema: SchemaRef,
        emit_row_kinds: bool,
        state_ttl: Option<Duration>,
    ) -> Result<Self> {
        if !emit_row_kinds && kind != JoinKind::Inner {
            return Err(StreamError::Failed(
                "an outer join retracts padded rows: its output needs row kinds".into(),
            ));
        }
        let schemas = [left_schema, right_schema];
        let key_columns = [left_keys, right_keys];
        let key_types = key_types(&schemas, &key_columns, &output_schema)?;
        let state = JoinState::new(&key_types, [&schemas[0], &schemas[1]], true)?;
        let ttl = Ttl::new(state_ttl);
        Ok(StreamingJoin {
            kind,
            schemas,
            key_columns,
            filter,
            output_schema: if emit_row_kinds {
                changelog_schema(&output_schema)
            } else {
                output_schema.clone()
            },
            joined_schema: output_schema,
            emit_row_kinds,
            ttl,
            state,
        })
    }

    /// Reads processing time (ms since the epoch) for the state TTL from
    /// `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + 'static) -> Self {
        if let Some(ttl) = &mut self.ttl {
            ttl.set_clock(clock);
        }
        self
    }

    /// Number of distinct rows stored for input `input` (0 = left, 1 =
    /// right; 0 for any other).
    pub fn stored_rows(&self, input: usize) -> usize {
        self.state.len(input)
    }

    /// The processing time for this batch, after a sweep of expired rows
    /// when one is due; 0 without a TTL.
    fn batch_time(&mut self) -> i64 {
        let Some(ttl) = &mut self.ttl else {
            return 0;
        };
        let now = ttl.now();
        if let Some(cutoff) = ttl.sweep_due(now) {
            for key in self.state.key_ids() {
                self.state.remove_where(key, |r| r.accessed <= cutoff);
                self.state.release_if_empty(key);
            }
        }
        now
    }

    /// The stored rows of `side` for a snapshot, with their key groups.
    fn snapshot_side(&self, side: usize, max_parallelism: u32) -> Result<(Vec<u32>, SideRows)> {
        let dump = self
            .state
            .dump(side, &self.key_columns[side], max_parallelism)?;
        let meta: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from_iter_values(
                dump.metas.iter().map(|m| m.count),
            )),
            Arc::new(UInt32Array::from_iter_values(
                dump.metas.iter().map(|m| m.associations),
            )),
            Arc::new(Int64Array::from_iter_values(
                dump.metas.iter().map(|m| m.accessed),
            )),
        ];
        let rows = SideRows {
            columns: dump.columns,
            meta,
        };
        Ok((dump.key_groups, rows))
    }

    /// Each row's key: accumulating rows add theirs, retracting rows of keys
    /// not in the state have nothing to retract, and an inner side's rows
    /// with a NULL key can never show up in the output.
    fn resolve_keys(
        &mut self,
        side: usize,
        rows: &EncodedBatch,
        kinds: Option<&Int8Array>,
    ) -> Result<RowKeys> {
        let n = rows.num_rows();
        let mut keys = RowKeys {
            keys: Vec::with_capacity(n),
            retracting: Vec::with_capacity(n),
            touched: Vec::new(),
        };
        self.state.begin_batch();
        for i in 0..n {
            let retraction = row_kind_at(kinds, i)?.is_retraction();
            if retraction && !self.emit_row_kinds {
                return Err(StreamError::Failed(
                    "an insert-only join received a retraction".into(),
                ));
            }
            let key = if rows.has_null_key(i) && !self.kind.is_outer(side) {
                None
            } else if retraction {
                self.state.find_key(rows.key(i))
            } else {
                Some(self.state.intern_key(rows.key(i))?)
            };
            if let Some(key) = key
                && self.state.first_touch(key)
            {
                keys.touched.push(key);
            }
            keys.keys.push(key);
            keys.retracting.push(retraction);
        }
        Ok(keys)
    }

    /// Applies accumulating row `i`, stored under `key`.
    fn accumulate(
        &mut self,
        cx: &BatchContext<'_>,
        i: usize,
        key: u32,
        changes: &mut Changes,
    ) -> Result<()> {
        let (side, other) = (cx.side, 1 - cx.side);
        let overflow = || StreamError::Failed("a join row count passed 2^32".into());
        let mut associations = 0u32;
        for p in cx.matches(i) {
            let copies = self.state.meta(other, cx.candidates.slot(p)).count;
            associations = associations.checked_add(copies).ok_or_else(overflow)?;
        }
        let row = cx.rows.row(i);
        let slot = match self.state.find_row(side, row) {
            Some(slot) => slot,
            None => {
                let fresh = RowCounts {
                    count: 0,
                    associations: 0,
                    accessed: cx.now,
                };
                self.state.insert_row(side, key, row, fresh)?
            }
        };
        let stored = self.state.meta_mut(side, slot);
        stored.count = stored.count.checked_add(1).ok_or_else(overflow)?;
        stored.associations = associations;
        stored.accessed = cx.now;
        let mut matched = false;
        for p in cx.matches(i) {
            matched = true;
            let other_row = self.state.meta_mut(other, cx.candidates.slot(p));
            if self.kind.is_outer(other) {
                if other_row.associations == 0 {
                    changes.stored_padded(p, RowKind::Delete, other_row.count);
                }
                other_row.associations = other_row.associations.saturating_add(1);
            }
            other_row.accessed = cx.now;
            changes.joined(i, p, RowKind::Insert, other_row.count);
        }
        if !matched && self.kind.is_outer(side) {
            changes.input_padded(i, RowKind::Insert);
        }
        Ok(())
    }

    /// Applies retracting row `i`.
    fn retract(&mut self, cx: &BatchContext<'_>, i: usize, changes: &mut Changes) {
        let (side, other) = (cx.side, 1 - cx.side);
        let Some(slot) = self.state.find_row(side, cx.rows.row(i)) else {
            return;
        };
        let stored = self.state.meta_mut(side, slot);
        stored.count -= 1;
        stored.accessed = cx.now;
        if stored.count == 0 {
            self.state.remove_row(side, slot);
        }
        let mut matched = false;
        for p in cx.matches(i) {
            matched = true;
            let other_row = self.state.meta_mut(other, cx.candidates.slot(p));
            changes.joined(i, p, RowKind::Delete, other_row.count);
            if self.kind.is_outer(other) {
                if other_row.associations == 1 {
                    changes.stored_padded(p, RowKind::Insert, other_row.count);
                }
                other_row.associations = other_row.associations.saturating_sub(1);
            }
            other_row.accessed = cx.now;
        }
        if !matched && self.kind.is_outer(side) {
            changes.input_padded(i, RowKind::Delete);
        }
    }
}

impl Operator for StreamingJoin {
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
        let now = self.batch_time();
        let rows = self
            .state
            .encode(side, data.columns(), &self.key_columns[side])?;

        let keys = self.resolve_keys(side, &rows, kinds.as_ref())?;
        if let Some(ttl) = &self.ttl {
            let cutoff = ttl.cutoff(now);
            for &key in &keys.touched {
                self.state.remove_where(key, |r| r.accessed <= cutoff);
            }
        }
        let candidates = Candidates::collect(keys.keys.len(), |i| {
            let key = keys.keys[i].filter(|_| !rows.has_null_key(i))?;
            Some(self.state.rows(key, 1 - side))
        });
        let probe = probe(
            &self.state,
            &candidates,
            side,
            data.columns(),
            self.filter.as_ref(),
            &self.joined_schema,
        )?;

        let cx = BatchContext {
            side,
            rows: &rows,
            candidates: &candidates,
            probe: &probe,
            now,
        };
        let mut changes = Changes::default();
        for (i, key) in keys.keys.iter().enumerate() {
            let Some(key) = *key else { continue };
            if keys.retracting[i] {
                self.retract(&cx, i, &mut changes);
            } else {
                self.accumulate(&cx, i, key, &mut changes)?;
            }
        }
        for key in keys.touched {
            self.state.release_if_empty(key);
        }
        self.state.compact();

        let output = changes.into_batch(
            side,
            data.columns(),
            &probe.stored_columns,
            &self.output_schema,
            self.emit_row_kinds,
        )?;
        out.extend(output);
        Ok(())
    }

    fn snapshot_state(&mut self, max_parallelism: u32) -> Result<Option<RecordBatch>> {
        let meta_fields = [
            Field::new("_count", DataType::UInt32, false),
            Field::new("_associations", DataType::UInt32, false),
            Field::new("_accessed", DataType::Int64, false),
        ];
        let sides = [
            self.snapshot_side(0, max_parallelism)?,
            self.snapshot_side(1, max_parallelism)?,
        ];
        snapshot::write(&self.schemas, &meta_fields, sides)
    }

    fn restore_state(&mut self, batches: Vec<RecordBatch>) -> Result<()> {
        let malformed = || StreamError::Failed("join state: malformed bookkeeping columns".into());
        for batch in batches {
            let sides = snapshot::read(&batch, &self.schemas, 3)?;
            for (side, rows) in sides.into_iter().enumerate() {
                let [count, associations, accessed] = &rows.meta[..] else {
                    return Err(malformed());
                };
                let count = count
                    .as_primitive_opt::<UInt32Type>()
                    .ok_or_else(malformed)?;
                let associations = associations
                    .as_primitive_opt::<UInt32Type>()
                    .ok_or_else(malformed)?;
                let accessed = accessed
                    .as_primitive_opt::<Int64Type>()
                    .ok_or_else(malformed)?;
                let metas: Vec<RowCounts> = (0..count.len())
                    .map(|i| RowCounts {
                        count: count.value(i),
                        associations: associations.value(i),
                        accessed: accessed.value(i),
                    })
                    .collect();
                if metas.iter().any(|m| m.count == 0) {
                    return Err(malformed());
                }
                self.state
                    .load(side, &rows.columns, &self.key_columns[side], &metas)?;
            }
        }
        Ok(())
    }
}
