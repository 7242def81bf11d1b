//! Exactly once through failures: jobs with checkpoints keep running when
//! task managers are killed with SIGKILL, and their committed output equals
//! the result computed here from the input's definition.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use prost::Message;
use rtdw_proto::v1::JobRecord;
use serde_json::Value;
use support::services::{Etcd, S3Server};
use support::{
    CHECKPOINTED_AND_RESTARTED, Cluster, ClusterOptions, fold_debezium, http_get, metric_sum,
    wait_for,
};

const MINUTES: Duration = Duration::from_secs(180);

/// Orders 1..=rows with `amount == order_id`, at `rate` rows per second,
/// totalled per `order_id % 10` into a Debezium-JSON filesystem sink at
/// `out`, checkpointed every second, restarted after every failure.
fn totals_job(rows: u64, rate: u64, out: &Path, extra_sets: &str) -> String {
    format!(
        "{CHECKPOINTED_AND_RESTARTED}\
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

#[test]
fn killing_task_managers_mid_run_changes_nothing_in_the_output() {
    let mut cluster = Cluster::start(ClusterOptions::default());
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
        checkpoint = kill_after_a_checkpoint(&mut cluster, &id, checkpoint, round);
    }

    let metrics = http_get(&cluster.http, "/metrics");
    let restarts = metric_sum(&metrics, "rtdw_job_restarts_total", &[("job", &id)]);
    let completed = metric_sum(
        &metrics,
        "rtdw_checkpoints_total",
        &[("job", &id), ("status", "COMPLETED")],
    );
    assert!(
        restarts >= 2.0 && completed >= 2.0,
        "restarts {restarts}, checkpoints {completed}"
    );
    let interval = metric_sum(
        &metrics,
        "rtdw_checkpoint_interval_seconds",
        &[("job", &id)],
    );
    assert_eq!(interval, 1.0, "the job's interval is exported");

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

/// Waits for a checkpoint newer than `after`, kills a task manager of the
/// job, and waits until it runs again (its `restart`-th restart) from that
/// checkpoint or a newer one; returns the checkpoint.
fn kill_after_a_checkpoint(cluster: &mut Cluster, id: &str, after: u64, restart: u64) -> u64 {
    let checkpoint = cluster.wait_for_checkpoint(id, after);
    cluster.kill_a_taskmanager_of(id);
    let job = cluster.wait_for_restart(id, restart);
    assert!(
        job["restored_checkpoint_id"].as_u64() >= Some(checkpoint),
        "restored the newest checkpoint: {job}"
    );
    checkpoint
}

#[test]
fn state_in_s3_and_metadata_in_etcd_survive_a_killed_task_manager() {
    let etcd = Etcd::start();
    let s3 = S3Server::start("state");
    let mut cluster = Cluster::start(ClusterOptions {
        taskmanagers: 2,
        slots: 2,
        env: s3.env(),
        coordinator_args: vec!["--metastore".into(), etcd.url()],
        ..ClusterOptions::default()
    });
    let rows = 20_000;
    let out = cluster.path("totals");
    let checkpoints = format!("s3://{}/checkpoints", s3.bucket);
    let sql = totals_job(
        rows,
        4_000,
        &out,
        &format!("SET 'state.checkpoints.dir' = '{checkpoints}';\n"),
    );
    let id = cluster.submit("totals.sql", &sql, &["-p", "2"]);
    let checkpoint = cluster.wait_for_checkpoint(&id, 0);
    let prefix = format!("checkpoints/{id}/chk-{checkpoint}/");
    let objects = s3.objects(&prefix);
    assert!(
        objects.contains(&format!("{prefix}_metadata"))
            && objects.iter().any(|o| o.ends_with(".arrow")),
        "manifest and keyed state are in the bucket: {objects:?}"
    );
    let pointer = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            &etcd.endpoint,
            "get",
            &format!("/rtdw/checkpoints/{id}"),
            "--print-value-only",
        ])
        .output()
        .expect("run etcdctl");
    let pointer = String::from_utf8_lossy(&pointer.stdout);
    assert!(
        pointer.contains(&format!("{checkpoints}/{id}/chk-")),
        "etcd points at the newest checkpoint: {pointer:?}"
    );

    cluster.kill_a_taskmanager_of(&id);
    cluster.wait_for_restart(&id, 1);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    assert_eq!(
        folded_totals(&out),
        expected_totals(rows),
        "{}",
        cluster.logs()
    );
}

