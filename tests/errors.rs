//! End-to-end: what a user sees for bad SQL and bad options, from the CLI
//! and from a plain gRPC client.

mod support;

use rtdw_proto::v1::SubmitJobRequest;
use rtdw_proto::v1::job_service_client::JobServiceClient;
use support::{Cluster, ClusterOptions};

fn submit_fails(cluster: &Cluster, sql: &str) -> String {
    let path = cluster.write("bad.sql", sql);
    let output = cluster.rtdw(&["job", "submit", path.to_str().unwrap()]);
    assert!(!output.status.success(), "submission of bad SQL succeeded");
    assert!(output.stdout.is_empty(), "no job id for bad SQL");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_sql_names_line_and_column_and_starts_nothing() {
    let cluster = Cluster::start(ClusterOptions {
        taskmanagers: 1,
        ..ClusterOptions::default()
    });
    let syntax = "CREATE TABLE s (id BIGINT) WITH ('connector' = 'datagen');\n\
                  CREATE TABLE o (id BIGINT) WITH ('connector' = 'blackhole');\n\
                  INSERT INTO o SELEC id FROM s;";
    let stderr = submit_fails(&cluster, syntax);
    assert!(
        stderr.contains("SQL error in statement 3 at line 3, column 15"),
        "{stderr}"
    );
    assert!(stderr.contains("InvalidArgument"), "{stderr}");

    let unknown_column = "CREATE TABLE s (id BIGINT, amount INT) WITH ('connector' = 'datagen');\n\
                          CREATE TABLE o (id BIGINT) WITH ('connector' = 'blackhole');\n\
                          INSERT INTO o\n  SELECT amout FROM s;";
    let stderr = submit_fails(&cluster, unknown_column);
    assert!(
        stderr.contains("line 4, column 10") && stderr.contains("amout"),
        "{stderr}"
    );

    // A source table's WITH options, with what the submission must say.
    let bad_sources = [
        (
            "'connector' = 'datagen', 'rows-per-sec' = '5'",
            "table 's': unsupported source options for connector 'datagen': rows-per-sec (did you mean 'rows-per-second'?); supported options: connector, fields.#.end",
        ),
        (
            "'connector' = 'filesystem', 'format' = 'json'",
            "table 's': missing required option 'path'",
        ),
        (
            "'connector' = 'datagen', 'number-of-rows' = 'ten'",
            "table 's': option 'number-of-rows' must be an integer, got 'ten'",
        ),
        (
            "'connector' = 'filesystem', 'path' = '/tmp', 'format' = 'csv', 'csv.field-delimitr' = ';'",
            "csv.field-delimitr (did you mean 'csv.field-delimiter'?)",
        ),
        (
            "'connector' = 'datagen', 'fields.id.kind' = 'counter'",
            "table 's': option 'fields.id.kind' must be 'sequence' or 'random', got 'counter'",
        ),
        (
            "'connector' = 'filesystem', 'path' = '/tmp', 'format' = 'jsn'",
            "table 's': option 'format' names an unknown format 'jsn'",
        ),
    ];
    for (options, expected) in bad_sources {
        let sql = format!(
            "CREATE TABLE s (id BIGINT) WITH ({options});\n\
             CREATE TABLE o (id BIGINT) WITH ('connector' = 'blackhole');\n\
             INSERT INTO o SELECT id FROM s;"
        );
        let stderr = submit_fails(&cluster, &sql);
        assert!(stderr.contains(expected), "{options}: {stderr}");
    }
    let unknown_connector = "CREATE TABLE s (id BIGINT) WITH ('connector' = 'datagen');\n\
                             CREATE TABLE o (id BIGINT) WITH ('connector' = 'kafkaa');\n\
                             INSERT INTO o SELECT id FROM s;";
    let stderr = submit_fails(&cluster, unknown_connector);
    assert!(
        stderr.contains("could not find a sink connector 'kafkaa' for table 'o' (did you mean 'kafka'?); available sink connectors: blackhole, filesystem, jdbc, kafka, paimon, print, starrocks, upsert-kafka"),
        "{stderr}"
    );

    let jobs = cluster.rtdw_ok(&["job", "list", "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&jobs).unwrap(),
        serde_json::json!([])
    );
    assert_eq!(cluster.taskmanager_list()[0]["free_slots"], 2);
}

#[test]
fn bad_sql_over_grpc_is_invalid_argument_with_a_location() {
    let cluster = Cluster::start(ClusterOptions {
        taskmanagers: 1,
        ..ClusterOptions::default()
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        let mut client = JobServiceClient::connect(cluster.url.clone()).await.unwrap();
        client
            .submit_job(SubmitJobRequest {
                sql: "CREATE TABLE t (id BIGINT) WITH ('connector' = 'datagen');\nINSERT INTO t SELECT id FROM t WHERE;".into(),
                ..SubmitJobRequest::default()
            })
            .await
            .unwrap_err()
    });
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status
            .message()
            .starts_with("SQL error in statement 2 at line 2, column"),
        "{}",
        status.message()
    );
    let not_found = runtime.block_on(async {
        let mut client = JobServiceClient::connect(cluster.url.clone())
            .await
            .unwrap();
        client
            .get_job(rtdw_proto::v1::GetJobRequest {
                job_id: "nope".into(),
            })
            .await
            .unwrap_err()
    });
    assert_eq!(not_found.code(), tonic::Code::NotFound);
}

#[test]
fn an_append_only_sink_refuses_an_updating_query_at_submit_time() {
    let cluster = Cluster::start(ClusterOptions {
        taskmanagers: 1,
        ..ClusterOptions::default()
    });
    let sql = format!(
        "CREATE TABLE s (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '10');\n\
         CREATE TABLE o (id BIGINT, n BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         INSERT INTO o SELECT id, COUNT(*) FROM s GROUP BY id;",
        cluster.path("out").display()
    );
    let stderr = submit_fails(&cluster, &sql);
    assert!(
        stderr.contains("Table sink 'o' doesn't support consuming update changes which is produced by node GroupAggregate(groupBy=[id], select=[id, COUNT(*)])"),
        "{stderr}"
    );
}

/// The services a reflection client of protocol version `$version`
/// (`v1`, `v1alpha`) lists at `url`.
macro_rules! reflected_services {
    ($version:ident, $url:expr) => {{
        use tonic_reflection::pb::$version::ServerReflectionRequest;
        use tonic_reflection::pb::$version::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let channel = tonic::transport::Channel::from_shared($url)
                .unwrap()
                .connect()
                .await
                .unwrap();
            let mut client = ServerReflectionClient::new(channel);
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut responses = client
                .server_reflection_info(futures::stream::iter([request]))
                .await
                .unwrap()
                .into_inner();
            let response = responses
                .message()
                .await
                .unwrap()
                .expect("a reflection answer");
            match response.message_response {
                Some(MessageResponse::ListServicesResponse(list)) => {
                    list.service.into_iter().map(|s| s.name).collect::<Vec<_>>()
                }
                other => panic!("unexpected reflection answer {other:?}"),
            }
        })
    }};
}

