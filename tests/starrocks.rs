//! The `starrocks` sink against the StarRocks Stream Load simulator
//! (tests/support/starrocks.rs; no StarRocks server runs here) and, for
//! the submit-time check, a real MariaDB holding the target table: a
//! GROUP BY over a Debezium changelog written exactly once and at least
//! once through a killed task manager, a kill between prepare and commit,
//! and the submission errors.

#[path = "support/mariadb.rs"]
mod mariadb;
#[path = "support/starrocks.rs"]
mod starrocks;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use mariadb::Database;
use serde_json::{Value, json};
use starrocks::{PASSWORD, Row, StarRocksSimulator, USER, grant_reading, jdbc_url};
use support::{CHECKPOINTED_AND_RESTARTED, Cluster, ClusterOptions, wait_for};

const MINUTES: Duration = Duration::from_secs(180);

/// The StarRocks table the sinks write, in the simulator and (for the
/// submit-time check) in MariaDB.
const TOTALS: &str = "region_totals";

/// An account: region and balance.
type Account = (i64, i64);

/// The changes a test makes to its accounts: written as Debezium JSON
/// files for the job, and applied to MariaDB's `accounts` table, whose
/// own GROUP BY gives the expected totals.
struct Accounts {
    table: BTreeMap<i64, Account>,
    /// Debezium events not yet written.
    events: Vec<Value>,
    /// SQL statements not yet run.
    statements: Vec<String>,
    files: usize,
}

impl Accounts {
    fn new() -> Self {
        Accounts {
            table: BTreeMap::new(),
            events: Vec::new(),
            statements: Vec::new(),
            files: 0,
        }
    }

    fn row(id: i64, (region, balance): Account) -> Value {
        json!({ "id": id, "region": region, "balance": balance })
    }

    fn insert(&mut self, id: i64, account: Account) {
        self.table.insert(id, account);
        self.events
            .push(json!({ "before": null, "after": Self::row(id, account), "op": "c" }));
        self.statements.push(format!(
            "INSERT INTO accounts VALUES ({id}, {}, {})",
            account.0, account.1
        ));
    }

    fn update(&mut self, id: i64, account: Account) {
        let before = self.table.insert(id, account).expect("an existing account");
        self.events.push(json!({
            "before": Self::row(id, before), "after": Self::row(id, account), "op": "u"
        }));
        self.statements.push(format!(
            "UPDATE accounts SET region = {}, balance = {} WHERE id = {id}",
            account.0, account.1
        ));
    }

    fn delete(&mut self, id: i64) {
        let before = self.table.remove(&id).expect("an existing account");
        self.events
            .push(json!({ "before": Self::row(id, before), "after": null, "op": "d" }));
        self.statements
            .push(format!("DELETE FROM accounts WHERE id = {id}"));
    }

    /// Round `round` of changes: new accounts, accounts of the round
    /// before moved between regions and re-balanced, some deleted.
    fn round(&mut self, round: i64) {
        for id in round * 100..round * 100 + 100 {
            self.insert(id, (id % 7, id));
        }
        let earlier: Vec<i64> = self
            .table
            .range((round - 1) * 100..round * 100)
            .map(|(id, _)| *id)
            .collect();
        for id in earlier.iter().copied().filter(|id| id % 3 == 0) {
            let (region, balance) = self.table[&id];
            self.update(id, ((region + round) % 6, balance + round));
        }
        for id in earlier.into_iter().filter(|id| id % 5 == 0) {
            self.delete(id);
        }
    }

    /// Deletes every account of `region`, whose total then goes away.
    fn empty_region(&mut self, region: i64) {
        let members: Vec<i64> = self
            .table
            .iter()
            .filter(|(_, account)| account.0 == region)
            .map(|(id, _)| *id)
            .collect();
        assert!(!members.is_empty(), "region {region} has accounts");
        members.into_iter().for_each(|id| self.delete(id));
    }

    /// Writes the pending events as one file into `dir` (aside, then
    /// renamed, so a listing never sees half a file) and applies the
    /// pending statements to MariaDB.
    fn publish(&mut self, dir: &Path, db: &Database) {
        std::fs::create_dir_all(dir).expect("the input directory");
        let text: String = self
            .events
            .drain(..)
            .map(|event| format!("{event}\n"))
            .collect();
        let hidden = dir.join(format!(".changes-{}", self.files));
        std::fs::write(&hidden, text).expect("write an input file");
        std::fs::rename(&hidden, dir.join(format!("changes-{}.json", self.files)))
            .expect("publish an input file");
        self.files += 1;
        db.execute(&self.statements.drain(..).collect::<Vec<_>>().join(";"));
    }
}

