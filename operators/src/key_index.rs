//! Dense ids for the keys of a keyed operator, so it can keep its per-key
//! state in vectors indexed by id.

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;
use arrow::row::{Row, RowConverter, Rows, SortField};
use hashbrown::HashTable;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{Result, StreamError};
use crate::keys::{hash_keys, key_group};

/// Maps each distinct key (the values of some key columns) to an id
/// `0..len()`, in order of first appearance. Keys are held in Arrow's row
/// format. Without key columns every row has the same key, id 0.
pub(crate) struct KeyIndex {
    /// `None` without key columns.
    encoded: Option<EncodedKeys>,
    len: u32,
}

struct EncodedKeys {
    converter: RowConverter,
    /// The bytes of key `id` are row `id`.
    keys: Rows,
    /// Ids by the hash of their key's bytes.
    table: HashTable<u32>,
}

impl EncodedKeys {
    /// The id of `row`'s key, which gets id `next` when it is new; true when
    /// it was added.
    fn find_or_insert(&mut self, row: Row<'_>, next: u32) -> (u32, bool) {
        let bytes = row.as_ref();
        let hash = xxh3_64(bytes);
        let keys = &self.keys;
        if let Some(&id) = self
            .table
            .find(hash, |&id| keys.row(id as usize).as_ref() == bytes)
        {
            return (id, false);
        }
        self.keys.push(row);
        let keys = &self.keys;
        self.table
            .insert_unique(hash, next, |&id| xxh3_64(keys.row(id as usize).as_ref()));
        (next, true)
    }
}

impl KeyIndex {
    /// An empty index of keys made of columns of `key_types`.
    pub(crate) fn new(key_types: &[DataType]) -> Result<Self> {
        let encoded = if key_types.is_empty() {
            None
        } else {
            let converter =
                RowConverter::new(key_types.iter().cloned().map(SortField::new).collect())?;
            Some(EncodedKeys {
                keys: converter.empty_rows(0, 0),
                converter,
                table: HashTable::new(),
            })
        };
        Ok(KeyIndex { encoded, len: 0 })
    }

    /// Number of keys seen.
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// The id of the key of each of `num_rows` rows whose key columns are
    /// `columns`, adding the keys not seen before.
    pub(crate) fn ids(&mut self, columns: &[ArrayRef], num_rows: usize) -> Result<Vec<u32>> {
        let Some(encoded) = &mut self.encoded else {
            if num_rows > 0 {
                self.len = 1;
            }
            return Ok(vec![0; num_rows]);
        };
        let rows = encoded.converter.convert_columns(columns)?;
        let mut ids = Vec::with_capacity(rows.num_rows());
        for row in rows.iter() {
            let (id, added) = encoded.find_or_insert(row, self.len);
            if added {
                self.len = grown(self.len)?;
            }
            ids.push(id);
        }
        Ok(ids)
    }

    /// Adds a key from the bytes [`KeyIndex::encoded`] gave, when restoring
    /// state; fails when the key is already present.
    pub(crate) fn insert_encoded(&mut self, bytes: &[u8]) -> Result<u32> {
        let added = match &mut self.encoded {
            None => bytes.is_empty() && self.len == 0,
            Some(encoded) => {
                let parser = encoded.converter.parser();
                encoded.find_or_insert(parser.parse(bytes), self.len).1
            }
        };
        if !added {
            return Err(StreamError::Failed(
                "restored state holds a key twice: the snapshot is corrupt".into(),
            ));
        }
        let id = self.len;
        self.len = grown(self.len)?;
        Ok(id)
    }

    /// The encoded bytes of key `id` (empty without key columns), which
    /// [`KeyIndex::insert_encoded`] takes back.
    pub(crate) fn encoded(&self, id: u32) -> &[u8] {
        match &self.encoded {
            None => &[],
            Some(encoded) => encoded.keys.row(id as usize).data(),
        }
    }

    /// The key columns of the keys `ids` (none without key columns).
    pub(crate) fn key_columns(&self, ids: &[u32]) -> Result<Vec<ArrayRef>> {
        match &self.encoded {
            None => Ok(Vec::new()),
            Some(encoded) => Ok(encoded
                .converter
                .convert_rows(ids.iter().map(|&id| encoded.keys.row(id as usize)))?),
        }
    }

    /// The key group of each key in `ids` out of `max_parallelism`, as the
    /// hash exchange assigns them.
    pub(crate) fn key_groups(&self, ids: &[u32], max_parallelism: u32) -> Result<Vec<u32>> {
        Ok(hash_keys(&self.key_columns(ids)?, ids.len())?
            .into_iter()
            .map(|hash| key_group(hash, max_parallelism))
            .collect())
    }
}

/// `len + 1`, failing past the ids a `u32` holds.
fn grown(len: u32) -> Result<u32> {
    len.checked_add(1)
        .ok_or_else(|| StreamError::Failed("more than 2^32 keys in one subtask".into()))
}
