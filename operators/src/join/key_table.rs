//! The distinct join keys of a join's state, by id, each with the ends of
//! its per-side row lists.

use arrow::datatypes::DataType;
use arrow::row::{RowConverter, RowParser, SortField};
use hashbrown::HashTable;
use xxhash_rust::xxh3::xxh3_64;

use super::arena::{NIL, RowArena, to_id};
use crate::error::Result;

/// A join key and the first and last stored row of each side under it.
pub(super) struct KeyEntry {
    /// Index of the key's encoding in the key arena; [`NIL`] when free.
    pub(super) row: u32,
    pub(super) heads: [u32; 2],
    pub(super) tails: [u32; 2],
    /// The batch that last touched the key, to list each touched key once.
    pub(super) mark: u64,
}

/// The distinct join keys, by id.
pub(super) struct KeyTable {
    pub(super) converter: RowConverter,
    parser: RowParser,
    arena: RowArena,
    table: HashTable<u32>,
    pub(super) entries: Vec<KeyEntry>,
    free: Vec<u32>,
}

impl KeyTable {
    /// An empty table of keys of the given column types.
    pub(super) fn new(key_types: &[DataType]) -> Result<Self> {
        let converter = RowConverter::new(key_types.iter().cloned().map(SortField::new).collect())?;
        Ok(KeyTable {
            parser: converter.parser(),
            arena: RowArena::new(&converter),
            converter,
            table: HashTable::new(),
            entries: Vec::new(),
            free: Vec::new(),
        })
    }

    /// The id of an encoded key whose hash is `hash`.
    pub(super) fn find(&self, key: &[u8], hash: u64) -> Option<u32> {
        let (arena, entries) = (&self.arena, &self.entries);
        self.table
            .find(hash, |&k| arena.get(entries[k as usize].row).data() == key)
            .copied()
    }

    /// The id of an encoded key, added if new.
    pub(super) fn intern(&mut self, key: &[u8]) -> Result<u32> {
        let hash = xxh3_64(key);
        if let Some(k) = self.find(key, hash) {
            return Ok(k);
        }
        let entry = KeyEntry {
            row: self.arena.push(self.parser.parse(key))?,
            heads: [NIL; 2],
            tails: [NIL; 2],
            mark: 0,
        };
        let k = match self.free.pop() {
            Some(k) => {
                self.entries[k as usize] = entry;
                k
            }
            None => {
                let k = to_id(self.entries.len(), "join keys")?;
                self.entries.push(entry);
                k
            }
        };
        let (arena, entries) = (&self.arena, &self.entries);
        self.table.insert_unique(hash, k, |&e| {
            xxh3_64(arena.get(entries[e as usize].row).data())
        });
        Ok(k)
    }

    /// Removes key `k`; its id is reused.
    pub(super) fn remove(&mut self, k: u32) {
        let row = self.entries[k as usize].row;
        let hash = xxh3_64(self.arena.get(row).data());
        if let Ok(entry) = self.table.find_entry(hash, |&e| e == k) {
            entry.remove();
        }
        self.arena.release(row);
        self.entries[k as usize].row = NIL;
        self.free.push(k);
    }

    /// Reclaims the space of removed keys once enough piled up.
    pub(super) fn compact(&mut self) {
        let live = self
            .entries
            .iter_mut()
            .filter(|e| e.row != NIL)
            .map(|e| &mut e.row);
        self.arena.compact(&self.converter, live);
    }
}
