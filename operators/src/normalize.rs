//! Upserts to a full changelog (Flink's `ChangelogNormalize`): a source
//! that writes each key's new row without its old one (`upsert-kafka`)
//! is followed, after a hash exchange on its primary key, by this operator,
//! which keeps the last row of every key and emits what changed with its
//! before-image, so aggregates and joins downstream can retract.
//!
//! Per input row, in order:
//! - `+I` or `+U` for a key without a row: `+I` of the new row;
//! - `+I` or `+U` for a key with a row: `-U` of the old row and `+U` of the
//!   new one, or nothing when they are equal (only without a state TTL, as
//!   in Flink: with one, the write refreshes the row's TTL downstream too);
//! - `-D` for a key with a row: `-D` of the old row (a tombstone carries only
//!   the key; the retraction carries the whole row); for a key without one,
//!   nothing;
//! - `-U`: nothing (an upsert stream has none; the `+U` after it says all).
//!
//! With a state TTL (`table.exec.state.ttl`), a key not written for the TTL
//! of processing time is forgotten: its next row comes out as `+I`.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, Int8Array, Int64Array, UInt32Array};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, RowParser, SortField};

use crate::error::{Result, StreamError};
use crate::key_index::KeyIndex;
use crate::operator::{KEY_GROUP_COLUMN, Operator};
use crate::row_kind::{RowKind, changelog_schema, row_kind_at, split_row_kinds};
use crate::ttl::Ttl;

/// The row a key holds now.
struct Held {
    /// Every column, in Arrow's row format.
    row: Box<[u8]>,
    /// Processing time (ms since the epoch) it was written, for the TTL.
    written: i64,
}

/// Turns an upsert stream keyed by some columns into a full changelog; see
/// the module docs.
pub struct ChangelogNormalize {
    key_columns: Vec<usize>,
    width: usize,
    keys: KeyIndex,
    /// Per key id, its row; `None` once deleted (or never written).
    held: Vec<Option<Held>>,
    rows: RowConverter,
    parser: RowParser,
    output_schema: SchemaRef,
    ttl: Option<Ttl>,
}