#[test]
fn a_restarted_coordinator_resumes_the_job_from_its_latest_checkpoint() {
    let etcd = Etcd::start();
    let mut cluster = Cluster::start(ClusterOptions {
        taskmanagers: 2,
        slots: 2,
        coordinator_args: vec!["--metastore".into(), etcd.url()],
        ..ClusterOptions::default()
    });
    let rows = 20_000;
    let out = cluster.path("totals");
    let id = cluster.submit(
        "totals.sql",
        &totals_job(rows, 2_000, &out, ""),
        &["-p", "2"],
    );
    let checkpoint = cluster.wait_for_checkpoint(&id, 0);

    cluster.restart_coordinator();
    let job = wait_for("the job to run again", MINUTES, || {
        let output = cluster.rtdw(&["job", "status", &id, "--json"]);
        let job: Value = serde_json::from_slice(&output.stdout).ok()?;
        (job["state"] == "RUNNING" && job["restored_checkpoint_id"].as_u64() >= Some(checkpoint))
            .then_some(job)
    });
    assert_eq!(job["name"], "insert-into_totals", "{job}");
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    assert_eq!(
        folded_totals(&out),
        expected_totals(rows),
        "{}",
        cluster.logs()
    );
}

/// The coordinator plans once, at submission, and keeps that plan with the
/// job. Here the table's schema changes while the job runs (the stored
/// script's `amount` column becomes `amount_cents`, as a table altered in
/// an outside catalog would read), and the coordinator restarts: it resumes
/// the submitted plan on its task managers instead of planning the script
/// again, which would now fail, and the job still gives the exact result.
#[test]
fn a_restarted_coordinator_runs_the_submitted_plan_after_the_schema_changed() {
    let mut cluster = Cluster::start(ClusterOptions {
        taskmanagers: 2,
        slots: 2,
        ..ClusterOptions::default()
    });
    let rows = 20_000;
    let out = cluster.path("totals");
    let submitted = totals_job(rows, 2_000, &out, "");
    let id = cluster.submit("totals.sql", &submitted, &["-p", "2"]);
    let checkpoint = cluster.wait_for_checkpoint(&id, 0);

    cluster.kill_coordinator();
    let changed = submitted.replace("amount BIGINT", "amount_cents BIGINT");
    assert_ne!(changed, submitted);
    let record_path = cluster
        .path("data")
        .join("metastore")
        .join("jobs")
        .join(&id);
    let bytes = std::fs::read(&record_path).expect("the job's record");
    let mut record = JobRecord::decode(bytes.as_slice()).expect("a job record");
    record.plan.as_mut().expect("the record's plan").sql = changed.clone();
    std::fs::write(&record_path, record.encode_to_vec()).expect("rewrite the record");
    let changed_file = cluster.path("changed.sql");
    std::fs::write(&changed_file, &changed).expect("write the changed script");
    let replanned = cluster.rtdw(&["sql", "explain", &changed_file.display().to_string()]);
    let error = String::from_utf8_lossy(&replanned.stderr);
    assert!(
        !replanned.status.success() && error.contains("amount"),
        "the changed script no longer plans: {error}"
    );

    cluster.start_coordinator();
    wait_for("the job to run again", MINUTES, || {
        let job = cluster.job(&id);
        (job["state"] == "RUNNING" && job["restored_checkpoint_id"].as_u64() >= Some(checkpoint))
            .then_some(())
    });
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    assert_eq!(
        folded_totals(&out),
        expected_totals(rows),
        "{}",
        cluster.logs()
    );
}

/// `SET`s keeping the two newest checkpoints under `root`.
fn two_checkpoints_kept_in(root: &Path) -> String {
    format!(
        "SET 'state.checkpoints.dir' = 'file://{}';\nSET 'state.checkpoints.num-retained' = '2';\n",
        root.display()
    )
}

/// The `chk-<n>` directories a job has in its checkpoint directory.
fn checkpoint_dirs(root: &Path, id: &str) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_dir(root.join(id))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .strip_prefix("chk-")?
                        .parse()
                        .ok()
                })
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

