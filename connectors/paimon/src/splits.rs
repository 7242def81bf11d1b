//! The splits of a Paimon source: one per bucket of each partition, read
//! first in full at a snapshot (or not at all), then snapshot by snapshot,
//! each snapshot's changes to that bucket. A split's state says where it
//! stands, so a restore continues exactly there and splits move between
//! subtasks when the parallelism changes.
//!
//! The coordinator lists the buckets ([`discover`]): at the start, those
//! of the starting snapshot, with where the read starts (`scan.mode`);
//! later, buckets that appeared since (a new partition), read in full at
//! the snapshot that listed them, which holds everything they ever got. A
//! finished marker split records the start, so later listings know they
//! are later ones.

use std::collections::BTreeSet;

use paimon::Table;
use rtdw_connector_core::split::block_on_discovery;
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::SourceSplit;

use crate::options::{PaimonSettings, ScanSettings, StartFrom};
use crate::table::{open_or_create, paimon_error};

/// The id of the marker split that records where the read started.
pub const START: &str = "start";

/// A bucket of a partition: what a split reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bucket {
    /// The partition's values in Paimon's binary row encoding (empty for
    /// an unpartitioned table).
    pub partition: Vec<u8>,
    /// The bucket number.
    pub bucket: i32,
}

impl Bucket {
    /// The split id: the partition's bytes in hex, then the bucket.
    pub fn id(&self) -> String {
        let hex: String = self.partition.iter().map(|b| format!("{b:02x}")).collect();
        format!("{hex}:{}", self.bucket)
    }

    /// The bucket a split id names.
    pub fn parse(id: &str) -> Result<Bucket, String> {
        let malformed = || format!("'{id}' is not a Paimon split id");
        let (hex, bucket) = id.rsplit_once(':').ok_or_else(malformed)?;
        if hex.len() % 2 != 0 {
            return Err(malformed());
        }
        let partition = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| malformed())?;
        Ok(Bucket {
            partition,
            bucket: bucket.parse().map_err(|_| malformed())?,
        })
    }

    /// The bucket a data split of the table belongs to.
    pub fn of(split: &paimon::DataSplit) -> Bucket {
        Bucket {
            partition: split.partition().to_serialized_bytes(),
            bucket: split.bucket(),
        }
    }
}

/// Where a split's read stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// With `full`, the snapshot read in full; else the next snapshot whose
    /// changes are read.
    pub snapshot: i64,
    /// The bucket is read in full at `snapshot` first.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full: bool,
    /// Rows of that read already emitted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub emitted: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Progress {
    /// The progress a split state holds.
    pub fn parse(state: &str) -> Result<Progress, String> {
        serde_json::from_str(state)
            .map_err(|e| format!("the Paimon split state '{state}' is malformed: {e}"))
    }

    /// As a split state.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a plain struct encodes")
    }

    /// After the current read completed: the next snapshot's changes.
    pub fn advanced(self) -> Progress {
        Progress {
            snapshot: self.snapshot + 1,
            full: false,
            emitted: 0,
        }
    }
}

/// The splits of `declared` to add to the `known` ones.
pub fn discover(
    declared: &TableDescriptor,
    known: &[SourceSplit],
) -> Result<Vec<SourceSplit>, ConnectorError> {
    let settings = PaimonSettings::from_table(declared)?;
    let scan = ScanSettings::from_table(declared)?;
    block_on_discovery(declared, async {
        let table = open_or_create(&settings, declared).await?;
        let name = &declared.name;
        let snapshots = table.snapshot_manager();
        let latest = snapshots
            .get_latest_snapshot_id()
            .await
            .map_err(|e| paimon_error(name, "cannot read the latest snapshot", e))?;
        if known.iter().any(|s| s.id == START) {
            let Some(latest) = latest else {
                return Ok(Vec::new());
            };
            let known: BTreeSet<&str> = known.iter().map(|s| s.id.as_str()).collect();
            let new = buckets_at(&table, latest, name)
                .await?
                .into_iter()
                .filter(|b| !known.contains(b.id().as_str()));
            return Ok(splits(
                new,
                Progress {
                    snapshot: latest,
                    full: true,
                    emitted: 0,
                },
            ));
        }
        let (start, listed_at, full) = match scan.start {
            StartFrom::LatestFull => (latest.unwrap_or(0), latest, true),
            StartFrom::Latest => (latest.unwrap_or(0), latest, false),
            StartFrom::Snapshot(id) => (id - 1, latest, false),
            StartFrom::SnapshotFull(id) => (id, Some(id), true),
            StartFrom::Timestamp(millis) => {
                let at = snapshots
                    .earlier_or_equal_time_millis(millis)
                    .await
                    .map_err(|e| {
                        paimon_error(name, format!("cannot find the snapshot at {millis}"), e)
                    })?;
                (at.map(|s| s.id()).unwrap_or(0), latest, false)
            }
        };
        let buckets = match listed_at {
            Some(at) => buckets_at(&table, at, name).await?,
            None => Vec::new(),
        };
        let progress = match (full, listed_at) {
            (true, Some(at)) => Progress {
                snapshot: at,
                full: true,
                emitted: 0,
            },
            _ => Progress {
                snapshot: start + 1,
                full: false,
                emitted: 0,
            },
        };
        let mut found = splits(buckets, progress);
        found.push(SourceSplit {
            id: START.into(),
            state: start.to_string(),
            finished: true,
        });
        Ok(found)
    })
}

/// Splits of `buckets`, each at `progress`.
fn splits(buckets: impl IntoIterator<Item = Bucket>, progress: Progress) -> Vec<SourceSplit> {
    buckets
        .into_iter()
        .map(|bucket| SourceSplit {
            id: bucket.id(),
            state: progress.encode(),
            finished: false,
        })
        .collect()
}

/// The buckets holding data at snapshot `at`.
async fn buckets_at(table: &Table, at: i64, name: &str) -> Result<Vec<Bucket>, ConnectorError> {
    let plan = full_plan(table, at, name).await?;
    let buckets: BTreeSet<Bucket> = plan.iter().map(Bucket::of).collect();
    Ok(buckets.into_iter().collect())
}

/// The data splits of the whole table at snapshot `at`.
pub async fn full_plan(
    table: &Table,
    at: i64,
    name: &str,
) -> Result<Vec<paimon::DataSplit>, ConnectorError> {
    let failed = |e| paimon_error(name, format!("cannot plan a read of snapshot {at}"), e);
    let pinned = table
        .copy_with_time_travel_strict([("scan.snapshot-id".to_string(), at.to_string())].into())
        .await
        .map_err(failed)?;
    let plan = pinned
        .new_read_builder()
        .new_scan()
        .plan()
        .await
        .map_err(failed)?;
    Ok(plan.into_splits())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_ids_and_states_round_trip_and_bad_ones_are_named() {
        let bucket = Bucket {
            partition: vec![0, 1, 0xab],
            bucket: 3,
        };
        assert_eq!(bucket.id(), "0001ab:3");
        assert_eq!(Bucket::parse(&bucket.id()).unwrap(), bucket);
        assert_eq!(Bucket::parse(":0").unwrap().partition, Vec::<u8>::new());
        assert!(Bucket::parse("0g:1").unwrap_err().contains("'0g:1'"));
        let progress = Progress {
            snapshot: 7,
            full: true,
            emitted: 12,
        };
        assert_eq!(Progress::parse(&progress.encode()).unwrap(), progress);
        assert_eq!(
            progress.advanced(),
            Progress {
                snapshot: 8,
                full: false,
                emitted: 0
            }
        );
        assert!(Progress::parse("{").unwrap_err().contains("malformed"));
    }
}
