//! The `paimon` connector against Apache Paimon's own reader: tables rtdw
//! writes, on the file system and on the project's S3 server, through a
//! task manager killed mid-stream, read back by pypaimon exactly as the
//! input defines them; primary-key tables fed a changelog end as the state
//! the changes fold to under each merge engine; mistakes in the table's
//! declaration fail the submission.

#[path = "support/paimon.rs"]
mod paimon;
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use support::services::S3Server;
use support::{CHECKPOINTED_AND_RESTARTED, Cluster, ClusterOptions};

const MINUTES: Duration = Duration::from_secs(300);

/// Where the tables live.
enum Warehouse {
    /// A directory.
    Files(tempfile::TempDir),
    /// A bucket of the project's S3 server.
    S3(S3Server),
}

impl Warehouse {
    fn files() -> Warehouse {
        Warehouse::Files(tempfile::tempdir().expect("a warehouse directory"))
    }

    fn s3() -> Warehouse {
        Warehouse::S3(S3Server::start("paimon"))
    }

    /// The warehouse's URL.
    fn url(&self) -> String {
        match self {
            Warehouse::Files(dir) => format!("file://{}", dir.path().display()),
            Warehouse::S3(s3) => format!("s3://{}/warehouse", s3.bucket),
        }
    }

    /// The `WITH` options of rtdw's table `db.table`, created on first write.
    fn table_options(&self, db: &str, table: &str) -> String {
        let mut options = format!(
            "'connector' = 'paimon', 'path' = '{}/{db}.db/{table}', 'auto-create' = 'true'",
            self.url()
        );
        if let Warehouse::S3(s3) = self {
            options.push_str(&format!(
                ", 's3.endpoint' = '{}', 's3.access-key' = '{}', 's3.secret-key' = '{}', 's3.path.style.access' = 'true'",
                s3.endpoint, s3.access_key, s3.secret_key
            ));
        }
        options
    }

    /// pypaimon's catalog options for the warehouse. pypaimon reads an S3
    /// warehouse from the server's storage, where each object is the file
    /// at its key: pyarrow's S3 client asks for "directory" keys, which
    /// the project's S3 server (s3s-fs) answers with an error where S3
    /// answers "not found".
    fn catalog(&self) -> Value {
        match self {
            Warehouse::Files(_) => json!({ "warehouse": self.url() }),
            Warehouse::S3(s3) => {
                json!({ "warehouse": format!("file://{}/warehouse", s3.root().display()) })
            }
        }
    }
}

/// Orders `1..=rows` written at `rate` rows/s into an ODS append table
/// partitioned by day and hour, both derived from the id.
fn ods_job(warehouse: &Warehouse, rows: u64, rate: u64) -> String {
    format!(
        "{CHECKPOINTED_AND_RESTARTED}\
         SET 'parallelism.default' = '2';\n\
         CREATE TABLE orders (id BIGINT, amount BIGINT) WITH (\n\
           'connector' = 'datagen', 'rows-per-second' = '{rate}',\n\
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{rows}',\n\
           'fields.amount.kind' = 'sequence', 'fields.amount.start' = '1', 'fields.amount.end' = '{rows}');\n\
         CREATE TABLE ods_orders (id BIGINT, amount BIGINT, dt STRING, hr STRING)\n\
           PARTITIONED BY (dt, hr) WITH ({});\n\
         INSERT INTO ods_orders SELECT id, amount * 3,\n\
           CONCAT('2026-12-0', CAST(id % 3 + 1 AS STRING)), CAST(id % 24 AS STRING) FROM orders;\n",
        warehouse.table_options("ods", "orders"),
    )
}