#[test]
fn retention_keeps_the_newest_completed_checkpoints_and_nothing_else() {
    let cluster = Cluster::start(ClusterOptions::default());
    let rows = 12_000;
    let out = cluster.path("totals");
    let root = cluster.path("checkpoints");
    let sets = two_checkpoints_kept_in(&root);
    let id = cluster.submit(
        "totals.sql",
        &totals_job(rows, 3_000, &out, &sets),
        &["-p", "2"],
    );
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    assert_eq!(folded_totals(&out), expected_totals(rows));
    let history: Value =
        serde_json::from_str(&cluster.rtdw_ok(&["job", "checkpoints", &id, "--json"]))
            .expect("checkpoint history JSON");
    let mut completed: Vec<u64> = history
        .as_array()
        .expect("a list")
        .iter()
        .filter(|c| c["status"] == "COMPLETED")
        .map(|c| c["id"].as_u64().expect("an id"))
        .collect();
    assert!(
        completed.len() >= 3,
        "enough checkpoints to retire some: {history}"
    );
    completed.sort();
    let newest_two = completed[completed.len() - 2..].to_vec();
    assert_eq!(checkpoint_dirs(&root, &id), newest_two, "{history}");
}

#[test]
fn a_checkpoint_that_cannot_be_written_is_declined_and_fails_a_job_that_tolerates_none() {
    let cluster = Cluster::start(ClusterOptions::default());
    // A file where the checkpoint directory should be: no snapshot can be
    // uploaded under it.
    let blocker = cluster.write("blocker", "not a directory");
    let out = cluster.path("totals");
    let sets = format!(
        "SET 'state.checkpoints.dir' = 'file://{}/checkpoints';\nSET 'restart-strategy.type' = 'none';\n",
        blocker.display()
    );
    let sql = totals_job(1_000_000, 1_000, &out, &sets);
    let id = cluster.submit("totals.sql", &sql, &["-p", "2"]);
    let job = wait_for("the job to fail", MINUTES, || {
        let job = cluster.job(&id);
        (job["state"] == "FAILED").then_some(job)
    });
    let failure = job["failure"].as_str().unwrap_or_default();
    assert!(
        failure.contains("exceeded the tolerable failed checkpoints")
            && failure.contains("declined checkpoint")
            && failure.contains("blocker"),
        "{failure}"
    );
    let history: Value =
        serde_json::from_str(&cluster.rtdw_ok(&["job", "checkpoints", &id, "--json"]))
            .expect("checkpoint history JSON");
    assert_eq!(history[0]["status"], "FAILED", "{history}");
    assert!(
        history[0]["acks"]
            .as_array()
            .is_some_and(|acks| acks.iter().any(|a| a["failure"]
                .as_str()
                .is_some_and(|f| f.contains("upload failed")))),
        "the declining subtask and its reason are listed: {history}"
    );
}

#[test]
fn a_checkpoint_that_times_out_fails_while_the_job_keeps_running_within_its_tolerance() {
    let mut cluster = Cluster::start(ClusterOptions {
        taskmanagers: 0,
        ..ClusterOptions::default()
    });
    // A task manager whose stdout nobody reads: the print sink blocks once
    // the pipe is full, so no barrier gets through.
    let taskmanager = cluster
        .taskmanager_command(1)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(cluster.path("tm-blocked.log")).expect("log file"))
        .spawn()
        .expect("start task manager");
    cluster.taskmanagers.push(taskmanager);
    cluster.wait_for_alive(1);
    let sql = "SET 'execution.checkpointing.interval' = '300 ms';\n\
               SET 'execution.checkpointing.timeout' = '500 ms';\n\
               SET 'execution.checkpointing.tolerable-failed-checkpoints' = '1000';\n\
               CREATE TABLE fast (id BIGINT, payload STRING) WITH (\n\
                 'connector' = 'datagen', 'rows-per-second' = '1000000',\n\
                 'fields.payload.length' = '100');\n\
               CREATE TABLE out (id BIGINT, payload STRING) WITH ('connector' = 'print');\n\
               INSERT INTO out SELECT id, payload FROM fast;";
    let id = cluster.submit("blocked.sql", sql, &["-p", "1"]);
    let expired = wait_for("an expired checkpoint", MINUTES, || {
        let history: Value =
            serde_json::from_str(&cluster.rtdw_ok(&["job", "checkpoints", &id, "--json"])).ok()?;
        history
            .as_array()?
            .iter()
            .find(|c| c["status"] == "FAILED")
            .cloned()
    });
    assert!(
        expired["failure"]
            .as_str()
            .is_some_and(|f| f.contains("expired after 500 ms")),
        "{expired}"
    );
    assert!(
        expired["acks"]
            .as_array()
            .is_some_and(|acks| acks.iter().all(|a| a["ack_time_ms"] == 0)),
        "the blocked subtask never acknowledged: {expired}"
    );
    assert_eq!(
        cluster.job(&id)["state"],
        "RUNNING",
        "one failure is tolerated"
    );
    cluster.rtdw_ok(&["job", "cancel", &id]);
}

