//! The `kafka` connector against a real Apache Kafka broker: what rtdw reads
//! is checked against what a producer of the test's own wrote (and where the
//! broker said it landed), what rtdw writes against a consumer of the
//! test's own.

#[path = "support/kafka.rs"]
mod kafka;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use kafka::{KafkaTopic, Produce};
use serde_json::Value;
use support::{CHECKPOINTED_AND_RESTARTED, Cluster, ClusterOptions, committed_lines, wait_for};

const MINUTES: Duration = Duration::from_secs(180);

/// `{"id": id, "name": "n<id>"}`.
fn value(id: u64) -> Vec<u8> {
    format!(r#"{{"id": {id}, "name": "n{id}"}}"#).into_bytes()
}

/// Adds one sighting of `item` to `seen`, a multiset.
fn count_each(mut seen: BTreeMap<String, usize>, item: String) -> BTreeMap<String, usize> {
    *seen.entry(item).or_default() += 1;
    seen
}

/// The JSON rows of the committed files under `out` (none before the
/// first commit).
fn rows(out: &Path) -> Vec<Value> {
    let committed = std::fs::read_dir(out).is_ok_and(|mut entries| {
        entries.any(|e| e.is_ok_and(|e| !e.file_name().to_string_lossy().starts_with('.')))
    });
    if !committed {
        return Vec::new();
    }
    committed_lines(out)
        .iter()
        .map(|line| serde_json::from_str(line).expect("a JSON output line"))
        .collect()
}

/// How often each id appears in `rows`.
fn id_counts(rows: &[Value]) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for row in rows {
        *counts
            .entry(row["id"].as_u64().expect("an id"))
            .or_default() += 1;
    }
    counts
}

