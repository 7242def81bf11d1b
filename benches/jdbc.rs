//! The `jdbc` connector on a real MariaDB and PostgreSQL (`services.sh up
//! mariadb postgres`, else instances of the bench's own):
//!
//! - upserts: `datagen` rows over 100 000 keys upserted into a table of
//!   each database, at parallelism 1 and 2, checkpoints every 10 s;
//! - lookup joins: `datagen` rows whose keys spread over a 100 000-row
//!   MariaDB table, enriched by a lookup join without and with the partial
//!   cache, into a blackhole.
//!
//! `cargo bench -p rtdw-cli --bench jdbc` prints rows, seconds, rows/s and
//! the peak RSS of the busiest task manager; `RTDW_BENCH_ROWS` sets the
//! rows of each run (default 1 000 000).

#[path = "../tests/support/mariadb.rs"]
mod mariadb;
#[path = "../tests/support/postgres.rs"]
mod postgres;
#[path = "../tests/support/mod.rs"]
mod support;

use mariadb::Database;
use postgres::PgDatabase;
use support::{Cluster, ClusterOptions};

/// Keys the upserts and lookups spread over.
const KEYS: u64 = 100_000;

/// A job upserting `rows` generated rows over `KEYS` keys into the table
/// `options` describe.
fn upsert_job(rows: u64, options: &str) -> String {
    format!(
        "SET 'execution.checkpointing.interval' = '10 s';\n\
         CREATE TABLE gen (id BIGINT, amount INT, note STRING) WITH (\n\
           'connector' = 'datagen', 'number-of-rows' = '{rows}', 'fields.id.kind' = 'sequence',\n\
           'fields.id.start' = '1', 'fields.id.end' = '{rows}', 'fields.note.length' = '24');\n\
         CREATE TABLE totals (k BIGINT, amount INT, note STRING, PRIMARY KEY (k) NOT ENFORCED) WITH ({options});\n\
         INSERT INTO totals SELECT id % {KEYS}, amount, note FROM gen;\n"
    )
}

/// A job enriching `rows` generated rows from the MariaDB table
/// `customers` by a lookup join, with `cache` options.
fn lookup_job(rows: u64, db: &Database, cache: &str) -> String {
    format!(
        "CREATE TABLE gen (id BIGINT, customer BIGINT, proc_time AS PROCTIME()) WITH (\n\
           'connector' = 'datagen', 'number-of-rows' = '{rows}',\n\
           'fields.customer.min' = '1', 'fields.customer.max' = '{KEYS}');\n\
         CREATE TABLE customers (id BIGINT, name STRING, tier STRING, PRIMARY KEY (id) NOT ENFORCED) WITH ({}{cache});\n\
         CREATE TABLE sink (id BIGINT, name STRING, tier STRING) WITH ('connector' = 'blackhole');\n\
         INSERT INTO sink SELECT g.id, c.name, c.tier FROM gen AS g\n\
           JOIN customers FOR SYSTEM_TIME AS OF g.proc_time AS c ON g.customer = c.id;\n",
        db.jdbc_options("customers")
    )
}

fn print_header(what: &str) {
    println!(
        "{what:<34} {:>3} {:>12} {:>9} {:>14} {:>14}",
        "p", "rows", "seconds", "rows/s", "peak RSS MiB"
    );
}

fn print_row(what: &str, parallelism: u32, rows: u64, seconds: f64, peak_kib: u64) {
    println!(
        "{what:<34} {parallelism:>3} {rows:>12} {seconds:>9.2} {:>14.0} {:>14.1}",
        rows as f64 / seconds,
        peak_kib as f64 / 1024.0
    );
}

fn main() {
    let Some(rows) = support::bench_rows(1_000_000) else {
        return;
    };
    let cluster = Cluster::start(ClusterOptions::default());
    let expected_keys = rows.min(KEYS);
    print_header("upserts (100 000 keys)");
    for parallelism in [1, 2] {
        let db = Database::create("bench_upsert");
        db.execute(
            "CREATE TABLE totals (k BIGINT PRIMARY KEY, amount INT NOT NULL, note VARCHAR(32) NOT NULL)",
        );
        let (seconds, peak) =
            cluster.run_to_finish(&upsert_job(rows, &db.jdbc_options("totals")), parallelism);
        let keys: Vec<u64> = db.query("SELECT COUNT(*) FROM totals");
        assert_eq!(keys, [expected_keys], "MariaDB holds every key once");
        print_row("rtdw -> MariaDB", parallelism, rows, seconds, peak);

        let pg = PgDatabase::create("bench_upsert");
        pg.execute(
            "CREATE TABLE totals (k BIGINT PRIMARY KEY, amount INT NOT NULL, note TEXT NOT NULL)",
        );
        let options = format!(
            "'connector' = 'jdbc', 'url' = '{}', 'table-name' = 'totals', 'username' = '{}'",
            pg.jdbc_url(),
            pg.user()
        );
        let (seconds, peak) = cluster.run_to_finish(&upsert_job(rows, &options), parallelism);
        let keys = pg.query("SELECT COUNT(*) FROM totals");
        assert_eq!(
            keys,
            [[Some(expected_keys.to_string())]],
            "PostgreSQL holds every key once"
        );
        print_row("rtdw -> PostgreSQL", parallelism, rows, seconds, peak);
    }
    let db = Database::create("bench_lookup");
    db.execute(&format!(
        "CREATE TABLE customers (id BIGINT PRIMARY KEY, name VARCHAR(32) NOT NULL, tier VARCHAR(8) NOT NULL);\
         INSERT INTO customers SELECT seq, CONCAT('customer ', seq), IF(seq % 3 = 0, 'gold', 'silver') FROM seq_1_to_{KEYS}"
    ));
    print_header("lookup join (100 000-row table)");
    for (what, cache) in [
        ("no cache", ""),
        (
            "partial cache",
            ", 'lookup.cache' = 'PARTIAL', 'lookup.partial-cache.max-rows' = '100000'",
        ),
    ] {
        for parallelism in [1, 2] {
            let (seconds, peak) = cluster.run_to_finish(&lookup_job(rows, &db, cache), parallelism);
            print_row(what, parallelism, rows, seconds, peak);
        }
    }
}