/// Totals job whose source keeps one subtask whatever the job's parallelism,
/// so it can be resumed from a savepoint at another parallelism.
fn rescalable_totals_job(rows: u64, rate: u64, out: &Path) -> String {
    totals_job(rows, rate, out, "").replace(
        "'connector' = 'datagen',",
        "'connector' = 'datagen', 'source.parallelism' = '1',",
    )
}

#[test]
fn stop_with_savepoint_and_resume_at_another_parallelism_gives_the_exact_result() {
    let cluster = Cluster::start(ClusterOptions {
        taskmanagers: 2,
        slots: 3,
        ..ClusterOptions::default()
    });
    let rows = 20_000;
    let out = cluster.path("totals");
    let savepoints = cluster.path("savepoints");
    let sql = rescalable_totals_job(rows, 2_000, &out);
    let first = cluster.submit("totals.sql", &sql, &["-p", "2"]);
    cluster.wait_for_checkpoint(&first, 0);
    let dir = format!("file://{}", savepoints.display());
    let stopped = cluster.rtdw_ok(&["job", "stop", &first, "--savepoint", "--dir", &dir]);
    let savepoint = stopped
        .lines()
        .next()
        .expect("the savepoint's directory")
        .to_string();
    assert!(
        savepoint.starts_with(&format!("{dir}/savepoint-")),
        "{stopped}"
    );
    let job = cluster.job(&first);
    assert_eq!(job["state"], "FINISHED", "stop drains and finishes: {job}");
    let listed = cluster.rtdw_ok(&["job", "savepoints", &first]);
    assert!(listed.contains(&savepoint), "{listed}");
    let partial = folded_totals(&out);
    let stopped_at: i64 = partial.values().map(|(n, _)| n).sum();
    assert!(
        stopped_at > 0 && stopped_at < rows as i64,
        "stopped mid-way, after {stopped_at} rows"
    );

    let path = cluster.write("again.sql", &sql);
    let second = cluster.rtdw_ok(&[
        "job",
        "submit",
        path.to_str().expect("utf-8"),
        "--from-savepoint",
        &savepoint,
        "-p",
        "3",
    ]);
    let second = second.trim();
    let job = cluster.wait_for_state(second, "FINISHED", MINUTES);
    assert_eq!(job["parallelism"], 3, "{job}");
    assert_eq!(
        folded_totals(&out),
        expected_totals(rows),
        "{}",
        cluster.logs()
    );

    cluster.rtdw_ok(&["savepoint", "dispose", &savepoint]);
    let local = savepoint.trim_start_matches("file://");
    assert!(!Path::new(local).join("_metadata").exists(), "disposed");
    let again = cluster.rtdw(&["savepoint", "dispose", &savepoint]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("no savepoint at"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn a_damaged_checkpoint_is_named_and_the_restart_falls_back_to_the_previous_one() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let rows = 30_000;
    let out = cluster.path("totals");
    let root = cluster.path("checkpoints");
    // A pause after each checkpoint leaves time to damage the newest.
    let sets = format!(
        "{}SET 'execution.checkpointing.min-pause' = '3 s';\n",
        two_checkpoints_kept_in(&root)
    );
    let id = cluster.submit(
        "totals.sql",
        &totals_job(rows, 2_000, &out, &sets),
        &["-p", "2"],
    );
    let first = cluster.wait_for_checkpoint(&id, 0);
    let newest = cluster.wait_for_checkpoint(&id, first);
    let damaged: Vec<std::path::PathBuf> =
        std::fs::read_dir(root.join(&id).join(format!("chk-{newest}")))
            .expect("checkpoint directory")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "arrow"))
            .collect();
    assert!(!damaged.is_empty(), "the checkpoint holds keyed state");
    for file in &damaged {
        let mut bytes = std::fs::read(file).expect("state file");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(file, bytes).expect("damage the state file");
    }
    cluster.kill_a_taskmanager_of(&id);

    let job = wait_for("the job to run again", MINUTES, || {
        let job = cluster.job(&id);
        let restored = job["restored_checkpoint_id"].as_u64().unwrap_or(0);
        (job["state"] == "RUNNING" && restored > 0 && restored < newest).then_some(job)
    });
    assert!(
        job["restarts"].as_u64() >= Some(2),
        "one failed restore, one good: {job}"
    );
    let log = std::fs::read_to_string(cluster.path("coordinator.log")).expect("coordinator log");
    let named = damaged
        .iter()
        .any(|f| log.contains(&format!("{} is corrupt", f.display())));
    assert!(
        named,
        "the coordinator log names the damaged file:\n{}",
        cluster.logs()
    );
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    assert_eq!(
        folded_totals(&out),
        expected_totals(rows),
        "{}",
        cluster.logs()
    );
}

