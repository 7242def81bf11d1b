//! End-to-end: every outside service `deploy/local/services.sh` runs comes
//! up, answers its own client (not rtdw), and `down` leaves no process of it
//! behind. One test per service, so a failure names the service.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::services::Service;
use support::{try_http_get, wait_for};

/// Runs a client command; its standard output, failing the test with its
/// standard error and the service's log when it fails.
fn client(service: &Service, program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed with {}:\n{}{}\n--- service log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        service.log()
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The ids of the live processes whose process group is `group`. Zombies
/// have ended: PID 1 reaps them when it gets to it.
fn processes_in_group(group: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("list /proc")
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // The fields after the parenthesised command: state, ppid, pgrp.
            let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
            let state = fields.next()?;
            let pgrp: u32 = fields.nth(1)?.parse().ok()?;
            (pgrp == group && state != "Z").then_some(pid)
        })
        .collect()
}

/// Every port the service recorded.
fn ports(service: &Service) -> Vec<u16> {
    std::fs::read_to_string(service.dir().join("ports"))
        .expect("the service's ports file")
        .lines()
        .filter_map(|line| line.split_once('=')?.1.parse().ok())
        .collect()
}

/// Stops the service and checks that none of its processes remains and
/// that none of its ports accepts connections.
fn assert_stops_cleanly(mut service: Service) {
    let group = service.pid();
    let ports = ports(&service);
    assert!(
        !processes_in_group(group).is_empty(),
        "the service runs before `down`"
    );
    service.stop();
    let left = processes_in_group(group);
    assert!(left.is_empty(), "processes left after down: {left:?}");
    for port in ports {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        assert!(
            TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err(),
            "port {port} still accepts connections after down"
        );
    }
    let status = support::services::run_script(&[
        "status",
        "--dir",
        service.dir().parent().unwrap().to_str().unwrap(),
    ]);
    assert!(status.is_err(), "status reports it stopped: {status:?}");
}

#[test]
fn mariadb_has_a_row_binlog_with_gtids() {
    let mariadb = Service::start("mariadb", &[]);
    let port = mariadb.var("RTDW_MARIADB_PORT").to_string();
    let sql = |user: &str, password: &str, statement: &str| {
        client(
            &mariadb,
            "mariadb",
            &[
                "--no-defaults",
                "-h127.0.0.1",
                &format!("-P{port}"),
                &format!("-u{user}"),
                &format!("-p{password}"),
                "-N",
                "-B",
                "-e",
                statement,
            ],
        )
    };
    let root = (
        mariadb.var("RTDW_MARIADB_USER"),
        mariadb.var("RTDW_MARIADB_PASSWORD"),
    );
    let status = sql(root.0, root.1, "SHOW MASTER STATUS");
    let file = status.split('\t').next().unwrap_or_default();
    assert!(
        file.starts_with("mariadb-bin.0"),
        "SHOW MASTER STATUS names a binlog file: {status:?}"
    );
    let settings = sql(
        root.0,
        root.1,
        "SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata, @@server_id",
    );
    assert_eq!(settings.trim(), "1\tROW\tFULL\tFULL\t1");
    sql(
        root.0,
        root.1,
        "CREATE DATABASE shop; USE shop; CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(20)); \
         INSERT INTO orders SELECT seq, 'x' FROM seq_1_to_10",
    );
    let gtid = sql(root.0, root.1, "SELECT @@gtid_binlog_pos");
    assert!(
        gtid.trim().starts_with("0-1-"),
        "writes get GTIDs of domain 0, server 1: {gtid:?}"
    );
    // The CDC user may read the binlog position and the tables.
    let cdc = (
        mariadb.var("RTDW_MARIADB_CDC_USER"),
        mariadb.var("RTDW_MARIADB_CDC_PASSWORD"),
    );
    assert!(sql(cdc.0, cdc.1, "SHOW MASTER STATUS").starts_with("mariadb-bin.0"));
    assert_eq!(
        sql(cdc.0, cdc.1, "SELECT COUNT(*) FROM shop.orders").trim(),
        "10"
    );
    assert_stops_cleanly(mariadb);
}

#[test]
fn postgres_answers_psql() {
    let postgres = Service::start("postgres", &[]);
    let port = postgres.var("RTDW_POSTGRES_PORT").to_string();
    let psql = |sql: &str| {
        client(
            &postgres,
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-Atc",
                sql,
            ],
        )
    };
    assert_eq!(psql("SELECT 1").trim(), "1");
    psql("CREATE TABLE t (id INT PRIMARY KEY)");
    psql("INSERT INTO t VALUES (1), (2)");
    assert_eq!(psql("SELECT SUM(id) FROM t").trim(), "3");
    assert_stops_cleanly(postgres);
}

#[test]
fn kafka_commits_and_aborts_transactions() {
    let kafka = Service::start("kafka", &[]);
    let check: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/KafkaTransactions.java");
    let classpath = format!("{}/*", kafka.var("RTDW_KAFKA_LIBS"));
    let output = client(
        &kafka,
        "java",
        &[
            "-cp",
            &classpath,
            check.to_str().unwrap(),
            kafka.var("RTDW_KAFKA_BOOTSTRAP"),
            "transactions",
        ],
    );
    assert!(
        output.contains("read_committed: [committed-1, committed-2, committed-3]")
            && output.lines().last() == Some("OK"),
        "{output}"
    );
    assert_stops_cleanly(kafka);
}

