//! End-to-end throughput and memory of rtdw pipelines, on real processes:
//! a coordinator and two task managers (2 slots each) per run.
//!
//! `cargo bench -p rtdw-cli --bench pipeline` prints, per pipeline and
//! parallelism: rows, seconds from submission to FINISHED, rows/s, rows/s
//! per subtask, and the peak RSS of the busiest task manager.
//! `RTDW_BENCH_ROWS` scales the row counts (default 100 000 000).

#[path = "../tests/support/mod.rs"]
mod support;

use support::{Cluster, ClusterOptions};

struct Pipeline {
    name: &'static str,
    rows: u64,
    sql: String,
}

fn source(name: &str, rows: u64) -> String {
    format!(
        "CREATE TABLE {name} (id BIGINT, v INT) WITH (\n\
           'connector' = 'datagen', 'rows-per-second' = '1000000000',\n\
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{rows}',\n\
           'fields.v.min' = '0', 'fields.v.max' = '1000');\n"
    )
}

/// A second stream keyed like `gen`, for joins: `id` runs 1..=rows and the
/// event time is `id` milliseconds after the epoch on both streams.
fn timed_source(name: &str, rows: u64) -> String {
    format!(
        "CREATE TABLE {name} (id BIGINT, v INT, ts AS to_timestamp_millis(id), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (\n\
           'connector' = 'datagen', 'rows-per-second' = '1000000000',\n\
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{rows}',\n\
           'fields.v.min' = '0', 'fields.v.max' = '1000');\n"
    )
}

fn pipelines(rows: u64) -> Vec<Pipeline> {
    let group_rows = rows / 2;
    // Stateful operators that keep every row (dedup over changing keys,
    // joins) get a tenth of the rows, so a run stays within minutes.
    let state_rows = rows / 10;
    vec![
        Pipeline {
            name: "datagen -> filter/project -> blackhole",
            rows,
            sql: format!(
                "{}CREATE TABLE sink (id BIGINT, w BIGINT) WITH ('connector' = 'blackhole');\n\
                 INSERT INTO sink SELECT id, CAST(v AS BIGINT) * 2 + 1 FROM gen WHERE v % 4 <> 0;",
                source("gen", rows)
            ),
        },
        Pipeline {
            name: "datagen -> GROUP BY 100k keys -> blackhole",
            rows: group_rows,
            sql: format!(
                "{}CREATE TABLE sink (k BIGINT, n BIGINT, total BIGINT) WITH ('connector' = 'blackhole');\n\
                 INSERT INTO sink SELECT id % 100000, COUNT(*), SUM(v) FROM gen GROUP BY id % 100000;",
                source("gen", group_rows)
            ),
        },
        Pipeline {
            name: "group aggregate with retraction",
            rows: state_rows,
            sql: format!(
                "{}CREATE TABLE sink (bucket INT, n BIGINT, total BIGINT) WITH ('connector' = 'blackhole');\n\
                 CREATE VIEW per_key AS SELECT id % 1000000 AS k, SUM(v) AS s FROM gen GROUP BY id % 1000000;\n\
                 INSERT INTO sink SELECT CAST(s % 100 AS INT), COUNT(*), SUM(s) FROM per_key GROUP BY CAST(s % 100 AS INT);",
                source("gen", state_rows)
            ),
        },
        Pipeline {
            name: "tumbling window, 1 s, 1000 keys",
            rows,
            sql: format!(
                "{}CREATE TABLE sink (k BIGINT, ws TIMESTAMP(3), we TIMESTAMP(3), n BIGINT, total BIGINT) WITH ('connector' = 'blackhole');\n\
                 INSERT INTO sink SELECT id % 1000, window_start, window_end, COUNT(*), SUM(v)\n\
                 FROM TABLE(TUMBLE(TABLE gen, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY id % 1000, window_start, window_end;",
                timed_source("gen", rows)
            ),
        },
        Pipeline {
            name: "dedup keep last, 1M keys",
            rows: state_rows,
            sql: format!(
                "{}CREATE TABLE sink (id BIGINT, v INT) WITH ('connector' = 'blackhole');\n\
                 INSERT INTO sink SELECT id, v FROM (\n\
                   SELECT id % 1000000 AS id, v, ROW_NUMBER() OVER (PARTITION BY id % 1000000 ORDER BY ts DESC) AS rn FROM gen)\n\
                 WHERE rn = 1;",
                timed_source("gen", state_rows)
            ),
        },
        Pipeline {
            name: "regular join, 100k-row dimension",
            rows: state_rows,
            sql: format!(
                "{}{}CREATE TABLE sink (id BIGINT, v INT, w INT) WITH ('connector' = 'blackhole');\n\
                 INSERT INTO sink SELECT g.id, g.v, d.v FROM gen g JOIN dim d ON g.id % 100000 + 1 = d.id;",
                source("gen", state_rows),
                source("dim", 100_000)
            ),
        },
        Pipeline {
            name: "interval join, 0..5 ms",
            rows: group_rows,
            sql: format!(
                "{}{}CREATE TABLE sink (id BIGINT, v INT, w INT) WITH ('connector' = 'blackhole');\n\
                 INSERT INTO sink SELECT a.id, a.v, b.v FROM orders a JOIN shipments b\n\
                 ON a.id = b.id AND b.ts BETWEEN a.ts AND a.ts + INTERVAL '0.005' SECOND;",
                timed_source("orders", group_rows),
                timed_source("shipments", group_rows)
            ),
        },
    ]
}

/// Runs one pipeline on a fresh cluster; returns seconds and the peak RSS
/// (KiB) of the busiest task manager.
fn run(pipeline: &Pipeline, parallelism: u32) -> (f64, u64) {
    let cluster = Cluster::start(ClusterOptions::default());
    cluster.run_to_finish(&pipeline.sql, parallelism)
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
