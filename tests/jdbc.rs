//! The `jdbc` connector against a real MariaDB and a real PostgreSQL: a
//! GROUP BY over a MySQL changelog (inserts, updates, deletes, whole
//! groups deleted) upserted into each database through a task manager
//! killed mid-stream ends equal to the aggregate MariaDB computes itself
//! over the same input; mistakes in the URL, the credentials, the table or
//! its columns fail the submission, naming the table and the option.

#[path = "support/mariadb.rs"]
mod mariadb;
#[path = "support/postgres.rs"]
mod postgres;
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use mariadb::Database;
use postgres::PgDatabase;
use support::{CHECKPOINTED_AND_RESTARTED, Cluster, ClusterOptions};

const MINUTES: Duration = Duration::from_secs(180);

/// Rows of the orders table at the start.
const ORDERS: u64 = 20_000;

/// Customers the orders spread over.
const CUSTOMERS: u64 = 97;

/// Per customer: its order count and amount.
type Totals = BTreeMap<String, (i64, i64)>;

/// An orders table of `ORDERS` rows over `CUSTOMERS` customers.
fn orders(db: &Database) {
    db.execute(&format!(
        "CREATE TABLE orders (id BIGINT NOT NULL PRIMARY KEY, customer VARCHAR(32) NOT NULL, amount INT NOT NULL);\
         INSERT INTO orders SELECT seq, CONCAT('c', seq % {CUSTOMERS}), seq % 1000 FROM seq_1_to_{ORDERS}"
    ));
}

/// Changes of every kind, `round` of many: an insert, an amount update, a
/// customer change, a delete; every tenth round deletes a whole customer's
/// orders, so its group must disappear from the sink.
fn write_round(db: &Database, round: u64) {
    let whole_group = if round % 10 == 9 {
        format!(
            "DELETE FROM orders WHERE customer = 'c{}';",
            (round / 10) % CUSTOMERS
        )
    } else {
        String::new()
    };
    db.execute(&format!(
        "INSERT INTO orders VALUES ({}, 'new{}', {round});\
         UPDATE orders SET amount = amount + 7 WHERE id = {};\
         UPDATE orders SET customer = 'moved' WHERE id = {};\
         DELETE FROM orders WHERE id = {};\
         {whole_group}",
        ORDERS + 1 + round,
        round % 5,
        1 + (round * 331) % ORDERS,
        1 + (round * 577 + 13) % ORDERS,
        1 + (round * 919 + 29) % ORDERS,
    ));
}

/// The aggregate as MariaDB computes it over the input.
fn expected_totals(db: &Database) -> Totals {
    db.query::<(String, i64, i64)>(
        "SELECT customer, COUNT(*), CAST(SUM(amount) AS SIGNED) FROM orders GROUP BY customer",
    )
    .into_iter()
    .map(|(customer, count, amount)| (customer, (count, amount)))
    .collect()
}

/// Where a test writes the totals.
trait Target {
    /// Creates the totals table; returns the `WITH` options of the rtdw
    /// table writing it.
    fn create_totals(&self) -> String;
    /// The totals table's rows.
    fn totals(&self) -> Totals;
}

impl Target for Database {
    fn create_totals(&self) -> String {
        self.execute(
            "CREATE TABLE totals (customer VARCHAR(32) NOT NULL PRIMARY KEY, orders BIGINT NOT NULL, amount BIGINT NOT NULL)",
        );
        self.jdbc_options("totals")
    }

    fn totals(&self) -> Totals {
        self.query::<(String, i64, i64)>("SELECT customer, orders, amount FROM totals")
            .into_iter()
            .map(|(customer, count, amount)| (customer, (count, amount)))
            .collect()
    }
}

impl Target for PgDatabase {
    fn create_totals(&self) -> String {
        self.execute(
            "CREATE TABLE totals (customer VARCHAR(32) PRIMARY KEY, orders BIGINT NOT NULL, amount BIGINT NOT NULL)",
        );
        format!(
            "'connector' = 'jdbc', 'url' = '{}', 'table-name' = 'totals', 'username' = '{}'",
            self.jdbc_url(),
            self.user()
        )
    }

    fn totals(&self) -> Totals {
        self.query("SELECT customer, orders, amount FROM totals")
            .into_iter()
            .map(|row| {
                let number = |i: usize| -> i64 {
                    row[i]
                        .as_deref()
                        .and_then(|v| v.parse().ok())
                        .expect("a number")
                };
                (row[0].clone().expect("a customer"), (number(1), number(2)))
            })
            .collect()
    }
}

