//! `mysql-cdc` on a real MariaDB with a row binlog (`services.sh up
//! mariadb`, else one of the bench's own): the snapshot of a realistic
//! orders table read by 1 and 2 reader subtasks, then the binlog read by
//! one reader, and the source's lag while a writer commits batches of
//! 1 000 rows.
//!
//! `cargo bench -p rtdw-cli --bench mysql_cdc` prints rows, seconds, rows/s
//! (per reader for the snapshot), peak RSS of the busiest task manager and
//! the lag percentiles. `RTDW_BENCH_ROWS` sets the table size (default
//! 1 000 000); the binlog runs write as many rows. When Flink 1.20 with
//! Flink CDC 3.5 is at hand (`RTDW_FLINK_CDC_PYTHON`,
//! `RTDW_FLINK_CDC_JAR`, `RTDW_MYSQL_DRIVER_JAR`, or their places under
//! `~/.cache/rtdw`, see benches/README.md), the same snapshot SQL runs on
//! it too, side by side.

#[path = "../tests/support/flink.rs"]
mod flink;
#[path = "../tests/support/mariadb.rs"]
mod mariadb;
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flink::Flink;
use mariadb::Database;
use support::{Cluster, ClusterOptions, http_get, metric_sum, peak_rss_kib, wait_for};

const HOUR: Duration = Duration::from_secs(3600);
/// Rows per writer transaction.
const BATCH: u64 = 1_000;

/// Columns of the orders table, on the server and in Flink SQL.
const SERVER_COLUMNS: &str = "id BIGINT NOT NULL PRIMARY KEY, customer_id BIGINT NOT NULL, \
    status VARCHAR(16) NOT NULL, amount DECIMAL(12, 2) NOT NULL, note VARCHAR(64) NULL, \
    created DATETIME(3) NOT NULL, updated TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)";
const FLINK_COLUMNS: &str = "id BIGINT, customer_id BIGINT, status STRING, amount DECIMAL(12, 2), \
    note STRING, created TIMESTAMP(3), updated TIMESTAMP_LTZ(3), PRIMARY KEY (id) NOT ENFORCED";

/// Inserts orders `from..=to` into `table`, `BATCH` rows per transaction.
fn write_orders(db: &Database, table: &str, from: u64, to: u64) {
    let mut start = from;
    while start <= to {
        let end = (start + BATCH - 1).min(to);
        db.execute(&format!(
            "INSERT INTO {table} (id, customer_id, status, amount, note, created) \
             SELECT seq, seq % 50000, ELT(1 + seq % 4, 'NEW', 'PAID', 'SHIPPED', 'DONE'), \
             (seq % 100000) / 100, IF(seq % 3 = 0, NULL, CONCAT('order ', seq)), \
             TIMESTAMP('2026-01-01') + INTERVAL seq SECOND FROM seq_{start}_to_{end}"
        ));
        start = end + 1;
    }
}

/// A job reading `table` with `mode` into a blackhole.
fn job(db: &Database, table: &str, mode: &str, server_id: u32) -> String {
    format!(
        "SET 'execution.checkpointing.interval' = '5 s';\n\
         CREATE TABLE orders ({FLINK_COLUMNS}) WITH ({}, {mode}, 'server-id' = '{server_id}-{}');\n\
         CREATE TABLE sink (id BIGINT, customer_id BIGINT, status STRING, amount DECIMAL(12, 2), note STRING, created TIMESTAMP(3), updated TIMESTAMP_LTZ(3)) WITH ('connector' = 'blackhole');\n\
         INSERT INTO sink SELECT * FROM orders;\n",
        db.cdc_options(table),
        server_id + 1
    )
}

/// Rows the job's source handed on so far, from the task managers'
/// metrics, and its lag in seconds.
fn progress(cluster: &Cluster, id: &str) -> (f64, f64) {
    let scraped: String = cluster
        .taskmanager_list()
        .iter()
        .filter_map(|t| t["http_addr"].as_str().map(|a| http_get(a, "/metrics")))
        .collect();
    let labels = [("job", id), ("vertex", "0")];
    (
        metric_sum(&scraped, "rtdw_records_in_total", &labels),
        metric_sum(&scraped, "rtdw_source_lag_seconds", &labels),
    )
}

fn peak(cluster: &Cluster) -> u64 {
    cluster
        .taskmanagers
        .iter()
        .filter_map(|tm| peak_rss_kib(tm.id()))
        .max()
        .unwrap_or(0)
}

fn print_row(what: &str, p: u32, rows: u64, seconds: f64, peak_kib: u64) {
    let rate = rows as f64 / seconds;
    println!(
        "{what:<24} {p:>3} {rows:>10} {seconds:>9.2} {rate:>12.0} {:>14.0} {:>10.0}",
        rate / f64::from(p),
        peak_kib as f64 / 1024.0
    );
}