/// Runs the ODS job through a killed task manager and checks pypaimon
/// reads every order exactly once, in its partition, and that every
/// snapshot has a commit identifier of its own.
fn append_through_a_killed_task_manager(warehouse: &Warehouse) {
    const ROWS: u64 = 30_000;
    let mut cluster = Cluster::start(ClusterOptions::default());
    let id = cluster.submit("ods.sql", &ods_job(warehouse, ROWS, 3_000), &[]);
    let checkpoint = cluster.wait_for_checkpoint(&id, 0);
    cluster.kill_a_taskmanager_of(&id);
    cluster.wait_for_restart(&id, 1);
    cluster.wait_for_checkpoint(&id, checkpoint);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);

    let rows = paimon::read(&warehouse.catalog(), "ods.orders");
    let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
    for row in &rows {
        let order = row["id"].as_i64().expect("an id");
        *seen.entry(order).or_default() += 1;
        let expected = json!({
            "id": order,
            "amount": order * 3,
            "dt": format!("2026-12-0{}", order % 3 + 1),
            "hr": (order % 24).to_string(),
        });
        assert_eq!(row, &expected, "a row differs from its input");
    }
    let missing: Vec<i64> = (1..=ROWS as i64)
        .filter(|o| !seen.contains_key(o))
        .collect();
    let repeated: Vec<(&i64, &usize)> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        missing.is_empty() && repeated.is_empty() && rows.len() == ROWS as usize,
        "{} rows; missing {missing:?}; repeated {repeated:?}\n{}",
        rows.len(),
        cluster.logs()
    );

    let snapshots = paimon::snapshots(&warehouse.catalog(), "ods.orders");
    let mut commits: BTreeMap<(String, i64), u64> = BTreeMap::new();
    for snapshot in &snapshots {
        let key = (
            snapshot["commit_user"]
                .as_str()
                .expect("a user")
                .to_string(),
            snapshot["commit_identifier"]
                .as_i64()
                .expect("an identifier"),
        );
        let previous = commits.insert(key.clone(), snapshot["id"].as_u64().expect("an id"));
        assert!(
            previous.is_none(),
            "two snapshots commit {key:?}: {snapshots:?}"
        );
    }
    assert!(
        snapshots.len() > 1,
        "one snapshot per checkpoint: {snapshots:?}"
    );
}

#[test]
fn an_ods_append_table_on_files_holds_every_row_once_through_a_killed_task_manager() {
    append_through_a_killed_task_manager(&Warehouse::files());
}

#[test]
fn an_ods_append_table_on_s3_holds_every_row_once_through_a_killed_task_manager() {
    append_through_a_killed_task_manager(&Warehouse::s3());
}

/// A customer row: id, name, amount.
type Customer = (i64, Option<String>, i64);

/// A Debezium changelog over `keys` customers, `rounds` rounds of changes:
/// each round inserts the customers that are absent and updates the others
/// (a new amount; a NULL name now and then); with `deletes`, some updates
/// are deletes instead. Returns the events, and the final rows two ways:
/// as the changes leave them, and as Paimon's `partial-update` merges them
/// (a NULL does not overwrite).
fn customer_changes(
    keys: i64,
    rounds: i64,
    deletes: bool,
) -> (Vec<Value>, BTreeMap<i64, Customer>, BTreeMap<i64, Customer>) {
    let row = |c: &Customer| json!({ "id": c.0, "name": c.1, "amount": c.2 });
    let mut events = Vec::new();
    let mut current: BTreeMap<i64, Customer> = BTreeMap::new();
    let mut merged: BTreeMap<i64, Customer> = BTreeMap::new();
    for round in 0..rounds {
        for id in 1..=keys {
            let name = ((id * 7 + round) % 5 != 0).then(|| format!("n{id}-{round}"));
            let next = (id, name.clone(), id * 100 + round);
            match current.get(&id).cloned() {
                None => {
                    events.push(json!({ "before": null, "after": row(&next), "op": "c" }));
                    current.insert(id, next.clone());
                    merged.insert(id, next);
                }
                Some(old) if deletes && (id + round) % 4 == 0 => {
                    events.push(json!({ "before": row(&old), "after": null, "op": "d" }));
                    current.remove(&id);
                    merged.remove(&id);
                }
                Some(old) => {
                    events.push(json!({ "before": row(&old), "after": row(&next), "op": "u" }));
                    current.insert(id, next.clone());
                    let kept = merged.get_mut(&id).expect("merged follows current");
                    kept.1 = name.or(kept.1.take());
                    kept.2 = next.2;
                }
            }
        }
    }
    (events, current, merged)
}