/// The job: totals per customer of the orders' changelog, into `target`.
fn totals_job(source: &Database, target_options: &str, server_id: u32) -> String {
    format!(
        "{CHECKPOINTED_AND_RESTARTED}\
         CREATE TABLE orders (id BIGINT, customer STRING, amount INT, PRIMARY KEY (id) NOT ENFORCED) WITH (\n\
           {}, 'server-id' = '{server_id}-{}', 'source.parallelism' = '2');\n\
         CREATE TABLE totals (customer STRING, orders BIGINT, amount BIGINT, PRIMARY KEY (customer) NOT ENFORCED) WITH (\n\
           {target_options});\n\
         INSERT INTO totals SELECT customer, COUNT(*), SUM(CAST(amount AS BIGINT)) FROM orders GROUP BY customer;\n",
        source.cdc_options("orders"),
        server_id + 1,
    )
}

/// Runs the totals job into `target`, killing a task manager mid-stream,
/// and checks the table ends as MariaDB's own GROUP BY.
fn totals_through_a_killed_task_manager(source: &Database, target: &dyn Target, server_id: u32) {
    orders(source);
    let options = target.create_totals();
    let mut cluster = Cluster::start(ClusterOptions::default());
    let id = cluster.submit("totals.sql", &totals_job(source, &options, server_id), &[]);
    for round in 0..60 {
        write_round(source, round);
    }
    let checkpoint = cluster.wait_for_checkpoint(&id, 0);
    cluster.kill_a_taskmanager_of(&id);
    cluster.wait_for_restart(&id, 1);
    for round in 60..120 {
        write_round(source, round);
    }
    cluster.wait_for_checkpoint(&id, checkpoint);
    let expected = expected_totals(source);
    assert!(
        (0..12).all(|k| !expected.contains_key(&format!("c{k}"))),
        "whole groups were deleted: {expected:?}"
    );
    let mut last = Totals::new();
    support::wait_for("the totals to equal MariaDB's GROUP BY", MINUTES, || {
        last = target.totals();
        (last == expected).then_some(())
    });
    assert_eq!(last, expected, "{}", cluster.logs());
}

#[test]
fn a_group_by_over_a_changelog_upserts_into_mariadb_exactly_through_a_killed_task_manager() {
    let db = Database::create("jdbc_totals");
    totals_through_a_killed_task_manager(&db, &db, 5700);
}

#[test]
fn a_group_by_over_a_changelog_upserts_into_postgresql_exactly_through_a_killed_task_manager() {
    let source = Database::create("jdbc_pg_totals");
    let target = PgDatabase::create("jdbc_totals");
    totals_through_a_killed_task_manager(&source, &target, 5710);
}