#[test]
fn grpc_reflection_lists_the_job_and_cluster_services_in_v1_and_v1alpha() {
    let cluster = Cluster::start(ClusterOptions {
        taskmanagers: 0,
        ..ClusterOptions::default()
    });
    let listed = [
        ("v1", reflected_services!(v1, cluster.url.clone())),
        ("v1alpha", reflected_services!(v1alpha, cluster.url.clone())),
    ];
    for (version, services) in listed {
        for service in ["rtdw.v1.JobService", "rtdw.v1.ClusterService"] {
            assert!(
                services.iter().any(|s| s == service),
                "{version}: {service} missing from {services:?}"
            );
        }
    }
}

#[test]
fn a_process_with_a_bad_configuration_exits_naming_the_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("application-prod.yml");
    std::fs::write(&file, "taskmanager:\n  slots: many\n").unwrap();
    let output = std::process::Command::new(support::rtdw_binary())
        .args([
            "taskmanager",
            "--profile",
            "prod",
            "--config-dir",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("taskmanager.slots") && stderr.contains(&file.display().to_string()),
        "{stderr}"
    );
}

#[test]
fn json_logs_carry_the_subtask_ids() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("application.yml"),
        "logging:\n  format: json\n",
    )
    .unwrap();
    let mut cluster = Cluster::start(ClusterOptions {
        taskmanagers: 0,
        ..ClusterOptions::default()
    });
    let log = cluster.path("tm-json.log");
    let child = cluster
        .taskmanager_command(1)
        .args(["--config-dir", dir.path().to_str().unwrap()])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    cluster.taskmanagers.push(child);
    cluster.wait_for_alive(1);
    let input = cluster.write("bad.csv", "1\nx\n3\n");
    let sql = format!(
        "CREATE TABLE s (id BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv', 'csv.ignore-parse-errors' = 'true');\n\
         CREATE TABLE o (id BIGINT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO o SELECT id FROM s;",
        input.display()
    );
    let id = cluster.submit("json.sql", &sql, &[]);
    cluster.wait_for_state(&id, "FINISHED", std::time::Duration::from_secs(60));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.starts_with("task manager "))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let skipped = lines
        .iter()
        .find(|l| l["message"].as_str().is_some_and(|m| m.contains("skipped")))
        .unwrap_or_else(|| panic!("no skipped-record line in {text}"));
    assert_eq!(skipped["level"], "WARN");
    assert_eq!(skipped["span"]["job"], id.as_str(), "{skipped}");
    assert_eq!(skipped["span"]["vertex"], 0);
    assert_eq!(skipped["span"]["subtask"], 0);
}

