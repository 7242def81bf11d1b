//! The open windows of every key: one accumulator slot per (key, window),
//! found by hash, listed by window end for firing, and reused once fired so
//! the slot count follows the number of open windows.

use std::collections::BTreeMap;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::assigner::{Window, has_fired};
use crate::error::{Result, StreamError};

/// The (key, window) pairs with accumulator slots.
pub(super) struct WindowSlots {
    hasher: DefaultHashBuilder,
    /// Open slots by the hash of their (key, window).
    table: HashTable<u32>,
    /// Per slot: its key id.
    keys: Vec<u32>,
    /// Per slot: its window.
    windows: Vec<Window>,
    /// Slots of fired windows, to be reused.
    free: Vec<u32>,
    /// Open slots by window end, each list in order of creation.
    by_end: BTreeMap<i64, Vec<u32>>,
}

impl WindowSlots {
    /// No windows open.
    pub(super) fn new() -> Self {
        WindowSlots {
            hasher: DefaultHashBuilder::default(),
            table: HashTable::new(),
            keys: Vec::new(),
            windows: Vec::new(),
            free: Vec::new(),
            by_end: BTreeMap::new(),
        }
    }

    /// The slot of `key`'s `window`, and whether it was just opened.
    pub(super) fn find_or_open(&mut self, key: u32, window: Window) -> Result<(u32, bool)> {
        let hash = self.hash(key, window);
        if let Some(slot) = self.find(hash, key, window) {
            return Ok((slot, false));
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.keys[slot as usize] = key;
                self.windows[slot as usize] = window;
                slot
            }
            None => self.append(key, window)?,
        };
        self.index(hash, slot);
        Ok((slot, true))
    }

    /// Opens `key`'s `window` in a new slot after all existing ones (a
    /// restore loads accumulator state into consecutive slots).
    pub(super) fn open_appended(&mut self, key: u32, window: Window) -> Result<u32> {
        let hash = self.hash(key, window);
        if self.find(hash, key, window).is_some() {
            return Err(StreamError::Failed(
                "window state: a window of a key was restored twice".into(),
            ));
        }
        let slot = self.append(key, window)?;
        self.index(hash, slot);
        Ok(slot)
    }

    fn hash(&self, key: u32, window: Window) -> u64 {
        self.hasher.hash_one((key, window))
    }

    fn find(&self, hash: u64, key: u32, window: Window) -> Option<u32> {
        self.table
            .find(hash, |&slot| {
                self.keys[slot as usize] == key && self.windows[slot as usize] == window
            })
            .copied()
    }

    fn append(&mut self, key: u32, window: Window) -> Result<u32> {
        let slot = u32::try_from(self.keys.len())
            .map_err(|_| StreamError::Failed("more than 2^32 open windows".into()))?;
        self.keys.push(key);
        self.windows.push(window);
        Ok(slot)
    }

    fn index(&mut self, hash: u64, slot: u32) {
        let (hasher, keys, windows) = (&self.hasher, &self.keys, &self.windows);
        self.table.insert_unique(hash, slot, |&other| {
            hasher.hash_one((keys[other as usize], windows[other as usize]))
        });
        self.by_end
            .entry(windows[slot as usize].end)
            .or_default()
            .push(slot);
    }

    /// Closes the windows that fired at `watermark` and returns their slots
    /// in window-end order; they stay readable until [`WindowSlots::free`].
    pub(super) fn close_fired(&mut self, watermark: i64) -> Vec<u32> {
        let mut fired = Vec::new();
        while let Some(entry) = self.by_end.first_entry()
            && has_fired(*entry.key(), watermark)
        {
            fired.extend(entry.remove());
        }
        for &slot in &fired {
            let hash = self.hash(self.key(slot), self.window(slot));
            if let Ok(entry) = self.table.find_entry(hash, |&other| other == slot) {
                entry.remove();
            }
        }
        fired
    }

    /// Makes closed slots available for new windows.
    pub(super) fn free(&mut self, slots: &[u32]) {
        self.free.extend_from_slice(slots);
    }

    /// The open slots in window-end order.
    pub(super) fn open(&self) -> Vec<u32> {
        self.by_end.values().flatten().copied().collect()
    }

    /// Number of open windows.
    pub(super) fn open_count(&self) -> usize {
        self.table.len()
    }

    /// Number of slots, open or free: what the accumulators hold room for.
    pub(super) fn capacity(&self) -> usize {
        self.keys.len()
    }

    /// The key id of a slot.
    pub(super) fn key(&self, slot: u32) -> u32 {
        self.keys[slot as usize]
    }

    /// The window of a slot.
    pub(super) fn window(&self, slot: u32) -> Window {
        self.windows[slot as usize]
    }
}
