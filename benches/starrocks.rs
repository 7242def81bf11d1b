//! `datagen -> starrocks` through the StarRocks Stream Load simulator
//! (tests/support/starrocks.rs; no StarRocks server runs here), with the
//! sink `exactly-once` and `at-least-once`, at parallelism 1 and 2: the
//! throughput of the sink's encoding and of the Stream Load protocol
//! (redirects, labels, transactions), not of StarRocks.
//!
//! `cargo bench -p rtdw-cli --bench starrocks` prints, per semantic and
//! parallelism: rows, seconds from submission to FINISHED, rows/s and the
//! peak RSS of the busiest task manager, and checks that the simulator's
//! table holds every row once. `RTDW_BENCH_ROWS` sets the row count
//! (default 1 000 000). The submit-time check reads the table's columns
//! from MariaDB (`services.sh up mariadb`, else one of the bench's own).

#[path = "../tests/support/mariadb.rs"]
mod mariadb;
#[path = "../tests/support/starrocks.rs"]
mod starrocks;
#[path = "../tests/support/mod.rs"]
mod support;

use mariadb::Database;
use starrocks::{StarRocksSimulator, grant_reading, jdbc_url};
use support::{Cluster, ClusterOptions};

/// The benchmarked job: `rows` generated rows into StarRocks table
/// `table` of `db` at `semantic`.
fn job(
    db: &Database,
    simulator: &StarRocksSimulator,
    table: &str,
    semantic: &str,
    rows: u64,
) -> String {
    let options = simulator.table_options(&jdbc_url(&db.cdc_options("x")), &db.name, table);
    format!(
        "SET 'execution.checkpointing.interval' = '1 s';\n\
         CREATE TABLE gen (id BIGINT, v INT, name STRING) WITH (\n\
           'connector' = 'datagen', 'rows-per-second' = '1000000000',\n\
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{rows}',\n\
           'fields.v.min' = '0', 'fields.v.max' = '1000', 'fields.name.length' = '12');\n\
         CREATE TABLE dst (id BIGINT, v INT, name STRING, PRIMARY KEY (id) NOT ENFORCED)\n\
           WITH ({options}, 'sink.semantic' = '{semantic}');\n\
         INSERT INTO dst SELECT id, v, name FROM gen;\n"
    )
}

fn main() {
    let Some(rows) = support::bench_rows(1_000_000) else {
        return;
    };
    let db = Database::create("sr_bench");
    db.on_server(&grant_reading(&db.name));
    println!(
        "{:<28} {:>3} {:>12} {:>9} {:>14} {:>14}",
        "datagen -> starrocks (sim)", "p", "rows", "seconds", "rows/s", "peak RSS MiB"
    );
    for semantic in ["exactly-once", "at-least-once"] {
        for parallelism in [1, 2] {
            let table = format!("dst_{}_{parallelism}", semantic.replace('-', "_"));
            db.execute(&format!(
                "CREATE TABLE {table} (id BIGINT PRIMARY KEY, v INT, name VARCHAR(32))"
            ));
            let simulator = StarRocksSimulator::start();
            simulator.create_table(&db.name, &table, &["id", "v", "name"], &["id"]);
            let cluster = Cluster::start(ClusterOptions::default());
            let (seconds, peak) =
                cluster.run_to_finish(&job(&db, &simulator, &table, semantic, rows), parallelism);
            let written = simulator.rows(&db.name, &table).len() as u64;
            assert_eq!(
                written, rows,
                "{semantic} at {parallelism} wrote {written} of {rows} rows"
            );
            println!(
                "{semantic:<28} {parallelism:>3} {rows:>12} {seconds:>9.2} {:>14.0} {:>14.1}",
                rows as f64 / seconds,
                peak as f64 / 1024.0
            );
        }
    }
}
