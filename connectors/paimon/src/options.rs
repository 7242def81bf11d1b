//! The `paimon` connector's options, as Paimon's Flink connector names
//! them, and their typed reading ([`PaimonSettings`], [`ScanSettings`]).
//!
//! Options split in three: the connector's own (`path`, `auto-create`),
//! the storage's (`s3.*`), and Paimon table options, which are written into
//! the table's schema when rtdw creates it and otherwise apply to this job
//! only (Paimon's dynamic options).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rtdw_connector_core::options::{ConnectorOption, OptionType, TableOptions};
use rtdw_connector_core::{ConnectorError, TableDescriptor};

/// Paimon's `path`.
pub(crate) const PATH: ConnectorOption = ConnectorOption::new(
    "path",
    OptionType::String,
    "The table's directory: 'file:///data/warehouse/db.db/orders' or 's3://bucket/warehouse/db.db/orders' (a catalog's layout is '<warehouse>/<database>.db/<table>').",
)
.required();

/// Paimon's `auto-create`.
pub(crate) const AUTO_CREATE: ConnectorOption = ConnectorOption::new(
    "auto-create",
    OptionType::Boolean,
    "Create the table at 'path' from the declared columns, primary key, partition keys and table options when it does not exist.",
)
.default_value("false");

/// The storage options (`s3.endpoint`, `s3.access-key`, ...).
pub(crate) const S3: ConnectorOption = ConnectorOption::new(
    "s3.*",
    OptionType::String,
    "S3 storage settings for 's3://' paths: 's3.endpoint', 's3.access-key', 's3.secret-key', 's3.region' (default 'us-east-1'), 's3.path.style.access'.",
);

/// Paimon's `bucket`.
pub(crate) const BUCKET: ConnectorOption = ConnectorOption::new(
    "bucket",
    OptionType::Integer,
    "Buckets per partition: a fixed number N >= 1, or -1 for dynamic buckets (primary-key tables) and bucket-unaware append tables. Set when the table is created.",
)
.default_value("-1");

/// Paimon's `bucket-key`.
pub(crate) const BUCKET_KEY: ConnectorOption = ConnectorOption::new(
    "bucket-key",
    OptionType::String,
    "The columns (comma-separated) whose hash picks a row's bucket; the primary key by default. An append table with a fixed 'bucket' needs it.",
);

/// Paimon's `merge-engine`.
pub(crate) const MERGE_ENGINE: ConnectorOption = ConnectorOption::new(
    "merge-engine",
    OptionType::Enum(&["deduplicate", "partial-update", "first-row", "aggregation"]),
    "How rows of one primary key merge: the last one wins, non-null fields update, the first one wins, or each field aggregates ('fields.<f>.aggregate-function').",
)
.default_value("deduplicate");

/// Paimon's `fields.<f>.aggregate-function`.
pub(crate) const FIELD_AGGREGATE: ConnectorOption = ConnectorOption::new(
    "fields.#.aggregate-function",
    OptionType::String,
    "For 'merge-engine' = 'aggregation': how field '#' aggregates ('sum', 'max', 'min', 'last_value', 'last_non_null_value', 'first_value', 'count', 'bool_and', 'bool_or', ...).",
);

/// Paimon's `fields.<f>.ignore-retract`.
pub(crate) const FIELD_IGNORE_RETRACT: ConnectorOption = ConnectorOption::new(
    "fields.#.ignore-retract",
    OptionType::Boolean,
    "For 'merge-engine' = 'aggregation': whether retractions of field '#' are ignored.",
);

/// Paimon's `fields.default-aggregate-function`.
pub(crate) const DEFAULT_AGGREGATE: ConnectorOption = ConnectorOption::new(
    "fields.default-aggregate-function",
    OptionType::String,
    "For 'merge-engine' = 'aggregation': the function of fields without their own.",
);

/// Paimon's `sequence.field`.
pub(crate) const SEQUENCE_FIELD: ConnectorOption = ConnectorOption::new(
    "sequence.field",
    OptionType::String,
    "The column(s) that order the rows of one primary key instead of their arrival: the row with the largest value wins.",
);

