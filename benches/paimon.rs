//! The `paimon` connector on a file-system warehouse:
//!
//! - append: `datagen` rows into an ODS append table partitioned by day
//!   (4 partitions), at parallelism 1 and 2;
//! - primary key: `datagen` rows over 1 000 000 keys (each key updated
//!   `rows / 1 000 000` times) into a deduplicating table of 4 buckets, at
//!   parallelism 1 and 2;
//! - read: the append table read back in full (`scan.bounded`) into a
//!   blackhole, at parallelism 1 and 2.
//!
//! Writes take a checkpoint every 10 s, each one a snapshot. After each
//! write the table's snapshots, data files and bytes are counted from the
//! warehouse. `cargo bench -p rtdw-cli --bench paimon` prints rows,
//! seconds, rows/s, the peak RSS of the busiest task manager, and files
//! and bytes per commit; `RTDW_BENCH_ROWS` sets the rows of each run
//! (default 2 000 000).

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;

use support::{Cluster, ClusterOptions};

/// A job writing `rows` rows into a table (`dir`, `name`).
type WriteJob = fn(u64, &Path, &str) -> String;

/// Keys of the primary-key runs.
const KEYS: u64 = 1_000_000;

/// The `WITH` options of table `name` in the warehouse `dir`.
fn table(dir: &Path, name: &str) -> String {
    format!(
        "'connector' = 'paimon', 'path' = 'file://{}/bench.db/{name}', 'auto-create' = 'true'",
        dir.display()
    )
}

/// Checkpoints every 10 s, and the table `gen` of `rows` generated rows.
fn generator(rows: u64) -> String {
    format!(
        "SET 'execution.checkpointing.interval' = '10 s';\n\
         CREATE TABLE gen (id BIGINT, amount INT, note STRING) WITH (\n\
           'connector' = 'datagen', 'rows-per-second' = '1000000000', 'number-of-rows' = '{rows}',\n\
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{rows}',\n\
           'fields.note.length' = '24');\n"
    )
}

/// Generated rows into the append table `name`.
fn append_job(rows: u64, dir: &Path, name: &str) -> String {
    format!(
        "{}\
         CREATE TABLE ods (id BIGINT, amount INT, note STRING, dt STRING) PARTITIONED BY (dt)\n\
           WITH ({});\n\
         INSERT INTO ods SELECT id, amount, note, CONCAT('2026-12-0', CAST(id % 4 + 1 AS STRING)) FROM gen;\n",
        generator(rows),
        table(dir, name)
    )
}

/// Generated rows over `KEYS` keys into the primary-key table `name`.
fn upsert_job(rows: u64, dir: &Path, name: &str) -> String {
    format!(
        "{}\
         CREATE TABLE dwd (k BIGINT, amount INT, note STRING, PRIMARY KEY (k) NOT ENFORCED)\n\
           WITH ({}, 'bucket' = '4');\n\
         INSERT INTO dwd SELECT id % {KEYS}, amount, note FROM gen;\n",
        generator(rows),
        table(dir, name)
    )
}

/// The append table `name` read in full into a blackhole.
fn read_job(dir: &Path, name: &str) -> String {
    format!(
        "CREATE TABLE ods (id BIGINT, amount INT, note STRING, dt STRING) PARTITIONED BY (dt)\n\
           WITH ({}, 'scan.bounded' = 'true');\n\
         CREATE TABLE sink (id BIGINT, amount INT, note STRING, dt STRING) WITH ('connector' = 'blackhole');\n\
         INSERT INTO sink SELECT * FROM ods;\n",
        table(dir, name)
    )
}

/// Snapshots, data files and their bytes of a table's directory.
fn table_files(table: &Path) -> (u64, u64, u64) {
    let snapshots = std::fs::read_dir(table.join("snapshot"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("snapshot-"))
                .count() as u64
        })
        .unwrap_or(0);
    let (mut files, mut bytes) = (0, 0);
    let mut dirs = vec![table.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !["snapshot", "schema", "manifest"].contains(&name.as_str()) {
                    dirs.push(path);
                }
            } else if name.starts_with("data-") {
                files += 1;
                bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    (snapshots, files, bytes)
}

fn print_header(what: &str) {
    println!(
        "{what:<34} {:>3} {:>10} {:>8} {:>11} {:>9} {:>10} {:>11} {:>12}",
        "p", "rows", "seconds", "rows/s", "peak MiB", "snapshots", "files/com.", "MiB/commit"
    );
}

fn print_row(
    what: &str,
    parallelism: u32,
    rows: u64,
    run: (f64, u64),
    files: Option<(u64, u64, u64)>,
) {
    let (seconds, peak_kib) = run;
    let (snapshots, per_commit, mib) = match files {
        Some((snapshots, files, bytes)) => (
            snapshots.to_string(),
            format!("{:.1}", files as f64 / snapshots.max(1) as f64),
            format!(
                "{:.2}",
                bytes as f64 / snapshots.max(1) as f64 / (1024.0 * 1024.0)
            ),
        ),
        None => ("-".into(), "-".into(), "-".into()),
    };
    println!(
        "{what:<34} {parallelism:>3} {rows:>10} {seconds:>8.2} {:>11.0} {:>9.1} {snapshots:>10} {per_commit:>11} {mib:>12}",
        rows as f64 / seconds,
        peak_kib as f64 / 1024.0,
    );
}

fn main() {
    let Some(rows) = support::bench_rows(2_000_000) else {
        return;
    };
    let warehouse = tempfile::tempdir().expect("a warehouse");
    let dir = warehouse.path();
    let cluster = Cluster::start(ClusterOptions::default());
    print_header("paimon (file system)");
    let writes: [(&str, &str, WriteJob); 2] = [
        ("append, partitioned by day", "ods", append_job),
        ("primary key, 1 000 000 keys", "dwd", upsert_job),
    ];
    for (what, prefix, job) in writes {
        for parallelism in [1, 2] {
            let name = format!("{prefix}_p{parallelism}");
            let run = cluster.run_to_finish(&job(rows, dir, &name), parallelism);
            let files = table_files(&dir.join("bench.db").join(&name));
            print_row(what, parallelism, rows, run, Some(files));
        }
    }
    for parallelism in [1, 2] {
        let run = cluster.run_to_finish(&read_job(dir, "ods_p1"), parallelism);
        print_row(
            "read the append table in full",
            parallelism,
            rows,
            run,
            None,
        );
    }
}
