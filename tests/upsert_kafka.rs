//! The `upsert-kafka` connector against a real Apache Kafka broker: a
//! GROUP BY over a topic of upserts and tombstones, written back as
//! upserts, is checked against the table the test folds from what it
//! produced, and read with a consumer of the test's own.

#[path = "support/kafka.rs"]
mod kafka;
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use kafka::KafkaTopic;
use serde_json::{Value, json};
use support::{Cluster, ClusterOptions, wait_for};

const MINUTES: Duration = Duration::from_secs(180);

/// An account's row: region and balance.
type Account = (u64, i64);

/// The changes the test produces, in order (`None`: a tombstone), and the
/// table they leave: every id's last row, deleted ids left out.
struct Changes {
    records: Vec<(u64, Option<Account>)>,
    table: BTreeMap<u64, Account>,
}

impl Changes {
    fn new() -> Self {
        Changes {
            records: Vec::new(),
            table: BTreeMap::new(),
        }
    }

    fn upsert(&mut self, id: u64, account: Account) {
        self.records.push((id, Some(account)));
        self.table.insert(id, account);
    }

    fn delete(&mut self, id: u64) {
        self.records.push((id, None));
        self.table.remove(&id);
    }

    /// As keyed records: `{"id": ..}` keys, `{"id", "region", "balance"}`
    /// values.
    fn encoded(&self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        self.records
            .iter()
            .map(|(id, account)| {
                let key = json!({ "id": id }).to_string().into_bytes();
                let value = account.map(|(region, balance)| {
                    json!({ "id": id, "region": region, "balance": balance })
                        .to_string()
                        .into_bytes()
                });
                (key, value)
            })
            .collect()
    }

    /// `SELECT region, COUNT(*), SUM(balance) ... GROUP BY region` over the
    /// final table.
    fn totals(&self) -> BTreeMap<u64, (u64, i64)> {
        let mut totals: BTreeMap<u64, (u64, i64)> = BTreeMap::new();
        for (region, balance) in self.table.values() {
            let total = totals.entry(*region).or_default();
            total.0 += 1;
            total.1 += balance;
        }
        totals
    }
}

/// Inserts, updates that move accounts between regions, equal rewrites,
/// tombstones (of known and unknown ids) and re-inserts after tombstones.
fn account_changes() -> Changes {
    let mut changes = Changes::new();
    for id in 0..300 {
        changes.upsert(id, (id % 4, id as i64));
    }
    for id in (0..300).step_by(3) {
        changes.upsert(id, ((id + 1) % 4, 2 * id as i64));
    }
    for id in (0..300).step_by(7) {
        let same = changes.table[&id];
        changes.upsert(id, same);
    }
    for id in (0..300).step_by(5) {
        changes.delete(id);
    }
    changes.delete(1_000);
    for id in (0..300).step_by(10) {
        changes.upsert(id, (3, 7));
    }
    changes
}

impl Changes {
    /// Deletes every account of `region`.
    fn delete_region(&mut self, region: u64) {
        let members: Vec<u64> = self
            .table
            .iter()
            .filter(|(_, account)| account.0 == region)
            .map(|(id, _)| *id)
            .collect();
        assert!(!members.is_empty(), "region {region} has accounts");
        for id in members {
            self.delete(id);
        }
    }

    /// The totals as the sink writes them: `{"region"}` keys and
    /// `{"accounts", "balance"}` values.
    fn written_totals(&self) -> BTreeMap<String, Value> {
        self.totals()
            .into_iter()
            .map(|(region, (count, balance))| {
                (
                    json!({ "region": region }).to_string(),
                    json!({ "accounts": count, "balance": balance }),
                )
            })
            .collect()
    }
}

/// The table a topic of upserts holds: each key's last value, without
/// the keys whose last record is a tombstone.
fn folded(records: &[kafka::Consumed]) -> BTreeMap<String, Value> {
    let mut table = BTreeMap::new();
    for record in records {
        let key = String::from_utf8(record.key.clone().expect("a keyed record")).expect("utf-8");
        match &record.value {
            Some(value) => {
                table.insert(key, serde_json::from_slice(value).expect("a JSON value"));
            }
            None => {
                table.remove(&key);
            }
        }
    }
    table
}

