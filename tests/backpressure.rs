//! End-to-end: a slow sink slows the source; memory stays bounded.
//!
//! The sink is `print`, writing to the task manager's standard output, a
//! pipe this test reads slowly. The source generates as fast as it can. If
//! data piled up anywhere (queues, actor mailboxes, the network), the task
//! manager's memory would grow by hundreds of megabytes per second.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::Duration;

use support::{Cluster, ClusterOptions, rss_kib, wait_for};

/// Far above what bounded buffers hold, far below what an unbounded
/// pile-up of a fast source reaches in the sampling window.
const RSS_LIMIT_KIB: u64 = 400 * 1024;

#[test]
fn a_slow_sink_keeps_memory_bounded_while_the_source_is_fast() {
    let mut cluster = Cluster::start(ClusterOptions {
        taskmanagers: 0,
        ..ClusterOptions::default()
    });
    let mut taskmanager = cluster
        .taskmanager_command(2)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(cluster.path("tm-slow.log")).unwrap())
        .spawn()
        .expect("start task manager");
    let pid = taskmanager.id();
    let mut stdout = BufReader::new(taskmanager.stdout.take().unwrap());
    cluster.taskmanagers.push(taskmanager);
    cluster.wait_for_alive(1);

    let sql = "CREATE TABLE fast (id BIGINT, payload STRING) WITH (\n\
                 'connector' = 'datagen', 'rows-per-second' = '100000000',\n\
                 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '9000000000000000000',\n\
                 'fields.payload.length' = '200');\n\
               CREATE TABLE slow (id BIGINT, payload STRING) WITH ('connector' = 'print');\n\
               INSERT INTO slow SELECT id, payload FROM fast;";
    let id = cluster.submit("fast.sql", sql, &["-p", "1"]);
    cluster.wait_for_state(&id, "RUNNING", Duration::from_secs(60));

    // Read the first line, then stop reading for a while: the pipe fills and
    // the sink waits.
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("+I[1, "), "{first}");
    let mut peak = 0;
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(200));
        peak = peak.max(rss_kib(pid).expect("task manager alive"));
    }
    eprintln!("task manager peak RSS while the sink was blocked: {peak} KiB");
    assert!(
        peak < RSS_LIMIT_KIB,
        "task manager RSS reached {peak} KiB while the sink was blocked"
    );
    assert_eq!(
        cluster.job(&id)["state"],
        "RUNNING",
        "a blocked sink must not fail the job"
    );

    // Reading again lets the job go on, in order, without gaps.
    for (expected, line) in (2u64..).zip(stdout.by_ref().lines().take(50_000)) {
        let line = line.unwrap();
        let id: u64 = line
            .trim_start_matches("+I[")
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(id, expected, "rows arrive in order without loss");
    }
    wait_for(
        "memory still bounded after draining",
        Duration::from_secs(5),
        || (rss_kib(pid)? < RSS_LIMIT_KIB).then_some(()),
    );
}
