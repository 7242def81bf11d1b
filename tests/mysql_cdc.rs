//! The `mysql-cdc` connector against a real MariaDB with a row binlog:
//! what a job copies into a Debezium-JSON filesystem sink (exactly once)
//! folds to the table as the database itself returns it at the end, through
//! a snapshot taken while a writer changes the table, task managers killed
//! mid-snapshot and mid-binlog.

#[path = "support/mariadb.rs"]
mod mariadb;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use mariadb::Database;
use serde_json::{Value, json};
use support::{CHECKPOINTED_AND_RESTARTED, Cluster, ClusterOptions, fold_debezium};

const MINUTES: Duration = Duration::from_secs(180);

/// Rows of the orders table at the start.
const ORDERS: u64 = 100_000;

/// An orders table of `ORDERS` rows.
fn orders(db: &Database) {
    db.execute(&format!(
        "CREATE TABLE orders (id BIGINT NOT NULL PRIMARY KEY, customer VARCHAR(32) NOT NULL, amount INT NOT NULL);\
         INSERT INTO orders SELECT seq, CONCAT('c', seq % 97), seq % 1000 FROM seq_1_to_{ORDERS}"
    ));
}

/// A job copying the orders table into `out`, read by `parallelism`
/// subtasks (replica ids from `server_id` up) in chunks of `chunk` rows.
fn copy_job(db: &Database, out: &Path, parallelism: u32, chunk: u32, server_id: u32) -> String {
    format!(
        "{CHECKPOINTED_AND_RESTARTED}\
         CREATE TABLE orders (id BIGINT, customer STRING, amount INT, PRIMARY KEY (id) NOT ENFORCED) WITH (\n\
           {}, 'scan.incremental.snapshot.chunk.size' = '{chunk}', 'server-id' = '{server_id}-{}', 'source.parallelism' = '{parallelism}');\n\
         CREATE TABLE copy (id BIGINT, customer STRING, amount INT) WITH (\n\
           'connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
         INSERT INTO copy SELECT * FROM orders;\n",
        db.cdc_options("orders"),
        server_id + parallelism - 1,
        out.display()
    )
}

/// Changes of every kind, `round` of many: inserts, updates, primary-key
/// updates and deletes, each its own transaction or several in one.
fn write_round(db: &Database, round: u64) {
    let base = ORDERS + 1_000_000;
    db.execute(&format!(
        "INSERT INTO orders VALUES ({}, 'new', {round});\
         UPDATE orders SET amount = amount + 1 WHERE id = {};\
         UPDATE orders SET id = id + {base} WHERE id = {};\
         DELETE FROM orders WHERE id = {};\
         START TRANSACTION;\
         UPDATE orders SET customer = 'moved' WHERE id BETWEEN {} AND {};\
         DELETE FROM orders WHERE id = {};\
         COMMIT",
        ORDERS + 1 + round,
        1 + (round * 331) % ORDERS,
        1 + (round * 577 + 13) % ORDERS,
        1 + (round * 919 + 29) % ORDERS,
        1 + (round * 97) % ORDERS,
        1 + (round * 97) % ORDERS + 20,
        ORDERS + 1 + round / 2,
    ));
}

/// The table as the database returns it, keyed as the fold keys it.
fn table_of(db: &Database) -> BTreeMap<String, Value> {
    db.query::<(i64, String, i32)>("SELECT id, customer, amount FROM orders")
        .into_iter()
        .map(|(id, customer, amount)| {
            (
                id.to_string(),
                json!({ "id": id, "customer": customer, "amount": amount }),
            )
        })
        .collect()
}

/// Waits until the committed output folds to the database's table; on
/// timeout, fails naming the keys that differ.
fn wait_for_copy(cluster: &Cluster, db: &Database, out: &Path) {
    let expected = table_of(db);
    let deadline = std::time::Instant::now() + MINUTES;
    loop {
        let folded = fold_debezium(out, "id");
        if folded == expected {
            return;
        }
        if std::time::Instant::now() > deadline {
            let missing: Vec<&String> = expected
                .keys()
                .filter(|k| !folded.contains_key(*k))
                .take(10)
                .collect();
            let extra: Vec<&String> = folded
                .keys()
                .filter(|k| !expected.contains_key(*k))
                .take(10)
                .collect();
            let differ: Vec<(&Value, &Value)> = expected
                .iter()
                .filter_map(|(k, v)| folded.get(k).filter(|f| *f != v).map(|f| (v, f)))
                .take(10)
                .collect();
            panic!(
                "the copy ({} rows) differs from the table ({} rows): missing {missing:?}, extra {extra:?}, differing (expected, copied) {differ:?}\n{}",
                folded.len(),
                expected.len(),
                cluster.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_snapshot_taken_under_concurrent_writes_then_the_binlog_fold_to_the_table() {
    let db = Database::create("cdc_copy");
    orders(&db);
    let cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("copy");
    let id = cluster.submit("cdc-copy", &copy_job(&db, &out, 2, 4000, 5600), &[]);
    // The writer starts with the snapshot and goes on past it.
    for round in 0..300 {
        write_round(&db, round);
    }
    cluster.wait_for_checkpoint(&id, 0);
    for round in 300..400 {
        write_round(&db, round);
    }
    wait_for_copy(&cluster, &db, &out);
}

#[test]
fn task_managers_killed_during_the_snapshot_and_the_binlog_change_nothing() {
    let db = Database::create("cdc_kill");
    orders(&db);
    let mut cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("copy");
    let id = cluster.submit("cdc-kill", &copy_job(&db, &out, 2, 500, 5610), &[]);
    for round in 0..100 {
        write_round(&db, round);
    }
    // Mid-snapshot: 200 chunks take longer than a checkpoint interval.
    let checkpoint = cluster.wait_for_checkpoint(&id, 0);
    cluster.kill_a_taskmanager_of(&id);
    cluster.wait_for_restart(&id, 1);
    for round in 100..200 {
        write_round(&db, round);
    }
    wait_for_copy(&cluster, &db, &out);
    // Mid-binlog: the snapshot is done, changes keep coming.
    let checkpoint = cluster.wait_for_checkpoint(&id, checkpoint);
    for round in 200..300 {
        write_round(&db, round);
    }
    cluster.kill_a_taskmanager_of(&id);
    cluster.wait_for_restart(&id, 2);
    cluster.wait_for_checkpoint(&id, checkpoint);
    for round in 300..350 {
        write_round(&db, round);
    }
    wait_for_copy(&cluster, &db, &out);
}