/// Paimon's `changelog-producer`.
pub(crate) const CHANGELOG_PRODUCER: ConnectorOption = ConnectorOption::new(
    "changelog-producer",
    OptionType::Enum(&["none", "input", "lookup", "full-compaction"]),
    "What a streaming read of a primary-key table sees: 'none' the merged upserts, 'input' the changelog written to the table. 'lookup' and 'full-compaction' produce the changelog at compaction.",
)
.default_value("none");

/// Paimon's `file.format`.
pub(crate) const FILE_FORMAT: ConnectorOption = ConnectorOption::new(
    "file.format",
    OptionType::Enum(&["parquet", "orc", "avro"]),
    "The format of data files.",
)
.default_value("parquet");

/// Paimon's `file.compression`.
pub(crate) const FILE_COMPRESSION: ConnectorOption = ConnectorOption::new(
    "file.compression",
    OptionType::String,
    "The compression of data files ('zstd', 'lz4', 'snappy', 'none').",
)
.default_value("zstd");

/// Paimon's `write-buffer-size`.
pub(crate) const WRITE_BUFFER_SIZE: ConnectorOption = ConnectorOption::new(
    "write-buffer-size",
    OptionType::String,
    "Memory a primary-key table's writer buffers per bucket before it writes a sorted file: a size such as '64 mb' or '1 gb'. A writer subtask holds up to this much for each bucket it writes.",
)
.default_value("256 mb");

/// The `paimon` crate's name for [`WRITE_BUFFER_SIZE`].
const CRATE_WRITE_BUFFER_SIZE: &str = "write.parquet-buffer-size";

/// Paimon's `snapshot.num-retained.min`.
pub(crate) const SNAPSHOT_RETAINED_MIN: ConnectorOption = ConnectorOption::new(
    "snapshot.num-retained.min",
    OptionType::Integer,
    "The fewest completed snapshots expiration keeps.",
)
.default_value("10");

/// Paimon's `snapshot.num-retained.max`.
pub(crate) const SNAPSHOT_RETAINED_MAX: ConnectorOption = ConnectorOption::new(
    "snapshot.num-retained.max",
    OptionType::Integer,
    "The most completed snapshots expiration keeps.",
);

/// Paimon's `snapshot.time-retained`.
pub(crate) const SNAPSHOT_TIME_RETAINED: ConnectorOption = ConnectorOption::new(
    "snapshot.time-retained",
    OptionType::Duration,
    "How long completed snapshots are kept before expiration.",
)
.default_value("1 h");

/// Paimon's `num-sorted-run.compaction-trigger`.
pub(crate) const COMPACTION_TRIGGER: ConnectorOption = ConnectorOption::new(
    "num-sorted-run.compaction-trigger",
    OptionType::Integer,
    "The number of sorted runs of a bucket that triggers compaction.",
)
.default_value("5");

/// Paimon's `write-only`.
pub(crate) const WRITE_ONLY: ConnectorOption = ConnectorOption::new(
    "write-only",
    OptionType::Boolean,
    "Writers skip compaction and expiration, which a separate compaction job does.",
)
.default_value("false");

/// Paimon's `partition.expiration-time`.
pub(crate) const PARTITION_EXPIRATION_TIME: ConnectorOption = ConnectorOption::new(
    "partition.expiration-time",
    OptionType::Duration,
    "How long a partition lives, judged by its value.",
);

/// Paimon's `scan.mode`.
pub(crate) const SCAN_MODE: ConnectorOption = ConnectorOption::new(
    "scan.mode",
    OptionType::Enum(&[
        "default",
        "latest-full",
        "full",
        "latest",
        "from-snapshot",
        "from-snapshot-full",
        "from-timestamp",
    ]),
    "Where a read starts: 'default' and 'latest-full' read the latest snapshot, then its changes; 'latest' only the changes after it; 'from-snapshot' the changes from 'scan.snapshot-id' on; 'from-snapshot-full' that snapshot, then its changes; 'from-timestamp' the changes from the snapshot current at 'scan.timestamp-millis'.",
)
.source_only()
.default_value("default");

/// Paimon's `scan.snapshot-id`.
pub(crate) const SCAN_SNAPSHOT_ID: ConnectorOption = ConnectorOption::new(
    "scan.snapshot-id",
    OptionType::Integer,
    "The snapshot 'from-snapshot' and 'from-snapshot-full' start at.",
)
.source_only();