/// A job writing the changelog file in `dir` into the primary-key table
/// `dwd.customers` with `options` (merge engine, ...).
fn customers_job(warehouse: &Warehouse, dir: &std::path::Path, options: &str) -> String {
    format!(
        "SET 'execution.checkpointing.interval' = '1 s';\n\
         SET 'parallelism.default' = '2';\n\
         CREATE TABLE changes (id BIGINT, name STRING, amount BIGINT, PRIMARY KEY (id) NOT ENFORCED) WITH (\n\
           'connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
         CREATE TABLE customers (id BIGINT, name STRING, amount BIGINT, PRIMARY KEY (id) NOT ENFORCED) WITH (\n\
           {}, 'bucket' = '2'{options});\n\
         INSERT INTO customers SELECT * FROM changes;\n",
        dir.display(),
        warehouse.table_options("dwd", "customers"),
    )
}

/// pypaimon's rows of `dwd.customers`, by id.
fn customers_read(warehouse: &Warehouse) -> BTreeMap<i64, Customer> {
    paimon::read(&warehouse.catalog(), "dwd.customers")
        .iter()
        .map(|row| {
            let id = row["id"].as_i64().expect("an id");
            let name = row["name"].as_str().map(str::to_string);
            (id, (id, name, row["amount"].as_i64().expect("an amount")))
        })
        .collect()
}

/// Writes `events` into the changelog directory `name` of `cluster`.
fn write_changes(cluster: &Cluster, name: &str, events: &[Value]) -> std::path::PathBuf {
    let dir = cluster.path(name);
    std::fs::create_dir_all(&dir).expect("the changelog directory");
    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
    std::fs::write(dir.join("changes.json"), lines.join("\n") + "\n").expect("the changelog");
    dir
}

#[test]
fn a_changelog_into_a_deduplicating_primary_key_table_ends_as_its_final_rows() {
    let warehouse = Warehouse::files();
    let cluster = Cluster::start(ClusterOptions::default());
    let (events, expected, _) = customer_changes(400, 6, true);
    let dir = write_changes(&cluster, "changes", &events);
    let id = cluster.submit("dwd.sql", &customers_job(&warehouse, &dir, ""), &[]);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    assert_eq!(customers_read(&warehouse), expected, "{}", cluster.logs());
}

#[test]
fn pypaimons_streaming_read_of_the_snapshots_folds_to_the_final_rows() {
    let warehouse = Warehouse::files();
    let cluster = Cluster::start(ClusterOptions::default());
    let (events, expected, _) = customer_changes(200, 6, true);
    // Three jobs, so the table has snapshots of inserts, updates and
    // deletes after its first.
    for (i, chunk) in events.chunks(events.len() / 3 + 1).enumerate() {
        let dir = write_changes(&cluster, &format!("changes-{i}"), chunk);
        let id = cluster.submit("dwd.sql", &customers_job(&warehouse, &dir, ""), &[]);
        cluster.wait_for_state(&id, "FINISHED", MINUTES);
    }
    // Without a changelog producer a snapshot's changes are upserts: a
    // key inserted and deleted within one checkpoint leaves only its
    // delete, which a reader applies to nothing.
    let changes = paimon::changes(&warehouse.catalog(), "dwd.customers");
    let mut folded: BTreeMap<i64, Customer> = BTreeMap::new();
    for change in &changes {
        let id = change["id"].as_i64().expect("an id");
        match change["_row_kind"].as_str() {
            Some("+I") | Some("+U") => {
                let name = change["name"].as_str().map(str::to_string);
                folded.insert(
                    id,
                    (id, name, change["amount"].as_i64().expect("an amount")),
                );
            }
            Some("-D") => {
                folded.remove(&id);
            }
            Some("-U") => {}
            other => panic!("unexpected row kind {other:?} in {change}"),
        }
    }
    assert!(
        changes.iter().any(|c| c["_row_kind"] == "-D"),
        "the snapshots carry the deletes"
    );
    assert_eq!(folded, expected, "{}", cluster.logs());
}

