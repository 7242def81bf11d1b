//! End-to-end: a real Prometheus, configured as deploy/monitoring says
//! (honor_labels), scrapes a running cluster and sees rtdw's metrics with
//! rtdw's own `job` label.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Cluster, ClusterOptions, try_http_get, wait_for};

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Asks Prometheus for `query`; the first sample's value, if any.
fn query(prometheus: &str, query: &str) -> Option<f64> {
    let encoded: String = query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect();
    let body = try_http_get(prometheus, &format!("/api/v1/query?query={encoded}")).ok()?;
    let answer: serde_json::Value = serde_json::from_str(&body).ok()?;
    answer["data"]["result"][0]["value"][1]
        .as_str()?
        .parse()
        .ok()
}

#[test]
fn prometheus_scrapes_the_coordinator_and_taskmanagers() {
    let cluster = Cluster::start(ClusterOptions::default());
    let sql = "CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '5000', 'rows-per-second' = '1000000');\n\
               CREATE TABLE sink (id BIGINT) WITH ('connector' = 'blackhole');\n\
               INSERT INTO sink SELECT id FROM gen;";
    let id = cluster.submit("scraped.sql", sql, &["-p", "2"]);
    cluster.wait_for_state(&id, "FINISHED", Duration::from_secs(60));

    let taskmanagers: Vec<String> = cluster
        .taskmanager_list()
        .iter()
        .map(|t| format!("\"{}\"", t["http_addr"].as_str().unwrap()))
        .collect();
    let config = cluster.write(
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: rtdw-coordinator\n    honor_labels: true\n    static_configs:\n      - targets: [\"{}\"]\n  - job_name: rtdw-taskmanager\n    honor_labels: true\n    static_configs:\n      - targets: [{}]\n",
            cluster.http,
            taskmanagers.join(", ")
        ),
    );
    let address = format!("127.0.0.1:{}", free_port());
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            cluster.path("tsdb").display()
        ))
        .arg(format!("--web.listen-address={address}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(cluster.path("prometheus.log")).unwrap())
        .spawn()
        .expect("the prometheus server (deploy/local/setup.sh installs it)");
    let seen = wait_for("Prometheus to scrape rtdw", Duration::from_secs(60), || {
        let registered = query(&address, "rtdw_taskmanagers_registered")?;
        let rows = query(
            &address,
            &format!("sum(rtdw_records_in_total{{job=\"{id}\",vertex=\"0\"}})"),
        )?;
        Some((registered, rows))
    });
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    assert_eq!(seen, (2.0, 5000.0));
}
