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

/// Enriched orders, by order id: customer, name, tier.
type Enriched = BTreeMap<i64, (i64, Option<String>, Option<String>)>;

/// A customers dimension table (ids 1..=50, tiers alternating) and an
/// empty orders table, in `db`; and the enriched table the job writes.
fn customers_and_orders(db: &Database) {
    db.execute(
        "CREATE TABLE customers (id BIGINT PRIMARY KEY, name VARCHAR(32) NOT NULL, tier VARCHAR(8) NOT NULL);\
         INSERT INTO customers SELECT seq, CONCAT('name', seq), IF(seq % 2 = 0, 'gold', 'silver') FROM seq_1_to_50;\
         CREATE TABLE orders (id BIGINT PRIMARY KEY, customer BIGINT NOT NULL);\
         CREATE TABLE enriched (id BIGINT PRIMARY KEY, customer BIGINT NOT NULL, name VARCHAR(32), tier VARCHAR(8))",
    );
}

/// Orders `from..to`, their customers cycling through 1..=60 (51..=60
/// not in the dimension table).
fn insert_orders(db: &Database, from: i64, to: i64) {
    db.execute(&format!(
        "INSERT INTO orders SELECT seq, 1 + seq % 60 FROM seq_{from}_to_{to}"
    ));
}

/// The orders `from..=to` joined with the customers as they are now, by
/// MariaDB itself (`LEFT` or `INNER`).
fn joined_now(db: &Database, join: &str, from: i64, to: i64) -> Enriched {
    db.query::<(i64, i64, Option<String>, Option<String>)>(&format!(
        "SELECT o.id, o.customer, c.name, c.tier FROM orders o {join} JOIN customers c ON o.customer = c.id WHERE o.id BETWEEN {from} AND {to}"
    ))
    .into_iter()
    .map(|(id, customer, name, tier)| (id, (customer, name, tier)))
    .collect()
}

/// The enriched table as the job wrote it.
fn enriched(db: &Database) -> Enriched {
    db.query::<(i64, i64, Option<String>, Option<String>)>(
        "SELECT id, customer, name, tier FROM enriched",
    )
    .into_iter()
    .map(|(id, customer, name, tier)| (id, (customer, name, tier)))
    .collect()
}

/// The enrichment job: orders (read from the binlog) joined with the
/// customers as of each order's processing time.
fn enrichment_job(db: &Database, join: &str, lookup_options: &str, server_id: u32) -> String {
    format!(
        "{CHECKPOINTED_AND_RESTARTED}\
         CREATE TABLE orders (id BIGINT, customer BIGINT, proc_time AS PROCTIME(), PRIMARY KEY (id) NOT ENFORCED) WITH (\n\
           {}, 'server-id' = '{server_id}');\n\
         CREATE TABLE customers (id BIGINT, name STRING, tier STRING, PRIMARY KEY (id) NOT ENFORCED) WITH (\n\
           {}{lookup_options});\n\
         CREATE TABLE enriched (id BIGINT, customer BIGINT, name STRING, tier STRING, PRIMARY KEY (id) NOT ENFORCED) WITH ({});\n\
         INSERT INTO enriched\n\
         SELECT o.id, o.customer, c.name, c.tier\n\
         FROM orders AS o\n\
           {join} JOIN customers FOR SYSTEM_TIME AS OF o.proc_time AS c ON o.customer = c.id;\n",
        db.cdc_options("orders"),
        db.jdbc_options("customers"),
        db.jdbc_options("enriched"),
    )
}

/// Waits until the enriched table equals `expected`.
fn wait_for_enriched(cluster: &Cluster, db: &Database, expected: &Enriched) {
    let mut last = Enriched::new();
    support::wait_for("the enriched orders", MINUTES, || {
        last = enriched(db);
        (last == *expected).then_some(())
    });
    assert_eq!(last, *expected, "{}", cluster.logs());
}

#[test]
fn a_left_lookup_join_without_cache_sees_each_change_of_the_dimension_table() {
    let db = Database::create("jdbc_lookup");
    customers_and_orders(&db);
    let cluster = Cluster::start(ClusterOptions::default());
    let job = enrichment_job(&db, "LEFT", "", 5720);
    let id = cluster.submit("enrich.sql", &job, &[]);
    insert_orders(&db, 1, 200);
    let mut expected = joined_now(&db, "LEFT", 1, 200);
    assert!(
        expected.values().any(|(_, name, _)| name.is_none()),
        "some customers are missing"
    );
    wait_for_enriched(&cluster, &db, &expected);
    // The dimension changes while the job runs: renamed customers, a new
    // one, a deleted one. Later orders see the change.
    db.execute(
        "UPDATE customers SET name = CONCAT('renamed', id) WHERE id <= 20;\
         INSERT INTO customers VALUES (55, 'late', 'gold');\
         DELETE FROM customers WHERE id = 30",
    );
    insert_orders(&db, 201, 400);
    expected.extend(joined_now(&db, "LEFT", 201, 400));
    wait_for_enriched(&cluster, &db, &expected);
    assert!(cluster.job(&id)["state"] == "RUNNING");
}

#[test]
fn an_inner_lookup_join_with_a_partial_cache_keeps_what_it_cached() {
    let db = Database::create("jdbc_lookup_cache");
    customers_and_orders(&db);
    let cluster = Cluster::start(ClusterOptions::default());
    // One subtask, so every key looked up once is in its cache.
    let job = format!(
        "SET 'parallelism.default' = '1';\n{}",
        enrichment_job(
            &db,
            "INNER",
            ", 'lookup.cache' = 'PARTIAL', 'lookup.partial-cache.max-rows' = '1000', 'lookup.partial-cache.expire-after-write' = '1 h'",
            5730,
        )
    );
    cluster.submit("enrich.sql", &job, &[]);
    insert_orders(&db, 1, 200);
    let before = joined_now(&db, "INNER", 1, 400);
    let mut expected = before.clone();
    wait_for_enriched(&cluster, &db, &expected);
    db.execute(
        "UPDATE customers SET name = CONCAT('renamed', id);\
         INSERT INTO customers VALUES (55, 'late', 'gold')",
    );
    insert_orders(&db, 201, 400);
    // Every customer 1..=60 was looked up before the change: cached rows
    // and cached misses stay as they were read.
    let as_cached = db.query::<(i64, i64)>("SELECT id, customer FROM orders WHERE id > 200");
    let names: BTreeMap<i64, (Option<String>, Option<String>)> = before
        .values()
        .map(|(customer, name, tier)| (*customer, (name.clone(), tier.clone())))
        .collect();
    for (order, customer) in as_cached {
        if let Some((name, tier)) = names.get(&customer) {
            expected.insert(order, (customer, name.clone(), tier.clone()));
        }
    }
    assert!(
        expected.len() < 400 && !expected.values().any(|(c, _, _)| *c == 55),
        "an inner join drops the orders of missing customers, 55 cached as missing"
    );
    wait_for_enriched(&cluster, &db, &expected);
}

#[test]
fn a_lookup_table_that_does_not_exist_fails_the_submission() {
    let db = Database::create("jdbc_lookup_bad");
    customers_and_orders(&db);
    db.execute("DROP TABLE customers");
    let cluster = Cluster::start(ClusterOptions::default());
    let path = cluster.write("enrich.sql", &enrichment_job(&db, "LEFT", "", 5740));
    let output = cluster.rtdw(&["job", "submit", path.to_str().expect("a UTF-8 path")]);
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "a missing lookup table was accepted"
    );
    assert!(
        error.contains("table 'customers'") && error.contains("option 'table-name'"),
        "{error}"
    );
}
