//! What shipping and deploying a job costs: a 20-vertex job (ten
//! independent `GROUP BY` pipelines in one statement set, each a source
//! vertex and an aggregate vertex behind a hash exchange) submitted to a
//! coordinator and two task managers as separate processes.
//!
//! `cargo bench -p rtdw-cli --bench deploy` prints the size of the plan the
//! coordinator ships to every task manager (the protobuf physical plan,
//! encoded here as the coordinator encodes it) and the time `rtdw job submit`
//! takes (planning, scheduling, and deployment on both task managers, which
//! instantiate every subtask before the call returns), over several
//! submissions.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use prost::Message;
use rtdw_connector_core::ConnectorRegistry;
use rtdw_plan::codec;
use rtdw_sql::{JobConfig, plan_job};
use support::{Cluster, ClusterOptions};

/// Pipelines in the statement set; two vertices each.
const PIPELINES: usize = 10;
/// Submissions measured.
const SUBMISSIONS: usize = 7;

fn job() -> String {
    let mut sql = String::new();
    let mut inserts = String::new();
    for i in 0..PIPELINES {
        sql.push_str(&format!(
            "CREATE TABLE src{i} (id BIGINT, v INT) WITH ('connector' = 'datagen', 'rows-per-second' = '10',\n\
               'fields.v.min' = '0', 'fields.v.max' = '1000');\n\
             CREATE TABLE out{i} (k BIGINT, n BIGINT, s BIGINT) WITH ('connector' = 'blackhole');\n"
        ));
        inserts.push_str(&format!(
            "  INSERT INTO out{i} SELECT id % 100, COUNT(*), SUM(v) FROM src{i} GROUP BY id % 100;\n"
        ));
    }
    format!("{sql}EXECUTE STATEMENT SET BEGIN\n{inserts}END;\n")
}

fn main() {
    // Only under `cargo bench`, not when `cargo test` builds the benches.
    if support::bench_rows(1).is_none() {
        return;
    }
    let sql = job();
    let plan_bytes = shipped_plan_bytes(&sql);
    let cluster = Cluster::start(ClusterOptions::default());
    let path = cluster.write("deploy.sql", &sql);
    let path = path.to_str().expect("utf-8 path");
    let mut millis = Vec::new();
    let mut vertices = 0;
    for _ in 0..SUBMISSIONS {
        let started = Instant::now();
        let id = cluster.rtdw_ok(&["job", "submit", path, "-p", "2"]);
        millis.push(started.elapsed().as_secs_f64() * 1000.0);
        let id = id.trim();
        let job = cluster.wait_for_state(id, "RUNNING", std::time::Duration::from_secs(60));
        vertices = job["vertices"].as_array().map_or(0, Vec::len);
        cluster.rtdw_ok(&["job", "cancel", id]);
        cluster.wait_for_state(id, "CANCELED", std::time::Duration::from_secs(60));
    }
    millis.sort_by(f64::total_cmp);
    println!("vertices per job:                      {vertices}");
    println!(
        "plan shipped to each task manager:     {plan_bytes} bytes (protobuf; the SQL script is {} bytes)",
        sql.len()
    );
    println!(
        "job submit, plan to deployed, ms:      median {:.1}, min {:.1}, max {:.1} ({SUBMISSIONS} submissions, p=2)",
        millis[millis.len() / 2],
        millis[0],
        millis[millis.len() - 1]
    );
}

/// The encoded size of the physical plan the coordinator ships for `sql`
/// at parallelism 2.
fn shipped_plan_bytes(sql: &str) -> usize {
    let config = JobConfig {
        parallelism: Some(2),
        ..JobConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let graph = runtime
        .block_on(plan_job(sql, &config, &ConnectorRegistry::builtin()))
        .expect("the benchmark job plans");
    codec::encode(&graph)
        .expect("the benchmark job ships")
        .encoded_len()
}