/// The accounts table and the StarRocks table in MariaDB, the user the
/// sink logs in as, and the table in the simulator.
fn tables(db: &Database, simulator: &StarRocksSimulator) {
    db.execute(&format!(
        "CREATE TABLE accounts (id BIGINT PRIMARY KEY, region BIGINT NOT NULL, balance BIGINT NOT NULL);\
         CREATE TABLE {TOTALS} (region BIGINT PRIMARY KEY, accounts BIGINT, balance BIGINT)"
    ));
    db.on_server(&grant_reading(&db.name));
    simulator.create_table(
        &db.name,
        TOTALS,
        &["region", "accounts", "balance"],
        &["region"],
    );
}

/// The `WITH` options of a `starrocks` table writing `table` of the test
/// database through the simulator, with `extra` options.
fn starrocks_options(
    db: &Database,
    simulator: &StarRocksSimulator,
    table: &str,
    extra: &str,
) -> String {
    let url = jdbc_url(&db.cdc_options("x"));
    format!("{}{extra}", simulator.table_options(&url, &db.name, table))
}

/// Totals per region of the accounts read from the Debezium files in
/// `input`, into the simulator with `sink` options. One source subtask
/// reads the files, in order: an account's changes stay in order.
fn totals_job(input: &Path, sink: &str) -> String {
    format!(
        "{CHECKPOINTED_AND_RESTARTED}\
         CREATE TABLE accounts (id BIGINT, region BIGINT, balance BIGINT) WITH (\n\
           'connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json',\n\
           'source.monitor-interval' = '200 ms', 'source.parallelism' = '1');\n\
         CREATE TABLE totals_sink (region BIGINT, accounts BIGINT, balance BIGINT,\n\
           PRIMARY KEY (region) NOT ENFORCED) WITH ({sink});\n\
         INSERT INTO totals_sink SELECT region, COUNT(*), SUM(balance) FROM accounts GROUP BY region;\n",
        input.display()
    )
}

/// The totals MariaDB computes over its accounts table, as the simulator
/// keeps rows.
fn expected_totals(db: &Database) -> Vec<Row> {
    let mut rows: Vec<Row> = db
        .query::<(i64, i64, i64)>(
            "SELECT region, COUNT(*), CAST(SUM(balance) AS SIGNED) FROM accounts GROUP BY region",
        )
        .into_iter()
        .map(|(region, count, sum)| {
            vec![
                Some(region.to_string()),
                Some(count.to_string()),
                Some(sum.to_string()),
            ]
        })
        .collect();
    rows.sort();
    rows
}

/// Labels the simulator holds open (begun or prepared).
fn open_labels(simulator: &StarRocksSimulator) -> Vec<String> {
    simulator
        .labels()
        .into_iter()
        .filter(|(_, state)| matches!(*state, "PREPARE" | "PREPARED"))
        .map(|(label, _)| label)
        .collect()
}

/// Runs the totals job into the simulator with `sink` options: rounds of
/// changes before and after a task manager is killed, the last one
/// emptying a region; the table ends as MariaDB's own GROUP BY says.
fn totals_through_a_kill(base: &str, sink: &str) -> (StarRocksSimulator, Database, Cluster) {
    let db = Database::create(base);
    let simulator = StarRocksSimulator::start();
    tables(&db, &simulator);
    let mut cluster = Cluster::start(ClusterOptions::default());
    let input = cluster.path("accounts");
    let mut accounts = Accounts::new();
    for round in 0..3 {
        accounts.round(round);
        accounts.publish(&input, &db);
    }
    let options = starrocks_options(&db, &simulator, TOTALS, sink);
    let id = cluster.submit("totals.sql", &totals_job(&input, &options), &["-p", "2"]);
    let checkpoint = cluster.wait_for_checkpoint(&id, 0);
    for round in 3..6 {
        accounts.round(round);
        accounts.publish(&input, &db);
    }
    cluster.kill_a_taskmanager_of(&id);
    cluster.wait_for_restart(&id, 1);
    cluster.wait_for_checkpoint(&id, checkpoint);
    for round in 6..9 {
        accounts.round(round);
        accounts.publish(&input, &db);
    }
    accounts.empty_region(6);
    accounts.publish(&input, &db);
    let expected = expected_totals(&db);
    assert!(
        expected.iter().all(|row| row[0].as_deref() != Some("6")),
        "MariaDB has no accounts left in region 6: {expected:?}"
    );
    let started = Instant::now();
    while simulator.rows(&db.name, TOTALS) != expected && started.elapsed() < MINUTES {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        simulator.rows(&db.name, TOTALS),
        expected,
        "the totals MariaDB computes; labels {:?}\n{}",
        simulator.labels(),
        cluster.logs()
    );
    (simulator, db, cluster)
}