/// Paimon's `scan.timestamp-millis`.
pub(crate) const SCAN_TIMESTAMP_MILLIS: ConnectorOption = ConnectorOption::new(
    "scan.timestamp-millis",
    OptionType::Integer,
    "For 'from-timestamp': the time (ms since the epoch) whose snapshot the read starts after.",
)
.source_only();

/// Paimon's `scan.bounded`.
pub(crate) const SCAN_BOUNDED: ConnectorOption = ConnectorOption::new(
    "scan.bounded",
    OptionType::Boolean,
    "Read the starting snapshot in full (and no later changes) and end, as a batch read. rtdw's jobs are streaming, so a read is continuous unless this is true.",
)
.source_only()
.default_value("false");

/// Paimon's `continuous.discovery-interval`.
pub(crate) const DISCOVERY_INTERVAL: ConnectorOption = ConnectorOption::new(
    "continuous.discovery-interval",
    OptionType::Duration,
    "How often a streaming read, or a lookup join's table, looks for new snapshots.",
)
.default_value("10 s");

/// Every option of the connector.
pub(crate) const OPTIONS: &[ConnectorOption] = &[
    PATH,
    AUTO_CREATE,
    S3,
    BUCKET,
    BUCKET_KEY,
    MERGE_ENGINE,
    FIELD_AGGREGATE,
    FIELD_IGNORE_RETRACT,
    DEFAULT_AGGREGATE,
    SEQUENCE_FIELD,
    CHANGELOG_PRODUCER,
    FILE_FORMAT,
    FILE_COMPRESSION,
    WRITE_BUFFER_SIZE,
    SNAPSHOT_RETAINED_MIN,
    SNAPSHOT_RETAINED_MAX,
    SNAPSHOT_TIME_RETAINED,
    COMPACTION_TRIGGER,
    WRITE_ONLY,
    PARTITION_EXPIRATION_TIME,
    SCAN_MODE,
    SCAN_SNAPSHOT_ID,
    SCAN_TIMESTAMP_MILLIS,
    SCAN_BOUNDED,
    DISCOVERY_INTERVAL,
];

/// Options that belong to rtdw's table declaration or to the framework, not
/// to the Paimon table.
const NOT_TABLE_OPTIONS: &[&str] = &[
    "connector",
    "path",
    "auto-create",
    "source.parallelism",
    "sink.parallelism",
];

/// Where a table lives and how it is reached.
#[derive(Debug, Clone, PartialEq)]
pub struct PaimonSettings {
    /// The table's directory, as given.
    pub path: String,
    /// Create the table when missing.
    pub auto_create: bool,
    /// Storage properties for the `paimon` crate's file IO.
    pub storage: HashMap<String, String>,
    /// The Paimon table options given (dynamic options, or the schema's
    /// options of a table rtdw creates), durations in Paimon's spelling.
    pub table_options: HashMap<String, String>,
}

impl PaimonSettings {
    /// Reads `table`'s options (already validated against [`OPTIONS`]).
    pub fn from_table(table: &TableDescriptor) -> Result<Self, ConnectorError> {
        let options = TableOptions::new(table);
        let path = options.require_string(&PATH)?.trim().to_string();
        if path.is_empty() {
            return Err(options.invalid(PATH.key, &path, "must name a directory"));
        }
        let mut table_options: HashMap<String, String> = table
            .options
            .iter()
            .filter(|(key, _)| {
                !NOT_TABLE_OPTIONS.contains(&key.as_str()) && !key.starts_with("s3.")
            })
            .map(|(key, value)| (key.clone(), paimon_value(key, value)))
            .collect();
        if let Some(size) = table_options.get(WRITE_BUFFER_SIZE.key).cloned() {
            if memory_size(&size).is_none() {
                return Err(options.invalid(
                    WRITE_BUFFER_SIZE.key,
                    &size,
                    "must be a size such as '64 mb' or '1 gb'",
                ));
            }
            table_options.insert(CRATE_WRITE_BUFFER_SIZE.into(), size);
        }
        let storage = storage_options(&path, &table.options);
        Ok(PaimonSettings {
            path: path.trim_end_matches('/').to_string(),
            auto_create: options.boolean(&AUTO_CREATE)?,
            storage,
            table_options,
        })
    }
}

