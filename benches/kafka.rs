//! `kafka -> filter/project -> kafka` with the exactly-once sink, on a real
//! Apache Kafka broker (`services.sh up kafka`, else one of the bench's
//! own), at parallelism 1 and 2; then, when PyFlink 2.3 and Flink's Kafka
//! SQL connector jar are at hand, the same SQL on Flink against the same
//! broker and input, side by side.
//!
//! `cargo bench -p rtdw-cli --bench kafka` prints, per engine and
//! parallelism: rows read, seconds, rows/s and peak RSS, and checks that
//! each run wrote exactly the rows the filter keeps (a `read_committed`
//! consumer of the bench's own counts them). `RTDW_BENCH_ROWS` sets the
//! input size (default 2 000 000). Flink is found at `RTDW_FLINK_PYTHON`
//! (a Python with `apache-flink==2.3.0`) and `RTDW_FLINK_KAFKA_JAR`
//! (`org.apache.flink:flink-sql-connector-kafka:5.0.0-2.2`), or at their
//! places under `~/.cache/rtdw` (see benches/README.md).

#[path = "../tests/support/flink.rs"]
mod flink;
#[path = "../tests/support/kafka.rs"]
mod kafka;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use flink::Flink;
use kafka::KafkaTopic;
use support::{Cluster, ClusterOptions};

const HOUR: Duration = Duration::from_secs(3600);

/// Fills `topic` with rows `{"id": 1..=rows, "v": 0..=1000}` through an
/// rtdw job.
fn fill(topic: &KafkaTopic, rows: u64) {
    let cluster = Cluster::start(ClusterOptions::default());
    let sql = format!(
        "CREATE TABLE gen (id BIGINT, v INT) WITH (\n\
           'connector' = 'datagen', 'rows-per-second' = '1000000000',\n\
           'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{rows}',\n\
           'fields.v.min' = '0', 'fields.v.max' = '1000');\n\
         CREATE TABLE input (id BIGINT, v INT) WITH (\n\
           'connector' = 'kafka', 'topic' = '{}', 'properties.bootstrap.servers' = '{}',\n\
           'format' = 'json', 'sink.partitioner' = 'round-robin');\n\
         INSERT INTO input SELECT id, v FROM gen;\n",
        topic.name, topic.bootstrap
    );
    let id = cluster.submit("fill.sql", &sql, &["-p", "2"]);
    cluster.wait_for_state(&id, "FINISHED", HOUR);
}

/// The benchmarked job, in SQL both engines run unchanged.
fn job(input: &KafkaTopic, output: &KafkaTopic, prefix: &str) -> String {
    format!(
        "SET 'execution.checkpointing.interval' = '1 s';\n\
         CREATE TABLE src (id BIGINT, v INT) WITH (\n\
           'connector' = 'kafka', 'topic' = '{input}', 'properties.bootstrap.servers' = '{bootstrap}',\n\
           'properties.group.id' = '{prefix}', 'scan.startup.mode' = 'earliest-offset',\n\
           'scan.bounded.mode' = 'latest-offset', 'format' = 'json');\n\
         CREATE TABLE dst (id BIGINT, w BIGINT) WITH (\n\
           'connector' = 'kafka', 'topic' = '{output}', 'properties.bootstrap.servers' = '{bootstrap}',\n\
           'format' = 'json', 'sink.delivery-guarantee' = 'exactly-once',\n\
           'sink.transactional-id-prefix' = '{prefix}',\n\
           'properties.transaction.timeout.ms' = '900000');\n\
         INSERT INTO dst SELECT id, CAST(v AS BIGINT) * 2 + 1 FROM src WHERE id % 4 <> 0;\n",
        input = input.name,
        output = output.name,
        bootstrap = input.bootstrap,
    )
}

/// The rows the filter keeps of ids `1..=rows`.
fn kept(rows: u64) -> usize {
    (rows - rows / 4) as usize
}

/// Runs the job on a fresh rtdw cluster; returns seconds from submission
/// to FINISHED and the peak RSS (KiB) of the busiest task manager.
fn run_rtdw(input: &KafkaTopic, output: &KafkaTopic, parallelism: u32) -> (f64, u64) {
    let cluster = Cluster::start(ClusterOptions::default());
    let prefix = format!("{}-rtdw", output.name);
    cluster.run_to_finish(&job(input, output, &prefix), parallelism)
}

/// Flink 2.3 with its Kafka SQL connector, if installed.
fn flink() -> Option<Flink> {
    Flink::find(
        "RTDW_FLINK_PYTHON",
        "flink-venv",
        &[(
            "RTDW_FLINK_KAFKA_JAR",
            "org/apache/flink/flink-sql-connector-kafka/5.0.0-2.2/flink-sql-connector-kafka-5.0.0-2.2.jar",
        )],
    )
}

/// Checks that `output` holds exactly the rows the filter keeps.
fn check(output: &KafkaTopic, rows: u64, engine: &str) {
    let written = output.consume_all("read_committed").len();
    assert_eq!(
        written,
        kept(rows),
        "{engine} wrote {written} rows, the filter keeps {}",
        kept(rows)
    );
}

fn print_row(engine: &str, parallelism: u32, rows: u64, seconds: f64, peak_kib: u64) {
    println!(
        "{engine:<28} {parallelism:>3} {rows:>12} {seconds:>9.2} {:>14.0} {:>14.1}",
        rows as f64 / seconds,
        peak_kib as f64 / 1024.0
    );
}

fn main() {
    let Some(rows) = support::bench_rows(2_000_000) else {
        return;
    };
    let input = KafkaTopic::create("bench-in", 4);
    fill(&input, rows);
    println!(
        "{:<28} {:>3} {:>12} {:>9} {:>14} {:>14}",
        "kafka -> filter -> kafka EO", "p", "rows", "seconds", "rows/s", "peak RSS MiB"
    );
    let mut rtdw = Vec::new();
    for parallelism in [1, 2] {
        let output = KafkaTopic::create("bench-out", 4);
        let (seconds, peak) = run_rtdw(&input, &output, parallelism);
        check(&output, rows, "rtdw");
        print_row("rtdw", parallelism, rows, seconds, peak);
        rtdw.push(seconds);
    }
    let Some(flink) = flink() else {
        println!("Flink: skipped (no PyFlink 2.3 or Kafka connector jar; see benches/README.md)");
        return;
    };
    let scratch = tempfile::tempdir().expect("a scratch directory");
    // Flink's start-up, measured on a 1 000-row input and subtracted.
    let small = KafkaTopic::create("bench-small", 4);
    fill(&small, 1_000);
    let startup_out = KafkaTopic::create("bench-out", 4);
    let prefix = format!("{}-flink", startup_out.name);
    let (startup, _) = flink.run(&job(&small, &startup_out, &prefix), scratch.path(), 1);
    println!("Flink start-up (1 000 rows): {startup:.2} s, subtracted below");
    for (parallelism, rtdw_seconds) in [1, 2].into_iter().zip(rtdw) {
        let output = KafkaTopic::create("bench-out", 4);
        let prefix = format!("{}-flink", output.name);
        let (seconds, peak) =
            flink.run(&job(&input, &output, &prefix), scratch.path(), parallelism);
        check(&output, rows, "Flink");
        let net = (seconds - startup).max(0.001);
        print_row("Flink 2.3 (minus start-up)", parallelism, rows, net, peak);
        println!(
            "{:<28} {parallelism:>3} rtdw/Flink throughput: {:.2}x",
            "ratio",
            net / rtdw_seconds
        );
    }
}