/// `rtdw sql explain` of a job writing into a `jdbc` table with `options`:
/// its error output.
fn planning_error(cluster: &Cluster, name: &str, options: &str) -> String {
    let sql = format!(
        "CREATE TABLE gen (customer STRING, orders BIGINT, amount BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '10');\n\
         CREATE TABLE totals (customer STRING, orders BIGINT, amount BIGINT) WITH ({options});\n\
         INSERT INTO totals SELECT * FROM gen;\n"
    );
    let path = cluster.write(name, &sql);
    let output = cluster.rtdw(&["job", "submit", path.to_str().expect("a UTF-8 path")]);
    assert!(!output.status.success(), "{name} was accepted");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_bad_url_credentials_table_or_column_fails_the_submission_naming_table_and_option() {
    let db = Database::create("jdbc_bad");
    db.execute("CREATE TABLE totals (customer VARCHAR(32) PRIMARY KEY, orders BIGINT)");
    let cluster = Cluster::start(ClusterOptions::default());
    let good = db.jdbc_options("totals");

    let error = planning_error(
        &cluster,
        "url.sql",
        &good.replace("jdbc:mariadb://", "jdbc:oracle:thin://"),
    );
    assert!(
        error.contains("table 'totals'") && error.contains("option 'url'"),
        "{error}"
    );
    let error = planning_error(
        &cluster,
        "password.sql",
        &good.replace("'password' = '", "'password' = 'wrong"),
    );
    assert!(
        error.contains("table 'totals'") && error.contains("Access denied"),
        "{error}"
    );
    let error = planning_error(
        &cluster,
        "table.sql",
        &good.replace("'table-name' = 'totals'", "'table-name' = 'totalz'"),
    );
    assert!(
        error.contains("option 'table-name'") && error.contains("must name a table"),
        "{error}"
    );
    let error = planning_error(&cluster, "column.sql", &good);
    assert!(
        error.contains("option 'table-name'") && error.contains("lacks 'amount'"),
        "{error}"
    );
}

/// A job copying `items` into `copy` of the same database: read by a
/// parallel, partitioned scan, written by the sink.
fn copy_job(columns: &str, options: impl Fn(&str) -> String) -> String {
    format!(
        "SET 'parallelism.default' = '2';\n\
         CREATE TABLE items ({columns}, PRIMARY KEY (id) NOT ENFORCED) WITH (\n\
           {}, 'scan.partition.column' = 'id', 'scan.partition.num' = '5', 'scan.partition.lower-bound' = '1', 'scan.partition.upper-bound' = '4000', 'scan.fetch-size' = '300');\n\
         CREATE TABLE copy ({columns}, PRIMARY KEY (id) NOT ENFORCED) WITH ({});\n\
         INSERT INTO copy SELECT * FROM items;\n",
        options("items"),
        options("copy"),
    )
}

/// Flink's types of the `items` columns.
const ITEM_COLUMNS: &str = "id BIGINT, name STRING, amount DECIMAL(12, 2), at TIMESTAMP(3), at_ltz TIMESTAMP_LTZ(3), day DATE, flag BOOLEAN, data BYTES, ratio DOUBLE";

#[test]
fn a_partitioned_scan_of_mariadb_copies_every_type_within_the_bounds() {
    let db = Database::create("jdbc_scan");
    let columns = "(id BIGINT PRIMARY KEY, name VARCHAR(40), amount DECIMAL(12, 2), at DATETIME(3), at_ltz TIMESTAMP(3) NULL, day DATE, flag BOOLEAN, data VARBINARY(16), ratio DOUBLE)";
    db.execute(&format!(
        "CREATE TABLE items {columns}; CREATE TABLE copy {columns};\
         INSERT INTO items SELECT seq, IF(seq % 7 = 0, NULL, CONCAT('name ', seq, ' ''q'' \\\\ ü')), seq * 1.25 - 3000, \
           DATE_ADD('2024-01-01', INTERVAL seq * 1001000 MICROSECOND), IF(seq % 5 = 0, NULL, FROM_UNIXTIME(1700000000 + seq + 0.5)), \
           DATE_ADD('1969-12-01', INTERVAL seq DAY), seq % 2 = 0, UNHEX(LPAD(HEX(seq), 8, '0')), seq / 3e0 FROM seq_1_to_5000"
    ));
    let cluster = Cluster::start(ClusterOptions::default());
    let id = cluster.submit(
        "copy.sql",
        &copy_job(ITEM_COLUMNS, |t| db.jdbc_options(t)),
        &[],
    );
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    let rows = |query: &str| -> Vec<Vec<mysql_async::Value>> {
        db.query_typed(query)
            .into_iter()
            .map(|row| row.unwrap())
            .collect()
    };
    let expected = rows("SELECT * FROM items WHERE id BETWEEN 1 AND 4000 ORDER BY id");
    assert_eq!(expected.len(), 4000);
    assert_eq!(
        rows("SELECT * FROM copy ORDER BY id"),
        expected,
        "{}",
        cluster.logs()
    );
}

#[test]
fn a_partitioned_scan_of_postgresql_copies_every_type_within_the_bounds() {
    let db = PgDatabase::create("jdbc_scan");
    let columns = "(id BIGINT PRIMARY KEY, name TEXT, amount NUMERIC(12, 2), at TIMESTAMP(3), at_ltz TIMESTAMPTZ(3), day DATE, flag BOOLEAN, data BYTEA, ratio DOUBLE PRECISION)";
    db.execute(&format!(
        "CREATE TABLE items {columns}; CREATE TABLE copy {columns};\
         INSERT INTO items SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'name ' || g || ' ''q'' \\ ü' END, g * 1.25 - 3000, \
           TIMESTAMP '2024-01-01' + g * INTERVAL '1.001 second', CASE WHEN g % 5 = 0 THEN NULL ELSE to_timestamp(1700000000 + g + 0.5) END, \
           DATE '1969-12-01' + g, g % 2 = 0, decode(lpad(to_hex(g), 8, '0'), 'hex'), g / 3.0::float8 FROM generate_series(1, 5000) g"
    ));
    let cluster = Cluster::start(ClusterOptions::default());
    let options = |table: &str| {
        format!(
            "'connector' = 'jdbc', 'url' = '{}', 'table-name' = '{table}', 'username' = '{}'",
            db.jdbc_url(),
            db.user()
        )
    };
    let id = cluster.submit("copy.sql", &copy_job(ITEM_COLUMNS, options), &[]);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    let expected = db.query("SELECT * FROM items WHERE id BETWEEN 1 AND 4000 ORDER BY id");
    assert_eq!(expected.len(), 4000);
    assert_eq!(
        db.query("SELECT * FROM copy ORDER BY id"),
        expected,
        "{}",
        cluster.logs()
    );
}
