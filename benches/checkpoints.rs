//! What exactly-once costs, on real processes (a coordinator and two task
//! managers, 2 slots each, release build):
//!
//! 1. throughput of the GROUP BY pipeline with checkpoints every second
//!    against the same without checkpoints;
//! 2. checkpoint duration and size with 1 000 000 keys of state;
//! 3. recovery: time from `kill -9` of a task manager to the job running
//!    again and to new output being committed.
//!
//! `cargo bench -p rtdw-cli --bench checkpoints`; `RTDW_BENCH_ROWS` scales
//! the row counts (default 40 000 000).

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Cluster, ClusterOptions, wait_for};

const HOUR: Duration = Duration::from_secs(3600);

fn group_by(rows: u64, keys: u64, sets: &str) -> String {
    format!(
        "{sets}CREATE TABLE gen (id BIGINT, v INT) WITH (\n\
           'connector' = 'datagen', 'rows-per-second' = '1000000000',\n\
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{rows}',\n\
           'fields.v.min' = '0', 'fields.v.max' = '1000');\n\
         CREATE TABLE sink (k BIGINT, n BIGINT, total BIGINT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO sink SELECT id % {keys}, COUNT(*), SUM(v) FROM gen GROUP BY id % {keys};"
    )
}

const CHECKPOINT_EVERY_SECOND: &str = "SET 'execution.checkpointing.interval' = '1 s';\n";

/// Runs a job to its end; returns seconds from submission to FINISHED and
/// its completed periodic checkpoints.
fn run(sql: &str) -> (f64, Vec<Value>) {
    let cluster = Cluster::start(ClusterOptions::default());
    let id = cluster.submit("bench.sql", sql, &["-p", "2"]);
    let job = cluster.wait_for_state(&id, "FINISHED", HOUR);
    let millis =
        job["end_time_ms"].as_i64().unwrap_or(0) - job["submit_time_ms"].as_i64().unwrap_or(0);
    let history: Value =
        serde_json::from_str(&cluster.rtdw_ok(&["job", "checkpoints", &id, "--json"]))
            .expect("checkpoint history");
    let completed = history
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|c| c["status"] == "COMPLETED" && c["kind"] == "CHECKPOINT")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    (millis as f64 / 1000.0, completed)
}

fn committed(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0)
}

/// Seconds from `kill -9` of a task manager to the job RUNNING again and to
/// the first file committed after the kill.
fn recovery() -> (f64, f64) {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("out");
    let sql = format!(
        "{CHECKPOINT_EVERY_SECOND}\
         SET 'restart-strategy.type' = 'fixed-delay';\n\
         SET 'restart-strategy.fixed-delay.attempts' = '3';\n\
         SET 'restart-strategy.fixed-delay.delay' = '100 ms';\n\
         CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '200000',\n\
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '9000000000000000000');\n\
         CREATE TABLE out (k BIGINT, n BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
         INSERT INTO out SELECT id % 1000, COUNT(*) FROM gen GROUP BY id % 1000;",
        out.display()
    );
    let id = cluster.submit("recovery.sql", &sql, &["-p", "2"]);
    wait_for("committed output", HOUR, || {
        (committed(&out) >= 2).then_some(())
    });
    let victim = cluster.job(&id)["vertices"][0]["subtasks"][0]["taskmanager_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let index = cluster.taskmanager_index(&victim).expect("the victim");
    let before = committed(&out);
    let killed = Instant::now();
    cluster.kill_taskmanager(index);
    cluster.add_taskmanager(2);
    wait_for("the restart", HOUR, || {
        let job = cluster.job(&id);
        (job["state"] == "RUNNING" && job["restarts"].as_u64() >= Some(1)).then_some(())
    });
    let running = killed.elapsed().as_secs_f64();
    wait_for("new output", HOUR, || {
        (committed(&out) > before).then_some(())
    });
    let flowing = killed.elapsed().as_secs_f64();
    cluster.rtdw_ok(&["job", "cancel", &id]);
    (running, flowing)
}

fn field(checkpoints: &[Value], name: &str) -> Vec<f64> {
    checkpoints
        .iter()
        .filter_map(|c| c[name].as_f64())
        .collect()
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn main() {
    let Some(rows) = support::bench_rows(40_000_000) else {
        return;
    };

    let (off, _) = run(&group_by(rows, 100_000, ""));
    let (on, checkpoints) = run(&group_by(rows, 100_000, CHECKPOINT_EVERY_SECOND));
    println!("GROUP BY 100k keys, p=2, {rows} rows");
    println!(
        "  checkpoints off: {off:.2} s, {:.0} rows/s",
        rows as f64 / off
    );
    println!(
        "  every 1 s:       {on:.2} s, {:.0} rows/s ({} checkpoints, mean {:.0} ms, {:.0} bytes)",
        rows as f64 / on,
        checkpoints.len(),
        mean(&field(&checkpoints, "duration_ms")),
        mean(&field(&checkpoints, "size_bytes"))
    );
    println!("  throughput ratio on/off: {:.3}", off / on);

    let (seconds, checkpoints) = run(&group_by(rows, 1_000_000, CHECKPOINT_EVERY_SECOND));
    let durations = field(&checkpoints, "duration_ms");
    let sizes = field(&checkpoints, "size_bytes");
    println!("GROUP BY 1M keys, p=2, {rows} rows, {seconds:.2} s, checkpoints every 1 s");
    println!(
        "  {} checkpoints: duration mean {:.0} ms, max {:.0} ms; size max {:.1} MiB",
        checkpoints.len(),
        mean(&durations),
        durations.iter().cloned().fold(0.0, f64::max),
        sizes.iter().cloned().fold(0.0, f64::max) / 1_048_576.0
    );

    let (running, flowing) = recovery();
    println!(
        "kill -9 of a task manager (GROUP BY 1000 keys, 200k rows/s, checkpoints every 1 s, restart delay 100 ms)"
    );
    println!("  running again after {running:.2} s; new output committed after {flowing:.2} s");
}