#[test]
fn exactly_once_totals_of_a_changelog_survive_a_killed_task_manager() {
    let (simulator, _db, cluster) = totals_through_a_kill(
        "sr_exactly_once",
        ",\n 'sink.semantic' = 'exactly-once', 'sink.label-prefix' = 'totals',\n\
         'sink.properties.format' = 'json', 'sink.parallelism' = '2',\n\
         'sink.buffer-flush.max-rows' = '64', 'sink.retry.interval-ms' = '200'",
    );
    wait_for(
        "every transaction committed or rolled back",
        MINUTES,
        || open_labels(&simulator).is_empty().then_some(()),
    );
    let labels = simulator.labels();
    assert!(
        labels
            .keys()
            .all(|l| l.starts_with(&format!("totals-{TOTALS}-"))),
        "labels are '{{prefix}}-{{table}}-{{subtask}}-{{n}}': {labels:?}"
    );
    for subtask in 0..2 {
        assert!(
            labels
                .keys()
                .any(|l| l.starts_with(&format!("totals-{TOTALS}-{subtask}-"))),
            "sink subtask {subtask} loaded: {labels:?}\n{}",
            cluster.logs()
        );
    }
    let twice: Vec<_> = simulator
        .applied()
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(twice.is_empty(), "labels applied twice: {twice:?}");
}

#[test]
fn at_least_once_totals_of_a_changelog_are_upserted_right_through_a_kill() {
    let (simulator, _db, _cluster) = totals_through_a_kill(
        "sr_at_least_once",
        ",\n 'sink.properties.column_separator' = '\\x01',\n\
         'sink.buffer-flush.interval-ms' = '300', 'sink.retry.interval-ms' = '200'",
    );
    let labels = simulator.labels();
    assert!(
        labels.values().all(|state| *state == "VISIBLE"),
        "plain loads are visible at once: {labels:?}"
    );
}

#[test]
fn kills_between_prepare_and_commit_and_mid_transaction_load_each_row_once() {
    let db = Database::create("sr_prepared");
    let simulator = StarRocksSimulator::start();
    db.execute("CREATE TABLE ids (id BIGINT, v BIGINT)");
    db.on_server(&grant_reading(&db.name));
    // A duplicate-key table: a row loaded twice shows twice.
    simulator.create_table(&db.name, "ids", &["id", "v"], &[]);
    let mut cluster = Cluster::start(ClusterOptions::default());
    let rows: i64 = 10_000;
    let options = starrocks_options(
        &db,
        &simulator,
        "ids",
        ",\n 'sink.semantic' = 'exactly-once', 'sink.buffer-flush.max-rows' = '50',\n\
         'sink.retry.interval-ms' = '200'",
    );
    let sql = format!(
        "{CHECKPOINTED_AND_RESTARTED}\
         CREATE TABLE gen (id BIGINT, v BIGINT) WITH (\n\
           'connector' = 'datagen', 'rows-per-second' = '1000',\n\
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{rows}',\n\
           'fields.v.kind' = 'sequence', 'fields.v.start' = '1', 'fields.v.end' = '{rows}');\n\
         CREATE TABLE ids_sink (id BIGINT, v BIGINT) WITH ({options});\n\
         INSERT INTO ids_sink SELECT id, v * 2 FROM gen;\n"
    );
    let id = cluster.submit("ids.sql", &sql, &[]);
    wait_for("a first commit", MINUTES, || {
        simulator
            .labels()
            .values()
            .any(|state| *state == "VISIBLE")
            .then_some(())
    });

    // Between prepare and commit: the checkpoint is complete, its commit
    // waits in the simulator when the task manager dies.
    simulator.hold_commits();
    let prepared = wait_for("a prepared label whose commit waits", MINUTES, || {
        let prepared: Vec<String> = simulator
            .labels()
            .into_iter()
            .filter(|(_, state)| *state == "PREPARED")
            .map(|(label, _)| label)
            .collect();
        (simulator.waiting_commits() > 0 && !prepared.is_empty()).then_some(prepared)
    });
    cluster.kill_a_taskmanager_of(&id);
    simulator.release_commits();
    cluster.wait_for_restart(&id, 1);

    // Mid-transaction: rows are loaded into a transaction the next
    // barrier has not prepared yet.
    let checkpoint = cluster.wait_for_checkpoint(&id, 0);
    let begun = wait_for("an open transaction", MINUTES, || {
        let open = open_labels(&simulator);
        (!open.is_empty()).then_some(open)
    });
    cluster.kill_a_taskmanager_of(&id);
    let job = cluster.wait_for_state(&id, "FINISHED", MINUTES);
    assert!(job["restarts"].as_u64() >= Some(2), "{job}");
    assert!(checkpoint > 0);

    let labels = simulator.labels();
    for label in &prepared {
        assert_eq!(
            labels[label], "VISIBLE",
            "the prepared label {label} is committed after the restore"
        );
    }
    let rolled_back = simulator.rolled_back();
    assert!(
        begun.iter().any(|label| rolled_back.contains(label)),
        "the transaction left open by the kill ({begun:?}) was rolled back: {rolled_back:?}\n{}",
        cluster.logs()
    );
    assert!(open_labels(&simulator).is_empty(), "{labels:?}");
    let applied = simulator.applied();
    assert!(
        applied.values().all(|n| *n == 1),
        "each label applied once: {applied:?}"
    );
    let mut expected: Vec<Row> = (1..=rows)
        .map(|i| vec![Some(i.to_string()), Some((2 * i).to_string())])
        .collect();
    expected.sort();
    let written = simulator.rows(&db.name, "ids");
    assert_eq!(written.len(), expected.len(), "{}", cluster.logs());
    assert_eq!(written, expected);
}