#[test]
fn a_group_by_over_upserts_and_tombstones_retracts_and_writes_upserts_back() {
    let accounts = KafkaTopic::create("accounts", 3);
    let totals = KafkaTopic::create("region-totals", 2);
    let mut changes = account_changes();
    accounts.produce_keyed(&changes.encoded());
    let cluster = Cluster::start(ClusterOptions::default());
    let sql = format!(
        "SET 'execution.checkpointing.interval' = '1 s';\n\
         CREATE TABLE accounts (id BIGINT, region BIGINT, balance BIGINT,\n\
           PRIMARY KEY (id) NOT ENFORCED) WITH (\n\
           'connector' = 'upsert-kafka', 'topic' = '{}', 'properties.bootstrap.servers' = '{}',\n\
           'key.format' = 'json', 'value.format' = 'json');\n\
         CREATE TABLE totals (region BIGINT, accounts BIGINT, balance BIGINT,\n\
           PRIMARY KEY (region) NOT ENFORCED) WITH (\n\
           'connector' = 'upsert-kafka', 'topic' = '{}', 'properties.bootstrap.servers' = '{}',\n\
           'key.format' = 'json', 'value.format' = 'json', 'value.fields-include' = 'EXCEPT_KEY',\n\
           'sink.delivery-guarantee' = 'exactly-once', 'sink.transactional-id-prefix' = '{}');\n\
         INSERT INTO totals\n\
         SELECT region, COUNT(*), SUM(balance) FROM accounts GROUP BY region;\n",
        accounts.name, accounts.bootstrap, totals.name, totals.bootstrap, totals.name
    );
    let explained = cluster.rtdw_ok(&[
        "sql",
        "explain",
        &cluster.write("plan.sql", &sql).to_string_lossy(),
    ]);
    assert!(
        explained.contains("ChangelogNormalize(key=[id])"),
        "the upsert source is normalized: {explained}"
    );
    let id = cluster.submit("totals.sql", &sql, &["-p", "2"]);
    let settles_at = |expected: BTreeMap<String, Value>| {
        wait_for("the totals the changes leave", MINUTES, || {
            let written = totals.consume_all("read_committed");
            (folded(&written) == expected).then_some(written)
        })
    };
    settles_at(changes.written_totals());

    // Emptying a region the sink has written retracts it: a tombstone.
    let produced = changes.records.len();
    changes.delete_region(2);
    accounts.produce_keyed(&changes.encoded()[produced..]);
    let written = settles_at(changes.written_totals());
    let region_2 = json!({ "region": 2 }).to_string().into_bytes();
    let last_of_region_2 = written
        .iter()
        .rev()
        .find(|record| record.key.as_deref() == Some(region_2.as_slice()))
        .expect("region 2 was written");
    assert_eq!(last_of_region_2.value, None, "a tombstone deletes region 2");
    cluster.rtdw_ok(&["job", "cancel", &id]);
}

#[test]
fn an_upsert_kafka_table_without_a_primary_key_is_refused_at_submit() {
    let topic = KafkaTopic::create("keyless", 1);
    let cluster = Cluster::start(ClusterOptions::default());
    let sql = format!(
        "CREATE TABLE src (id BIGINT) WITH ('connector' = 'upsert-kafka', 'topic' = '{}',\n\
           'properties.bootstrap.servers' = '{}', 'key.format' = 'json', 'value.format' = 'json');\n\
         CREATE TABLE out (id BIGINT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO out SELECT id FROM src;\n",
        topic.name, topic.bootstrap
    );
    let output = cluster.rtdw(&[
        "job",
        "submit",
        &cluster.write("keyless.sql", &sql).to_string_lossy(),
    ]);
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{error}");
    assert!(
        error.contains("table 'src'") && error.contains("needs a PRIMARY KEY"),
        "{error}"
    );
}

#[test]
fn a_buffering_upsert_sink_sends_what_it_holds_when_its_interval_passes() {
    let input = KafkaTopic::create("buffer-input", 1);
    let totals = KafkaTopic::create("buffered", 1);
    // Ten rows over three keys, then nothing: with no checkpoints and far
    // fewer keys than 'max-rows', only the interval's timer sends what
    // the sink holds, one record a key (the last change).
    let records: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..10)
        .map(|i| {
            let key = json!({ "id": i }).to_string().into_bytes();
            let value = json!({ "id": i, "k": i % 3 }).to_string().into_bytes();
            (key, Some(value))
        })
        .collect();
    input.produce_keyed(&records);
    let cluster = Cluster::start(ClusterOptions::default());
    let sql = format!(
        "CREATE TABLE events (id BIGINT, k BIGINT) WITH (\n\
           'connector' = 'kafka', 'topic' = '{}', 'properties.bootstrap.servers' = '{}',\n\
           'format' = 'json', 'scan.startup.mode' = 'earliest-offset');\n\
         CREATE TABLE counts (k BIGINT, n BIGINT, PRIMARY KEY (k) NOT ENFORCED) WITH (\n\
           'connector' = 'upsert-kafka', 'topic' = '{}', 'properties.bootstrap.servers' = '{}',\n\
           'key.format' = 'json', 'value.format' = 'json', 'sink.delivery-guarantee' = 'none',\n\
           'sink.buffer-flush.max-rows' = '1000', 'sink.buffer-flush.interval' = '500 ms');\n\
         INSERT INTO counts SELECT k, COUNT(*) FROM events GROUP BY k;\n",
        input.name, input.bootstrap, totals.name, totals.bootstrap
    );
    let id = cluster.submit("counts.sql", &sql, &["-p", "1"]);
    let expected: BTreeMap<String, Value> = (0..3)
        .map(|k| {
            let n = (0..10).filter(|i| i % 3 == k).count();
            (json!({ "k": k }).to_string(), json!({ "k": k, "n": n }))
        })
        .collect();
    let written = wait_for("the held changes to be sent", MINUTES, || {
        let written = totals.consume_all("read_uncommitted");
        (folded(&written) == expected).then_some(written)
    });
    cluster.rtdw_ok(&["job", "cancel", &id]);
    assert!(
        written.len() <= 10,
        "no more records than changes: {written:?}"
    );
}