#[test]
fn etcd_puts_and_gets() {
    let etcd = Service::start("etcd", &[]);
    let endpoint = etcd.var("RTDW_ETCD_ENDPOINT").to_string();
    let etcdctl = |args: &[&str]| {
        let mut all = vec!["--endpoints", endpoint.as_str()];
        all.extend_from_slice(args);
        client(&etcd, "etcdctl", &all)
    };
    assert_eq!(etcdctl(&["put", "/rtdw-test/k", "v1"]).trim(), "OK");
    assert_eq!(
        etcdctl(&["get", "/rtdw-test/k", "--print-value-only"]).trim(),
        "v1"
    );
    assert_stops_cleanly(etcd);
}

#[test]
fn s3_stores_objects_under_signed_requests_only() {
    let s3 = Service::start("s3", &[]);
    let endpoint = s3.var("AWS_ENDPOINT").to_string();
    let region = s3.var("AWS_REGION");
    let sigv4 = format!("aws:amz:{region}:s3");
    let key_pair = format!(
        "{}:{}",
        s3.var("AWS_ACCESS_KEY_ID"),
        s3.var("AWS_SECRET_ACCESS_KEY")
    );
    let curl = |user: &str, extra: &[&str], path: &str| -> (String, String) {
        let url = format!("{endpoint}{path}");
        let mut args = vec![
            "-s",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "--aws-sigv4",
            sigv4.as_str(),
            "--user",
            user,
            // The payload's hash is signed as unsigned; S3 wants the header.
            "-H",
            "x-amz-content-sha256: UNSIGNED-PAYLOAD",
        ];
        args.extend_from_slice(extra);
        args.push(&url);
        let output = client(&s3, "curl", &args);
        let (body, code) = output.rsplit_once('\n').expect("a status line");
        (code.to_string(), body.to_string())
    };
    assert_eq!(curl(&key_pair, &["-X", "PUT"], "/bucket").0, "200");
    let put = curl(
        &key_pair,
        &["-X", "PUT", "--data-binary", "hello"],
        "/bucket/a/b.txt",
    );
    assert_eq!(put.0, "200", "{put:?}");
    assert_eq!(
        curl(&key_pair, &[], "/bucket/a/b.txt"),
        ("200".to_string(), "hello".to_string())
    );
    let forged_pair = format!("{}:not-the-secret", s3.var("AWS_ACCESS_KEY_ID"));
    let forged = curl(&forged_pair, &[], "/bucket/a/b.txt");
    assert_eq!(forged.0, "403", "a wrong signature is refused: {forged:?}");
    assert_stops_cleanly(s3);
}

#[test]
fn prometheus_scrapes_itself_and_answers_queries() {
    let prometheus = Service::start("prometheus", &[]);
    let address = prometheus.address("RTDW_PROMETHEUS_URL");
    try_http_get(&address, "/-/ready").expect("ready");
    wait_for(
        "Prometheus to have scraped itself",
        Duration::from_secs(60),
        || {
            let body = try_http_get(&address, "/api/v1/query?query=up").ok()?;
            let answer: serde_json::Value = serde_json::from_str(&body).ok()?;
            (answer["data"]["result"][0]["value"][1] == "1").then_some(())
        },
    );
    assert_stops_cleanly(prometheus);
}

#[test]
fn jaeger_stores_spans_sent_over_otlp() {
    let jaeger = Service::start("jaeger", &[]);
    let query = jaeger.address("RTDW_JAEGER_QUERY");
    let services: serde_json::Value =
        serde_json::from_str(&try_http_get(&query, "/api/services").expect("/api/services"))
            .expect("JSON");
    assert!(
        services["data"].is_array() || services["data"].is_null(),
        "{services}"
    );

    // One span over OTLP/HTTP (JSON), from curl.
    let trace_id = "5b8efff798038103d269b633813fc60c";
    let span = serde_json::json!({
        "resourceSpans": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "services-test"}}
            ]},
            "scopeSpans": [{"spans": [{
                "traceId": trace_id,
                "spanId": "eee19b7ec3c1b174",
                "name": "checked",
                "kind": 1,
                "startTimeUnixNano": "1700000000000000000",
                "endTimeUnixNano": "1700000001000000000",
                "attributes": [{"key": "rtdw.check", "value": {"stringValue": "yes"}}]
            }]}]
        }]
    });
    let url = format!("{}/v1/traces", jaeger.var("RTDW_JAEGER_OTLP_HTTP"));
    client(
        &jaeger,
        "curl",
        &[
            "-sf",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &span.to_string(),
            &url,
        ],
    );
    let trace = wait_for("the span in Jaeger", Duration::from_secs(30), || {
        let body = try_http_get(&query, &format!("/api/traces/{trace_id}")).ok()?;
        let answer: serde_json::Value = serde_json::from_str(&body).ok()?;
        answer["data"][0]["spans"]
            .as_array()
            .is_some_and(|spans| !spans.is_empty())
            .then_some(answer)
    });
    let stored = &trace["data"][0]["spans"][0];
    assert_eq!(stored["operationName"], "checked", "{trace}");
    assert!(
        stored["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == "rtdw.check" && t["value"] == "yes"),
        "{trace}"
    );
    let services = try_http_get(&query, "/api/services").expect("/api/services");
    assert!(services.contains("services-test"), "{services}");
    assert_stops_cleanly(jaeger);
}