/// The partition Kafka's Java producer (and Flink) chooses for a key:
/// `murmur2(key) & 0x7fffffff % partitions`, as in Kafka's `Utils.murmur2`.
fn java_partition(key: &[u8], partitions: i32) -> i32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ key.len() as u32;
    let chunks = key.chunks_exact(4);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    if !tail.is_empty() {
        for (i, byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    ((h & 0x7fff_ffff) % partitions as u32) as i32
}

/// A `kafka` source table over `topic` with `extra` options.
fn source_table(name: &str, topic: &KafkaTopic, columns: &str, extra: &str) -> String {
    format!(
        "CREATE TABLE {name} ({columns}) WITH (\n\
           'connector' = 'kafka', 'topic' = '{}', 'properties.bootstrap.servers' = '{}',\n\
           'format' = 'json'{extra});\n",
        topic.name, topic.bootstrap
    )
}

/// How a job's tables reach the broker: a bootstrap address and the
/// `properties.*` options that connect to it.
struct Connection {
    bootstrap: String,
    properties: String,
}

impl Connection {
    /// The plaintext listener.
    fn plaintext(topic: &KafkaTopic) -> Connection {
        Connection {
            bootstrap: topic.bootstrap.clone(),
            properties: String::new(),
        }
    }

    /// The listener with `protocol` (`SASL_PLAINTEXT` or `SASL_SSL`, whose
    /// address is `services.sh env`'s `address`), authenticating with SASL
    /// `mechanism`; TLS trusts the broker's own CA.
    fn sasl(topic: &KafkaTopic, protocol: &str, address: &str, mechanism: &str) -> Connection {
        let mut properties = format!(
            ",\n'properties.security.protocol' = '{protocol}', 'properties.sasl.mechanism' = '{mechanism}',\n\
             'properties.sasl.username' = '{}', 'properties.sasl.password' = '{}'",
            topic.var("RTDW_KAFKA_SASL_USER"),
            topic.var("RTDW_KAFKA_SASL_PASSWORD"),
        );
        if protocol == "SASL_SSL" {
            properties.push_str(&format!(
                ", 'properties.ssl.ca.location' = '{}'",
                topic.var("RTDW_KAFKA_CA")
            ));
        }
        Connection {
            bootstrap: topic.var(address),
            properties,
        }
    }
}

/// A job writing ids `1..=rows` (with `name` = `n<id>`) at `rate` rows per
/// second into `topic` through an exactly-once sink on transactional ids
/// `prefix-*`, checkpointed every second and restarted after failures.
fn exactly_once_writer(topic: &KafkaTopic, rows: u64, rate: u64, prefix: &str) -> String {
    exactly_once_writer_over(&Connection::plaintext(topic), topic, rows, rate, prefix)
}

/// [`exactly_once_writer`], connecting as `connection` says.
fn exactly_once_writer_over(
    connection: &Connection,
    topic: &KafkaTopic,
    rows: u64,
    rate: u64,
    prefix: &str,
) -> String {
    format!(
        "{CHECKPOINTED_AND_RESTARTED}\
         CREATE TABLE ids (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '{rate}',\n\
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{rows}');\n\
         CREATE TABLE out (id BIGINT, name STRING) WITH (\n\
           'connector' = 'kafka', 'topic' = '{}', 'properties.bootstrap.servers' = '{}',\n\
           'format' = 'json', 'sink.delivery-guarantee' = 'exactly-once',\n\
           'sink.transactional-id-prefix' = '{prefix}'{});\n\
         INSERT INTO out SELECT id, CONCAT('n', CAST(id AS STRING)) FROM ids;\n",
        topic.name, connection.bootstrap, connection.properties
    )
}

/// How often each id appears in the values of `records`, checking each
/// value's name.
fn consumed_id_counts(records: &[kafka::Consumed]) -> BTreeMap<u64, usize> {
    let rows: Vec<Value> = records
        .iter()
        .map(|record| {
            serde_json::from_slice(record.value.as_deref().expect("a value")).expect("JSON")
        })
        .collect();
    for row in &rows {
        assert_eq!(row["name"], format!("n{}", row["id"]), "{row}");
    }
    id_counts(&rows)
}

/// Where records of `ids` lie in the topic read uncommitted (aborted and
/// open transactions included), as `id@partition:offset`: for the failure
/// message of an id a committed read lacks.
fn places_of(topic: &KafkaTopic, ids: &[u64]) -> String {
    let places: Vec<String> = topic
        .consume_all("read_uncommitted")
        .iter()
        .filter_map(|record| {
            let value: Value = serde_json::from_slice(record.value.as_deref()?).ok()?;
            let id = value["id"].as_u64()?;
            ids.contains(&id)
                .then(|| format!("{id}@{}:{}", record.partition, record.offset))
        })
        .collect();
    places.join(", ")
}

/// Asserts that `counts` holds each of the ids `1..=count` exactly once,
/// naming the first missing and repeated ones.
fn assert_each_id_once(counts: &BTreeMap<u64, usize>, count: u64, what: &str) {
    let missing: Vec<u64> = (1..=count).filter(|id| !counts.contains_key(id)).collect();
    let repeated: Vec<(&u64, &usize)> = counts.iter().filter(|(_, n)| **n != 1).collect();
    let strays: Vec<&u64> = counts
        .keys()
        .filter(|id| !(1..=count).contains(*id))
        .collect();
    assert!(
        missing.is_empty() && repeated.is_empty() && strays.is_empty(),
        "{what}: {} ids missing (first {:?}), {} repeated (first {:?}), {} unknown (first {:?})",
        missing.len(),
        &missing[..missing.len().min(10)],
        repeated.len(),
        &repeated[..repeated.len().min(10)],
        strays.len(),
        &strays[..strays.len().min(10)],
    );
}

/// A JSON filesystem sink table at `path`.
fn file_table(name: &str, columns: &str, path: &Path) -> String {
    format!(
        "CREATE TABLE {name} ({columns}) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');\n",
        path.display()
    )
}

#[test]
fn a_bounded_source_reads_every_partition_with_its_metadata() {
    let topic = KafkaTopic::create("events", 3);
    let records: Vec<Produce> = (0..300)
        .map(|id| Produce {
            partition: (id % 3) as i32,
            timestamp: Some(1_700_000_000_000 + id as i64),
            value: value(id),
        })
        .collect();
    let landed = topic.produce(&records);
    let cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("out");
    let sql = format!(
        "{}{}INSERT INTO copy SELECT id, name, part, off, src, kind FROM events;\n",
        source_table(
            "events",
            &topic,
            "id BIGINT, name STRING, part INT METADATA FROM 'partition' VIRTUAL,\n\
             off BIGINT METADATA FROM 'offset' VIRTUAL, src STRING METADATA FROM 'topic' VIRTUAL,\n\
             kind STRING METADATA FROM 'timestamp-type' VIRTUAL",
            ",\n'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'"
        ),
        file_table(
            "copy",
            "id BIGINT, name STRING, part INT, off BIGINT, src STRING, kind STRING",
            &out
        ),
    );
    let id = cluster.submit("copy.sql", &sql, &["-p", "2"]);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    let mut read: Vec<(u64, i64, i64)> = rows(&out)
        .iter()
        .map(|row| {
            assert_eq!(row["src"], topic.name.as_str(), "{row}");
            assert_eq!(row["kind"], "CreateTime", "{row}");
            assert_eq!(row["name"], format!("n{}", row["id"]), "{row}");
            (
                row["id"].as_u64().expect("id"),
                row["part"].as_i64().expect("partition"),
                row["off"].as_i64().expect("offset"),
            )
        })
        .collect();
    read.sort();
    let expected: Vec<(u64, i64, i64)> = landed
        .iter()
        .enumerate()
        .map(|(id, (partition, offset))| (id as u64, i64::from(*partition), *offset))
        .collect();
    assert_eq!(read, expected, "{}", cluster.logs());
}

#[test]
fn a_bounded_source_ends_after_a_transaction_whose_marker_ends_the_log() {
    let topic = KafkaTopic::create("transactional", 1);
    topic.produce_in_transaction(&(0..50).map(value).collect::<Vec<_>>());
    let cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("out");
    let sql = format!(
        "{}{}INSERT INTO copy SELECT id, name FROM src;\n",
        source_table(
            "src",
            &topic,
            "id BIGINT, name STRING",
            ",\n'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset',\n\
             'properties.isolation.level' = 'read_committed'"
        ),
        file_table("copy", "id BIGINT, name STRING", &out),
    );
    let id = cluster.submit("copy.sql", &sql, &[]);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    let expected: BTreeMap<u64, usize> = (0..50).map(|id| (id, 1)).collect();
    assert_eq!(id_counts(&rows(&out)), expected, "{}", cluster.logs());
}

#[test]
fn a_sink_writes_every_row_over_every_partition() {
    let topic = KafkaTopic::create("written", 3);
    let cluster = Cluster::start(ClusterOptions::default());
    let rows = 5_000;
    let sql = format!(
        "CREATE TABLE ids (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '{rows}',\n\
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{rows}');\n\
         CREATE TABLE out (id BIGINT, name STRING) WITH (\n\
           'connector' = 'kafka', 'topic' = '{}', 'properties.bootstrap.servers' = '{}',\n\
           'format' = 'json', 'sink.partitioner' = 'round-robin');\n\
         INSERT INTO out SELECT id, CONCAT('n', CAST(id AS STRING)) FROM ids;\n",
        topic.name, topic.bootstrap
    );
    let id = cluster.submit("write.sql", &sql, &["-p", "2"]);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    let consumed = topic.consume_all("read_committed");
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    let mut partitions = BTreeMap::<i32, usize>::new();
    for record in &consumed {
        let row: Value =
            serde_json::from_slice(record.value.as_deref().expect("a value")).expect("JSON");
        assert_eq!(row["name"], format!("n{}", row["id"]), "{row}");
        *counts.entry(row["id"].as_u64().expect("id")).or_default() += 1;
        *partitions.entry(record.partition).or_default() += 1;
    }
    let expected: BTreeMap<u64, usize> = (1..=rows).map(|id| (id, 1)).collect();
    assert_eq!(counts, expected, "{}", cluster.logs());
    assert_eq!(
        partitions.len(),
        3,
        "round-robin spreads over every partition: {partitions:?}"
    );
}

#[test]
fn key_columns_travel_in_the_record_key_and_are_read_back_from_it() {
    let topic = KafkaTopic::create("keyed", 2);
    let cluster = Cluster::start(ClusterOptions::default());
    let count = 1_000;
    let keyed = |extra: &str| {
        format!(
            "CREATE TABLE keyed (k_id BIGINT, name STRING) WITH (\n\
               'connector' = 'kafka', 'topic' = '{}', 'properties.bootstrap.servers' = '{}',\n\
               'key.format' = 'json', 'key.fields' = 'k_id', 'key.fields-prefix' = 'k_',\n\
               'value.format' = 'json', 'value.fields-include' = 'EXCEPT_KEY'{extra});\n",
            topic.name, topic.bootstrap
        )
    };
    let write = format!(
        "CREATE TABLE ids (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '{count}',\n\
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{count}');\n\
         {}INSERT INTO keyed SELECT id, CONCAT('n', CAST(id AS STRING)) FROM ids;\n",
        keyed("")
    );
    let id = cluster.submit("write.sql", &write, &["-p", "2"]);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    let consumed = topic.consume_all("read_uncommitted");
    assert_eq!(consumed.len(), count as usize);
    let mut partition_of_key = BTreeMap::new();
    for record in &consumed {
        let key: Value =
            serde_json::from_slice(record.key.as_deref().expect("a key")).expect("JSON");
        let value: Value =
            serde_json::from_slice(record.value.as_deref().expect("a value")).expect("JSON");
        let id = key["id"]
            .as_u64()
            .expect("the key holds the id, named without the prefix");
        assert_eq!(
            value,
            serde_json::json!({"name": format!("n{id}")}),
            "the value holds the rest"
        );
        assert_eq!(
            record.partition,
            java_partition(record.key.as_deref().unwrap_or_default(), 2),
            "keyed records go where Kafka's Java clients put them"
        );
        partition_of_key.insert(id, record.partition);
    }
    assert_eq!(partition_of_key.len(), count as usize);

    let out = cluster.path("out");
    let read = format!(
        "{}{}INSERT INTO copy SELECT k_id, name FROM keyed;\n",
        keyed(", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'"),
        file_table("copy", "id BIGINT, name STRING", &out),
    );
    let id = cluster.submit("read.sql", &read, &["-p", "2"]);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    let rows_read = rows(&out);
    for row in &rows_read {
        assert_eq!(row["name"], format!("n{}", row["id"]), "{row}");
    }
    let expected: BTreeMap<u64, usize> = (1..=count).map(|id| (id, 1)).collect();
    assert_eq!(id_counts(&rows_read), expected, "{}", cluster.logs());
}

#[test]
fn startup_modes_choose_where_each_partition_starts() {
    let topic = KafkaTopic::create("startup", 2);
    let base = 1_700_000_000_000i64;
    let records: Vec<Produce> = (0..20)
        .map(|id| Produce {
            partition: (id % 2) as i32,
            timestamp: Some(base + 1_000 * id as i64),
            value: value(id),
        })
        .collect();
    let landed = topic.produce(&records);
    let cluster = Cluster::start(ClusterOptions::default());
    let bounded = ",\n'scan.bounded.mode' = 'latest-offset'";
    let modes = [
        (
            "by_time",
            format!(
                ", 'scan.startup.mode' = 'timestamp', 'scan.startup.timestamp-millis' = '{}'{bounded}",
                base + 12_000
            ),
        ),
        (
            "by_offset",
            format!(
                ", 'scan.startup.mode' = 'specific-offsets',\n\
                 'scan.startup.specific-offsets' = 'partition:0,offset:3;partition:1,offset:8'{bounded}"
            ),
        ),
        (
            "latest",
            format!(", 'scan.startup.mode' = 'latest-offset'{bounded}"),
        ),
        (
            "by_group",
            format!(
                ", 'properties.group.id' = '{}-new', 'properties.auto.offset.reset' = 'earliest'{bounded}",
                topic.name
            ),
        ),
    ];
    let mut sql = String::new();
    let mut inserts = String::new();
    for (name, options) in &modes {
        sql.push_str(&source_table(
            &format!("src_{name}"),
            &topic,
            "id BIGINT, name STRING",
            options,
        ));
        sql.push_str(&file_table(
            &format!("out_{name}"),
            "id BIGINT, name STRING",
            &cluster.path(name),
        ));
        inserts.push_str(&format!(
            "  INSERT INTO out_{name} SELECT id, name FROM src_{name};\n"
        ));
    }
    sql.push_str(&format!("EXECUTE STATEMENT SET BEGIN\n{inserts}END;\n"));
    let id = cluster.submit("modes.sql", &sql, &["-p", "2"]);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);

    let ids_where = |keep: &dyn Fn(u64, i32, i64) -> bool| -> BTreeMap<u64, usize> {
        landed
            .iter()
            .enumerate()
            .filter(|(id, (partition, offset))| keep(*id as u64, *partition, *offset))
            .map(|(id, _)| (id as u64, 1))
            .collect()
    };
    let read = |name: &str| id_counts(&rows(&cluster.path(name)));
    assert_eq!(read("by_time"), ids_where(&|id, _, _| id >= 12));
    assert_eq!(
        read("by_offset"),
        ids_where(&|_, partition, offset| offset >= if partition == 0 { 3 } else { 8 })
    );
    assert_eq!(read("latest"), BTreeMap::new());
    assert_eq!(read("by_group"), ids_where(&|_, _, _| true));
}