impl ChangelogNormalize {
    /// A normalizer of rows of `schema` (data columns) keyed by the columns
    /// at `key_columns`, forgetting keys unwritten for `state_ttl` (`None`
    /// or zero: never).
    pub fn new(
        schema: SchemaRef,
        key_columns: Vec<usize>,
        state_ttl: Option<Duration>,
    ) -> Result<Self> {
        let fields = schema.fields();
        let key_types = key_columns
            .iter()
            .map(|&c| {
                fields.get(c).map(|f| f.data_type().clone()).ok_or_else(|| {
                    StreamError::Failed(format!(
                        "changelog normalize: key column {c} is not among the {} columns",
                        fields.len()
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if key_types.is_empty() {
            return Err(StreamError::Failed(
                "changelog normalize needs a key".into(),
            ));
        }
        let rows = RowConverter::new(
            fields
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )?;
        Ok(ChangelogNormalize {
            width: fields.len(),
            keys: KeyIndex::new(&key_types)?,
            key_columns,
            held: Vec::new(),
            parser: rows.parser(),
            rows,
            output_schema: changelog_schema(&schema),
            ttl: Ttl::new(state_ttl),
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

    /// The key ids of rows whose columns are `columns`, growing the state
    /// for new keys.
    fn key_ids(&mut self, columns: &[ArrayRef], num_rows: usize) -> Result<Vec<u32>> {
        let key_columns: Vec<ArrayRef> = self
            .key_columns
            .iter()
            .map(|&c| columns[c].clone())
            .collect();
        let ids = self.keys.ids(&key_columns, num_rows)?;
        self.held.resize_with(self.keys.len(), || None);
        Ok(ids)
    }

    /// Processing time for this batch and the cutoff before which held
    /// rows have expired, after a sweep when one is due; `(0, None)`
    /// without a TTL.
    fn batch_time(&mut self) -> (i64, Option<i64>) {
        let Some(ttl) = &mut self.ttl else {
            return (0, None);
        };
        let now = ttl.now();
        if let Some(cutoff) = ttl.sweep_due(now) {
            for held in &mut self.held {
                if held.as_ref().is_some_and(|h| h.written <= cutoff) {
                    *held = None;
                }
            }
        }
        (now, Some(ttl.cutoff(now)))
    }

    /// Adds the rows of one snapshot batch to the state.
    fn restore_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let malformed =
            |what: &str| StreamError::Failed(format!("changelog normalize state: {what}"));
        let rows = batch
            .columns()
            .get(1)
            .and_then(|c| c.as_binary_opt::<i32>())
            .filter(|c| c.null_count() == 0)
            .ok_or_else(|| malformed("the row column is missing or has NULLs"))?;
        let written = batch
            .columns()
            .get(2)
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .ok_or_else(|| malformed("the written-at column is missing"))?;
        let columns = self
            .rows
            .convert_rows(rows.iter().flatten().map(|row| self.parser.parse(row)))?;
        let ids = self.key_ids(&columns, batch.num_rows())?;
        for (i, (&id, row)) in ids.iter().zip(rows.iter().flatten()).enumerate() {
            let slot = &mut self.held[id as usize];
            if slot.is_some() {
                return Err(malformed("a key restored twice"));
            }
            *slot = Some(Held {
                row: row.into(),
                written: written.value(i),
            });
        }
        Ok(())
    }
}

impl Operator for ChangelogNormalize {
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
        if data.num_columns() != self.width {
            return Err(StreamError::Failed(format!(
                "changelog normalize: a batch has {} data columns, expected {}",
                data.num_columns(),
                self.width
            )));
        }
        let (now, cutoff) = self.batch_time();
        let ids = self.key_ids(data.columns(), data.num_rows())?;
        let incoming = self.rows.convert_columns(data.columns())?;
        let mut emitted = self.rows.empty_rows(data.num_rows(), 0);
        let mut emitted_kinds: Vec<i8> = Vec::with_capacity(data.num_rows());
        for (i, &id) in ids.iter().enumerate() {
            let slot = &mut self.held[id as usize];
            if cutoff.is_some_and(|cutoff| slot.as_ref().is_some_and(|h| h.written <= cutoff)) {
                *slot = None;
            }
            let row = incoming.row(i);
            match row_kind_at(kinds.as_ref(), i)? {
                RowKind::Insert | RowKind::UpdateAfter => {
                    match slot.take() {
                        Some(old) if cutoff.is_none() && *old.row == *row.as_ref() => {
                            *slot = Some(old);
                            continue;
                        }
                        Some(old) => {
                            emitted.push(self.parser.parse(&old.row));
                            emitted_kinds.push(RowKind::UpdateBefore as i8);
                            emitted.push(row);
                            emitted_kinds.push(RowKind::UpdateAfter as i8);
                        }
                        None => {
                            emitted.push(row);
                            emitted_kinds.push(RowKind::Insert as i8);
                        }
                    }
                    *slot = Some(Held {
                        row: row.as_ref().into(),
                        written: now,
                    });
                }
                RowKind::Delete => {
                    if let Some(old) = slot.take() {
                        emitted.push(self.parser.parse(&old.row));
                        emitted_kinds.push(RowKind::Delete as i8);
                    }
                }
                RowKind::UpdateBefore => {}
            }
        }
        if emitted_kinds.is_empty() {
            return Ok(());
        }
        let mut columns = self.rows.convert_rows(&emitted)?;
        columns.push(Arc::new(Int8Array::from(emitted_kinds)));
        out.push(RecordBatch::try_new(self.output_schema.clone(), columns)?);
        Ok(())
    }

    fn snapshot_state(&mut self, max_parallelism: u32) -> Result<Option<RecordBatch>> {
        let live: Vec<u32> = (0u32..)
            .zip(&self.held)
            .filter_map(|(id, held)| held.is_some().then_some(id))
            .collect();
        if live.is_empty() {
            return Ok(None);
        }
        let groups = self.keys.key_groups(&live, max_parallelism)?;
        let mut rows = BinaryBuilder::new();
        let mut written = Vec::with_capacity(live.len());
        for held in live
            .iter()
            .filter_map(|&id| self.held[id as usize].as_ref())
        {
            rows.append_value(&held.row);
            written.push(held.written);
        }
        let schema = Schema::new(vec![
            Field::new(KEY_GROUP_COLUMN, DataType::UInt32, false),
            Field::new("_row", DataType::Binary, false),
            Field::new("_written", DataType::Int64, false),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(groups)),
            Arc::new(rows.finish()),
            Arc::new(Int64Array::from(written)),
        ];
        Ok(Some(RecordBatch::try_new(Arc::new(schema), columns)?))
    }

    fn restore_state(&mut self, batches: Vec<RecordBatch>) -> Result<()> {
        for batch in batches {
            self.restore_batch(&batch)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