#[test]
fn submission_fails_naming_the_table_and_option_that_are_wrong() {
    let db = Database::create("sr_submit");
    let simulator = StarRocksSimulator::start();
    tables(&db, &simulator);
    let cluster = Cluster::start(ClusterOptions {
        taskmanagers: 1,
        ..ClusterOptions::default()
    });
    let input = cluster.path("accounts");
    let submit = |name: &str, sql: &str| -> String {
        let path = cluster.write(name, sql);
        let output = cluster.rtdw(&["job", "submit", path.to_str().expect("utf-8")]);
        assert!(
            !output.status.success(),
            "{name} was accepted: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let url = jdbc_url(&db.cdc_options("x"));
    let cases = [
        (
            "missing-table.sql",
            totals_job(
                &input,
                &starrocks_options(&db, &simulator, "no_such_table", ""),
            ),
            vec!["'totals_sink'", "option 'table-name'", "no_such_table"],
        ),
        (
            "wrong-password.sql",
            totals_job(
                &input,
                &starrocks_options(&db, &simulator, TOTALS, "").replace(
                    &format!("'password' = '{PASSWORD}'"),
                    "'password' = 'wrong'",
                ),
            ),
            vec!["'totals_sink'", "'username' and 'password'", USER],
        ),
        (
            "bad-url.sql",
            totals_job(
                &input,
                &starrocks_options(&db, &simulator, TOTALS, "")
                    .replace(&format!("'{url}'"), &format!("'{}'", &url["jdbc:".len()..])),
            ),
            vec![
                "'totals_sink'",
                "option 'jdbc-url'",
                "jdbc:mysql://host:port",
            ],
        ),
        (
            "unreachable-url.sql",
            totals_job(
                &input,
                &starrocks_options(&db, &simulator, TOTALS, "")
                    .replace(&format!("'{url}'"), "'jdbc:mysql://127.0.0.1:1'"),
            ),
            vec!["'totals_sink'", "option 'jdbc-url'", "127.0.0.1:1"],
        ),
    ];
    for (name, sql, expected) in cases {
        let message = submit(name, &sql);
        for part in expected {
            assert!(message.contains(part), "{name}: {part:?} not in: {message}");
        }
    }
    // A declared column the StarRocks table lacks.
    let options = starrocks_options(&db, &simulator, TOTALS, "");
    let sql = totals_job(&input, &options)
        .replace("balance BIGINT,\n", "balance BIGINT, owner STRING,\n")
        .replace("SUM(balance) FROM", "SUM(balance), 'x' FROM");
    let message = submit("missing-column.sql", &sql);
    for part in ["'totals_sink'", "option 'table-name'", "'owner'"] {
        assert!(message.contains(part), "{part:?} not in: {message}");
    }
    let listed = cluster.rtdw_ok(&["job", "list"]);
    assert!(!listed.contains("RUNNING"), "no job was started: {listed}");
}