fn main() {
    let Some(rows) = support::bench_rows(1_000_000) else {
        return;
    };
    let db = Database::create("bench_cdc");
    db.execute(&format!(
        "CREATE TABLE orders ({SERVER_COLUMNS}); CREATE TABLE stream ({SERVER_COLUMNS})"
    ));
    write_orders(&db, "orders", 1, rows);
    println!(
        "{:<24} {:>3} {:>10} {:>9} {:>12} {:>14} {:>10}",
        "mysql-cdc", "p", "rows", "seconds", "rows/s", "rows/s/reader", "peak MiB"
    );
    let snapshot = "'scan.startup.mode' = 'snapshot'";
    let mut rtdw = Vec::new();
    for (parallelism, server_id) in [(1u32, 5700), (2, 5710)] {
        let cluster = Cluster::start(ClusterOptions::default());
        let sql = job(&db, "orders", snapshot, server_id);
        let (seconds, peak_kib) = cluster.run_to_finish(&sql, parallelism);
        print_row("snapshot", parallelism, rows, seconds, peak_kib);
        rtdw.push(seconds);
    }
    match Flink::find(
        "RTDW_FLINK_CDC_PYTHON",
        "flink120-venv",
        &[
            (
                "RTDW_FLINK_CDC_JAR",
                "org/apache/flink/flink-sql-connector-mysql-cdc/3.5.0/flink-sql-connector-mysql-cdc-3.5.0.jar",
            ),
            (
                "RTDW_MYSQL_DRIVER_JAR",
                "com/mysql/mysql-connector-j/8.0.33/mysql-connector-j-8.0.33.jar",
            ),
        ],
    ) {
        None => {
            println!("Flink CDC: skipped (no PyFlink 1.20 or Flink CDC jar; see benches/README.md)")
        }
        Some(flink) => {
            let scratch = tempfile::tempdir().expect("a scratch directory");
            // Flink's start-up, measured on a one-row table and subtracted.
            db.execute(&format!("CREATE TABLE tiny ({SERVER_COLUMNS})"));
            write_orders(&db, "tiny", 1, 1);
            let (startup, _) = flink.run(&job(&db, "tiny", snapshot, 5730), scratch.path(), 1);
            println!("Flink start-up (1 row): {startup:.2} s, subtracted below");
            for (parallelism, rtdw_seconds) in [1u32, 2].into_iter().zip(rtdw) {
                let sql = job(&db, "orders", snapshot, 5740 + 2 * parallelism);
                let (seconds, peak_kib) = flink.run(&sql, scratch.path(), parallelism);
                let net = (seconds - startup).max(0.001);
                print_row("Flink CDC 3.5 snapshot", parallelism, rows, net, peak_kib);
                println!(
                    "{:<24} {parallelism:>3} rtdw/Flink CDC throughput: {:.2}x",
                    "ratio",
                    net / rtdw_seconds
                );
            }
        }
    }

    // The binlog: rows written before the job starts, read from there.
    let cluster = Cluster::start(ClusterOptions::default());
    let start: Vec<mysql_async::Row> = db.query("SHOW MASTER STATUS");
    let file: String = start[0].get(0).expect("a binlog file");
    let pos: u64 = start[0].get(1).expect("a binlog position");
    write_orders(&db, "stream", 1, rows);
    let mode = format!(
        "'scan.startup.mode' = 'specific-offset', 'scan.startup.specific-offset.file' = '{file}', 'scan.startup.specific-offset.pos' = '{pos}'"
    );
    let id = cluster.submit("binlog.sql", &job(&db, "stream", &mode, 5720), &["-p", "1"]);
    let started = Instant::now();
    wait_for("the binlog rows to be read", HOUR, || {
        (progress(&cluster, &id).0 >= rows as f64).then_some(())
    });
    print_row(
        "binlog",
        1,
        rows,
        started.elapsed().as_secs_f64(),
        peak(&cluster),
    );

    // Lag while a writer commits batches of 1 000 rows.
    let writing = AtomicBool::new(true);
    let mut lags = Vec::new();
    let written = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let began = Instant::now();
            write_orders(&db, "stream", rows + 1, 2 * rows);
            writing.store(false, Ordering::Relaxed);
            began.elapsed().as_secs_f64()
        });
        while writing.load(Ordering::Relaxed) {
            lags.push(progress(&cluster, &id).1);
            std::thread::sleep(Duration::from_millis(200));
        }
        writer.join().expect("the writer")
    });
    wait_for("the written rows to be read", HOUR, || {
        (progress(&cluster, &id).0 >= 2.0 * rows as f64).then_some(())
    });
    lags.sort_by(f64::total_cmp);
    let at = |q: f64| {
        lags.get(((lags.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "lag while a writer commits {BATCH}-row batches ({:.0} rows/s written): p50 {:.1} s, p99 {:.1} s, max {:.1} s; peak {:.0} MiB",
        rows as f64 / written,
        at(0.5),
        at(0.99),
        at(1.0),
        peak(&cluster) as f64 / 1024.0
    );
}