#[test]
fn joins_windows_and_dedup_keep_exact_results_through_a_killed_task_manager() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let rows: i64 = 40_000;
    let sink = |name: &str, columns: &str| {
        format!(
            "CREATE TABLE {name} ({columns}) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n",
            cluster.path(name).display()
        )
    };
    // Order i has amount i and event time i ms; labels k0..k9 name i % 10.
    let sql = format!(
        "{CHECKPOINTED_AND_RESTARTED}\
         CREATE TABLE orders (order_id BIGINT, amount BIGINT, ts AS to_timestamp_millis(order_id),\n\
           WATERMARK FOR ts AS ts - INTERVAL '0.1' SECOND) WITH (\n\
           'connector' = 'datagen', 'rows-per-second' = '4000',\n\
           'fields.order_id.kind' = 'sequence', 'fields.order_id.start' = '1', 'fields.order_id.end' = '{rows}',\n\
           'fields.amount.kind' = 'sequence', 'fields.amount.start' = '1', 'fields.amount.end' = '{rows}');\n\
         CREATE TABLE labels (k BIGINT, label AS CONCAT('k', CAST(k AS STRING))) WITH (\n\
           'connector' = 'datagen', 'fields.k.kind' = 'sequence', 'fields.k.start' = '0', 'fields.k.end' = '9');\n\
         {}{}{}\
         EXECUTE STATEMENT SET BEGIN\n\
         INSERT INTO per_label SELECT l.label, COUNT(*), SUM(o.amount) FROM orders o JOIN labels l ON o.order_id % 10 = l.k GROUP BY l.label;\n\
         INSERT INTO per_second SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start, window_end;\n\
         INSERT INTO last_of SELECT k, order_id FROM (\n\
           SELECT order_id % 100 AS k, order_id, ROW_NUMBER() OVER (PARTITION BY order_id % 100 ORDER BY ts DESC) AS rn FROM orders)\n\
         WHERE rn = 1;\n\
         END;",
        sink("per_label", "label STRING, orders BIGINT, revenue BIGINT"),
        sink("per_second", "second TIMESTAMP(3), orders BIGINT"),
        sink("last_of", "k BIGINT, order_id BIGINT"),
    );
    let id = cluster.submit("stateful.sql", &sql, &["-p", "2"]);
    cluster.wait_for_state(&id, "RUNNING", MINUTES);
    kill_after_a_checkpoint(&mut cluster, &id, 0, 1);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);

    // Joined through the labels: the same totals as grouping by i % 10.
    let per_label: BTreeMap<String, (i64, i64)> =
        fold_debezium(&cluster.path("per_label"), "label")
            .into_values()
            .map(|row| {
                let label = row["label"]
                    .as_str()
                    .expect("a label")
                    .trim_start_matches('k');
                let number = |name: &str| row[name].as_i64().expect("a number");
                (label.to_string(), (number("orders"), number("revenue")))
            })
            .collect();
    assert_eq!(
        per_label,
        expected_totals(rows as u64),
        "{}",
        cluster.logs()
    );
    // One row per second of event time: ids 1..=999 in the first second,
    // 1000 in every full one, whatever is left in the last.
    let mut seconds: BTreeMap<i64, i64> = BTreeMap::new();
    for order in 1..=rows {
        *seconds.entry(order / 1000).or_default() += 1;
    }
    let folded = support::fold_changelog(&cluster.path("per_second"));
    assert!(
        folded.values().all(|&n| n == 1),
        "a window emitted twice: {folded:?}"
    );
    let mut counted: Vec<i64> = folded
        .keys()
        .map(|row| {
            serde_json::from_str::<Value>(row).expect("a row")["orders"]
                .as_i64()
                .expect("a count")
        })
        .collect();
    counted.sort_unstable();
    let mut expected: Vec<i64> = seconds.into_values().collect();
    expected.sort_unstable();
    assert_eq!(counted, expected);
    // The last order of each remainder mod 100: the largest such id.
    let last_of: BTreeMap<i64, i64> = fold_debezium(&cluster.path("last_of"), "k")
        .into_values()
        .map(|row| {
            (
                row["k"].as_i64().expect("k"),
                row["order_id"].as_i64().expect("id"),
            )
        })
        .collect();
    let expected_last: BTreeMap<i64, i64> = (0..100)
        .map(|k| (k, (1..=rows).rev().find(|i| i % 100 == k).expect("an id")))
        .collect();
    assert_eq!(last_of, expected_last);
    for name in ["per_label", "per_second", "last_of"] {
        assert!(hidden_files(&cluster.path(name)).is_empty(), "{name}");
    }
}