#[test]
fn a_changelog_into_a_partial_update_table_keeps_the_fields_nulls_do_not_overwrite() {
    let warehouse = Warehouse::files();
    let cluster = Cluster::start(ClusterOptions::default());
    let (events, current, expected) = customer_changes(400, 6, false);
    assert_ne!(current, expected, "some names must have been NULLed");
    let dir = write_changes(&cluster, "changes", &events);
    let job = customers_job(&warehouse, &dir, ", 'merge-engine' = 'partial-update'");
    let id = cluster.submit("dwd.sql", &job, &[]);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    assert_eq!(customers_read(&warehouse), expected, "{}", cluster.logs());
}

#[test]
fn inserts_into_an_aggregation_table_sum_and_max_per_key() {
    const ROWS: i64 = 20_000;
    const KEYS: i64 = 37;
    let warehouse = Warehouse::files();
    let cluster = Cluster::start(ClusterOptions::default());
    let job = format!(
        "SET 'execution.checkpointing.interval' = '1 s';\n\
         SET 'parallelism.default' = '2';\n\
         CREATE TABLE sales (n BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '10000',\n\
           'fields.n.kind' = 'sequence', 'fields.n.start' = '1', 'fields.n.end' = '{ROWS}');\n\
         CREATE TABLE totals (k BIGINT, total BIGINT, biggest BIGINT, PRIMARY KEY (k) NOT ENFORCED) WITH (\n\
           {}, 'bucket' = '3', 'merge-engine' = 'aggregation',\n\
           'fields.total.aggregate-function' = 'sum', 'fields.biggest.aggregate-function' = 'max');\n\
         INSERT INTO totals SELECT n % {KEYS}, n AS total, n AS biggest FROM sales;\n",
        warehouse.table_options("dws", "totals"),
    );
    let id = cluster.submit("agg.sql", &job, &[]);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    let mut expected: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for n in 1..=ROWS {
        let entry = expected.entry(n % KEYS).or_insert((0, 0));
        entry.0 += n;
        entry.1 = entry.1.max(n);
    }
    let read: BTreeMap<i64, (i64, i64)> = paimon::read(&warehouse.catalog(), "dws.totals")
        .iter()
        .map(|row| {
            let value = |c: &str| row[c].as_i64().expect("a number");
            (value("k"), (value("total"), value("biggest")))
        })
        .collect();
    assert_eq!(read, expected, "{}", cluster.logs());
}

/// Amounts per last digit over customers: the GROUP BY a job computes from
/// a streaming read of the table.
fn amounts_by_digit(customers: &BTreeMap<i64, Customer>) -> BTreeMap<i64, (i64, i64)> {
    let mut groups: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for (id, (_, _, amount)) in customers {
        let group = groups.entry(id % 10).or_default();
        group.0 += 1;
        group.1 += amount;
    }
    groups
}

#[test]
fn a_streaming_read_of_a_primary_key_table_feeds_a_group_by_that_retracts() {
    let warehouse = Warehouse::files();
    let cluster = Cluster::start(ClusterOptions {
        taskmanagers: 2,
        slots: 4,
        ..ClusterOptions::default()
    });
    let (events, expected, _) = customer_changes(300, 8, true);
    let (first, rest) = events.split_at(events.len() / 3);
    // The first third makes the snapshot the reader starts from; the rest
    // arrives as changes while it follows the table.
    let dir = write_changes(&cluster, "changes", first);
    let writer = cluster.submit("dwd.sql", &customers_job(&warehouse, &dir, ""), &[]);
    cluster.wait_for_state(&writer, "FINISHED", MINUTES);

    let reader = cluster.submit(
        "dws.sql",
        &format!(
            "SET 'execution.checkpointing.interval' = '1 s';\n\
             CREATE TABLE customers (id BIGINT, name STRING, amount BIGINT, PRIMARY KEY (id) NOT ENFORCED) WITH (\n\
               {}, 'continuous.discovery-interval' = '200 ms');\n\
             CREATE TABLE by_digit (digit BIGINT, customers BIGINT, amount BIGINT, PRIMARY KEY (digit) NOT ENFORCED) WITH (\n\
               {}, 'bucket' = '1');\n\
             INSERT INTO by_digit SELECT id % 10, COUNT(*), SUM(amount) FROM customers GROUP BY id % 10;\n",
            warehouse.table_options("dwd", "customers"),
            warehouse.table_options("dws", "by_digit"),
        ),
        &[],
    );
    cluster.wait_for_state(&reader, "RUNNING", MINUTES);
    for (i, chunk) in rest.chunks(rest.len() / 4 + 1).enumerate() {
        let dir = write_changes(&cluster, &format!("more-{i}"), chunk);
        let more = cluster.submit("more.sql", &customers_job(&warehouse, &dir, ""), &[]);
        cluster.wait_for_state(&more, "FINISHED", MINUTES);
    }
    assert_eq!(
        customers_read(&warehouse),
        expected,
        "the table holds the final rows"
    );
    let expected = amounts_by_digit(&expected);
    let mut last = BTreeMap::new();
    support::wait_for("the GROUP BY to equal the table's", MINUTES, || {
        last = paimon::read(&warehouse.catalog(), "dws.by_digit")
            .iter()
            .map(|row| {
                let value = |c: &str| row[c].as_i64().expect("a number");
                (value("digit"), (value("customers"), value("amount")))
            })
            .collect();
        (last == expected).then_some(())
    });
    assert_eq!(last, expected, "{}", cluster.logs());
}

