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
           {}, 'scan.incremental.snapshot.chunk.size' = '{chunk}', 'heartbeat.interval' = '1 s', 'jdbc.properties.useSSL' = 'false', 'jdbc.properties.sessionVariables' = 'net_read_timeout=120,sql_mode=ANSI_QUOTES', 'server-id' = '{server_id}-{}', 'source.parallelism' = '{parallelism}');\n\
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

/// Waits until the committed output folds to the database's table.
fn wait_for_copy(cluster: &Cluster, db: &Database, out: &Path) {
    let expected = table_of(db);
    let copied = wait_for_rows_equal(out, "id", &expected);
    assert_eq!(copied.len(), expected.len(), "{}", cluster.logs());
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
    // Idle: the server's heartbeats bring the reported lag to zero.
    support::wait_for("the source lag to read zero", MINUTES, || {
        let scraped: Vec<String> = cluster
            .taskmanager_list()
            .iter()
            .filter_map(|t| {
                t["http_addr"]
                    .as_str()
                    .map(|a| support::http_get(a, "/metrics"))
            })
            .collect();
        let series = scraped
            .iter()
            .flat_map(|text| text.lines())
            .filter(|line| line.starts_with("rtdw_source_lag_seconds{") && line.contains(&id))
            .count();
        let lag: f64 = scraped
            .iter()
            .map(|text| support::metric_sum(text, "rtdw_source_lag_seconds", &[("job", &id)]))
            .sum();
        (series == 2 && lag == 0.0).then_some(())
    });
}