#[test]
fn group_offsets_without_a_group_are_refused_at_submit() {
    let topic = KafkaTopic::create("nogroup", 1);
    let cluster = Cluster::start(ClusterOptions::default());
    let sql = format!(
        "{}CREATE TABLE out (id BIGINT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO out SELECT id FROM src;\n",
        source_table("src", &topic, "id BIGINT", "")
    );
    let path = cluster.write("nogroup.sql", &sql);
    let output = cluster.rtdw(&["job", "submit", path.to_str().expect("utf-8")]);
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        error.contains(
            "table 'src': option 'scan.startup.mode' needs 'properties.group.id' to read the group's offsets, got 'group-offsets'"
        ),
        "{error}"
    );
}

#[test]
fn malformed_records_are_named_by_topic_partition_and_offset() {
    let topic = KafkaTopic::create("malformed", 1);
    let mut records: Vec<Produce> = (0..10)
        .map(|id| Produce {
            partition: 0,
            timestamp: None,
            value: value(id),
        })
        .collect();
    records[4].value = b"not json".to_vec();
    let landed = topic.produce(&records);
    let bad_offset = landed[4].1;
    let cluster = Cluster::start(ClusterOptions::default());
    let bounded =
        ", 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'";
    let skip_out = cluster.path("skipped");
    let sql = format!(
        "{}{}INSERT INTO out SELECT id, name FROM src;\n",
        source_table(
            "src",
            &topic,
            "id BIGINT, name STRING",
            &format!("{bounded}, 'json.ignore-parse-errors' = 'true'")
        ),
        file_table("out", "id BIGINT, name STRING", &skip_out),
    );
    let id = cluster.submit("skip.sql", &sql, &[]);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    let expected: BTreeMap<u64, usize> = (0..10).filter(|id| *id != 4).map(|id| (id, 1)).collect();
    assert_eq!(id_counts(&rows(&skip_out)), expected);

    let sql = format!(
        "{}{}INSERT INTO out SELECT id, name FROM src;\n",
        source_table("src", &topic, "id BIGINT, name STRING", bounded),
        file_table("out", "id BIGINT, name STRING", &cluster.path("failed")),
    );
    let id = cluster.submit("fail.sql", &sql, &[]);
    let job = wait_for("the job to fail", MINUTES, || {
        let job = cluster.job(&id);
        (job["state"] == "FAILED").then_some(job)
    });
    let failure = job["failure"].as_str().unwrap_or_default();
    assert!(
        failure.contains(&format!(
            "malformed json record of table 'src' in topic '{}' partition 0 offset {bad_offset}",
            topic.name
        )),
        "{job}"
    );
    assert_eq!(job["failure_class"], "user", "{job}");
}