#[test]
fn tables_pypaimon_wrote_are_read_in_full_bounded_and_as_a_stream() {
    const ROWS: i64 = 3_000;
    let warehouse = Warehouse::files();
    paimon::write_sample(&warehouse.catalog(), "src", ROWS as u64);
    let cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("out");
    let job = |bounded: bool, name: &str| {
        format!(
            "SET 'execution.checkpointing.interval' = '1 s';\n\
             CREATE TABLE events (id BIGINT, amount BIGINT) WITH ({}, 'scan.bounded' = '{bounded}');\n\
             CREATE TABLE users (id BIGINT, name STRING, PRIMARY KEY (id) NOT ENFORCED) WITH ({}, 'scan.bounded' = '{bounded}');\n\
             CREATE TABLE joined (id BIGINT, amount BIGINT, name STRING, PRIMARY KEY (id) NOT ENFORCED) WITH (\n\
               'connector' = 'filesystem', 'path' = '{}/{name}', 'format' = 'debezium-json');\n\
             INSERT INTO joined SELECT e.id, e.amount, u.name FROM events e JOIN users u ON e.id = u.id;\n",
            warehouse.table_options("src", "events"),
            warehouse.table_options("src", "users"),
            out.display(),
        )
    };
    let expected: BTreeMap<String, Value> = (1..=ROWS)
        .map(|id| {
            let name = if id % 2 == 0 {
                format!("v{id}")
            } else {
                format!("u{id}")
            };
            (
                id.to_string(),
                json!({ "id": id, "amount": 2 * id, "name": name }),
            )
        })
        .collect();

    let bounded = cluster.submit("bounded.sql", &job(true, "bounded"), &[]);
    cluster.wait_for_state(&bounded, "FINISHED", MINUTES);
    let read = support::fold_debezium(&out.join("bounded"), "id");
    assert_eq!(read, expected, "{}", cluster.logs());

    let streaming = cluster.submit("streaming.sql", &job(false, "streaming"), &[]);
    let mut last = BTreeMap::new();
    let streamed = out.join("streaming");
    support::wait_for("the streaming read to join every row", MINUTES, || {
        cluster.wait_for_state(&streaming, "RUNNING", MINUTES);
        let committed = std::fs::read_dir(&streamed)
            .ok()?
            .flatten()
            .any(|entry| !entry.file_name().to_string_lossy().starts_with('.'));
        if !committed {
            return None;
        }
        last = support::fold_debezium(&streamed, "id");
        (last == expected).then_some(())
    });
    assert_eq!(last, expected, "{}", cluster.logs());
}

/// The error output of submitting `sql`, which must fail at planning.
fn submission_error(cluster: &Cluster, name: &str, sql: &str) -> String {
    let path = cluster.write(name, sql);
    let output = cluster.rtdw(&["job", "submit", path.to_str().expect("a UTF-8 path")]);
    assert!(!output.status.success(), "{name} was accepted");
    let error = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        error.contains("SQL error"),
        "{name}: not a planning error: {error}\n{}",
        cluster.logs()
    );
    error
}