/// The storage properties among `options` (the `s3.*` keys) for a
/// warehouse or table at `path`, as the `paimon` crate takes them: an S3
/// path gets the region S3-compatible servers ignore when none is given.
pub(crate) fn storage_options(
    path: &str,
    options: &BTreeMap<String, String>,
) -> HashMap<String, String> {
    let mut storage: HashMap<String, String> = options
        .iter()
        .filter(|(key, _)| key.starts_with("s3."))
        .map(|(key, value)| (storage_key(key), value.clone()))
        .collect();
    if path.starts_with("s3://") || path.starts_with("s3a://") {
        storage
            .entry("s3.region".into())
            .or_insert_with(|| "us-east-1".into());
    }
    storage
}

/// The bytes of a memory size as Paimon writes them (`64 mb`, `1gb`,
/// `512 kb`, `1024`).
fn memory_size(value: &str) -> Option<u64> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let unit = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kibibytes" => 1 << 10,
        "m" | "mb" | "mebibytes" => 1 << 20,
        "g" | "gb" | "gibibytes" => 1 << 30,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(unit)
}

/// The `paimon` crate's name for a storage key: Flink's and Hadoop's
/// `s3.path.style.access` is its `s3.path-style-access`.
fn storage_key(key: &str) -> String {
    match key {
        "s3.path.style.access" => "s3.path-style-access".into(),
        other => other.to_string(),
    }
}

/// A table option's value in Paimon's spelling: durations as Paimon's
/// readers parse them (`10 s` becomes `10s`).
fn paimon_value(key: &str, value: &str) -> String {
    let is_duration = OPTIONS
        .iter()
        .any(|o| o.key == key && o.value_type == OptionType::Duration);
    if is_duration {
        value.split_whitespace().collect()
    } else {
        value.to_string()
    }
}

/// Where a read starts, and whether it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanSettings {
    /// The first snapshot to read.
    pub start: StartFrom,
    /// Read the start and end (a batch read).
    pub bounded: bool,
    /// How often to look for new snapshots.
    pub discovery_interval: Duration,
}

/// The first snapshot a read takes, from `scan.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// The latest snapshot in full, then its changes.
    LatestFull,
    /// Only the changes after the latest snapshot.
    Latest,
    /// The changes from this snapshot on.
    Snapshot(i64),
    /// This snapshot in full, then its changes.
    SnapshotFull(i64),
    /// The changes after the snapshot current at this time (ms).
    Timestamp(i64),
}

impl ScanSettings {
    /// Reads a source table's scan options.
    pub fn from_table(table: &TableDescriptor) -> Result<Self, ConnectorError> {
        let options = TableOptions::new(table);
        let snapshot_id = || -> Result<i64, ConnectorError> {
            let id = options.integer(&SCAN_SNAPSHOT_ID)?.ok_or_else(|| {
                ConnectorError::MissingOption {
                    table: table.name.clone(),
                    key: SCAN_SNAPSHOT_ID.key.into(),
                }
            })?;
            if id < 1 {
                return Err(options.invalid(
                    SCAN_SNAPSHOT_ID.key,
                    &id.to_string(),
                    "must be 1 or more",
                ));
            }
            Ok(id)
        };
        let start = match options.choice(&SCAN_MODE)?.unwrap_or("default") {
            "latest" => StartFrom::Latest,
            "from-snapshot" => StartFrom::Snapshot(snapshot_id()?),
            "from-snapshot-full" => StartFrom::SnapshotFull(snapshot_id()?),
            "from-timestamp" => {
                StartFrom::Timestamp(options.integer(&SCAN_TIMESTAMP_MILLIS)?.ok_or_else(|| {
                    ConnectorError::MissingOption {
                        table: table.name.clone(),
                        key: SCAN_TIMESTAMP_MILLIS.key.into(),
                    }
                })?)
            }
            _ => StartFrom::LatestFull,
        };
        let bounded = options.boolean(&SCAN_BOUNDED)?;
        if bounded && !matches!(start, StartFrom::LatestFull | StartFrom::SnapshotFull(_)) {
            return Err(options.invalid(
                SCAN_MODE.key,
                options.string(&SCAN_MODE).unwrap_or_default(),
                "must read a snapshot in full ('default', 'latest-full', 'full' or 'from-snapshot-full') when 'scan.bounded' is true",
            ));
        }
        let discovery_interval = options
            .duration(&DISCOVERY_INTERVAL)?
            .unwrap_or(Duration::from_secs(10));
        Ok(ScanSettings {
            start,
            bounded,
            discovery_interval,
        })
    }
}

