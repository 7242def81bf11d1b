//! Top-N and deduplication: Flink's Rank operator for
//! `ROW_NUMBER() OVER (PARTITION BY p ORDER BY o) <= N`, and its `N = 1` case,
//! deduplication (`ORDER BY t ASC` keeps each key's first row, `ORDER BY t
//! DESC` its last).
//!
//! Each partition keeps its rows in a map ordered by *ranking key*: the sort
//! key in Arrow's order-preserving row format followed by the row's arrival
//! number (8 big-endian bytes). The row format is self-delimiting, so no
//! encoded sort key is a prefix of another: ranking keys compare by sort key
//! first and arrival second, and the ranking keys of one sort key are exactly
//! those that start with it.
//!
//! Rows with equal sort keys rank by arrival, as Flink's operators do:
//! earlier first (Flink's Top-N keeps the earlier of tied rows), except for
//! deduplication (`N = 1`) on a descending first key, where the later one
//! wins: `ORDER BY t ASC` keeps the first row and `ORDER BY t DESC` the last
//! one even among rows with equal `t`, as Flink's deduplication does.
//!
//! `+I`/`+U` input rows are added; `-U`/`-D` rows take back one row with
//! equal values in every column (the best-ranked such row), and are ignored
//! when there is none. After each batch the operator emits, for every
//! partition the batch touched, the difference between its top N before and
//! after the batch, so several changes to one partition in a batch come out
//! as their net effect:
//! * without the rank number, `-D` for rows that left the top N and `+I` for
//!   rows that entered it (retractions first);
//! * with the rank number, per rank position whose row changed, `-U`/`+U`
//!   (old row, new row), `-D` when the position emptied and `+I` when it
//!   filled.
//!
//! Rows pushed beyond N can come back when a changelog input retracts a top
//! row, so for a changelog input every row is kept. On an insert-only input
//! they never return and are dropped: the state holds at most N rows per
//! partition.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, Int8Array, Int64Array, UInt32Array};
use arrow::compute::SortOptions;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, RowParser, SortField};

use crate::error::{Result, StreamError};
use crate::key_index::KeyIndex;
use crate::operator::{KEY_GROUP_COLUMN, Operator};
use crate::row_kind::{RowKind, changelog_schema, row_kind_at, split_row_kinds};

/// One `ORDER BY` column of a rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// Index of the column among the input's data columns.
    pub column: usize,
    /// `DESC`.
    pub descending: bool,
    /// `NULLS FIRST`.
    pub nulls_first: bool,
}

/// Bytes of arrival number at the end of a ranking key.
const ARRIVAL_BYTES: usize = 8;

/// The arrival-number suffix of ranking keys.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    /// XORed into arrival numbers: all ones makes later arrivals rank first.
    mask: u64,
}

impl Arrival {
    /// The ranking-key suffix of arrival number `n`.
    fn encode(self, n: u64) -> [u8; ARRIVAL_BYTES] {
        (n ^ self.mask).to_be_bytes()
    }

    /// The arrival number of a ranking key; `None` when it is too short.
    fn decode(self, key: &[u8]) -> Option<u64> {
        let suffix = key.get(key.len().checked_sub(ARRIVAL_BYTES)?..)?;
        Some(u64::from_be_bytes(suffix.try_into().ok()?) ^ self.mask)
    }
}

/// A row of a partition: its ranking key and all its columns in row format.
type Entry<'a> = (&'a [u8], &'a [u8]);

/// An [`Entry`] taken out of a partition's map.
type OwnedEntry = (Box<[u8]>, Box<[u8]>);

/// The rows of one partition.
#[derive(Default)]
struct Partition {
    /// Every column of each row (row format) by ranking key.
    rows: BTreeMap<Box<[u8]>, Box<[u8]>>,
    /// Rows held before the current batch that the batch removed, kept until
    /// the batch's changes are emitted.
    removed: Vec<OwnedEntry>,
    /// The batch that last touched the partition.
    touched_in: u64,
}

