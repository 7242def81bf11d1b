//! The rows both joins keep, grouped by join key: a key table whose entries
//! hold one list of stored rows per side, and per side the rows' encodings
//! with a bookkeeping value `M` each (see the module doc of the `join`
//! module for why rows are kept in Arrow's row format).

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, Schema};
use arrow::row::{Row, Rows};
use xxhash_rust::xxh3::xxh3_64;

use super::arena::NIL;
use super::key_table::KeyTable;
use super::side::{Side, Slot};
use crate::error::{Result, StreamError};
use crate::keys::{hash_keys, key_group};

/// One input batch in the state's encodings: its join keys and its rows.
pub(crate) struct EncodedBatch {
    /// `None` when the join has no key columns: every row has the empty key.
    keys: Option<Rows>,
    rows: Rows,
    null_keys: Vec<bool>,
}

impl EncodedBatch {
    /// Number of rows.
    pub(crate) fn num_rows(&self) -> usize {
        self.null_keys.len()
    }

    /// Row `i`'s encoded join key.
    pub(crate) fn key(&self, i: usize) -> &[u8] {
        self.keys.as_ref().map_or(&[], |keys| keys.row(i).data())
    }

    /// Row `i`'s encoding.
    pub(crate) fn row(&self, i: usize) -> Row<'_> {
        self.rows.row(i)
    }

    /// True when a key column of row `i` is NULL: the row matches nothing.
    pub(crate) fn has_null_key(&self, i: usize) -> bool {
        self.null_keys[i]
    }
}

/// The stored rows of both sides of a join, grouped by join key, each with
/// a bookkeeping value `M`.
pub(crate) struct JoinState<M> {
    keys: KeyTable,
    sides: [Side<M>; 2],
    batch: u64,
}

impl<M: Copy> JoinState<M> {
    /// State for inputs of the given schemas and join key types. With
    /// `index_content`, rows can be looked up by content
    /// ([`JoinState::find_row`]); each distinct row is then stored once.
    pub(crate) fn new(
        key_types: &[DataType],
        schemas: [&Schema; 2],
        index_content: bool,
    ) -> Result<Self> {
        Ok(JoinState {
            keys: KeyTable::new(key_types)?,
            sides: [
                Side::new(schemas[0], index_content)?,
                Side::new(schemas[1], index_content)?,
            ],
            batch: 0,
        })
    }

    /// Encodes the keys (columns `key_columns`) and rows of a batch of
    /// `side`.
    pub(crate) fn encode(
        &self,
        side: usize,
        columns: &[ArrayRef],
        key_columns: &[usize],
    ) -> Result<EncodedBatch> {
        let num_rows = columns.first().map_or(0, |c| c.len());
        let key_arrays: Vec<ArrayRef> = key_columns.iter().map(|&c| columns[c].clone()).collect();
        let mut null_keys = vec![false; num_rows];
        for column in &key_arrays {
            if let Some(nulls) = column.logical_nulls() {
                for (null_key, valid) in null_keys.iter_mut().zip(nulls.iter()) {
                    *null_key |= !valid;
                }
            }
        }
        let keys = if key_arrays.is_empty() {
            None
        } else {
            Some(self.keys.converter.convert_columns(&key_arrays)?)
        };
        Ok(EncodedBatch {
            keys,
            rows: self.sides[side].converter.convert_columns(columns)?,
            null_keys,
        })
    }

    /// Starts a batch: every key counts as untouched again.
    pub(crate) fn begin_batch(&mut self) {
        self.batch += 1;
    }

    /// True the first time `key` is touched in the current batch.
    pub(crate) fn first_touch(&mut self, key: u32) -> bool {
        let mark = &mut self.keys.entries[key as usize].mark;
        let first = *mark != self.batch;
        *mark = self.batch;
        first
    }

    /// The id of an encoded key, if it is in the state.
    pub(crate) fn find_key(&self, key: &[u8]) -> Option<u32> {
        self.keys.find(key, xxh3_64(key))
    }

    /// The id of an encoded key, adding it (with no rows) if new.
    pub(crate) fn intern_key(&mut self, key: &[u8]) -> Result<u32> {
        self.keys.intern(key)
    }

    /// Drops `key` if it holds no rows on either side.
    pub(crate) fn release_if_empty(&mut self, key: u32) {
        let entry = &self.keys.entries[key as usize];
        if entry.row != NIL && entry.heads == [NIL; 2] {
            self.keys.remove(key);
        }
    }

    /// Ids of all keys in the state, in id order.
    pub(crate) fn key_ids(&self) -> Vec<u32> {
        (0..self.keys.entries.len() as u32)
            .filter(|&k| self.keys.entries[k as usize].row != NIL)
            .collect()
    }

