//! End-to-end: a coordinator and task managers as separate processes.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::{
    Cluster, ClusterOptions, committed_lines, fold_debezium, http_get, metric_sum, rtdw_binary,
    try_http_get, wait_for,
};

const MINUTE: Duration = Duration::from_secs(60);

/// A sequence source where `amount` equals `order_id` on every row (both
/// sequences split identically over the subtasks).
fn orders_table(rows: u64, bounded: bool) -> String {
    let end = if bounded {
        rows.to_string()
    } else {
        i64::MAX.to_string()
    };
    format!(
        "CREATE TABLE orders (order_id BIGINT, amount INT) WITH (\n\
           'connector' = 'datagen', 'rows-per-second' = '{rate}',\n\
           'fields.order_id.kind' = 'sequence', 'fields.order_id.start' = '1', 'fields.order_id.end' = '{end}',\n\
           'fields.amount.kind' = 'sequence', 'fields.amount.start' = '1', 'fields.amount.end' = '{end}');\n",
        rate = if bounded { 1_000_000 } else { 1000 },
    )
}

#[test]
fn a_group_by_across_two_taskmanagers_produces_the_exact_result() {
    let cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("totals");
    let sql = format!(
        "{}CREATE TABLE totals (customer_id BIGINT, order_count BIGINT, revenue BIGINT, biggest INT) WITH (\n\
           'connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
         INSERT INTO totals\n\
         SELECT order_id % 7, COUNT(*), SUM(amount), MAX(amount) FROM orders WHERE amount % 3 <> 0 GROUP BY order_id % 7;",
        orders_table(50_000, true),
        out.display()
    );
    let id = cluster.submit("totals.sql", &sql, &["--parallelism", "2"]);
    let job = cluster.wait_for_state(&id, "FINISHED", MINUTE);

    // The aggregate's two subtasks run on two different task managers, fed
    // through a hash exchange.
    let vertices = job["vertices"].as_array().expect("vertices");
    assert_eq!(vertices.len(), 2, "{job}");
    let aggregate = &vertices[1];
    assert!(
        aggregate["name"]
            .as_str()
            .unwrap()
            .contains("GroupAggregate"),
        "{job}"
    );
    let hosts: Vec<&str> = aggregate["subtasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["taskmanager_id"].as_str().unwrap())
        .collect();
    assert_eq!(hosts.len(), 2);
    assert_ne!(hosts[0], hosts[1], "subtasks should be spread: {job}");
    assert!(
        job["edges"][0]["partitioning"]
            .as_str()
            .unwrap()
            .starts_with("HASH["),
        "{job}"
    );

    // Expected result, computed here from the input's definition.
    let mut expected: BTreeMap<i64, (i64, i64, i64)> = BTreeMap::new();
    for id in (1..=50_000i64).filter(|id| id % 3 != 0) {
        let entry = expected.entry(id % 7).or_insert((0, 0, 0));
        entry.0 += 1;
        entry.1 += id;
        entry.2 = entry.2.max(id);
    }
    let table = fold_debezium(&out, "customer_id");
    let actual: BTreeMap<i64, (i64, i64, i64)> = table
        .values()
        .map(|row| {
            let field = |name: &str| {
                row[name]
                    .as_i64()
                    .unwrap_or_else(|| panic!("{name} in {row}"))
            };
            (
                field("customer_id"),
                (field("order_count"), field("revenue"), field("biggest")),
            )
        })
        .collect();
    assert_eq!(actual, expected);
}

#[test]
fn operators_with_their_own_parallelism_run_as_planned() {
    let cluster = Cluster::start(ClusterOptions::default());
    let out = cluster.path("copy");
    let sql = format!(
        "SET 'parallelism.default' = '1';\n\
         CREATE TABLE numbers (n BIGINT) WITH ('connector' = 'datagen', 'source.parallelism' = '3',\n\
           'fields.n.kind' = 'sequence', 'fields.n.start' = '1', 'fields.n.end' = '3000', 'rows-per-second' = '1000000');\n\
         CREATE TABLE copy (n BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv', 'sink.parallelism' = '2');\n\
         INSERT INTO copy SELECT n FROM numbers;",
        out.display()
    );
    let id = cluster.submit("parallelism.sql", &sql, &[]);
    let job = cluster.wait_for_state(&id, "FINISHED", MINUTE);
    let parallelism: Vec<u64> = job["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["parallelism"].as_u64().unwrap())
        .collect();
    assert_eq!(parallelism, [3, 2], "{job}");
    assert_eq!(job["parallelism"], 3);
    assert_eq!(job["edges"][0]["partitioning"], "REBALANCE");
    let mut numbers: Vec<u64> = committed_lines(&out)
        .iter()
        .map(|l| l.parse().unwrap())
        .collect();
    numbers.sort();
    assert_eq!(numbers, (1..=3000).collect::<Vec<u64>>());
}

#[test]
fn taskmanagers_register_heartbeat_and_a_killed_one_is_shown_lost() {
    let mut cluster = Cluster::start(ClusterOptions {
        taskmanagers: 2,
        slots: 3,
        heartbeat_ms: (200, 1500),
        ..ClusterOptions::default()
    });
    let list = cluster.taskmanager_list();
    assert_eq!(list.len(), 2);
    for tm in &list {
        assert_eq!(tm["slots"], 3);
        assert_eq!(tm["free_slots"], 3);
        assert!(
            tm["data_addr"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:")
        );
    }
    // Two task managers on one host picked different ports.
    assert_ne!(list[0]["data_addr"], list[1]["data_addr"]);
    let first_beat = list[0]["last_heartbeat_ms"].as_i64().unwrap();
    let id = list[0]["taskmanager_id"].clone();
    wait_for("a newer heartbeat", MINUTE, || {
        let now = cluster.taskmanager_list();
        let tm = now.iter().find(|t| t["taskmanager_id"] == id)?;
        (tm["last_heartbeat_ms"].as_i64()? > first_beat).then_some(())
    });

    cluster.kill_taskmanager(1);
    let lost = wait_for("the killed task manager to be LOST", MINUTE, || {
        let list = cluster.taskmanager_list();
        let lost: Vec<_> = list
            .iter()
            .filter(|t| t["state"] == "LOST")
            .cloned()
            .collect();
        (lost.len() == 1).then_some(lost)
    });
    assert_eq!(lost[0]["free_slots"], 0);
    let alive: Vec<_> = cluster
        .taskmanager_list()
        .into_iter()
        .filter(|t| t["state"] == "ALIVE")
        .collect();
    assert_eq!(alive.len(), 1);
}

#[test]
fn a_job_needing_more_slots_than_free_is_refused_and_not_started() {
    let cluster = Cluster::start(ClusterOptions {
        taskmanagers: 1,
        slots: 1,
        ..ClusterOptions::default()
    });
    let sql = format!(
        "{}CREATE TABLE sink (id BIGINT) WITH ('connector' = 'blackhole');\nINSERT INTO sink SELECT order_id FROM orders;",
        orders_table(10, true)
    );
    let path = cluster.write("wide.sql", &sql);
    let output = cluster.rtdw(&[
        "job",
        "submit",
        path.to_str().unwrap(),
        "--parallelism",
        "2",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("needs 2 task slot(s)")
            && stderr.contains("1 free slot(s) on 1 task manager(s)"),
        "{stderr}"
    );
    assert!(stderr.contains("ResourceExhausted"), "{stderr}");
    let jobs = cluster.rtdw_ok(&["job", "list", "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&jobs).unwrap(),
        serde_json::json!([])
    );
    assert_eq!(cluster.taskmanager_list()[0]["free_slots"], 1);
}

#[test]
fn cancel_stops_every_subtask_of_an_unbounded_job_on_every_taskmanager() {
    let cluster = Cluster::start(ClusterOptions::default());
    let sql = format!(
        "{}CREATE TABLE sink (id BIGINT, amount INT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO sink SELECT order_id, amount FROM orders WHERE amount > 0;",
        orders_table(0, false)
    );
    let id = cluster.submit("unbounded.sql", &sql, &["-p", "4"]);
    wait_for("every subtask RUNNING", MINUTE, || {
        let job = cluster.job(&id);
        let subtasks: Vec<serde_json::Value> = job["vertices"]
            .as_array()?
            .iter()
            .flat_map(|v| v["subtasks"].as_array().cloned().unwrap_or_default())
            .collect();
        (subtasks.len() == 4 && subtasks.iter().all(|s| s["state"] == "RUNNING")).then_some(())
    });
    assert!(
        cluster
            .taskmanager_list()
            .iter()
            .all(|t| t["free_slots"] == 0)
    );

    let answer = cluster.rtdw_ok(&["job", "cancel", &id]);
    assert!(answer.contains(&id), "{answer}");
    let job = cluster.wait_for_state(&id, "CANCELED", MINUTE);
    for vertex in job["vertices"].as_array().unwrap() {
        for subtask in vertex["subtasks"].as_array().unwrap() {
            assert_eq!(subtask["state"], "CANCELED", "{job}");
        }
    }
    wait_for("slots to be free again", MINUTE, || {
        cluster
            .taskmanager_list()
            .iter()
            .all(|t| t["free_slots"] == 2)
            .then_some(())
    });
}

#[test]
fn an_operator_error_fails_the_job_with_that_error() {
    let cluster = Cluster::start(ClusterOptions::default());
    let sql = format!(
        "{}CREATE TABLE sink (ratio BIGINT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO sink SELECT order_id / (order_id - order_id) FROM orders;",
        orders_table(1000, true)
    );
    let path = cluster.write("divide.sql", &sql);
    let output = cluster.rtdw(&["job", "submit", path.to_str().unwrap(), "--wait"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("FAILED") && stderr.contains("Divide by zero"),
        "{stderr}"
    );
    let id = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let job = cluster.job(&id);
    assert_eq!(job["state"], "FAILED");
    assert!(
        job["failure"].as_str().unwrap().contains("Calc"),
        "the failure names the operator: {job}"
    );
}

#[test]
fn a_failure_behind_an_exchange_is_reported_as_the_cause_not_its_upstream_echo() {
    let cluster = Cluster::start(ClusterOptions::default());
    // The division fails in the aggregate's vertex; the sources, still
    // running, then lose their downstream and fail too.
    let sql = format!(
        "{}CREATE TABLE sink (k BIGINT, ratio BIGINT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO sink SELECT order_id % 5, 100 / (COUNT(*) - COUNT(*)) FROM orders GROUP BY order_id % 5;",
        orders_table(0, false)
    );
    let id = cluster.submit("downstream.sql", &sql, &["-p", "2"]);
    cluster.wait_for_state(&id, "FAILED", MINUTE);
    // Give late reports from the sources time to arrive: they must not
    // replace the cause.
    std::thread::sleep(Duration::from_secs(2));
    let job = cluster.job(&id);
    let failure = job["failure"].as_str().unwrap();
    assert!(
        failure.contains("GroupAggregate") && failure.contains("Divide by zero"),
        "{failure}"
    );
}

#[test]
fn a_malformed_record_fails_the_job_naming_file_and_line_unless_the_policy_skips_it() {
    let cluster = Cluster::start(ClusterOptions::default());
    let input = cluster.write("input.csv", "1,alice\n2,bob\nthree,carol\n4,dave\n");
    let table = |ignore: bool, out: &str| {
        format!(
            "CREATE TABLE people (id BIGINT, name STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv', 'csv.ignore-parse-errors' = '{ignore}');\n\
             CREATE TABLE out (id BIGINT, name STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
             INSERT INTO out SELECT id, UPPER(name) FROM people;",
            input.display(),
            cluster.path(out).display()
        )
    };
    let failing = cluster.submit("strict.sql", &table(false, "strict"), &["-p", "1"]);
    let job = cluster.wait_for_state(&failing, "FAILED", MINUTE);
    let failure = job["failure"].as_str().unwrap();
    assert!(
        failure.contains("malformed csv record")
            && failure.contains("input.csv at line 3 (byte offset 14)"),
        "{failure}"
    );

    let lenient = cluster.submit("lenient.sql", &table(true, "lenient"), &["-p", "1"]);
    cluster.wait_for_state(&lenient, "FINISHED", MINUTE);
    // The skipped record is logged with its place and the subtask's ids.
    let logs = cluster.logs();
    let warning = logs
        .lines()
        .find(|l| l.contains("skipped") && l.contains(&lenient))
        .unwrap_or_else(|| panic!("no log line for the skipped record:\n{logs}"));
    assert!(
        warning.contains("input.csv at line 3")
            && warning.contains("vertex=0")
            && warning.contains("subtask=0"),
        "{warning}"
    );
    assert_eq!(
        committed_lines(&cluster.path("lenient")),
        ["1,ALICE", "2,BOB", "4,DAVE"]
    );
}

#[test]
fn every_process_serves_health_and_metrics_that_count_the_rows_processed() {
    let cluster = Cluster::start(ClusterOptions::default());
    assert_eq!(http_get(&cluster.http, "/healthz"), "ok\n");
    assert_eq!(http_get(&cluster.http, "/readyz"), "ready\n");
    let taskmanager_http: Vec<String> = cluster
        .taskmanager_list()
        .iter()
        .map(|t| t["http_addr"].as_str().unwrap().to_string())
        .collect();
    for addr in &taskmanager_http {
        assert_eq!(http_get(addr, "/healthz"), "ok\n");
        // Ready once the task manager has its registration answer.
        wait_for("task manager readiness", MINUTE, || {
            try_http_get(addr, "/readyz")
                .ok()
                .filter(|body| body == "ready\n")
        });
    }

    // 10 000 orders; amounts equal ids, so the filter keeps 7 500.
    let sql = format!(
        "{}CREATE TABLE sink (k BIGINT, n BIGINT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO sink SELECT order_id % 3, COUNT(*) FROM orders WHERE amount % 4 <> 0 GROUP BY order_id % 3;",
        orders_table(10_000, true)
    );
    let id = cluster.submit("counted.sql", &sql, &["-p", "2"]);
    cluster.wait_for_state(&id, "FINISHED", MINUTE);

    let scraped: String = taskmanager_http
        .iter()
        .map(|addr| http_get(addr, "/metrics"))
        .collect();
    let total =
        |name: &str, vertex: &str| metric_sum(&scraped, name, &[("job", &id), ("vertex", vertex)]);
    assert_eq!(total("rtdw_records_in_total", "0"), 10_000.0, "{scraped}");
    assert_eq!(total("rtdw_records_out_total", "0"), 7_500.0, "{scraped}");
    assert_eq!(total("rtdw_records_in_total", "1"), 7_500.0, "{scraped}");
    // The aggregate's changelog: at least one row per key, more as it updates.
    assert!(total("rtdw_records_out_total", "1") >= 3.0, "{scraped}");
    assert!(total("rtdw_in_bytes_total", "0") > 0.0, "{scraped}");
    // Per operator: vertex 0's first Calc sees every row; the aggregate,
    // first in vertex 1, sees what passed the filter.
    let operator = |name: &str, vertex: &str, operator: &str| {
        metric_sum(
            &scraped,
            name,
            &[("job", &id), ("vertex", vertex), ("operator", operator)],
        )
    };
    assert_eq!(
        operator("rtdw_operator_records_in_total", "0", "1-Calc"),
        10_000.0,
        "{scraped}"
    );
    assert_eq!(
        operator("rtdw_operator_records_in_total", "1", "0-GroupAggregate"),
        7_500.0,
        "{scraped}"
    );
    assert!(total("rtdw_busy_seconds_total", "1") > 0.0, "{scraped}");
    assert!(
        scraped.contains("rtdw_backpressured_seconds_total{"),
        "{scraped}"
    );

    let coordinator = http_get(&cluster.http, "/metrics");
    let value = |name: &str, labels: &[(&str, &str)]| metric_sum(&coordinator, name, labels);
    assert_eq!(
        value("rtdw_taskmanagers_registered", &[]),
        2.0,
        "{coordinator}"
    );
    assert_eq!(value("rtdw_slots_total", &[]), 4.0);
    assert_eq!(value("rtdw_slots_free", &[]), 4.0);
    assert_eq!(value("rtdw_jobs", &[("state", "FINISHED")]), 1.0);
    assert_eq!(
        value("rtdw_job_state", &[("job", &id), ("state", "FINISHED")]),
        1.0
    );
}

#[test]
fn grpc_health_reports_serving() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let cluster = Cluster::start(ClusterOptions {
        taskmanagers: 1,
        ..ClusterOptions::default()
    });
    let taskmanager = cluster.taskmanager_list()[0]["data_addr"]
        .as_str()
        .unwrap()
        .to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (url, service) in [
        (cluster.url.clone(), "rtdw.v1.JobService"),
        (cluster.url.clone(), "rtdw.v1.ClusterService"),
        (taskmanager, "rtdw.v1.TaskService"),
    ] {
        let status = runtime.block_on(async {
            let channel = tonic::transport::Channel::from_shared(url)
                .unwrap()
                .connect()
                .await
                .unwrap();
            HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .unwrap()
                .into_inner()
                .status
        });
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
}

#[test]
fn rtdw_local_runs_coordinator_and_taskmanagers_in_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("local.log");
    let mut local = std::process::Command::new(rtdw_binary())
        .args([
            "local",
            "--taskmanagers",
            "2",
            "--slots",
            "1",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = wait_for("the local cluster to start", MINUTE, || {
        let text = std::fs::read_to_string(&log).ok()?;
        let line = text
            .lines()
            .find(|l| l.starts_with("local cluster: coordinator "))?;
        Some(
            line.trim_start_matches("local cluster: coordinator ")
                .split(' ')
                .next()?
                .to_string(),
        )
    });
    let rtdw = |args: &[&str]| {
        let output = std::process::Command::new(rtdw_binary())
            .args(args)
            .env("RTDW_COORDINATOR", &url)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    wait_for("two task managers", MINUTE, || {
        let list: serde_json::Value =
            serde_json::from_str(&rtdw(&["cluster", "list", "--json"])).ok()?;
        (list.as_array()?.len() == 2).then_some(())
    });
    let out = dir.path().join("out");
    let sql = dir.path().join("job.sql");
    std::fs::write(
        &sql,
        format!(
            "{}CREATE TABLE out (n BIGINT, total BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
             INSERT INTO out SELECT COUNT(*), SUM(amount) FROM orders;",
            orders_table(1000, true),
            out.display()
        ),
    )
    .unwrap();
    let submitted = std::process::Command::new(rtdw_binary())
        .args(["job", "submit", sql.to_str().unwrap(), "-p", "2", "--wait"])
        .env("RTDW_COORDINATOR", &url)
        .output()
        .unwrap();
    let _ = local.kill();
    let _ = local.wait();
    assert!(
        submitted.status.success(),
        "{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    // A global aggregate keeps one row: 1000 orders whose amounts are 1..=1000.
    let table = fold_debezium(&out, "n");
    let rows: Vec<(i64, i64)> = table
        .values()
        .map(|r| (r["n"].as_i64().unwrap(), r["total"].as_i64().unwrap()))
        .collect();
    assert_eq!(rows, [(1000, 1000 * 1001 / 2)]);
}