#[test]
fn task_managers_killed_during_the_snapshot_and_the_binlog_change_nothing() {
    let db = Database::create("cdc_kill");
    orders(&db);
    let mut cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("copy");
    let id = cluster.submit("cdc-kill", &copy_job(&db, &out, 2, 100, 5610), &[]);
    for round in 0..100 {
        write_round(&db, round);
    }
    // Mid-snapshot: 1 000 chunks take longer than a checkpoint interval,
    // and the binlog split comes only after a checkpoint holds them all.
    let checkpoint = cluster.wait_for_checkpoint(&id, 0);
    let job = cluster.job(&id);
    let binlog_started = job["vertices"][0]["subtasks"]
        .as_array()
        .expect("subtasks")
        .iter()
        .flat_map(|s| s["splits"].as_array().cloned().unwrap_or_default())
        .any(|split| split == "binlog");
    assert!(
        !binlog_started,
        "the kill must come during the snapshot: {job}"
    );
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

/// Every column type Flink CDC maps, as `(server type, Flink type)`.
const TYPES: &[(&str, &str, &str)] = &[
    ("c_bool", "TINYINT(1)", "BOOLEAN"),
    ("c_tiny", "TINYINT", "TINYINT"),
    ("c_tiny_u", "TINYINT UNSIGNED", "SMALLINT"),
    ("c_small", "SMALLINT", "SMALLINT"),
    ("c_medium", "MEDIUMINT", "INT"),
    ("c_int", "INT", "INT"),
    ("c_int_u", "INT UNSIGNED", "BIGINT"),
    ("c_big", "BIGINT", "BIGINT"),
    ("c_big_u", "BIGINT UNSIGNED", "DECIMAL(20, 0)"),
    ("c_float", "FLOAT", "FLOAT"),
    ("c_double", "DOUBLE", "DOUBLE"),
    ("c_decimal", "DECIMAL(12, 4)", "DECIMAL(12, 4)"),
    ("c_date", "DATE", "DATE"),
    ("c_time", "TIME(3)", "TIME(3)"),
    ("c_duration", "TIME", "STRING"),
    ("c_datetime", "DATETIME(6)", "TIMESTAMP(6)"),
    ("c_timestamp", "TIMESTAMP(3) NULL", "TIMESTAMP_LTZ(3)"),
    ("c_char", "CHAR(4)", "STRING"),
    ("c_varchar", "VARCHAR(64)", "STRING"),
    ("c_text", "TEXT", "STRING"),
    ("c_json", "JSON", "STRING"),
    ("c_enum", "ENUM('red', 'green', 'it''s')", "STRING"),
    ("c_set", "SET('a', 'b', 'c')", "STRING"),
    ("c_binary", "VARBINARY(8)", "BYTES"),
    ("c_blob", "BLOB", "BYTES"),
    ("c_bit1", "BIT(1)", "BOOLEAN"),
    ("c_bits", "BIT(12)", "BYTES"),
    ("c_year", "YEAR", "INT"),
];

/// The values of one row, by column: extreme, odd and NULL ones.
const VALUES: &[&str] = &[
    "1, -128, 255, -32768, -8388608, -2147483648, 4294967295, -9007199254740993, 18446744073709551615, 1.5, -2.25e-300, '-12345678.1234', '1969-12-31', '23:59:59.123', '-838:59:59', '2024-02-29 23:59:58.123456', '2038-01-19 03:14:07.999', 'ab', 'grüße, 世界', REPEAT('t', 300), '{\"k\": [1, 2.5, null]}', 'it''s', 'a,c', X'00FF10', X'DEADBEEF', b'1', b'101000000001', 2155",
    "0, 127, 0, 32767, 8388607, 2147483647, 0, 9007199254740993, 0, -0.5, 0, '0.0001', '2000-01-01', '00:00:00', '00:00:00', '1000-01-01 00:00:00', '1970-01-01 00:00:01', '', 'x', '', '[]', 'red', '', X'', X'', b'0', b'0', 1901",
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL",
];

#[test]
fn every_type_reads_the_same_from_the_snapshot_and_the_binlog() {
    let db = Database::create("cdc_types");
    let server_columns: Vec<String> = TYPES.iter().map(|(n, t, _)| format!("{n} {t}")).collect();
    db.execute(&format!(
        "CREATE TABLE types (id INT NOT NULL PRIMARY KEY, {})",
        server_columns.join(", ")
    ));
    // Snapshot rows 1..=3, binlog rows 11..=13: the same values.
    for (i, values) in VALUES.iter().enumerate() {
        db.execute(&format!("INSERT INTO types VALUES ({}, {values})", i + 1));
    }
    let cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("types");
    let declared: Vec<String> = TYPES.iter().map(|(n, _, f)| format!("{n} {f}")).collect();
    let sql = format!(
        "{CHECKPOINTED_AND_RESTARTED}\
         CREATE TABLE types (id INT, {}, PRIMARY KEY (id) NOT ENFORCED) WITH ({}, 'server-id' = '5620-5621');\n\
         CREATE TABLE copy (id INT, {}) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
         INSERT INTO copy SELECT * FROM types;\n",
        declared.join(", "),
        db.cdc_options("types"),
        declared.join(", "),
        out.display()
    );
    let id = cluster.submit("cdc-types", &sql, &[]);
    cluster.wait_for_checkpoint(&id, 0);
    for (i, values) in VALUES.iter().enumerate() {
        db.execute(&format!("INSERT INTO types VALUES ({}, {values})", i + 11));
    }
    let table = wait_for_rows(&out, "id", 2 * VALUES.len());
    // What the server returns for the same rows (binary protocol, exact;
    // TIMESTAMP converted to UTC), as Flink's JSON writes each type.
    let selected: Vec<String> = TYPES
        .iter()
        .map(|(name, server, _)| match *server {
            "TIMESTAMP(3) NULL" => format!("CONVERT_TZ({name}, @@session.time_zone, '+00:00')"),
            _ => name.to_string(),
        })
        .collect();
    let rows = db.query_typed(&format!(
        "SELECT id, {} FROM types ORDER BY id",
        selected.join(", ")
    ));
    assert_eq!(rows.len(), 2 * VALUES.len());
    for row in rows {
        let values = row.unwrap();
        let id = match &values[0] {
            mysql_async::Value::Int(id) => id.to_string(),
            other => panic!("id {other:?}"),
        };
        let copied = &table[&id];
        for ((name, _, flink), value) in TYPES.iter().zip(&values[1..]) {
            assert!(
                same_value(flink, value, &copied[name]),
                "{name} ({flink}) of row {id}: the server has {value:?}, the copy {}",
                copied[name]
            );
        }
    }
}

/// Whether `copied` (JSON as the debezium-json format writes a column of
/// Flink type `flink`) is the server's `value`.
fn same_value(flink: &str, value: &mysql_async::Value, copied: &Value) -> bool {
    use mysql_async::Value as V;
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let fraction = |us: u32| {
        let digits = format!("{us:06}");
        let kept = digits.trim_end_matches('0');
        if kept.is_empty() {
            String::new()
        } else {
            format!(".{kept}")
        }
    };
    match (value, flink) {
        (V::NULL, _) => copied.is_null(),
        (V::Int(n), "BOOLEAN") => copied.as_bool() == Some(*n != 0),
        (V::Int(n), _) => copied.as_i64() == Some(*n),
        (V::UInt(n), _) => copied.as_u64() == Some(*n),
        (V::Float(f), _) => copied.as_f64().map(|c| c as f32) == Some(*f),
        // serde_json (without `float_roundtrip`) may miss the nearest
        // double at extreme exponents by an ulp when it reads the copy.
        (V::Double(d), _) => copied
            .as_f64()
            .is_some_and(|c| c == *d || ((c - d) / d).abs() < 4.0 * f64::EPSILON),
        (V::Bytes(b), "BOOLEAN") => copied.as_bool() == Some(b.iter().any(|x| *x != 0)),
        (V::Bytes(b), "BYTES") => {
            copied.as_str() == Some(&b.iter().map(|x| format!("{x:02x}")).collect::<String>())
        }
        (V::Bytes(b), f) if f.starts_with("DECIMAL") => {
            copied.as_f64() == text(b).parse::<f64>().ok()
        }
        (V::Bytes(b), "INT") => copied.as_i64() == text(b).parse().ok(),
        (V::Bytes(b), _) => copied.as_str() == Some(&text(b)),
        (V::Date(y, mo, d, 0, 0, 0, 0), "DATE") => {
            copied.as_str() == Some(&format!("{y:04}-{mo:02}-{d:02}"))
        }
        (V::Date(y, mo, d, h, mi, s, us), _) => {
            let mut expected = format!(
                "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{}",
                fraction(*us)
            );
            if flink.starts_with("TIMESTAMP_LTZ") {
                expected.push('Z');
            }
            copied.as_str() == Some(&expected)
        }
        (V::Time(negative, days, h, m, s, us), _) => {
            let hours = days * 24 + u32::from(*h);
            let sign = if *negative { "-" } else { "" };
            copied.as_str() == Some(&format!("{sign}{hours:02}:{m:02}:{s:02}{}", fraction(*us)))
        }
    }
}

/// Waits until the committed output folds to `rows` rows; returns them.
fn wait_for_rows(out: &Path, key: &str, rows: usize) -> BTreeMap<String, Value> {
    support::wait_for("the rows in the copy", MINUTES, || {
        let table = fold(out, key);
        (table.len() == rows).then_some(table)
    })
}

/// The committed output folded by `key`; empty before the first commit.
fn fold(out: &Path, key: &str) -> BTreeMap<String, Value> {
    if !has_commits(out) {
        return BTreeMap::new();
    }
    fold_debezium(out, key)
}

/// Whether the sink committed a file into `out` yet.
fn has_commits(out: &Path) -> bool {
    std::fs::read_dir(out)
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
}

/// A job copying `columns` of the tables the options match into `out`,
/// the row's database and table with them.
fn tagged_copy_job(options: &str, columns: &str, out: &Path) -> String {
    format!(
        "{CHECKPOINTED_AND_RESTARTED}\
         CREATE TABLE source ({columns}, db STRING METADATA FROM 'database_name' VIRTUAL, tbl STRING METADATA FROM 'table_name' VIRTUAL) WITH ({options});\n\
         CREATE TABLE copy ({columns}, db STRING, tbl STRING) WITH (\n\
           'connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
         INSERT INTO copy SELECT * FROM source;\n",
        out.display()
    )
}

#[test]
fn tables_of_two_databases_matched_by_patterns_feed_one_stream() {
    let first = Database::create("cdc_multi");
    let second = Database::create("cdc_multi");
    for (db, table, from) in [
        (&first, "orders_1", 1),
        (&first, "orders_2", 1001),
        (&second, "orders_3", 2001),
        (&second, "refunds", 3001),
    ] {
        db.execute(&format!(
            "CREATE TABLE {table} (id INT NOT NULL PRIMARY KEY, amount INT NOT NULL);\
             INSERT INTO {table} SELECT seq, seq % 10 FROM seq_{from}_to_{}",
            from + 99
        ));
    }
    let cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("copy");
    let options = format!(
        "{}, 'server-id' = '5630-5631', 'source.parallelism' = '2', 'scan.incremental.snapshot.chunk.size' = '30'",
        first.cdc_options_for(&format!("{}|{}", first.name, second.name), "orders_[0-9]+")
    );
    let id = cluster.submit(
        "cdc-multi",
        &tagged_copy_job(&options, "id INT, amount INT", &out),
        &[],
    );
    cluster.wait_for_checkpoint(&id, 0);
    for (db, table, id) in [
        (&first, "orders_1", 50),
        (&first, "orders_2", 1050),
        (&second, "orders_3", 2050),
        (&second, "refunds", 3050),
    ] {
        db.execute(&format!(
            "UPDATE {table} SET amount = 100 WHERE id = {id}; DELETE FROM {table} WHERE id = {};\
             INSERT INTO {table} VALUES ({}, 7)",
            id + 1,
            id + 500
        ));
    }
    let mut expected = BTreeMap::new();
    for (db, table) in [
        (&first, "orders_1"),
        (&first, "orders_2"),
        (&second, "orders_3"),
    ] {
        for (id, amount) in db.query::<(i32, i32)>(&format!("SELECT id, amount FROM {table}")) {
            expected.insert(
                id.to_string(),
                json!({ "id": id, "amount": amount, "db": db.name, "tbl": table }),
            );
        }
    }
    assert_eq!(expected.len(), 3 * 100);
    let copied = wait_for_rows_equal(&out, "id", &expected);
    assert_eq!(copied, expected);
}

#[test]
fn schema_changes_in_the_binlog_decode_in_order_and_one_the_table_cannot_take_fails_the_job() {
    let db = Database::create("cdc_schema");
    db.execute(
        "CREATE TABLE accounts (id INT NOT NULL PRIMARY KEY, name VARCHAR(16) NOT NULL, balance INT NOT NULL);\
         INSERT INTO accounts SELECT seq, CONCAT('n', seq), seq FROM seq_1_to_100;\
         CREATE TABLE scratch (x INT)",
    );
    let cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("copy");
    let sql = format!(
        "{CHECKPOINTED_AND_RESTARTED}\
         CREATE TABLE accounts (id INT, name STRING, balance BIGINT, PRIMARY KEY (id) NOT ENFORCED) WITH ({}, 'server-id' = '5640');\n\
         CREATE TABLE copy (id INT, name STRING, balance BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
         INSERT INTO copy SELECT * FROM accounts;\n",
        db.cdc_options("accounts"),
        out.display()
    );
    let id = cluster.submit("cdc-schema", &sql, &[]);
    cluster.wait_for_checkpoint(&id, 0);
    // A column before the declared ones, a wider type, a dropped column
    // the job does not read, unrelated DDL and a TRUNCATE of another table.
    db.execute(
        "UPDATE accounts SET balance = balance + 1 WHERE id <= 10;\
         ALTER TABLE accounts ADD COLUMN note VARCHAR(8) NULL FIRST;\
         INSERT INTO accounts (id, name, balance, note) VALUES (101, 'n101', 101, 'x');\
         UPDATE accounts SET balance = -balance, note = 'y' WHERE id BETWEEN 11 AND 20;\
         ALTER TABLE accounts MODIFY balance BIGINT NOT NULL;\
         UPDATE accounts SET balance = 5000000000 WHERE id = 21;\
         CREATE TABLE unrelated (y INT); DROP TABLE unrelated; TRUNCATE TABLE scratch;\
         ALTER TABLE accounts DROP COLUMN note;\
         DELETE FROM accounts WHERE id BETWEEN 22 AND 25;\
         INSERT INTO accounts VALUES (102, 'n102', 102)",
    );
    let expected: BTreeMap<String, Value> = db
        .query::<(i32, String, i64)>("SELECT id, name, balance FROM accounts")
        .into_iter()
        .map(|(id, name, balance)| {
            (
                id.to_string(),
                json!({ "id": id, "name": name, "balance": balance }),
            )
        })
        .collect();
    assert_eq!(expected.len(), 98);
    let copied = wait_for_rows_equal(&out, "id", &expected);
    assert_eq!(copied, expected);
    // A declared column dropped: the job fails once, naming both.
    db.execute("ALTER TABLE accounts DROP COLUMN name; INSERT INTO accounts VALUES (103, 103)");
    let job = cluster.wait_for_state(&id, "FAILED", MINUTES);
    let failure = job["failure"].as_str().unwrap_or_default().to_string();
    assert!(
        failure.contains(&format!("{}.accounts", db.name)) && failure.contains("'name'"),
        "{job}"
    );
    assert_eq!(job["restarts"].as_u64(), Some(0), "{job}");
}

/// Waits until the committed output folds to `expected`; returns it.
fn wait_for_rows_equal(
    out: &Path,
    key: &str,
    expected: &BTreeMap<String, Value>,
) -> BTreeMap<String, Value> {
    let mut last = BTreeMap::new();
    let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        support::wait_for("the copy to equal the table", MINUTES, || {
            last = fold(out, key);
            (last == *expected).then_some(())
        })
    }));
    if found.is_err() {
        assert_eq!(last, *expected);
    }
    last
}