#[test]
fn two_phase_mini_batch_aggregation_of_a_skewed_key_is_exact_through_a_kill() {
    let mut cluster = Cluster::start(ClusterOptions::default());
    let rows: i64 = 40_000;
    let out = cluster.path("skewed");
    // Nine orders in ten go to key 0; the rest spread over keys 9, 19, ...
    let sql = format!(
        "{CHECKPOINTED_AND_RESTARTED}\
         SET 'table.exec.mini-batch.enabled' = 'true';\n\
         SET 'table.exec.mini-batch.allow-latency' = '200 ms';\n\
         SET 'table.exec.mini-batch.size' = '1000';\n\
         SET 'table.optimizer.agg-phase-strategy' = 'TWO_PHASE';\n\
         CREATE TABLE orders (order_id BIGINT, amount BIGINT) WITH (\n\
           'connector' = 'datagen', 'rows-per-second' = '4000',\n\
           'fields.order_id.kind' = 'sequence', 'fields.order_id.start' = '1', 'fields.order_id.end' = '{rows}',\n\
           'fields.amount.kind' = 'sequence', 'fields.amount.start' = '1', 'fields.amount.end' = '{rows}');\n\
         CREATE TABLE totals (k BIGINT, orders BIGINT, revenue BIGINT) WITH (\n\
           'connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
         INSERT INTO totals SELECT k, COUNT(*), SUM(amount) FROM (\n\
           SELECT CASE WHEN order_id % 10 < 9 THEN 0 ELSE order_id % 100 END AS k, amount FROM orders)\n\
         GROUP BY k;\n",
        out.display()
    );
    let id = cluster.submit("skewed.sql", &sql, &["-p", "2"]);
    let job = cluster.wait_for_state(&id, "RUNNING", MINUTES);
    let names: Vec<&str> = job["vertices"]
        .as_array()
        .expect("vertices")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(
        names.iter().any(|n| n.contains("LocalGroupAggregate"))
            && names.iter().any(|n| n.contains("GlobalGroupAggregate")),
        "planned in two phases: {names:?}"
    );
    kill_after_a_checkpoint(&mut cluster, &id, 0, 1);
    cluster.wait_for_state(&id, "FINISHED", MINUTES);
    let mut expected: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for order in 1..=rows {
        let k = if order % 10 < 9 { 0 } else { order % 100 };
        let entry = expected.entry(k.to_string()).or_default();
        entry.0 += 1;
        entry.1 += order;
    }
    assert_eq!(folded_totals(&out), expected, "{}", cluster.logs());
    assert!(hidden_files(&out).is_empty());
}

