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
/// `options` describe (with the sink's buffer options, if any).
fn upsert_job(rows: u64, options: &str) -> String {
    format!(
        "SET 'execution.checkpointing.interval' = '10 s';\n\
         CREATE TABLE gen (id BIGINT, amount INT, note STRING) WITH (\n\
           'connector' = 'datagen', 'rows-per-second' = '1000000000', 'number-of-rows' = '{rows}',\n\
           'fields.id.kind' = 'sequence',\n\
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
           'connector' = 'datagen', 'rows-per-second' = '1000000000', 'number-of-rows' = '{rows}',\n\
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
        "{what:<40} {:>3} {:>12} {:>9} {:>14} {:>14}",
        "p", "rows", "seconds", "rows/s", "peak RSS MiB"
    );
}

fn print_row(what: &str, parallelism: u32, rows: u64, seconds: f64, peak_kib: u64) {
    println!(
        "{what:<40} {parallelism:>3} {rows:>12} {seconds:>9.2} {:>14.0} {:>14.1}",
        rows as f64 / seconds,
        peak_kib as f64 / 1024.0
    );
}

/// A database the upserts go to: a fresh `totals` table in it.
enum Target {
    MariaDb(Database),
    Postgres(PgDatabase),
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Target::MariaDb(_) => "MariaDB",
            Target::Postgres(_) => "PostgreSQL",
        }
    }

    /// Creates the `totals` table; its `WITH` options.
    fn create_totals(&self) -> String {
        match self {
            Target::MariaDb(db) => {
                db.execute(
                    "CREATE TABLE totals (k BIGINT PRIMARY KEY, amount INT NOT NULL, note VARCHAR(32) NOT NULL)",
                );
                db.jdbc_options("totals")
            }
            Target::Postgres(db) => {
                db.execute(
                    "CREATE TABLE totals (k BIGINT PRIMARY KEY, amount INT NOT NULL, note TEXT NOT NULL)",
                );
                format!(
                    "'connector' = 'jdbc', 'url' = '{}', 'table-name' = 'totals', 'username' = '{}'",
                    db.jdbc_url(),
                    db.user()
                )
            }
        }
    }

    /// The keys the table holds, counted by the database.
    fn keys(&self) -> u64 {
        let counted = match self {
            Target::MariaDb(db) => db
                .query::<u64>("SELECT COUNT(*) FROM totals")
                .first()
                .copied(),
            Target::Postgres(db) => db
                .query("SELECT COUNT(*) FROM totals")
                .first()
                .and_then(|row| row[0].as_deref()?.parse().ok()),
        };
        counted.expect("a count")
    }
}

fn main() {
    let Some(rows) = support::bench_rows(1_000_000) else {
        return;
    };
    let cluster = Cluster::start(ClusterOptions::default());
    print_header("upserts (100 000 keys)");
    for (buffer, buffer_options) in [
        ("buffer 100 rows (Flink's)", ""),
        (
            "buffer 10 000 rows",
            ", 'sink.buffer-flush.max-rows' = '10000'",
        ),
    ] {
        for parallelism in [1, 2] {
            for target in [
                Target::MariaDb(Database::create("bench_upsert")),
                Target::Postgres(PgDatabase::create("bench_upsert")),
            ] {
                let options = format!("{}{buffer_options}", target.create_totals());
                let (seconds, peak) =
                    cluster.run_to_finish(&upsert_job(rows, &options), parallelism);
                assert_eq!(
                    target.keys(),
                    rows.min(KEYS),
                    "the table holds every key once"
                );
                let what = format!("{}, {buffer}", target.name());
                print_row(&what, parallelism, rows, seconds, peak);
            }
        }
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