#[test]
fn a_restarted_server_mid_stream_changes_nothing() {
    let mut db = Database::create_on(
        support::services::Service::start("mariadb", &[]),
        "cdc_restart",
    );
    orders(&db);
    let cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("copy");
    let id = cluster.submit("cdc-restart", &copy_job(&db, &out, 1, 20_000, 5650), &[]);
    for round in 0..50 {
        write_round(&db, round);
    }
    wait_for_copy(&cluster, &db, &out);
    db.restart_server();
    for round in 50..100 {
        write_round(&db, round);
    }
    wait_for_copy(&cluster, &db, &out);
    let job = cluster.job(&id);
    assert_eq!(job["state"], "RUNNING", "{job}");
}

#[test]
fn a_restore_from_a_purged_binlog_position_fails_once_and_says_what_to_do() {
    let db = Database::create_on(
        support::services::Service::start("mariadb", &[]),
        "cdc_purged",
    );
    orders(&db);
    let cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("copy");
    let script = cluster.write("copy.sql", &copy_job(&db, &out, 1, 20_000, 5660));
    let script = script.to_str().expect("utf-8");
    let id = cluster
        .rtdw_ok(&["job", "submit", script])
        .trim()
        .to_string();
    wait_for_copy(&cluster, &db, &out);
    let savepoint = cluster.stop_with_savepoint(&id, &cluster.path("savepoints"));
    let old = db.binlog_file();
    db.on_server("FLUSH BINARY LOGS");
    write_round(&db, 1);
    let current = db.binlog_file();
    assert_ne!(old, current);
    db.on_server(&format!("PURGE BINARY LOGS TO '{current}'"));
    let id = cluster
        .rtdw_ok(&["job", "submit", script, "--from-savepoint", &savepoint])
        .trim()
        .to_string();
    let job = cluster.wait_for_state(&id, "FAILED", MINUTES);
    let failure = job["failure"].as_str().unwrap_or_default();
    assert!(
        failure.contains(&format!("binlog file '{old}'"))
            && failure.contains(&format!("its oldest is '{current}'"))
            && failure.contains("start the job anew"),
        "{job}"
    );
    assert_eq!(job["restarts"].as_u64(), Some(0), "{job}");
}