/// The error output of submitting a job that writes datagen rows into a
/// Paimon table declared `columns` with `options`.
fn submit_error(cluster: &Cluster, name: &str, columns: &str, options: &str) -> String {
    let sql = format!(
        "CREATE TABLE gen (id BIGINT, amount BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '10');\n\
         CREATE TABLE lake ({columns}) WITH ({options});\n\
         INSERT INTO lake SELECT * FROM gen;\n"
    );
    submission_error(cluster, name, &sql)
}

#[test]
fn a_missing_or_unwritable_table_a_mismatched_schema_or_an_unknown_merge_engine_fail_the_submission()
 {
    let warehouse = Warehouse::files();
    paimon::write_sample(&warehouse.catalog(), "src", 10);
    let cluster = Cluster::start(ClusterOptions::default());
    let columns = "id BIGINT, amount BIGINT";

    let missing = warehouse
        .table_options("src", "nothing")
        .replace("'auto-create' = 'true'", "'auto-create' = 'false'");
    let error = submit_error(&cluster, "missing.sql", columns, &missing);
    assert!(
        error.contains("table 'lake'")
            && error.contains("no Paimon table exists at")
            && error.contains("src.db/nothing"),
        "{error}"
    );

    let blocker = cluster.write("not-a-directory", "a file where the warehouse should be");
    let unwritable = format!(
        "'connector' = 'paimon', 'path' = 'file://{}/db.db/t', 'auto-create' = 'true'",
        blocker.display()
    );
    let error = submit_error(&cluster, "unwritable.sql", columns, &unwritable);
    assert!(
        error.contains("table 'lake'") && error.contains("cannot create the Paimon table at"),
        "{error}"
    );

    let error = submit_error(
        &cluster,
        "mismatch.sql",
        "id BIGINT, total BIGINT",
        &warehouse.table_options("src", "events"),
    );
    assert!(
        error.contains("does not match the Paimon table") && error.contains("(id, amount)"),
        "{error}"
    );

    let error = submit_error(
        &cluster,
        "engine.sql",
        "id BIGINT, amount BIGINT, PRIMARY KEY (id) NOT ENFORCED",
        &format!(
            "{}, 'bucket' = '2', 'merge-engine' = 'last-one-wins'",
            warehouse.table_options("dwd", "engine")
        ),
    );
    assert!(
        error.contains("table 'lake'")
            && error.contains("option 'merge-engine'")
            && error.contains("deduplicate"),
        "{error}"
    );
}

/// `CREATE CATALOG lake` over the warehouse, as each job's script starts.
fn lake_catalog(warehouse: &Warehouse) -> String {
    format!(
        "CREATE CATALOG lake WITH ('type' = 'paimon', 'warehouse' = '{}');\n",
        warehouse.url()
    )
}