#[test]
fn completed_checkpoints_commit_their_offsets_to_the_consumer_group() {
    let topic = KafkaTopic::create("committed", 2);
    let expected = produce_ids(&topic, 0, 2_000, 2);
    let group = format!("{}-group", topic.name);
    let cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("out");
    let sql = format!(
        "SET 'execution.checkpointing.interval' = '300 ms';
{}{}INSERT INTO copy SELECT id, name FROM src;
",
        source_table(
            "src",
            &topic,
            "id BIGINT, name STRING",
            &format!(
                ",
'properties.group.id' = '{group}', 'scan.startup.mode' = 'earliest-offset'"
            )
        ),
        file_table("copy", "id BIGINT, name STRING", &out),
    );
    let id = cluster.submit("copy.sql", &sql, &["-p", "2"]);
    wait_for("every record read and committed", MINUTES, || {
        (id_counts(&rows(&out)).len() == expected.len()).then_some(())
    });
    // Every record is in a completed checkpoint's output, so a later
    // checkpoint holds the partitions' ends: the group's offsets reach them.
    let (committed, ends) = wait_for("the group's offsets at the ends", MINUTES, || {
        let (committed, ends) = topic.committed_and_ends(&group);
        (committed == ends).then_some((committed, ends))
    });
    assert_eq!(committed.len(), 2, "{committed:?} {ends:?}");
    // Caught up: the consumer lag of every partition is exported, and 0.
    let partitions = [format!("{}:0", topic.name), format!("{}:1", topic.name)];
    let lag = wait_for("the lag of both partitions at 0", MINUTES, || {
        let lag = lag_by_partition(&cluster, "src");
        (lag.len() == 2 && lag.values().all(|l| *l == 0.0)).then_some(lag)
    });
    assert_eq!(lag.keys().cloned().collect::<Vec<_>>(), partitions);
    cluster.rtdw_ok(&["job", "cancel", &id]);
}