#[test]
fn missing_privileges_are_named() {
    let db = Database::create("cdc_grants");
    orders(&db);
    let user = format!("reader_{}", std::process::id());
    db.on_server(&format!(
        "CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'secret'; GRANT SELECT ON *.* TO '{user}'@'127.0.0.1'"
    ));
    let cluster = Cluster::start(ClusterOptions::default());
    let sql = format!(
        "CREATE TABLE orders (id BIGINT, customer STRING, amount INT) WITH ({}, 'server-id' = '5670');\n\
         CREATE TABLE sink (id BIGINT, customer STRING, amount INT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO sink SELECT * FROM orders;\n",
        db.cdc_options_as(&user, "secret", &db.name, "orders")
    );
    let id = cluster.submit("cdc-grants", &sql, &[]);
    let job = cluster.wait_for_state(&id, "FAILED", MINUTES);
    db.on_server(&format!("DROP USER '{user}'@'127.0.0.1'"));
    let failure = job["failure"].as_str().unwrap_or_default();
    assert!(
        failure.contains("REPLICATION SLAVE") && failure.contains("BINLOG MONITOR"),
        "{job}"
    );
    assert_eq!(job["restarts"].as_u64(), Some(0), "{job}");
}

#[test]
fn a_restored_job_whose_pattern_matches_more_tables_snapshots_them_and_continues_the_others() {
    let db = Database::create("cdc_added");
    for (table, from) in [("items_a", 1), ("items_b", 100_001)] {
        db.execute(&format!(
            "CREATE TABLE {table} (id INT NOT NULL PRIMARY KEY, amount INT NOT NULL);\
             INSERT INTO {table} SELECT seq, seq % 10 FROM seq_{from}_to_{}",
            from + 999
        ));
    }
    let cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("copy");
    let job = |tables: &str| {
        let options = format!(
            "{}, 'server-id' = '5680-5681', 'source.parallelism' = '2', 'scan.incremental.snapshot.chunk.size' = '100', 'scan.newly-added-table.enabled' = 'true'",
            db.cdc_options(tables)
        );
        let path = cluster.write(
            "copy.sql",
            &tagged_copy_job(&options, "id INT, amount INT", &out),
        );
        path.to_str().expect("utf-8").to_string()
    };
    let script = job("items_a");
    let id = cluster
        .rtdw_ok(&["job", "submit", &script])
        .trim()
        .to_string();
    db.execute("UPDATE items_a SET amount = 50 WHERE id <= 10; UPDATE items_b SET amount = 50 WHERE id <= 100010");
    let expected_a = rows_of(&db, &["items_a"]);
    wait_for_rows_equal(&out, "id", &expected_a);
    let savepoint = cluster.stop_with_savepoint(&id, &cluster.path("savepoints"));
    // Changes while the job is stopped, to both tables.
    db.execute("DELETE FROM items_a WHERE id BETWEEN 20 AND 29; DELETE FROM items_b WHERE id BETWEEN 100020 AND 100029");
    let script = job("items_[ab]");
    let id = cluster
        .rtdw_ok(&["job", "submit", &script, "--from-savepoint", &savepoint])
        .trim()
        .to_string();
    for round in 0..20 {
        db.execute(&format!(
            "UPDATE items_a SET amount = amount + 1 WHERE id = {0}; UPDATE items_b SET amount = amount + 1 WHERE id = {1};\
             INSERT INTO items_a VALUES ({2}, 1); INSERT INTO items_b VALUES ({3}, 1)",
            100 + round * 37,
            100_100 + round * 37,
            5000 + round,
            105_000 + round
        ));
    }
    let expected = rows_of(&db, &["items_a", "items_b"]);
    assert_eq!(expected.len(), 2 * (1000 - 10 + 20));
    wait_for_rows_equal(&out, "id", &expected);
    cluster.wait_for_checkpoint(&id, 0);
    db.execute("DELETE FROM items_b WHERE id = 100500; INSERT INTO items_a VALUES (9000, 9)");
    wait_for_rows_equal(&out, "id", &rows_of(&db, &["items_a", "items_b"]));
}

