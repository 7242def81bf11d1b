//! The stored rows of one side of a join: their encodings, their places
//! in the per-key lists, their bookkeeping, and optionally an index by
//! content.

use arrow::datatypes::Schema;
use arrow::row::{Row, RowConverter, SortField};
use hashbrown::HashTable;
use xxhash_rust::xxh3::xxh3_64;

use super::arena::{NIL, RowArena, to_id};
use crate::error::Result;

/// One stored row: where its encoding is, its key, its neighbours in the
/// key's list and its bookkeeping.
pub(super) struct Slot<M> {
    pub(super) row: u32,
    /// [`NIL`] when the slot is free.
    pub(super) key: u32,
    pub(super) prev: u32,
    pub(super) next: u32,
    pub(super) meta: M,
}

/// The stored rows of one side.
pub(super) struct Side<M> {
    pub(super) converter: RowConverter,
    pub(super) arena: RowArena,
    pub(super) slots: Vec<Slot<M>>,
    free: Vec<u32>,
    /// Slots by row content, when rows are looked up by content.
    by_content: Option<HashTable<u32>>,
    pub(super) live: usize,
}

impl<M> Side<M> {
    /// No rows of a side of the given schema; `index_content` enables
    /// [`Side::find`].
    pub(super) fn new(schema: &Schema, index_content: bool) -> Result<Self> {
        let converter = RowConverter::new(
            schema
                .fields()
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )?;
        Ok(Side {
            arena: RowArena::new(&converter),
            converter,
            slots: Vec::new(),
            free: Vec::new(),
            by_content: index_content.then(HashTable::new),
            live: 0,
        })
    }

    /// The slot holding a row equal to `row`, if rows are indexed by
    /// content.
    pub(super) fn find(&self, row: Row<'_>) -> Option<u32> {
        let index = self.by_content.as_ref()?;
        let (arena, slots) = (&self.arena, &self.slots);
        index
            .find(xxh3_64(row.data()), |&s| {
                arena.get(slots[s as usize].row) == row
            })
            .copied()
    }

    /// Stores a row in a free slot, unlinked.
    pub(super) fn alloc(&mut self, key: u32, row: Row<'_>, meta: M) -> Result<u32> {
        let slot = Slot {
            row: self.arena.push(row)?,
            key,
            prev: NIL,
            next: NIL,
            meta,
        };
        let s = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = slot;
                s
            }
            None => {
                let s = to_id(self.slots.len(), "stored rows")?;
                self.slots.push(slot);
                s
            }
        };
        if let Some(index) = &mut self.by_content {
            let (arena, slots) = (&self.arena, &self.slots);
            index.insert_unique(xxh3_64(row.data()), s, |&t| {
                xxh3_64(arena.get(slots[t as usize].row).data())
            });
        }
        self.live += 1;
        Ok(s)
    }

    /// Frees an unlinked slot.
    pub(super) fn release(&mut self, s: u32) {
        let row = self.slots[s as usize].row;
        if let Some(index) = &mut self.by_content {
            let hash = xxh3_64(self.arena.get(row).data());
            if let Ok(entry) = index.find_entry(hash, |&t| t == s) {
                entry.remove();
            }
        }
        self.arena.release(row);
        self.slots[s as usize].key = NIL;
        self.free.push(s);
        self.live -= 1;
    }

    /// Reclaims the space of released rows once enough piled up.
    pub(super) fn compact(&mut self) {
        let live = self
            .slots
            .iter_mut()
            .filter(|s| s.key != NIL)
            .map(|s| &mut s.row);
        self.arena.compact(&self.converter, live);
    }
}