/// Writes `count` JSON-lines files of `lines` orders each into `dir`,
/// ids from `first_id` on; returns the ids written.
fn write_order_files(
    dir: &Path,
    name: &str,
    count: usize,
    lines: usize,
    first_id: u64,
) -> Vec<u64> {
    std::fs::create_dir_all(dir).expect("input directory");
    let mut ids = Vec::new();
    let mut id = first_id;
    for file in 0..count {
        let mut text = String::new();
        for _ in 0..lines {
            text.push_str(&format!(
                "{{\"order_id\": {id}, \"amount\": {}}}\n",
                id % 97
            ));
            ids.push(id);
            id += 1;
        }
        // Written aside and renamed, so a listing never sees half a file.
        let hidden = dir.join(format!(".{name}-{file}"));
        std::fs::write(&hidden, text).expect("write input file");
        std::fs::rename(&hidden, dir.join(format!("{name}-{file}.json")))
            .expect("publish input file");
    }
    ids
}

/// The order ids of the committed output, counted; none before the sink
/// committed its first file.
fn committed_ids(out: &Path) -> BTreeMap<u64, usize> {
    let mut ids = BTreeMap::new();
    let committed = std::fs::read_dir(out).is_ok_and(|mut entries| {
        entries.any(|e| e.is_ok_and(|e| !e.file_name().to_string_lossy().starts_with('.')))
    });
    if !committed {
        return ids;
    }
    for line in support::committed_lines(out) {
        let row: Value = serde_json::from_str(&line).expect("a JSON output line");
        *ids.entry(row["order_id"].as_u64().expect("an order id"))
            .or_default() += 1;
    }
    ids
}

#[test]
fn a_file_source_keeps_its_splits_through_savepoints_at_parallelism_1_2_and_3() {
    let cluster = Cluster::start(ClusterOptions {
        taskmanagers: 2,
        slots: 3,
        ..ClusterOptions::default()
    });
    let input = cluster.path("orders");
    let out = cluster.path("out");
    let savepoints = cluster.path("savepoints");
    let sql = format!(
        "SET 'execution.checkpointing.interval' = '500 ms';\n\
         CREATE TABLE orders (order_id BIGINT, amount BIGINT) WITH (\n\
           'connector' = 'filesystem', 'path' = '{}', 'format' = 'json',\n\
           'source.monitor-interval' = '200 ms');\n\
         CREATE TABLE copy (order_id BIGINT, amount BIGINT) WITH (\n\
           'connector' = 'filesystem', 'path' = '{}', 'format' = 'json');\n\
         INSERT INTO copy SELECT order_id, amount FROM orders;\n",
        input.display(),
        out.display()
    );
    let path = cluster.write("copy.sql", &sql);
    let path = path.to_str().expect("utf-8");

    let mut expected: Vec<u64> = write_order_files(&input, "a", 8, 2_000, 0);
    let mut savepoint: Option<String> = None;
    for (round, parallelism) in [1u32, 2, 3].into_iter().enumerate() {
        let p = parallelism.to_string();
        let mut args = vec!["job", "submit", path, "-p", &p];
        if let Some(savepoint) = &savepoint {
            args.extend(["--from-savepoint", savepoint.as_str()]);
        }
        let id = cluster.rtdw_ok(&args).trim().to_string();
        cluster.wait_for_state(&id, "RUNNING", MINUTES);
        // Files that appear while the job runs are discovered and read.
        expected.extend(write_order_files(
            &input,
            &format!("new{round}"),
            3,
            1_000,
            100_000 * (round as u64 + 1),
        ));
        wait_for("every file read and committed", MINUTES, || {
            let ids = committed_ids(&out);
            (ids.len() == expected.len()).then_some(())
        });
        let job = cluster.job(&id);
        let source = &job["vertices"][0];
        assert_eq!(source["parallelism"], parallelism, "{job}");
        let assigned: usize = source["subtasks"]
            .as_array()
            .expect("subtasks")
            .iter()
            .map(|s| s["splits"].as_array().map_or(0, Vec::len))
            .sum();
        assert!(assigned > 0, "the source's splits are shown: {job}");
        savepoint = Some(cluster.stop_with_savepoint(&id, &savepoints));
    }
    let ids = committed_ids(&out);
    let duplicated: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "read twice: {duplicated:?}");
    let want: BTreeMap<u64, usize> = expected.iter().map(|id| (*id, 1)).collect();
    assert_eq!(ids, want, "{}", cluster.logs());
}
