//! Exactly once through failures: jobs with checkpoints keep running when
//! task managers are killed with SIGKILL, and their committed output equals
//! the result computed here from the input's definition.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::{Cluster, ClusterOptions, fold_debezium, wait_for};

const MINUTES: Duration = Duration::from_secs(180);

/// Orders 1..=rows with `amount == order_id`, at `rate` rows per second,
/// totalled per `order_id % 10` into a Debezium-JSON filesystem sink at
/// `out`, checkpointed every second, restarted after every failure.
fn totals_job(rows: u64, rate: u64, out: &Path, extra_sets: &str) -> String {
    format!(
        "SET 'execution.checkpointing.interval' = '1 s';\n\
         SET 'restart-strategy.type' = 'fixed-delay';\n\
         SET 'restart-strategy.fixed-delay.attempts' = '20';\n\
         SET 'restart-strategy.fixed-delay.delay' = '200 ms';\n\
         {extra_sets}\
         CREATE TABLE orders (order_id BIGINT, amount BIGINT) WITH (\n\
           'connector' = 'datagen', 'rows-per-second' = '{rate}',\n\
           'fields.order_id.kind' = 'sequence', 'fields.order_id.start' = '1', 'fields.order_id.end' = '{rows}',\n\
           'fields.amount.kind' = 'sequence', 'fields.amount.start' = '1', 'fields.amount.end' = '{rows}');\n\
         CREATE TABLE totals (k BIGINT, orders BIGINT, revenue BIGINT) WITH (\n\
           'connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
         INSERT INTO totals SELECT order_id % 10, COUNT(*), SUM(amount) FROM orders GROUP BY order_id % 10;\n",
        out.display()
    )
}

/// The totals computed straight from the input's definition.
fn expected_totals(rows: u64) -> BTreeMap<String, (i64, i64)> {
    let mut totals = BTreeMap::new();
    for id in 1..=rows as i64 {
        let entry = totals.entry((id % 10).to_string()).or_insert((0, 0));
        entry.0 += 1;
        entry.1 += id;
    }
    totals
}

/// The folded sink output as key -> (orders, revenue).
fn folded_totals(out: &Path) -> BTreeMap<String, (i64, i64)> {
    fold_debezium(out, "k")
        .into_iter()
        .map(|(k, row)| {
            let number = |name: &str| row[name].as_i64().expect("a number");
            (k, (number("orders"), number("revenue")))
        })
        .collect()
}

/// Hidden (uncommitted) files left in the sink directory.
fn hidden_files(out: &Path) -> Vec<String> {
    std::fs::read_dir(out)
        .expect("output directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect()
}

/// Waits until the job completed a checkpoint newer than `after`.
fn wait_for_checkpoint(cluster: &Cluster, id: &str, after: u64) -> u64 {
    wait_for("a completed checkpoint", MINUTES, || {
        let latest = cluster.job(id)["latest_checkpoint_id"]
            .as_u64()
            .unwrap_or(0);
        (latest > after).then_some(latest)
    })
}

/// Waits until the job runs again after a failover.
fn wait_for_restart(cluster: &Cluster, id: &str, restarts: u64) -> Value {
    wait_for("the job to run again", MINUTES, || {
        let job = cluster.job(id);
        let running = job["state"] == "RUNNING" && job["restarts"].as_u64() >= Some(restarts);
        running.then_some(job)
    })
}

#[test]
fn killing_task_managers_mid_run_changes_nothing_in_the_output() {
    let mut cluster = Cluster::start(ClusterOptions {
        taskmanagers: 2,
        slots: 2,
        ..ClusterOptions::default()
    });
    let rows = 40_000;
    let out = cluster.path("totals");
    let id = cluster.submit(
        "totals.sql",
        &totals_job(rows, 4_000, &out, ""),
        &["-p", "2"],
    );
    cluster.wait_for_state(&id, "RUNNING", MINUTES);

    // Two rounds: after a completed checkpoint, kill a task manager that
    // runs part of the job and start a fresh one.
    let mut checkpoint = 0;
    for round in 1..=2u64 {
        checkpoint = wait_for_checkpoint(&cluster, &id, checkpoint);
        let victim = cluster.job(&id)["vertices"][0]["subtasks"][0]["taskmanager_id"]
            .as_str()
            .expect("a placement")
            .to_string();
        let index = cluster
            .taskmanager_index(&victim)
            .expect("the victim is one of ours");
        cluster.kill_taskmanager(index);
        cluster.add_taskmanager(2);
        let job = wait_for_restart(&cluster, &id, round);
        assert!(
            job["restored_checkpoint_id"].as_u64() >= Some(checkpoint),
            "restored the newest checkpoint: {job}"
        );
    }

    let job = cluster.wait_for_state(&id, "FINISHED", MINUTES);
    assert!(job["restarts"].as_u64() >= Some(2), "{job}");
    assert_eq!(
        folded_totals(&out),
        expected_totals(rows),
        "{}",
        cluster.logs()
    );
    assert!(
        hidden_files(&out).is_empty(),
        "uncommitted files left: {:?}",
        hidden_files(&out)
    );
    let history: Value =
        serde_json::from_str(&cluster.rtdw_ok(&["job", "checkpoints", &id, "--json"]))
            .expect("checkpoint history JSON");
    let newest = &history[0];
    assert_eq!(newest["kind"], "FINAL", "{newest}");
    assert_eq!(newest["status"], "COMPLETED", "{newest}");
    assert!(
        newest["acks"]
            .as_array()
            .is_some_and(|acks| acks.iter().all(|a| a["ack_time_ms"].as_i64() > Some(0))),
        "every subtask acknowledged the final checkpoint: {newest}"
    );
}