#[test]
fn connectors_are_listed_and_described_from_their_declarations() {
    let run = |args: &[&str]| {
        let output = std::process::Command::new(support::rtdw_binary())
            .args(args)
            .output()
            .expect("run rtdw");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, list, _) = run(&["connectors", "list"]);
    assert!(ok);
    for line in ["datagen", "print", "blackhole", "filesystem"] {
        assert!(list.lines().any(|l| l.starts_with(line)), "{list}");
    }
    assert!(
        list.lines()
            .any(|l| l.starts_with("filesystem") && l.contains("source, sink")),
        "{list}"
    );
    for format in [
        "json",
        "csv",
        "raw",
        "debezium-json",
        "canal-json",
        "maxwell-json",
    ] {
        assert!(list.lines().any(|l| l.starts_with(format)), "{list}");
    }
    let (ok, datagen, _) = run(&["connectors", "describe", "datagen"]);
    assert!(ok);
    assert!(datagen.contains("roles: source\n"), "{datagen}");
    assert!(
        datagen.contains("| `rows-per-second` | no | `10000` | Double |"),
        "{datagen}"
    );
    let (ok, debezium, _) = run(&["connectors", "describe", "debezium-json"]);
    assert!(ok);
    assert!(
        debezium.contains("| `debezium-json.schema-include` | no | `false` | Boolean |"),
        "{debezium}"
    );
    let (ok, _, error) = run(&["connectors", "describe", "filesytem"]);
    assert!(!ok);
    assert!(
        error.contains("no connector or format 'filesytem' (did you mean 'filesystem'?)"),
        "{error}"
    );
}

/// A job that fails with a user error is not restarted, even with a
/// restart strategy, and says so.
#[test]
fn a_user_error_fails_the_job_without_restarts() {
    let cluster = Cluster::start(ClusterOptions {
        taskmanagers: 1,
        ..ClusterOptions::default()
    });
    let restarts = "SET 'restart-strategy.type' = 'fixed-delay';\n\
                    SET 'restart-strategy.fixed-delay.attempts' = '5';\n\
                    SET 'restart-strategy.fixed-delay.delay' = '100 ms';\n";
    let dir = cluster.path("malformed");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("part-1"), "{\"id\": 1}\n{\"id\": \n{\"id\": 3}\n").unwrap();
    let cases = [
        (
            format!("{}/does-not-exist", cluster.path("").display()),
            "cannot list",
        ),
        (
            dir.display().to_string(),
            "malformed json record of table 's' in",
        ),
    ];
    for (path, expected) in cases {
        let sql = format!(
            "{restarts}CREATE TABLE s (id BIGINT) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'json');\n\
             CREATE TABLE o (id BIGINT) WITH ('connector' = 'blackhole');\n\
             INSERT INTO o SELECT id FROM s;"
        );
        let id = cluster.submit("user-error.sql", &sql, &[]);
        let job = support::wait_for(
            "the job to fail",
            std::time::Duration::from_secs(30),
            || {
                let job = cluster.job(&id);
                (job["state"] == "FAILED").then_some(job)
            },
        );
        assert_eq!(job["failure_class"], "user", "{job}");
        assert_eq!(job["restarts"], 0, "{job}");
        let failure = job["failure"].as_str().unwrap_or_default();
        assert!(failure.contains(expected), "{failure}");
        let status = cluster.rtdw_ok(&["job", "status", &id]);
        assert!(status.contains("Failure:     (user error) "), "{status}");
    }
}

/// With `<format>.ignore-parse-errors`, malformed records are skipped and
/// counted per table and reason on the task manager's metrics endpoint.
#[test]
fn skipped_malformed_records_are_counted_in_the_metrics() {
    let cluster = Cluster::start(ClusterOptions {
        taskmanagers: 1,
        ..ClusterOptions::default()
    });
    let input = cluster.path("events");
    std::fs::create_dir_all(&input).unwrap();
    // Two malformed lines among four good ones.
    std::fs::write(
        input.join("part-1"),
        "{\"id\": 1}\n{\"id\": \n{\"id\": 3}\nnot json\n{\"id\": 5}\n{\"id\": 6}\n",
    )
    .unwrap();
    let out = cluster.path("out");
    let sql = format!(
        "CREATE TABLE s (id BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json', 'json.ignore-parse-errors' = 'true');\n\
         CREATE TABLE o (id BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         INSERT INTO o SELECT id FROM s;",
        input.display(),
        out.display()
    );
    let id = cluster.submit("skip.sql", &sql, &["--wait"]);
    assert!(!id.is_empty());
    assert_eq!(support::committed_lines(&out), ["1", "3", "5", "6"]);
    let addr = cluster.taskmanager_list()[0]["http_addr"]
        .as_str()
        .expect("an HTTP address")
        .to_string();
    let metrics = support::http_get(&addr, "/metrics");
    let dropped = support::metric_sum(
        &metrics,
        "rtdw_records_dropped_total",
        &[("table", "s"), ("reason", "malformed")],
    );
    assert_eq!(dropped, 2.0, "{metrics}");
}
