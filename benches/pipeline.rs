//! End-to-end throughput and memory of rtdw pipelines, on real processes:
//! a coordinator and two task managers (2 slots each) per run.
//!
//! `cargo bench -p rtdw-cli --bench pipeline` prints, per pipeline and
//! parallelism: rows, seconds from submission to FINISHED, rows/s, rows/s
//! per subtask, and the peak RSS of the busiest task manager.
//! `RTDW_BENCH_ROWS` scales the row counts (default 100 000 000).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use support::{Cluster, ClusterOptions, peak_rss_kib};

struct Pipeline {
    name: &'static str,
    rows: u64,
    sql: String,
}

fn source(rows: u64) -> String {
    format!(
        "CREATE TABLE gen (id BIGINT, v INT) WITH (\n\
           'connector' = 'datagen', 'rows-per-second' = '1000000000',\n\
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{rows}',\n\
           'fields.v.min' = '0', 'fields.v.max' = '1000');\n"
    )
}

fn pipelines(rows: u64) -> Vec<Pipeline> {
    let group_rows = rows / 2;
    vec![
        Pipeline {
            name: "datagen -> filter/project -> blackhole",
            rows,
            sql: format!(
                "{}CREATE TABLE sink (id BIGINT, w BIGINT) WITH ('connector' = 'blackhole');\n\
                 INSERT INTO sink SELECT id, CAST(v AS BIGINT) * 2 + 1 FROM gen WHERE v % 4 <> 0;",
                source(rows)
            ),
        },
        Pipeline {
            name: "datagen -> GROUP BY 100k keys -> blackhole",
            rows: group_rows,
            sql: format!(
                "{}CREATE TABLE sink (k BIGINT, n BIGINT, total BIGINT) WITH ('connector' = 'blackhole');\n\
                 INSERT INTO sink SELECT id % 100000, COUNT(*), SUM(v) FROM gen GROUP BY id % 100000;",
                source(group_rows)
            ),
        },
    ]
}

/// Runs one pipeline on a fresh cluster; returns seconds and the peak RSS
/// (KiB) of the busiest task manager.
fn run(pipeline: &Pipeline, parallelism: u32) -> (f64, u64) {
    let cluster = Cluster::start(ClusterOptions::default());
    let id = cluster.submit(
        "bench.sql",
        &pipeline.sql,
        &["--parallelism", &parallelism.to_string()],
    );
    let job = cluster.wait_for_state(&id, "FINISHED", Duration::from_secs(3600));
    let millis = job["end_time_ms"].as_i64().unwrap() - job["submit_time_ms"].as_i64().unwrap();
    let peak = cluster
        .taskmanagers
        .iter()
        .filter_map(|tm| peak_rss_kib(tm.id()))
        .max()
        .unwrap_or(0);
    (millis as f64 / 1000.0, peak)
}

fn main() {
    let Some(rows) = support::bench_rows(100_000_000) else {
        return;
    };
    println!(
        "{:<44} {:>3} {:>12} {:>9} {:>14} {:>16} {:>14}",
        "pipeline", "p", "rows", "seconds", "rows/s", "rows/s/subtask", "peak RSS MiB"
    );
    for pipeline in pipelines(rows) {
        for parallelism in [1, 2] {
            let (seconds, peak_kib) = run(&pipeline, parallelism);
            let rate = pipeline.rows as f64 / seconds;
            println!(
                "{:<44} {:>3} {:>12} {:>9.2} {:>14.0} {:>16.0} {:>14.1}",
                pipeline.name,
                parallelism,
                pipeline.rows,
                seconds,
                rate,
                rate / f64::from(parallelism),
                peak_kib as f64 / 1024.0
            );
        }
    }
}
