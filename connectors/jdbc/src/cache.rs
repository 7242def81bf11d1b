//! The partial lookup cache (`lookup.cache` = `PARTIAL`, Flink's
//! `DefaultLookupCache`): the rows of recently looked-up keys, the least
//! recently used leaving first past `lookup.partial-cache.max-rows` keys,
//! each dropped `expire-after-write` after it was read from the database
//! or `expire-after-access` after it was last looked up.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;

use crate::options::CacheSettings;

/// One cached key.
struct Entry {
    /// The table's rows of the key (none: a missing key).
    rows: RecordBatch,
    written: Instant,
    accessed: Instant,
    /// Its place in the recency order.
    tick: u64,
}

/// Rows by encoded key.
pub(crate) struct PartialCache {
    settings: CacheSettings,
    entries: HashMap<Vec<u8>, Entry>,
    /// Keys by last use, oldest first.
    recency: BTreeMap<u64, Vec<u8>>,
    tick: u64,
}

impl PartialCache {
    /// An empty cache.
    pub fn new(settings: CacheSettings) -> Self {
        PartialCache {
            settings,
            entries: HashMap::new(),
            recency: BTreeMap::new(),
            tick: 0,
        }
    }

    /// The rows cached for `key` at `now`, if fresh.
    pub fn get(&mut self, key: &[u8], now: Instant) -> Option<RecordBatch> {
        let entry = self.entries.get(key)?;
        let expired = |since: Instant, after: Option<Duration>| {
            after.is_some_and(|after| now.saturating_duration_since(since) >= after)
        };
        if expired(entry.written, self.settings.expire_after_write)
            || expired(entry.accessed, self.settings.expire_after_access)
        {
            self.remove(key);
            return None;
        }
        self.tick += 1;
        let tick = self.tick;
        let entry = self.entries.get_mut(key)?;
        self.recency.remove(&entry.tick);
        self.recency.insert(tick, key.to_vec());
        entry.tick = tick;
        entry.accessed = now;
        Some(entry.rows.clone())
    }

    /// Caches `rows` as what `key` holds, read at `now`; a missing key
    /// (no rows) only when `cache-missing-key` says so.
    pub fn put(&mut self, key: Vec<u8>, rows: RecordBatch, now: Instant) {
        if rows.num_rows() == 0 && !self.settings.cache_missing_key {
            return;
        }
        self.remove(&key);
        self.tick += 1;
        self.recency.insert(self.tick, key.clone());
        self.entries.insert(
            key,
            Entry {
                rows,
                written: now,
                accessed: now,
                tick: self.tick,
            },
        );
        while self.entries.len() > self.settings.max_rows {
            let Some((_, oldest)) = self.recency.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    fn remove(&mut self, key: &[u8]) {
        if let Some(entry) = self.entries.remove(key) {
            self.recency.remove(&entry.tick);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn rows(n: i64) -> RecordBatch {
        let schema = Schema::new(vec![Field::new("v", DataType::Int64, false)]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![Arc::new(Int64Array::from_iter_values(0..n))],
        )
        .unwrap()
    }

    fn cache(
        max_rows: usize,
        write: Option<u64>,
        access: Option<u64>,
        missing: bool,
    ) -> PartialCache {
        PartialCache::new(CacheSettings {
            max_rows,
            expire_after_write: write.map(Duration::from_secs),
            expire_after_access: access.map(Duration::from_secs),
            cache_missing_key: missing,
        })
    }

    #[test]
    fn the_least_recently_used_key_leaves_first() {
        let now = Instant::now();
        let mut cache = cache(2, None, None, true);
        cache.put(b"a".to_vec(), rows(1), now);
        cache.put(b"b".to_vec(), rows(2), now);
        assert!(cache.get(b"a", now).is_some());
        cache.put(b"c".to_vec(), rows(3), now);
        assert!(cache.get(b"b", now).is_none(), "b was used least recently");
        assert_eq!(cache.get(b"a", now).map(|r| r.num_rows()), Some(1));
        assert_eq!(cache.get(b"c", now).map(|r| r.num_rows()), Some(3));
    }

    #[test]
    fn keys_expire_after_write_and_after_access() {
        let start = Instant::now();
        let later = |s| start + Duration::from_secs(s);
        let mut written = cache(10, Some(10), None, true);
        written.put(b"k".to_vec(), rows(1), start);
        assert!(written.get(b"k", later(9)).is_some());
        assert!(written.get(b"k", later(10)).is_none());
        let mut accessed = cache(10, None, Some(10), true);
        accessed.put(b"k".to_vec(), rows(1), start);
        assert!(accessed.get(b"k", later(9)).is_some());
        assert!(
            accessed.get(b"k", later(18)).is_some(),
            "each access renews it"
        );
        assert!(accessed.get(b"k", later(29)).is_none());
    }

    #[test]
    fn missing_keys_are_cached_only_when_asked() {
        let now = Instant::now();
        let mut skipping = cache(10, None, None, false);
        skipping.put(b"gone".to_vec(), rows(0), now);
        assert!(skipping.get(b"gone", now).is_none());
        let mut keeping = cache(10, None, None, true);
        keeping.put(b"gone".to_vec(), rows(0), now);
        assert_eq!(keeping.get(b"gone", now).map(|r| r.num_rows()), Some(0));
    }
}
