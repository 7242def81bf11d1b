//! Split-based sources (Flink's FLIP-27), the coordinator's side: a split
//! source's position is the list of its splits, so the coordinator can
//! merge the positions of every subtask of a checkpoint with newly
//! discovered splits and assign them anew, at any parallelism.
//!
//! The coordinator keeps no state of its own about splits: discovery lists
//! the outside input (files, partitions), and the splits it already handed
//! out are those the checkpoint's subtasks hold, finished ones included. A
//! split handed out after a subtask's barrier is not in that checkpoint and
//! is discovered again after a restore: it is read once either way.

use std::future::Future;

use rtdw_operators::SourceSplit;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::ConnectorError;
use crate::table::TableDescriptor;

/// Runs a split source's async discovery work to its end from the
/// coordinator's blocking discovery thread ([`crate::ConnectorFactory::discover_splits`]
/// is called there), or on a runtime of its own where there is none (a
/// test calling discovery directly).
pub fn block_on_discovery<T>(
    table: &TableDescriptor,
    work: impl Future<Output = Result<T, ConnectorError>>,
) -> Result<T, ConnectorError> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(work),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                ConnectorError::external(
                    &table.name,
                    "starting a runtime for split discovery",
                    rtdw_operators::ErrorClass::Transient,
                    e,
                )
            })?
            .block_on(work),
    }
}

/// A split as a position lists it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct StoredSplit {
    id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    state: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    finished: bool,
}

/// The position of a split source subtask: its splits, as JSON.
pub fn encode_splits<'a>(
    splits: impl IntoIterator<Item = &'a SourceSplit>,
) -> Result<String, serde_json::Error> {
    let stored: Vec<StoredSplit> = splits
        .into_iter()
        .map(|s| StoredSplit {
            id: s.id.clone(),
            state: s.state.clone(),
            finished: s.finished,
        })
        .collect();
    serde_json::to_string(&stored)
}

/// The splits a position lists; an error names what is wrong.
pub fn decode_splits(position: &str) -> Result<Vec<SourceSplit>, String> {
    if position.is_empty() {
        return Ok(Vec::new());
    }
    let stored: Vec<StoredSplit> = serde_json::from_str(position)
        .map_err(|e| format!("the split position '{position}' is malformed: {e}"))?;
    Ok(stored
        .into_iter()
        .map(|s| SourceSplit {
            id: s.id,
            state: s.state,
            finished: s.finished,
        })
        .collect())
}

/// The splits a restored source reads: those the checkpoint's subtasks
/// held, with their positions, each replaced by a discovered split of the
/// same id, then the other discovered ones.
pub fn merge_restored(
    restored: Vec<SourceSplit>,
    discovered: Vec<SourceSplit>,
) -> Vec<SourceSplit> {
    let mut replacements: std::collections::HashMap<String, SourceSplit> = discovered
        .iter()
        .map(|s| (s.id.clone(), s.clone()))
        .collect();
    let known: std::collections::HashSet<String> = restored.iter().map(|s| s.id.clone()).collect();
    let kept: Vec<SourceSplit> = restored
        .into_iter()
        .map(|s| replacements.remove(&s.id).unwrap_or(s))
        .collect();
    kept.into_iter()
        .chain(discovered.into_iter().filter(|s| !known.contains(&s.id)))
        .collect()
}

/// The splits of `listed` whose ids `known` lacks: what a source that lists
/// its whole input (files, partitions) discovers anew.
pub fn not_known(listed: Vec<SourceSplit>, known: &[SourceSplit]) -> Vec<SourceSplit> {
    let known: std::collections::HashSet<&str> = known.iter().map(|s| s.id.as_str()).collect();
    listed
        .into_iter()
        .filter(|s| !known.contains(s.id.as_str()))
        .collect()
}

/// The subtask of `parallelism` that reads a split: by a hash of its id,
/// so a split keeps its subtask while the parallelism stays and the
/// assignment needs no memory.
pub fn owner(split: &SourceSplit, parallelism: u32) -> u32 {
    (xxh3_64(split.id.as_bytes()) % u64::from(parallelism.max(1))) as u32
}

/// Splits grouped by the subtask that reads them.
pub fn assign(splits: Vec<SourceSplit>, parallelism: u32) -> Vec<Vec<SourceSplit>> {
    let mut by_subtask = vec![Vec::new(); parallelism.max(1) as usize];
    for split in splits {
        by_subtask[owner(&split, parallelism) as usize].push(split);
    }
    by_subtask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(id: &str, state: &str, finished: bool) -> SourceSplit {
        SourceSplit {
            id: id.into(),
            state: state.into(),
            finished,
        }
    }

    #[test]
    fn positions_round_trip_and_bad_ones_are_named() {
        let splits = [split("a", "{\"offset\":3}", false), split("b", "", true)];
        assert_eq!(
            decode_splits(&encode_splits(&splits).unwrap()).unwrap(),
            splits
        );
        assert!(decode_splits("").unwrap().is_empty());
        let error = decode_splits("{").unwrap_err();
        assert!(error.contains("'{' is malformed"), "{error}");
    }

    #[test]
    fn a_restore_keeps_held_splits_adds_new_ones_and_takes_replacements() {
        let restored = vec![split("a", "{\"offset\":3}", false), split("b", "", true)];
        let listed = vec![
            split("a", "", false),
            split("b", "", false),
            split("c", "", false),
        ];
        let discovered = not_known(listed, &restored);
        assert_eq!(discovered, [split("c", "", false)]);
        assert_eq!(
            merge_restored(restored.clone(), discovered),
            [
                split("a", "{\"offset\":3}", false),
                split("b", "", true),
                split("c", "", false)
            ]
        );
        assert_eq!(
            merge_restored(restored, vec![split("a", "{\"offset\":9}", false)]),
            [split("a", "{\"offset\":9}", false), split("b", "", true)]
        );
    }

    #[test]
    fn every_split_goes_to_exactly_one_subtask() {
        let splits: Vec<SourceSplit> = (0..100)
            .map(|i| split(&format!("f{i}"), "", false))
            .collect();
        for parallelism in 1..=4 {
            let assigned = assign(splits.clone(), parallelism);
            assert_eq!(assigned.len(), parallelism as usize);
            let mut ids: Vec<String> = assigned.iter().flatten().map(|s| s.id.clone()).collect();
            ids.sort();
            let mut expected: Vec<String> = splits.iter().map(|s| s.id.clone()).collect();
            expected.sort();
            assert_eq!(ids, expected);
            for (subtask, held) in assigned.iter().enumerate() {
                assert!(held.iter().all(|s| owner(s, parallelism) == subtask as u32));
            }
        }
    }
}