/// The rows of `tables`, as the tagged copy holds them.
fn rows_of(db: &Database, tables: &[&str]) -> BTreeMap<String, Value> {
    let mut rows = BTreeMap::new();
    for table in tables {
        for (id, amount) in db.query::<(i32, i32)>(&format!("SELECT id, amount FROM {table}")) {
            rows.insert(
                id.to_string(),
                json!({ "id": id, "amount": amount, "db": db.name, "tbl": table }),
            );
        }
    }
    rows
}

#[test]
fn startup_modes_choose_where_reading_starts() {
    let db = Database::create("cdc_startup");
    db.execute(
        "CREATE TABLE events (id INT NOT NULL PRIMARY KEY, v INT NOT NULL);\
         INSERT INTO events SELECT seq, 0 FROM seq_1_to_100",
    );
    let cluster = Cluster::start(ClusterOptions::default());
    let status: Vec<mysql_async::Row> = db.query("SHOW MASTER STATUS");
    let file: String = status[0].get(0).expect("a binlog file");
    let pos: u64 = status[0].get(1).expect("a binlog position");
    let gtids: Vec<String> = db.query("SELECT @@gtid_binlog_pos");
    // Rows 101..=110 after the recorded position; a second later, 111..=120.
    db.execute("INSERT INTO events SELECT seq, 1 FROM seq_101_to_110");
    std::thread::sleep(Duration::from_millis(1100));
    // Binlog times are whole seconds: a start on a second's boundary
    // after rows 101..=110 were written (Flink CDC compares the same way).
    let later: Vec<u64> = db.query("SELECT CAST(UNIX_TIMESTAMP() AS UNSIGNED) * 1000");
    db.execute("INSERT INTO events SELECT seq, 2 FROM seq_111_to_120");
    let modes = [
        (
            "snapshot",
            "'scan.startup.mode' = 'snapshot'".to_string(),
            1..=120,
        ),
        (
            "position",
            format!(
                "'scan.startup.mode' = 'specific-offset', 'scan.startup.specific-offset.file' = '{file}', 'scan.startup.specific-offset.pos' = '{pos}'"
            ),
            101..=130,
        ),
        (
            "gtid",
            format!(
                "'scan.startup.mode' = 'specific-offset', 'scan.startup.specific-offset.gtid-set' = '{}'",
                gtids[0]
            ),
            101..=130,
        ),
        (
            "timestamp",
            format!(
                "'scan.startup.mode' = 'timestamp', 'scan.startup.timestamp-millis' = '{}'",
                later[0]
            ),
            111..=130,
        ),
        (
            "latest",
            "'scan.startup.mode' = 'latest-offset'".to_string(),
            121..=130,
        ),
    ];
    let mut jobs = Vec::new();
    for (i, (name, mode, _)) in modes.iter().enumerate() {
        let out = cluster.path(&format!("out-{name}"));
        let sql = format!(
            "{CHECKPOINTED_AND_RESTARTED}\
             CREATE TABLE events (id INT, v INT) WITH ({}, {mode}, 'server-id' = '{}');\n\
             CREATE TABLE copy (id INT, v INT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
             INSERT INTO copy SELECT * FROM events;\n",
            db.cdc_options("events"),
            5690 + i,
            out.display()
        );
        let id = cluster.submit(name, &sql, &[]);
        if *name == "snapshot" {
            cluster.wait_for_state(&id, "FINISHED", MINUTES);
        } else {
            cluster.wait_for_checkpoint(&id, 0);
        }
        jobs.push(id);
    }
    db.execute("INSERT INTO events SELECT seq, 3 FROM seq_121_to_130");
    for (name, _, ids) in &modes {
        let expected: BTreeMap<String, Value> = db
            .query::<(i32, i32)>(&format!(
                "SELECT id, v FROM events WHERE id BETWEEN {} AND {}",
                ids.start(),
                ids.end()
            ))
            .into_iter()
            .map(|(id, v)| (id.to_string(), json!({ "id": id, "v": v })))
            .collect();
        let copied = wait_for_rows_equal(&cluster.path(&format!("out-{name}")), "id", &expected);
        assert_eq!(copied, expected, "{name}");
    }
}