#[test]
fn catalog_tables_persist_between_jobs_and_are_named_from_any_catalog() {
    const ROWS: i64 = 5_000;
    let warehouse = Warehouse::files();
    let cluster = Cluster::start(ClusterOptions::default());
    let ods = format!(
        "SET 'execution.checkpointing.interval' = '1 s';\n\
         {}\
         CREATE DATABASE IF NOT EXISTS lake.ods;\n\
         USE CATALOG lake;\n\
         CREATE TABLE IF NOT EXISTS ods.orders (id BIGINT, amount BIGINT, dt STRING) PARTITIONED BY (dt);\n\
         CREATE TABLE default_catalog.default_database.gen (id BIGINT) WITH ('connector' = 'datagen',\n\
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{ROWS}');\n\
         INSERT INTO ods.orders SELECT id, id * 10, CONCAT('d', CAST(id % 3 AS STRING))\n\
           FROM default_catalog.default_database.gen;\n",
        lake_catalog(&warehouse)
    );
    let id = cluster.submit("ods.sql", &ods, &[]);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);

    // A second job finds the table in the warehouse, reads it as a stream
    // and writes a table it creates in another database.
    let dws = format!(
        "SET 'execution.checkpointing.interval' = '1 s';\n\
         {}\
         CREATE DATABASE IF NOT EXISTS lake.dws;\n\
         CREATE TABLE IF NOT EXISTS lake.dws.by_day (dt STRING, orders BIGINT, amount BIGINT,\n\
           PRIMARY KEY (dt) NOT ENFORCED) WITH ('bucket' = '1');\n\
         INSERT INTO lake.dws.by_day SELECT dt, COUNT(*), SUM(amount) FROM lake.ods.orders GROUP BY dt;\n",
        lake_catalog(&warehouse)
    );
    cluster.submit("dws.sql", &dws, &[]);
    let mut expected: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for id in 1..=ROWS {
        let day = expected.entry(format!("d{}", id % 3)).or_default();
        day.0 += 1;
        day.1 += id * 10;
    }
    let mut last = BTreeMap::new();
    support::wait_for("the daily totals", MINUTES, || {
        last = paimon::read(&warehouse.catalog(), "dws.by_day")
            .iter()
            .map(|row| {
                let value = |c: &str| row[c].as_i64().expect("a number");
                let day = row["dt"].as_str().expect("a day").to_string();
                (day, (value("orders"), value("amount")))
            })
            .collect();
        (last == expected).then_some(())
    });
    assert_eq!(last, expected, "{}", cluster.logs());

    // A hint makes one read of the table bounded: the job ends.
    let out = cluster.path("bounded");
    let bounded = format!(
        "{}\
         CREATE TABLE counted (dt STRING, orders BIGINT, PRIMARY KEY (dt) NOT ENFORCED) WITH (\n\
           'connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
         INSERT INTO counted SELECT o.dt, COUNT(*)\n\
           FROM lake.ods.orders /*+ OPTIONS('scan.bounded' = 'true') */ AS o GROUP BY o.dt;\n",
        lake_catalog(&warehouse),
        out.display()
    );
    let id = cluster.submit("bounded.sql", &bounded, &[]);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    let counted: BTreeMap<String, i64> = support::fold_debezium(&out, "dt")
        .into_values()
        .map(|row| {
            let day = row["dt"].as_str().expect("a day").to_string();
            (day, row["orders"].as_i64().expect("a count"))
        })
        .collect();
    let expected_counts: BTreeMap<String, i64> = expected
        .iter()
        .map(|(day, (orders, _))| (day.clone(), *orders))
        .collect();
    assert_eq!(counted, expected_counts, "{}", cluster.logs());

    let refused = |name: &str, sql: String| submission_error(&cluster, name, &sql);
    let error = refused(
        "type.sql",
        "CREATE CATALOG lake WITH ('type' = 'paimonn', 'warehouse' = '/tmp');\n".into(),
    );
    assert!(
        error.contains("catalog 'lake': unknown type 'paimonn' (did you mean 'paimon'?)"),
        "{error}"
    );
    let error = refused(
        "connector.sql",
        format!(
            "{}CREATE TABLE lake.ods.more (id BIGINT) WITH ('connector' = 'datagen');\n",
            lake_catalog(&warehouse)
        ),
    );
    assert!(error.contains("takes no 'connector' option"), "{error}");
    let error = refused(
        "missing.sql",
        format!(
            "{}CREATE TABLE out (id BIGINT) WITH ('connector' = 'blackhole');\n\
             INSERT INTO out SELECT id FROM lake.ods.nothing;\n",
            lake_catalog(&warehouse)
        ),
    );
    assert!(
        error.contains("table 'nothing' does not exist in database 'ods' of catalog 'lake'"),
        "{error}"
    );
}