/// The Paimon table options of a table rtdw creates, in a stable order.
pub fn creation_options(settings: &PaimonSettings) -> BTreeMap<String, String> {
    settings
        .table_options
        .iter()
        .filter(|(key, _)| !is_read_option(key))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Options that only shape one read, not the table.
pub(crate) fn is_read_option(key: &str) -> bool {
    key.starts_with("scan.") || key.starts_with("continuous.")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::Schema;

    use super::*;

    fn table(options: &[(&str, &str)]) -> TableDescriptor {
        TableDescriptor {
            name: "t".into(),
            schema: Arc::new(Schema::empty()),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            primary_key: vec![],
            partition_keys: vec![],
            metadata: vec![],
        }
    }

    #[test]
    fn options_split_into_storage_table_and_connector_ones() {
        let settings = PaimonSettings::from_table(&table(&[
            ("connector", "paimon"),
            ("path", "s3://lake/wh/ods.db/orders/"),
            ("s3.endpoint", "http://127.0.0.1:9000"),
            ("s3.path.style.access", "true"),
            ("bucket", "2"),
            ("snapshot.time-retained", "30 min"),
            ("scan.mode", "latest"),
        ]))
        .unwrap();
        assert_eq!(settings.path, "s3://lake/wh/ods.db/orders");
        assert!(!settings.auto_create);
        assert_eq!(settings.storage["s3.path-style-access"], "true");
        assert_eq!(settings.storage["s3.region"], "us-east-1");
        assert_eq!(settings.table_options["bucket"], "2");
        assert_eq!(settings.table_options["snapshot.time-retained"], "30min");
        assert!(!settings.table_options.contains_key("connector"));
        let created = creation_options(&settings);
        assert!(created.contains_key("bucket"));
        assert!(!created.contains_key("scan.mode"));
    }

    #[test]
    fn the_write_buffer_size_reaches_the_writer_and_bad_sizes_are_named() {
        let settings = PaimonSettings::from_table(&table(&[
            ("path", "file:///w/db.db/t"),
            ("write-buffer-size", "64 mb"),
        ]))
        .unwrap();
        assert_eq!(settings.table_options["write.parquet-buffer-size"], "64 mb");
        assert_eq!(memory_size("64 mb"), Some(64 << 20));
        assert_eq!(memory_size("1gb"), Some(1 << 30));
        let error = PaimonSettings::from_table(&table(&[
            ("path", "file:///w/db.db/t"),
            ("write-buffer-size", "lots"),
        ]))
        .unwrap_err();
        assert!(
            error.to_string().contains("option 'write-buffer-size'"),
            "{error}"
        );
    }

    #[test]
    fn scan_modes_need_their_snapshot_and_bounded_latest_is_refused() {
        let scan = |options: &[(&str, &str)]| ScanSettings::from_table(&table(options));
        assert_eq!(scan(&[]).unwrap().start, StartFrom::LatestFull);
        assert_eq!(
            scan(&[("scan.mode", "from-snapshot"), ("scan.snapshot-id", "4")])
                .unwrap()
                .start,
            StartFrom::Snapshot(4)
        );
        let missing = scan(&[("scan.mode", "from-snapshot")]).unwrap_err();
        assert!(
            missing.to_string().contains("scan.snapshot-id"),
            "{missing}"
        );
        let bounded = scan(&[("scan.mode", "latest"), ("scan.bounded", "true")]).unwrap_err();
        assert!(
            bounded.to_string().contains("must read a snapshot in full"),
            "{bounded}"
        );
        assert!(scan(&[("scan.bounded", "true")]).unwrap().bounded);
    }
}