#[test]
fn a_table_without_a_primary_key_needs_a_chunk_key_column_and_reads_with_one() {
    let db = Database::create("cdc_nokey");
    db.execute(
        "CREATE TABLE visits (page INT NOT NULL, hits INT NOT NULL);\
         INSERT INTO visits SELECT seq % 50, 1 FROM seq_1_to_1000",
    );
    let cluster = Cluster::start(ClusterOptions::default());
    let job = |extra: &str, out: &Path| {
        format!(
            "{CHECKPOINTED_AND_RESTARTED}\
             CREATE TABLE visits (page INT, hits INT) WITH ({}, 'server-id' = '5750-5751', 'source.parallelism' = '2'{extra});\n\
             CREATE TABLE copy (page INT, hits INT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
             INSERT INTO copy SELECT * FROM visits;\n",
            db.cdc_options("visits"),
            out.display()
        )
    };
    let refused = cluster.submit("nokey", &job("", &cluster.path("refused")), &[]);
    let failed = cluster.wait_for_state(&refused, "FAILED", MINUTES);
    let failure = failed["failure"].as_str().unwrap_or_default();
    assert!(
        failure.contains("scan.incremental.snapshot.chunk.key-column")
            && failure.contains("has no primary key"),
        "{failed}"
    );
    let out = cluster.path("copy");
    let extra = ", 'scan.incremental.snapshot.chunk.key-column' = 'page', 'scan.incremental.snapshot.chunk.size' = '100'";
    let id = cluster.submit("keyed", &job(extra, &out), &[]);
    cluster.wait_for_checkpoint(&id, 0);
    db.execute("UPDATE visits SET hits = 2 WHERE page = 7 LIMIT 3; DELETE FROM visits WHERE page = 9 LIMIT 5");
    let expected = support::rows(
        &db.query::<(i32, i32)>("SELECT page, hits FROM visits")
            .into_iter()
            .map(|(page, hits)| json!({ "page": page, "hits": hits }))
            .collect::<Vec<_>>(),
    );
    let mut last = BTreeMap::new();
    let equal = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        support::wait_for("the copy to hold the table's rows", MINUTES, || {
            if !has_commits(&out) {
                return None;
            }
            last = support::fold_changelog(&out);
            (last == expected).then_some(())
        })
    }));
    if equal.is_err() {
        assert_eq!(last, expected);
    }
}