/// A task manager dies between a completed checkpoint and its commit;
/// the restored committer commits that checkpoint itself, then restarts
/// the job once more so the writers of the primary-key table number their
/// rows after it: every key ends with its last row.
#[test]
fn upserts_into_a_primary_key_table_survive_a_crash_between_checkpoint_and_commit() {
    const ROWS: i64 = 30_000;
    const KEYS: i64 = 500;
    let warehouse = Warehouse::files();
    let mut cluster = Cluster::start(ClusterOptions {
        taskmanagers: 0,
        ..ClusterOptions::default()
    });
    cluster.add_taskmanager_with_env(4, &[("RTDW_FAULT_CRASH_BEFORE_COMMIT", "3")]);
    cluster.wait_for_alive(1);
    let job = format!(
        "{CHECKPOINTED_AND_RESTARTED}\
         SET 'parallelism.default' = '2';\n\
         CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '3000',\n\
           'source.parallelism' = '1',\n\
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{ROWS}');\n\
         CREATE TABLE latest (k BIGINT, id BIGINT, PRIMARY KEY (k) NOT ENFORCED) WITH (\n\
           {}, 'bucket' = '2');\n\
         INSERT INTO latest SELECT id % {KEYS}, id FROM gen;\n",
        warehouse.table_options("dwd", "latest"),
    );
    let id = cluster.submit("latest.sql", &job, &[]);
    support::wait_for("the task manager to crash", MINUTES, || {
        cluster.taskmanagers[0]
            .try_wait()
            .expect("task manager status")
    });
    cluster.add_taskmanager(4);
    let finished = cluster.wait_for_state(&id, "FINISHED", MINUTES);
    assert!(
        finished["restored_checkpoint_id"].as_u64() >= Some(3),
        "restored from the checkpoint whose commit was cut off: {finished}"
    );
    assert!(
        cluster
            .logs()
            .contains("restored and committed to the Paimon table"),
        "the restored committer committed checkpoint 3 itself:\n{}",
        cluster.logs()
    );
    // Rows of a key arrive in id order, so the last one is the largest.
    let expected: BTreeMap<i64, i64> = (ROWS - KEYS + 1..=ROWS).map(|id| (id % KEYS, id)).collect();
    let read: BTreeMap<i64, i64> = paimon::read(&warehouse.catalog(), "dwd.latest")
        .iter()
        .map(|row| {
            let value = |c: &str| row[c].as_i64().expect("a number");
            (value("k"), value("id"))
        })
        .collect();
    assert_eq!(read, expected, "{}", cluster.logs());
}

#[test]
fn a_primary_key_table_is_the_dimension_of_a_lookup_join() {
    const USERS: i64 = 400;
    const ORDERS: i64 = 2_000;
    let warehouse = Warehouse::files();
    paimon::write_sample(&warehouse.catalog(), "src", USERS as u64);
    let cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("enriched");
    // Orders of users 1..=USERS + 10: the last ten have no user.
    let job = format!(
        "CREATE TABLE orders (id BIGINT, user_id AS id % {} + 1, proc_time AS PROCTIME()) WITH (\n\
           'connector' = 'datagen', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{ORDERS}');\n\
         CREATE TABLE users (id BIGINT, name STRING, PRIMARY KEY (id) NOT ENFORCED) WITH ({});\n\
         CREATE TABLE enriched (id BIGINT, name STRING) WITH (\n\
           'connector' = 'filesystem', 'path' = '{}', 'format' = 'json');\n\
         INSERT INTO enriched SELECT o.id, u.name FROM orders AS o\n\
           LEFT JOIN users FOR SYSTEM_TIME AS OF o.proc_time AS u ON o.user_id = u.id;\n",
        USERS + 10,
        warehouse.table_options("src", "users"),
        out.display(),
    );
    let id = cluster.submit("lookup.sql", &job, &[]);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    let mut read: BTreeMap<i64, Value> = BTreeMap::new();
    for line in support::committed_lines(&out) {
        let row: Value = serde_json::from_str(&line).expect("a JSON row");
        let previous = read.insert(row["id"].as_i64().expect("an id"), row["name"].clone());
        assert!(previous.is_none(), "an order joined twice: {line}");
    }
    let expected: BTreeMap<i64, Value> = (1..=ORDERS)
        .map(|order| {
            let user = order % (USERS + 10) + 1;
            let name = match user {
                u if u > USERS => Value::Null,
                u if u % 2 == 0 => json!(format!("v{u}")),
                u => json!(format!("u{u}")),
            };
            (order, name)
        })
        .collect();
    assert_eq!(read, expected, "{}", cluster.logs());
}