/// `rtdw_source_lag_records` of table `table` on every task manager, by
/// partition.
fn lag_by_partition(cluster: &Cluster, table: &str) -> BTreeMap<String, f64> {
    let mut lag = BTreeMap::new();
    for tm in cluster.taskmanager_list() {
        let addr = tm["http_addr"].as_str().expect("an HTTP address");
        let metrics = support::http_get(addr, "/metrics");
        for line in metrics.lines() {
            let Some(labels) = line.strip_prefix("rtdw_source_lag_records{") else {
                continue;
            };
            if !labels.contains(&format!("table=\"{table}\"")) {
                continue;
            }
            let partition = labels
                .split("partition=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .expect("a partition label");
            let value: f64 = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .expect("a value");
            lag.insert(partition.to_string(), value);
        }
    }
    lag
}

/// Produces `count` records with ids from `first`, spread over
/// `partitions`; returns their ids.
fn produce_ids(topic: &KafkaTopic, first: u64, count: u64, partitions: i32) -> Vec<u64> {
    let records: Vec<Produce> = (first..first + count)
        .map(|id| Produce {
            partition: (id % partitions as u64) as i32,
            timestamp: None,
            value: value(id),
        })
        .collect();
    topic.produce(&records);
    (first..first + count).collect()
}

#[test]
fn offsets_live_in_checkpoints_through_savepoints_at_parallelism_1_2_and_3() {
    let topic = KafkaTopic::create("offsets", 2);
    let cluster = Cluster::start(ClusterOptions {
        taskmanagers: 2,
        slots: 3,
        ..ClusterOptions::default()
    });
    let out = cluster.path("out");
    let savepoints = cluster.path("savepoints");
    let sql = format!(
        "SET 'execution.checkpointing.interval' = '500 ms';\n{}{}INSERT INTO copy SELECT id, name FROM src;\n",
        source_table(
            "src",
            &topic,
            "id BIGINT, name STRING",
            ",\n'scan.startup.mode' = 'earliest-offset', 'scan.topic-partition-discovery.interval' = '500 ms'"
        ),
        file_table("copy", "id BIGINT, name STRING", &out),
    );
    let path = cluster.write("copy.sql", &sql);
    let path = path.to_str().expect("utf-8");
    let mut expected = produce_ids(&topic, 0, 3_000, 2);
    let mut savepoint: Option<String> = None;
    for (round, parallelism) in [1u32, 2, 3].into_iter().enumerate() {
        let p = parallelism.to_string();
        let mut args = vec!["job", "submit", path, "-p", &p];
        if let Some(savepoint) = &savepoint {
            args.extend(["--from-savepoint", savepoint.as_str()]);
        }
        let id = cluster.rtdw_ok(&args).trim().to_string();
        cluster.wait_for_state(&id, "RUNNING", MINUTES);
        let partitions = match round {
            0 => 2,
            1 => {
                // Partitions added while the job runs are discovered and
                // read from their start.
                topic.add_partitions(4);
                4
            }
            _ => 4,
        };
        expected.extend(produce_ids(
            &topic,
            100_000 * (round as u64 + 1),
            1_000,
            partitions,
        ));
        wait_for("every record read and committed", MINUTES, || {
            (id_counts(&rows(&out)).len() == expected.len()).then_some(())
        });
        let job = cluster.job(&id);
        let assigned: usize = job["vertices"][0]["subtasks"]
            .as_array()
            .expect("subtasks")
            .iter()
            .map(|s| s["splits"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(
            assigned, partitions as usize,
            "one split per partition: {job}"
        );
        savepoint = Some(cluster.stop_with_savepoint(&id, &savepoints));
    }
    let counts = id_counts(&rows(&out));
    let duplicated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "read twice: {duplicated:?}");
    let want: BTreeMap<u64, usize> = expected.iter().map(|id| (*id, 1)).collect();
    assert_eq!(counts, want, "{}", cluster.logs());
}

#[test]
fn an_exactly_once_pipeline_through_kafka_keeps_every_id_once_through_killed_task_managers() {
    let topic = KafkaTopic::create("pipeline", 3);
    let mut cluster = Cluster::start(ClusterOptions {
        taskmanagers: 3,
        ..ClusterOptions::default()
    });
    let count = 20_000;
    let prefix = format!("{}-writer", topic.name);
    let writer = cluster.submit(
        "write.sql",
        &exactly_once_writer(&topic, count, 2_000, &prefix),
        &["-p", "2"],
    );
    let out = cluster.path("out");
    let reader_sql = format!(
        "{CHECKPOINTED_AND_RESTARTED}{}{}INSERT INTO copy SELECT id, name FROM src;\n",
        source_table(
            "src",
            &topic,
            "id BIGINT, name STRING",
            ",\n'scan.startup.mode' = 'earliest-offset', 'properties.isolation.level' = 'read_committed'"
        ),
        file_table("copy", "id BIGINT, name STRING", &out),
    );
    let reader = cluster.submit("read.sql", &reader_sql, &["-p", "2"]);
    for job in [&writer, &reader] {
        cluster.wait_for_checkpoint(job, 1);
        let restarts = cluster.job(job)["restarts"].as_u64().unwrap_or(0);
        cluster.kill_a_taskmanager_of(job);
        cluster.wait_for_restart(job, restarts + 1);
    }
    cluster.wait_for_state(&writer, "FINISHED", MINUTES);
    let consumed = consumed_id_counts(&topic.consume_all("read_committed"));
    let missing: Vec<u64> = (1..=count)
        .filter(|id| !consumed.contains_key(id))
        .collect();
    assert!(
        missing.is_empty(),
        "the topic, read committed, lacks ids {missing:?}; read uncommitted, records of them lie at {}\n{}",
        places_of(&topic, &missing),
        cluster.logs()
    );
    assert_each_id_once(&consumed, count, "the topic, read committed");
    wait_for("the reader to commit every id", MINUTES, || {
        (id_counts(&rows(&out)).len() as u64 == count).then_some(())
    });
    assert_each_id_once(&id_counts(&rows(&out)), count, "the second job's output");
}

#[test]
fn a_transaction_prepared_before_a_crash_is_committed_by_the_restored_job() {
    let topic = KafkaTopic::create("resumed", 2);
    resumes_a_prepared_transaction(&topic, &Connection::plaintext(&topic));
}

#[test]
fn transactions_are_resumed_over_sasl_ssl_with_scram() {
    let topic = KafkaTopic::create("resumed-sasl-ssl", 2);
    let connection = Connection::sasl(
        &topic,
        "SASL_SSL",
        "RTDW_KAFKA_SASL_SSL_BOOTSTRAP",
        "SCRAM-SHA-512",
    );
    resumes_a_prepared_transaction(&topic, &connection);
}

#[test]
fn transactions_are_resumed_over_sasl_plaintext_with_plain() {
    let topic = KafkaTopic::create("resumed-sasl", 2);
    let connection = Connection::sasl(
        &topic,
        "SASL_PLAINTEXT",
        "RTDW_KAFKA_SASL_BOOTSTRAP",
        "PLAIN",
    );
    resumes_a_prepared_transaction(&topic, &connection);
}

/// A task manager dies between a checkpoint and the commit of the sink's
/// transaction; the job, restored on another, commits that transaction
/// itself (through `connection`) and aborts what was left open: a
/// `read_committed` consumer reads every id once.
fn resumes_a_prepared_transaction(topic: &KafkaTopic, connection: &Connection) {
    let mut cluster = Cluster::start(ClusterOptions {
        taskmanagers: 0,
        ..ClusterOptions::default()
    });
    // The task manager dies as its sink is about to commit checkpoint 3:
    // the transaction of that checkpoint is prepared, the checkpoint
    // complete, the commit never made.
    cluster.add_taskmanager_with_env(2, &[("RTDW_FAULT_CRASH_BEFORE_COMMIT", "3")]);
    cluster.wait_for_alive(1);
    let count = 12_000;
    let prefix = format!("{}-writer", topic.name);
    let id = cluster.submit(
        "write.sql",
        &exactly_once_writer_over(connection, topic, count, 2_000, &prefix),
        &[],
    );
    wait_for("the task manager to crash", MINUTES, || {
        cluster.taskmanagers[0]
            .try_wait()
            .expect("task manager status")
    });
    // Written and not yet committed: visible to a read_uncommitted reader
    // only.
    assert!(
        !topic.consume_all("read_uncommitted").is_empty(),
        "the crashed job wrote records"
    );
    cluster.add_taskmanager(2);
    let job = cluster.wait_for_state(&id, "FINISHED", MINUTES);
    assert!(
        job["restored_checkpoint_id"].as_u64() >= Some(3),
        "restored from the checkpoint whose commit was cut off: {job}"
    );
    // Each id once: the prepared transaction was committed, and the one
    // left open after it aborted (else the read_committed reader would be
    // held at its first offset and time out).
    let consumed = consumed_id_counts(&topic.consume_all("read_committed"));
    assert_each_id_once(&consumed, count, "the topic, read committed");
    assert!(
        cluster.logs().contains("committed a restored transaction"),
        "the restore committed the prepared transaction itself:\n{}",
        cluster.logs()
    );
}

#[test]
fn an_exactly_once_sink_without_a_transactional_id_prefix_is_refused_at_submit() {
    let topic = KafkaTopic::create("unnamed", 1);
    let cluster = Cluster::start(ClusterOptions::default());
    let sql = exactly_once_writer(&topic, 10, 10, "x")
        .replace(",\n'sink.transactional-id-prefix' = 'x'", "");
    assert!(!sql.contains("transactional-id-prefix"), "{sql}");
    let output = cluster.rtdw(&[
        "job",
        "submit",
        &cluster.write("bad.sql", &sql).to_string_lossy(),
    ]);
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{error}");
    assert!(
        error.contains(
            "table 'out': option 'sink.delivery-guarantee' needs 'sink.transactional-id-prefix' to name the sink's Kafka transactions, got 'exactly-once'"
        ),
        "{error}"
    );
}

#[test]
fn each_partition_has_its_own_watermark_so_rows_of_a_slower_one_are_not_late() {
    // Both partitions hold the same 100 s of event time, 25 ms apart. The
    // source reads them in fetch-sized runs, one partition ahead of the
    // other at times; a watermark of the fastest partition would make the
    // other's rows late and drop them from their windows.
    let topic = KafkaTopic::create("event-time", 2);
    let per_partition = 4_000u64;
    let records: Vec<Produce> = (0..2 * per_partition)
        .map(|i| {
            let t = (i % per_partition) * 25;
            Produce {
                partition: (i / per_partition) as i32,
                timestamp: None,
                value: format!(r#"{{"id": {i}, "t": {t}}}"#).into_bytes(),
            }
        })
        .collect();
    topic.produce(&records);
    let cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("out");
    let sql = format!(
        "{}{}INSERT INTO windows SELECT CAST(window_start AS STRING), COUNT(*)\n\
         FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '10' SECOND))\n\
         GROUP BY window_start, window_end;\n",
        source_table(
            "events",
            &topic,
            "id BIGINT, t BIGINT, ts AS to_timestamp_millis(t), WATERMARK FOR ts AS ts",
            ",\n'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'"
        ),
        file_table("windows", "window_start STRING, n BIGINT", &out),
    );
    let id = cluster.submit("windows.sql", &sql, &["-p", "1"]);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    let counts: BTreeMap<String, i64> = rows(&out)
        .iter()
        .map(|row| {
            (
                row["window_start"].as_str().expect("a window").to_string(),
                row["n"].as_i64().expect("a count"),
            )
        })
        .collect();
    // 10 s of each partition is 400 rows: 800 a window, none dropped.
    let expected: BTreeMap<String, i64> = (0..10)
        .map(|w| {
            let seconds = w * 10;
            let start = format!("1970-01-01T00:{:02}:{:02}", seconds / 60, seconds % 60);
            (start, 800)
        })
        .collect();
    assert_eq!(counts, expected, "{}", cluster.logs());
}

#[test]
fn record_headers_are_read_as_a_map() {
    let topic = KafkaTopic::create("headers", 1);
    let records: Vec<(Vec<u8>, kafka::Headers<'_>)> = vec![
        (
            value(1),
            vec![("trace", Some(b"t-1".as_slice())), ("tenant", Some(b"a"))],
        ),
        // A repeated key keeps its last value; a NULL value stays NULL.
        (
            value(2),
            vec![
                ("trace", Some(b"old")),
                ("trace", Some(b"t-2")),
                ("tenant", None),
            ],
        ),
        (value(3), vec![]),
    ];
    topic.produce_with_headers(&records);
    let cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("out");
    let sql = format!(
        "{}{}INSERT INTO copy SELECT id, CAST(h['trace'] AS STRING), CAST(h['tenant'] AS STRING), CARDINALITY(h) FROM events;\n",
        source_table(
            "events",
            &topic,
            "id BIGINT, name STRING, h MAP<STRING, BYTES> METADATA FROM 'headers' VIRTUAL",
            ",\n'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'"
        ),
        file_table(
            "copy",
            "id BIGINT, trace STRING, tenant STRING, headers BIGINT",
            &out
        ),
    );
    let id = cluster.submit("headers.sql", &sql, &["-p", "1"]);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    let mut read: Vec<Value> = rows(&out);
    read.sort_by_key(|row| row["id"].as_u64());
    assert_eq!(
        read,
        vec![
            serde_json::json!({"id": 1, "trace": "t-1", "tenant": "a", "headers": 2}),
            serde_json::json!({"id": 2, "trace": "t-2", "tenant": null, "headers": 2}),
            serde_json::json!({"id": 3, "trace": null, "tenant": null, "headers": 0}),
        ],
        "{}",
        cluster.logs()
    );
}

#[test]
fn every_format_round_trips_through_a_topic() {
    let cluster = Cluster::start(ClusterOptions::default());
    let count = 1_000u64;
    let ids = format!(
        "CREATE TABLE ids (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '{count}',\n\
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{count}');\n"
    );
    let bounded =
        ",\n'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset'";
    // Insert-only formats: each row comes back as written.
    for format in ["json", "csv"] {
        let topic = KafkaTopic::create(&format!("round-trip-{format}"), 2);
        let table = |name: &str, extra: &str| {
            format!(
                "CREATE TABLE {name} (id BIGINT, name STRING) WITH (\n\
                   'connector' = 'kafka', 'topic' = '{}', 'properties.bootstrap.servers' = '{}',\n\
                   'format' = '{format}'{extra});\n",
                topic.name, topic.bootstrap
            )
        };
        let write = format!(
            "{ids}{}INSERT INTO t SELECT id, CONCAT('n', CAST(id AS STRING)) FROM ids;\n",
            table("t", "")
        );
        cluster.wait_for_state(
            &cluster.submit("write.sql", &write, &[]),
            "FINISHED",
            MINUTES,
        );
        let out = cluster.path(&format!("out-{format}"));
        let read = format!(
            "{}{}INSERT INTO copy SELECT id, name FROM t;\n",
            table("t", bounded),
            file_table("copy", "id BIGINT, name STRING", &out)
        );
        cluster.wait_for_state(&cluster.submit("read.sql", &read, &[]), "FINISHED", MINUTES);
        let read_rows = rows(&out);
        for row in &read_rows {
            assert_eq!(row["name"], format!("n{}", row["id"]), "{format}: {row}");
        }
        assert_each_id_once(&id_counts(&read_rows), count, format);
    }
    // raw: one column, the value's bytes as they are.
    let topic = KafkaTopic::create("round-trip-raw", 1);
    let raw = |extra: &str| {
        format!(
            "CREATE TABLE t (line STRING) WITH ('connector' = 'kafka', 'topic' = '{}',\n\
               'properties.bootstrap.servers' = '{}', 'format' = 'raw'{extra});\n",
            topic.name, topic.bootstrap
        )
    };
    let write = format!(
        "{ids}{}INSERT INTO t SELECT CONCAT('line ', CAST(id AS STRING)) FROM ids;\n",
        raw("")
    );
    cluster.wait_for_state(
        &cluster.submit("write.sql", &write, &[]),
        "FINISHED",
        MINUTES,
    );
    let values: BTreeMap<String, usize> = topic
        .consume_all("read_uncommitted")
        .iter()
        .map(|r| String::from_utf8(r.value.clone().expect("a value")).expect("utf-8"))
        .fold(BTreeMap::new(), count_each);
    let expected: BTreeMap<String, usize> =
        (1..=count).map(|id| (format!("line {id}"), 1)).collect();
    assert_eq!(values, expected, "raw writes the bytes of the column");
    let out = cluster.path("out-raw");
    let read = format!(
        "{}{}INSERT INTO copy SELECT line FROM t;\n",
        raw(bounded),
        file_table("copy", "line STRING", &out)
    );
    cluster.wait_for_state(&cluster.submit("read.sql", &read, &[]), "FINISHED", MINUTES);
    let lines: BTreeMap<String, usize> = rows(&out)
        .iter()
        .map(|row| row["line"].as_str().expect("a line").to_string())
        .fold(BTreeMap::new(), count_each);
    assert_eq!(lines, expected, "raw reads the bytes back");
    // Changelog formats: a GROUP BY's updates written and read back fold
    // into the final counts (each of the 10 keys counted count / 10 times).
    for format in ["debezium-json", "canal-json", "maxwell-json"] {
        let topic = KafkaTopic::create(&format!("round-trip-{format}"), 1);
        let table = |extra: &str| {
            format!(
                "CREATE TABLE counts (k BIGINT, n BIGINT) WITH (\n\
                   'connector' = 'kafka', 'topic' = '{}', 'properties.bootstrap.servers' = '{}',\n\
                   'format' = '{format}'{extra});\n",
                topic.name, topic.bootstrap
            )
        };
        let write = format!(
            "{ids}{}INSERT INTO counts SELECT id % 10, COUNT(*) FROM ids GROUP BY id % 10;\n",
            table("")
        );
        cluster.wait_for_state(
            &cluster.submit("write.sql", &write, &[]),
            "FINISHED",
            MINUTES,
        );
        let out = cluster.path(&format!("out-{format}"));
        let read = format!(
            "{}CREATE TABLE copy (k BIGINT, n BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}',\n\
               'format' = 'debezium-json');\n\
             INSERT INTO copy SELECT k, n FROM counts;\n",
            table(bounded),
            out.display()
        );
        cluster.wait_for_state(&cluster.submit("read.sql", &read, &[]), "FINISHED", MINUTES);
        let folded: BTreeMap<i64, i64> = support::fold_debezium(&out, "k")
            .into_values()
            .map(|row| (row["k"].as_i64().expect("k"), row["n"].as_i64().expect("n")))
            .collect();
        let expected: BTreeMap<i64, i64> = (0..10).map(|k| (k, count as i64 / 10)).collect();
        assert_eq!(folded, expected, "{format}: {}", cluster.logs());
    }
}