impl Partition {
    /// Adds `row` under ranking key `key`. With a `capacity`, the rows beyond
    /// it are dropped (a row that would rank beyond it is not added at all).
    fn insert(
        &mut self,
        key: &[u8],
        row: &[u8],
        capacity: Option<usize>,
        held_before: impl Fn(&[u8]) -> bool,
    ) {
        if let Some(capacity) = capacity
            && self.rows.len() >= capacity
            && self
                .rows
                .last_key_value()
                .is_some_and(|(last, _)| last.as_ref() < key)
        {
            return;
        }
        self.rows.insert(key.into(), row.into());
        if capacity.is_some_and(|capacity| self.rows.len() > capacity)
            && let Some(entry) = self.rows.pop_last()
        {
            self.set_aside(entry, held_before);
        }
    }

    /// Removes the best-ranked row equal to `row`, whose sort key is
    /// `sort_key`, if there is one.
    fn retract(
        &mut self,
        sort_key: &[u8],
        row: &[u8],
        scratch: &mut Vec<u8>,
        held_before: impl Fn(&[u8]) -> bool,
    ) {
        let found = self
            .rows
            .range::<[u8], _>((Bound::Included(sort_key), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(sort_key))
            .find(|(_, candidate)| candidate.as_ref() == row);
        let Some((key, _)) = found else {
            return;
        };
        scratch.clear();
        scratch.extend_from_slice(key);
        if let Some(entry) = self.rows.remove_entry(scratch.as_slice()) {
            self.set_aside(entry, held_before);
        }
    }

    /// Keeps a removed row until the batch's changes are emitted if it was
    /// held before the batch.
    fn set_aside(&mut self, entry: OwnedEntry, held_before: impl Fn(&[u8]) -> bool) {
        if held_before(&entry.0) {
            self.removed.push(entry);
        }
    }

    /// The first `limit` rows as they were before the current batch: the
    /// rows held before it that are still here merged with those it removed
    /// (sorted).
    fn top_before<'a>(
        &'a self,
        limit: usize,
        held_before: impl Fn(&[u8]) -> bool,
        top: &mut Vec<Entry<'a>>,
    ) {
        let mut kept = self
            .rows
            .iter()
            .map(|(key, row)| (key.as_ref(), row.as_ref()))
            .filter(|(key, _)| held_before(key))
            .peekable();
        let mut removed = self
            .removed
            .iter()
            .map(|(key, row)| (key.as_ref(), row.as_ref()))
            .peekable();
        while top.len() < limit {
            let from_removed = match (kept.peek(), removed.peek()) {
                (None, None) => break,
                (Some(k), Some(r)) => r.0 < k.0,
                (k, _) => k.is_none(),
            };
            top.extend(if from_removed {
                removed.next()
            } else {
                kept.next()
            });
        }
    }

    /// The first `limit` rows now.
    fn top_now<'a>(&'a self, limit: usize, top: &mut Vec<Entry<'a>>) {
        top.extend(
            self.rows
                .iter()
                .take(limit)
                .map(|(key, row)| (key.as_ref(), row.as_ref())),
        );
    }
}

/// The output changelog of one batch, as rows still in row format.
#[derive(Default)]
struct Changes<'a> {
    rows: Vec<&'a [u8]>,
    kinds: Vec<i8>,
    /// Each row's rank number, when the output has one.
    ranks: Vec<i64>,
}

impl<'a> Changes<'a> {
    fn push(&mut self, row: &'a [u8], kind: RowKind) {
        self.rows.push(row);
        self.kinds.push(kind as i8);
    }

    fn push_ranked(&mut self, row: &'a [u8], kind: RowKind, rank: i64) {
        self.push(row, kind);
        self.ranks.push(rank);
    }

    /// Per rank position whose row changed between `before` and `after`:
    /// the old row retracted and the new one emitted, with the rank number.
    fn by_position(&mut self, before: &[Entry<'a>], after: &[Entry<'a>]) {
        for (position, rank) in (0..before.len().max(after.len())).zip(1i64..) {
            let old = before.get(position).map(|e| e.1);
            let new = after.get(position).map(|e| e.1);
            match (old, new) {
                (Some(old), Some(new)) if old != new => {
                    self.push_ranked(old, RowKind::UpdateBefore, rank);
                    self.push_ranked(new, RowKind::UpdateAfter, rank);
                }
                (Some(old), None) => self.push_ranked(old, RowKind::Delete, rank),
                (None, Some(new)) => self.push_ranked(new, RowKind::Insert, rank),
                _ => {}
            }
        }
    }

