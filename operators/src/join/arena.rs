//! Row encodings in one growing buffer, addressed by index, with the
//! space of released rows reclaimed by rewriting the buffer.

use arrow::row::{Row, RowConverter, Rows};

use crate::error::{Result, StreamError};

/// End of a row list; marks a free slot or key entry.
pub(super) const NIL: u32 = u32::MAX;

/// Dead rows a buffer tolerates before it is rewritten (and only once they
/// are more than half of its rows).
const COMPACT_MIN_DEAD: usize = 1024;

/// `n` as an id, failing past the id space.
pub(super) fn to_id(n: usize, what: &str) -> Result<u32> {
    u32::try_from(n)
        .ok()
        .filter(|&id| id != NIL)
        .ok_or_else(|| StreamError::Failed(format!("more than {NIL} {what} in one join subtask")))
}

/// Row encodings appended to one buffer. A released row stays until the
/// buffer is compacted, which moves the live rows and renumbers them.
pub(super) struct RowArena {
    rows: Rows,
    bytes: usize,
    dead_rows: usize,
    dead_bytes: usize,
}

impl RowArena {
    /// An empty arena for rows `converter` encodes.
    pub(super) fn new(converter: &RowConverter) -> Self {
        RowArena {
            rows: converter.empty_rows(0, 0),
            bytes: 0,
            dead_rows: 0,
            dead_bytes: 0,
        }
    }

    /// Appends a row; returns its index.
    pub(super) fn push(&mut self, row: Row<'_>) -> Result<u32> {
        let index = to_id(self.rows.num_rows(), "stored rows")?;
        self.bytes += row.data().len();
        self.rows.push(row);
        Ok(index)
    }

    /// The row at `index`.
    pub(super) fn get(&self, index: u32) -> Row<'_> {
        self.rows.row(index as usize)
    }

    /// Marks the row at `index` dead; its space is reclaimed by the next
    /// compaction.
    pub(super) fn release(&mut self, index: u32) {
        self.dead_rows += 1;
        self.dead_bytes += self.rows.row_len(index as usize);
    }

    /// Rewrites the buffer with the rows `live` points at, if enough are
    /// dead, updating each index to the row's new place.
    pub(super) fn compact<'a>(
        &mut self,
        converter: &RowConverter,
        live: impl Iterator<Item = &'a mut u32>,
    ) {
        if self.dead_rows < COMPACT_MIN_DEAD || self.dead_rows * 2 < self.rows.num_rows() {
            return;
        }
        let live_bytes = self.bytes - self.dead_bytes;
        let mut fresh = converter.empty_rows(self.rows.num_rows() - self.dead_rows, live_bytes);
        for index in live {
            let moved = fresh.num_rows() as u32;
            fresh.push(self.rows.row(*index as usize));
            *index = moved;
        }
        self.rows = fresh;
        self.bytes = live_bytes;
        self.dead_rows = 0;
        self.dead_bytes = 0;
    }
}