    /// The stored rows of `side` under `key`, oldest first.
    pub(crate) fn rows(&self, key: u32, side: usize) -> impl Iterator<Item = u32> + '_ {
        let slots = &self.sides[side].slots;
        let head = self.keys.entries[key as usize].heads[side];
        std::iter::successors((head != NIL).then_some(head), move |&s| {
            let next = slots[s as usize].next;
            (next != NIL).then_some(next)
        })
    }

    /// The stored row of `side` equal to `row`, when rows are indexed by
    /// content.
    pub(crate) fn find_row(&self, side: usize, row: Row<'_>) -> Option<u32> {
        self.sides[side].find(row)
    }

    /// Stores `row` of `side` under `key`, last in the key's list.
    pub(crate) fn insert_row(
        &mut self,
        side: usize,
        key: u32,
        row: Row<'_>,
        meta: M,
    ) -> Result<u32> {
        let s = self.sides[side].alloc(key, row, meta)?;
        let entry = &mut self.keys.entries[key as usize];
        let tail = entry.tails[side];
        entry.tails[side] = s;
        if tail == NIL {
            entry.heads[side] = s;
        } else {
            let slots = &mut self.sides[side].slots;
            slots[tail as usize].next = s;
            slots[s as usize].prev = tail;
        }
        Ok(s)
    }

    /// Removes a stored row; returns its key (which may now be empty).
    pub(crate) fn remove_row(&mut self, side: usize, s: u32) -> u32 {
        let slots = &mut self.sides[side].slots;
        let Slot {
            key, prev, next, ..
        } = slots[s as usize];
        if prev != NIL {
            slots[prev as usize].next = next;
        }
        if next != NIL {
            slots[next as usize].prev = prev;
        }
        let entry = &mut self.keys.entries[key as usize];
        if prev == NIL {
            entry.heads[side] = next;
        }
        if next == NIL {
            entry.tails[side] = prev;
        }
        self.sides[side].release(s);
        key
    }

    /// Removes the rows under `key` (both sides) whose bookkeeping
    /// `expired` accepts.
    pub(crate) fn remove_where(&mut self, key: u32, expired: impl Fn(&M) -> bool) {
        for side in 0..2 {
            let doomed: Vec<u32> = self
                .rows(key, side)
                .filter(|&s| expired(self.meta(side, s)))
                .collect();
            for s in doomed {
                self.remove_row(side, s);
            }
        }
    }

    /// A stored row's bookkeeping.
    pub(crate) fn meta(&self, side: usize, s: u32) -> &M {
        &self.sides[side].slots[s as usize].meta
    }

    /// A stored row's bookkeeping, to update.
    pub(crate) fn meta_mut(&mut self, side: usize, s: u32) -> &mut M {
        &mut self.sides[side].slots[s as usize].meta
    }

    /// Number of distinct rows stored for `side` (0 for a side that does
    /// not exist).
    pub(crate) fn len(&self, side: usize) -> usize {
        self.sides.get(side).map_or(0, |s| s.live)
    }

    /// Decodes stored rows of `side` into the side's columns.
    pub(crate) fn decode(&self, side: usize, slots: &[u32]) -> Result<Vec<ArrayRef>> {
        let side = &self.sides[side];
        Ok(side.converter.convert_rows(
            slots
                .iter()
                .map(|&s| side.arena.get(side.slots[s as usize].row)),
        )?)
    }

    /// Reclaims the space of removed rows and keys once enough piled up.
    pub(crate) fn compact(&mut self) {
        self.keys.compact();
        for side in &mut self.sides {
            side.compact();
        }
    }

    /// Every stored row of `side`, key by key and in list order within a
    /// key, decoded, with each row's key group (from its columns
    /// `key_columns`).
    pub(crate) fn dump(
        &self,
        side: usize,
        key_columns: &[usize],
        max_parallelism: u32,
    ) -> Result<Dump<M>> {
        let slots: Vec<u32> = self
            .key_ids()
            .into_iter()
            .flat_map(|k| self.rows(k, side))
            .collect();
        let columns = self.decode(side, &slots)?;
        let keys: Vec<ArrayRef> = key_columns.iter().map(|&c| columns[c].clone()).collect();
        let key_groups = hash_keys(&keys, slots.len())?
            .into_iter()
            .map(|h| key_group(h, max_parallelism))
            .collect();
        let metas = slots.iter().map(|&s| *self.meta(side, s)).collect();
        Ok(Dump {
            key_groups,
            columns,
            metas,
        })
    }

    /// Stores the rows of `side` given as columns (as [`JoinState::dump`]
    /// produced them) with their bookkeeping; returns their slots.
    pub(crate) fn load(
        &mut self,
        side: usize,
        columns: &[ArrayRef],
        key_columns: &[usize],
        metas: &[M],
    ) -> Result<Vec<u32>> {
        let encoded = self.encode(side, columns, key_columns)?;
        let mut slots = Vec::with_capacity(metas.len());
        for (i, &meta) in metas.iter().enumerate() {
            if self.find_row(side, encoded.row(i)).is_some() {
                return Err(StreamError::Failed(
                    "join state: a row appears twice in the restored state".into(),
                ));
            }
            let key = self.intern_key(encoded.key(i))?;
            slots.push(self.insert_row(side, key, encoded.row(i), meta)?);
        }
        Ok(slots)
    }
}

/// The stored rows of one side, decoded for a snapshot.
pub(crate) struct Dump<M> {
    /// Each row's key group.
    pub(crate) key_groups: Vec<u32>,
    /// The side's data columns.
    pub(crate) columns: Vec<ArrayRef>,
    /// Each row's bookkeeping.
    pub(crate) metas: Vec<M>,
}
