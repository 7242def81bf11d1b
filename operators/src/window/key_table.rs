//! The group keys that have open windows, interned to small ids so that a
//! row's key is hashed once however many windows it falls into. A key is
//! forgotten when its last window fires; the bytes of forgotten keys are
//! reclaimed by compacting, so memory follows the keys with open windows.

use std::hash::BuildHasher;

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, Rows, SortField};
use hashbrown::{DefaultHashBuilder, HashTable};

use crate::error::{Result, StreamError};

/// Compaction waits until at least this many bytes are garbage.
const MIN_GARBAGE_TO_COMPACT: usize = 64 * 1024;

/// Interned group keys, in Arrow's row format, with their open-window counts.
pub(super) struct KeyTable {
    key_count: usize,
    converter: RowConverter,
    hasher: DefaultHashBuilder,
    /// Key ids by the hash of their bytes.
    table: HashTable<u32>,
    /// The encoded keys, back to back.
    arena: Vec<u8>,
    /// Per id: where its bytes sit in `arena`, `None` for a free id.
    spans: Vec<Option<(usize, usize)>>,
    hashes: Vec<u64>,
    /// Per id: how many open windows hold the key.
    open_windows: Vec<usize>,
    free: Vec<u32>,
    /// Bytes of `arena` that belong to forgotten keys.
    garbage: usize,
}

impl KeyTable {
    /// A table for keys of the given column types (none for a global
    /// aggregate, whose one key is empty).
    pub(super) fn new(key_types: &[DataType]) -> Result<Self> {
        Ok(KeyTable {
            key_count: key_types.len(),
            converter: RowConverter::new(key_types.iter().cloned().map(SortField::new).collect())?,
            hasher: DefaultHashBuilder::default(),
            table: HashTable::new(),
            arena: Vec::new(),
            spans: Vec::new(),
            hashes: Vec::new(),
            open_windows: Vec::new(),
            free: Vec::new(),
            garbage: 0,
        })
    }

    /// The keys of a batch's key columns in row format; `None` without key
    /// columns (every row then has the empty key).
    pub(super) fn encode(&self, columns: &[ArrayRef]) -> Result<Option<Rows>> {
        if self.key_count == 0 {
            return Ok(None);
        }
        Ok(Some(self.converter.convert_columns(columns)?))
    }

    /// The id of an encoded key, added (with no open windows) if new.
    pub(super) fn intern(&mut self, bytes: &[u8]) -> Result<u32> {
        let hash = self.hasher.hash_one(bytes);
        let (arena, spans) = (&self.arena, &self.spans);
        let known = self.table.find(hash, |&id| {
            spans[id as usize].is_some_and(|(at, len)| &arena[at..at + len] == bytes)
        });
        if let Some(&id) = known {
            return Ok(id);
        }
        let span = Some((self.arena.len(), bytes.len()));
        self.arena.extend_from_slice(bytes);
        let id = match self.free.pop() {
            Some(id) => {
                self.spans[id as usize] = span;
                self.hashes[id as usize] = hash;
                id
            }
            None => {
                let id = u32::try_from(self.spans.len()).map_err(|_| {
                    StreamError::Failed("more than 2^32 keys with open windows".into())
                })?;
                self.spans.push(span);
                self.hashes.push(hash);
                self.open_windows.push(0);
                id
            }
        };
        let hashes = &self.hashes;
        self.table
            .insert_unique(hash, id, |&other| hashes[other as usize]);
        Ok(id)
    }

    /// The encoded bytes of key `id`.
    pub(super) fn bytes(&self, id: u32) -> &[u8] {
        match self.spans[id as usize] {
            Some((at, len)) => &self.arena[at..at + len],
            None => &[],
        }
    }

    /// Key `id` got one more open window.
    pub(super) fn retain(&mut self, id: u32) {
        self.open_windows[id as usize] += 1;
    }

    /// One window of key `id` fired; the key is forgotten with its last one.
    pub(super) fn release(&mut self, id: u32) {
        let open = &mut self.open_windows[id as usize];
        *open -= 1;
        if *open > 0 {
            return;
        }
        if let Ok(entry) = self
            .table
            .find_entry(self.hashes[id as usize], |&other| other == id)
        {
            entry.remove();
        }
        if let Some((_, len)) = self.spans[id as usize].take() {
            self.garbage += len;
        }
        self.free.push(id);
        if self.garbage >= MIN_GARBAGE_TO_COMPACT && self.garbage * 2 >= self.arena.len() {
            self.compact();
        }
    }

    /// Copies the live keys' bytes into a fresh arena.
    fn compact(&mut self) {
        let mut arena = Vec::with_capacity(self.arena.len() - self.garbage);
        for (at, len) in self.spans.iter_mut().flatten() {
            let moved = arena.len();
            arena.extend_from_slice(&self.arena[*at..*at + *len]);
            *at = moved;
        }
        self.arena = arena;
        self.garbage = 0;
    }

    /// The key columns of the listed key ids.
    pub(super) fn decode(&self, ids: impl Iterator<Item = u32>) -> Result<Vec<ArrayRef>> {
        if self.key_count == 0 {
            return Ok(Vec::new());
        }
        let parser = self.converter.parser();
        Ok(self
            .converter
            .convert_rows(ids.map(|id| parser.parse(self.bytes(id))))?)
    }

    /// Number of keys with open windows.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.spans.len() - self.free.len()
    }
}