    /// The rows that left (`-D`) and entered (`+I`) between `before` and
    /// `after` (both in ranking order), as multisets of values: a row that
    /// left and an equal one that entered cancel out.
    fn by_membership(&mut self, before: &[Entry<'a>], after: &[Entry<'a>]) {
        let (left, entered) = sorted_difference(before, after, |e| e.0);
        let mut left: Vec<&[u8]> = left.iter().map(|e| e.1).collect();
        let mut entered: Vec<&[u8]> = entered.iter().map(|e| e.1).collect();
        left.sort_unstable();
        entered.sort_unstable();
        let (left, entered) = sorted_difference(&left, &entered, |row| *row);
        for row in left {
            self.push(row, RowKind::Delete);
        }
        for row in entered {
            self.push(row, RowKind::Insert);
        }
    }
}

/// The elements only in `a` and those only in `b`, for two lists sorted by
/// `key`; elements with equal keys match one to one.
fn sorted_difference<T: Copy, K: Ord>(a: &[T], b: &[T], key: impl Fn(&T) -> K) -> (Vec<T>, Vec<T>) {
    let (mut only_a, mut only_b) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match key(&a[i]).cmp(&key(&b[j])) {
            Ordering::Less => {
                only_a.push(a[i]);
                i += 1;
            }
            Ordering::Greater => {
                only_b.push(b[j]);
                j += 1;
            }
            Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    only_a.extend_from_slice(&a[i..]);
    only_b.extend_from_slice(&b[j..]);
    (only_a, only_b)
}

/// The columns at `indices`.
fn pick(columns: &[ArrayRef], indices: &[usize]) -> Vec<ArrayRef> {
    indices.iter().map(|&c| columns[c].clone()).collect()
}

/// The streaming Top-N (and deduplication) operator; see the module docs.
pub struct Rank {
    input_width: usize,
    partition_columns: Vec<usize>,
    /// Partition ids by partition key.
    partition_ids: KeyIndex,
    /// Per partition id.
    partitions: Vec<Partition>,
    sort_columns: Vec<usize>,
    /// Encodes sort keys, honouring each key's direction and NULL order.
    sort_converter: RowConverter,
    /// Encodes whole rows, which the state holds.
    row_converter: RowConverter,
    row_parser: RowParser,
    limit: usize,
    output_rank_number: bool,
    arrival: Arrival,
    next_arrival: u64,
    batch_number: u64,
    /// Whether the input is a changelog, known from its first batch.
    changelog_input: Option<bool>,
    output_schema: SchemaRef,
    /// Scratch space for ranking keys.
    key_buffer: Vec<u8>,
}

impl Rank {
    /// A rank keeping, per value of the `partition_keys` columns, the first
    /// `limit` rows in `order_by` order. `input_schema` and `output_schema`
    /// hold data columns only: the output is the input's columns followed,
    /// when `output_rank_number`, by the rank number (BIGINT); the operator
    /// adds the row-kind column.
    pub fn new(
        input_schema: SchemaRef,
        partition_keys: Vec<usize>,
        order_by: Vec<SortKey>,
        limit: u64,
        output_rank_number: bool,
        output_schema: SchemaRef,
    ) -> Result<Self> {
        let invalid = |what: String| StreamError::Failed(format!("rank: {what}"));
        let fields = input_schema.fields();
        let type_of = |column: usize| {
            fields
                .get(column)
                .map(|f| f.data_type().clone())
                .ok_or_else(|| {
                    invalid(format!(
                        "column {column} is not among the input's {} columns",
                        fields.len()
                    ))
                })
        };
        let partition_types = partition_keys
            .iter()
            .map(|&c| type_of(c))
            .collect::<Result<Vec<_>>>()?;
        let first = order_by
            .first()
            .ok_or_else(|| invalid("ROW_NUMBER needs an ORDER BY".into()))?;
        let sort_fields = order_by
            .iter()
            .map(|k| {
                let options = SortOptions {
                    descending: k.descending,
                    nulls_first: k.nulls_first,
                };
                Ok(SortField::new_with_options(type_of(k.column)?, options))
            })
            .collect::<Result<Vec<_>>>()?;
        let limit = usize::try_from(limit)
            .ok()
            .filter(|&l| l > 0)
            .ok_or_else(|| invalid(format!("{limit} is not a positive row limit")))?;
        let output_width = fields.len() + usize::from(output_rank_number);
        if output_schema.fields().len() != output_width {
            return Err(invalid(format!(
                "the output has {} columns, expected {output_width}",
                output_schema.fields().len()
            )));
        }
        let row_converter = RowConverter::new(
            fields
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )?;
        Ok(Rank {
            input_width: fields.len(),
            partition_ids: KeyIndex::new(&partition_types)?,
            partition_columns: partition_keys,
            partitions: Vec::new(),
            sort_columns: order_by.iter().map(|k| k.column).collect(),
            arrival: Arrival {
                mask: if first.descending && limit == 1 {
                    u64::MAX
                } else {
                    0
                },
            },
            sort_converter: RowConverter::new(sort_fields)?,
            row_parser: row_converter.parser(),
            row_converter,
            limit,
            output_rank_number,
            next_arrival: 0,
            batch_number: 0,
            changelog_input: None,
            output_schema: changelog_schema(&output_schema),
            key_buffer: Vec::new(),
        })
    }

    /// Remembers whether the input is a changelog, failing when that changes:
    /// for an insert-only input the state drops rows a retraction would need.
    fn check_input_kind(&mut self, changelog: bool) -> Result<()> {
        match self.changelog_input.replace(changelog) {
            Some(was) if was != changelog => Err(StreamError::Failed(
                "rank: the input switched between insert-only and changelog batches".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Ids of the partitions of rows whose columns are `columns`, growing the
    /// state for new partitions.
    fn partition_ids(&mut self, columns: &[ArrayRef], num_rows: usize) -> Result<Vec<u32>> {
        let ids = self
            .partition_ids
            .ids(&pick(columns, &self.partition_columns), num_rows)?;
        self.partitions
            .resize_with(self.partition_ids.len(), Partition::default);
        Ok(ids)
    }

    /// The changelog of the top N of the `touched` partitions from before
    /// the batch whose first row arrived as `first_arrival` to now.
    fn changes(&mut self, touched: &[u32], first_arrival: u64) -> Result<Option<RecordBatch>> {
        for &p in touched {
            self.partitions[p as usize]
                .removed
                .sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        let arrival = self.arrival;
        let held_before = |key: &[u8]| arrival.decode(key).is_some_and(|n| n < first_arrival);
        let mut changes = Changes::default();
        let (mut before, mut after) = (Vec::new(), Vec::new());
        for &p in touched {
            let partition = &self.partitions[p as usize];
            before.clear();
            after.clear();
            partition.top_before(self.limit, held_before, &mut before);
            partition.top_now(self.limit, &mut after);
            if self.output_rank_number {
                changes.by_position(&before, &after);
            } else {
                changes.by_membership(&before, &after);
            }
        }
        if changes.rows.is_empty() {
            return Ok(None);
        }
        let mut columns = self
            .row_converter
            .convert_rows(changes.rows.iter().map(|row| self.row_parser.parse(row)))?;
        if self.output_rank_number {
            columns.push(Arc::new(Int64Array::from(changes.ranks)));
        }
        columns.push(Arc::new(Int8Array::from(changes.kinds)));
        Ok(Some(RecordBatch::try_new(
            self.output_schema.clone(),
            columns,
        )?))
    }

    /// Adds the rows of one snapshot batch to the state.
    fn restore_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let malformed = |what: &str| StreamError::Failed(format!("rank state: {what}"));
        let binary = |column: usize| {
            batch
                .columns()
                .get(column)
                .and_then(|c| c.as_binary_opt::<i32>())
                .filter(|c| c.null_count() == 0)
                .ok_or_else(|| malformed("a ranking-key or row column is missing or has NULLs"))
        };
        let (keys, rows) = (binary(1)?, binary(2)?);
        let data = self
            .row_converter
            .convert_rows(rows.iter().flatten().map(|row| self.row_parser.parse(row)))?;
        let ids = self.partition_ids(&data, batch.num_rows())?;
        for ((&p, key), row) in ids
            .iter()
            .zip(keys.iter().flatten())
            .zip(rows.iter().flatten())
        {
            let arrival = self
                .arrival
                .decode(key)
                .ok_or_else(|| malformed("a ranking key without an arrival number"))?;
            self.next_arrival = self.next_arrival.max(arrival.saturating_add(1));
            if self.partitions[p as usize]
                .rows
                .insert(key.into(), row.into())
                .is_some()
            {
                return Err(malformed("a ranking key restored twice"));
            }
        }
        Ok(())
    }
}

impl Operator for Rank {
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
        self.check_input_kind(kinds.is_some())?;
        if data.num_columns() != self.input_width {
            return Err(StreamError::Failed(format!(
                "rank: a batch has {} data columns, expected {}",
                data.num_columns(),
                self.input_width
            )));
        }
        let ids = self.partition_ids(data.columns(), data.num_rows())?;
        let sort_keys = self
            .sort_converter
            .convert_columns(&pick(data.columns(), &self.sort_columns))?;
        let rows = self.row_converter.convert_columns(data.columns())?;
        let capacity = kinds.is_none().then_some(self.limit);
        let first_arrival = self.next_arrival;
        let arrival = self.arrival;
        let held_before = |key: &[u8]| arrival.decode(key).is_some_and(|n| n < first_arrival);
        self.batch_number += 1;
        let mut touched = Vec::new();
        for (i, &p) in ids.iter().enumerate() {
            let partition = &mut self.partitions[p as usize];
            if partition.touched_in != self.batch_number {
                partition.touched_in = self.batch_number;
                touched.push(p);
            }
            let (sort_key, row) = (sort_keys.row(i), rows.row(i));
            if row_kind_at(kinds.as_ref(), i)?.is_retraction() {
                partition.retract(
                    sort_key.as_ref(),
                    row.as_ref(),
                    &mut self.key_buffer,
                    held_before,
                );
            } else {
                self.key_buffer.clear();
                self.key_buffer.extend_from_slice(sort_key.as_ref());
                self.key_buffer
                    .extend_from_slice(&arrival.encode(self.next_arrival));
                self.next_arrival += 1;
                partition.insert(&self.key_buffer, row.as_ref(), capacity, held_before);
            }
        }
        if let Some(changes) = self.changes(&touched, first_arrival)? {
            out.push(changes);
        }
        for &p in &touched {
            self.partitions[p as usize].removed.clear();
        }
        Ok(())
    }

    fn snapshot_state(&mut self, max_parallelism: u32) -> Result<Option<RecordBatch>> {
        let live: Vec<u32> = (0u32..)
            .zip(&self.partitions)
            .filter_map(|(p, partition)| (!partition.rows.is_empty()).then_some(p))
            .collect();
        if live.is_empty() {
            return Ok(None);
        }
        let groups = self.partition_ids.key_groups(&live, max_parallelism)?;
        let mut key_groups = Vec::new();
        let (mut keys, mut rows) = (BinaryBuilder::new(), BinaryBuilder::new());
        for (&p, &group) in live.iter().zip(&groups) {
            for (key, row) in &self.partitions[p as usize].rows {
                key_groups.push(group);
                keys.append_value(key);
                rows.append_value(row);
            }
        }
        let schema = Schema::new(vec![
            Field::new(KEY_GROUP_COLUMN, DataType::UInt32, false),
            Field::new("_ranking_key", DataType::Binary, false),
            Field::new("_row", DataType::Binary, false),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(key_groups)),
            Arc::new(keys.finish()),
            Arc::new(rows.finish()),
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
