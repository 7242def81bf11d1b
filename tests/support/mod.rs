//! Starts real rtdw processes for end-to-end tests: a coordinator and task
//! managers as separate OS processes, driven through the `rtdw` CLI as a
//! user would.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod services;

/// How long a killing test waits for a checkpoint or a restart.
const RECOVERY_WAIT: Duration = Duration::from_secs(180);

/// Job options of the killing tests: a checkpoint every second, and a
/// restart 200 ms after every failure.
pub const CHECKPOINTED_AND_RESTARTED: &str = "SET 'execution.checkpointing.interval' = '1 s';\n\
SET 'restart-strategy.type' = 'fixed-delay';\n\
SET 'restart-strategy.fixed-delay.attempts' = '20';\n\
SET 'restart-strategy.fixed-delay.delay' = '200 ms';\n";

/// The row count of a benchmark run: `RTDW_BENCH_ROWS` or `default`. `None`
/// when not run by `cargo bench` (which passes `--bench`; `cargo test
/// --benches` only checks that benchmarks build).
pub fn bench_rows(default: u64) -> Option<u64> {
    std::env::args().any(|a| a == "--bench").then(|| {
        std::env::var("RTDW_BENCH_ROWS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(default)
    })
}

/// The `rtdw` binary under test.
pub fn rtdw_binary() -> &'static str {
    env!("CARGO_BIN_EXE_rtdw")
}

/// Polls `check` every 100 ms until it returns `Some`, failing the test with
/// `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A coordinator and task managers, each its own process, killed on drop.
pub struct Cluster {
    /// Scratch directory for logs and data.
    pub dir: tempfile::TempDir,
    /// The coordinator's gRPC URL.
    pub url: String,
    /// The coordinator's HTTP address.
    pub http: String,
    coordinator: Child,
    /// Task manager processes.
    pub taskmanagers: Vec<Child>,
    env: Vec<(String, String)>,
    options: ClusterOptions,
}

/// Options of a test cluster.
pub struct ClusterOptions {
    /// Task managers to start.
    pub taskmanagers: usize,
    /// Slots of each.
    pub slots: u32,
    /// Heartbeat interval and timeout in milliseconds.
    pub heartbeat_ms: (u64, u64),
    /// Environment variables of every process of the cluster.
    pub env: Vec<(String, String)>,
    /// Extra flags of the coordinator (e.g. `--metastore etcd://...`).
    pub coordinator_args: Vec<String>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            taskmanagers: 2,
            slots: 2,
            heartbeat_ms: (500, 5000),
            env: Vec::new(),
            coordinator_args: Vec::new(),
        }
    }
}

fn log_file(dir: &Path, name: &str) -> fs::File {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .expect("open log file")
}

/// Starts a coordinator process with its data under `dir`, on `addr` or a
/// free port; returns it with its gRPC URL and HTTP address.
fn spawn_coordinator(
    dir: &Path,
    options: &ClusterOptions,
    addr: Option<&str>,
) -> (Child, String, String) {
    let log = dir.join("coordinator.log");
    let lines_before = fs::read_to_string(&log)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    let coordinator = Command::new(rtdw_binary())
        .args([
            "coordinator",
            "--grpc-addr",
            addr.unwrap_or("127.0.0.1:0"),
            "--http-addr",
            "127.0.0.1:0",
        ])
        .args([
            "--heartbeat-interval-ms",
            &options.heartbeat_ms.0.to_string(),
        ])
        .args([
            "--heartbeat-timeout-ms",
            &options.heartbeat_ms.1.to_string(),
        ])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(&options.coordinator_args)
        .envs(options.env.iter().cloned())
        .stdout(log_file(dir, "coordinator.out"))
        .stderr(log_file(dir, "coordinator.log"))
        .spawn()
        .expect("start coordinator");
    let (url, http) = wait_for("the coordinator to listen", Duration::from_secs(30), || {
        let text = fs::read_to_string(&log).ok()?;
        let line = text
            .lines()
            .skip(lines_before)
            .find(|l| l.starts_with("coordinator listening on "))?;
        let rest = line.trim_start_matches("coordinator listening on ");
        let (url, http) = rest.split_once(" (HTTP ")?;
        Some((url.to_string(), http.trim_end_matches(')').to_string()))
    });
    (coordinator, url, http)
}

impl Cluster {
    /// Starts the coordinator and the task managers and waits until all
    /// task managers are registered.
    pub fn start(options: ClusterOptions) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let (coordinator, url, http) = spawn_coordinator(dir.path(), &options, None);
        let mut cluster = Cluster {
            dir,
            url,
            http,
            coordinator,
            taskmanagers: Vec::new(),
            env: options.env.clone(),
            options,
        };
        for _ in 0..cluster.options.taskmanagers {
            cluster.add_taskmanager(cluster.options.slots);
        }
        cluster.wait_for_alive(cluster.options.taskmanagers);
        cluster
    }

    /// Kills the coordinator (SIGKILL) and starts it again on the same gRPC
    /// address, data directory and metadata store, as an operator would.
    pub fn restart_coordinator(&mut self) {
        self.kill_coordinator();
        self.start_coordinator();
    }

    /// Kills the coordinator process; [`Cluster::start_coordinator`] brings
    /// it back.
    pub fn kill_coordinator(&mut self) {
        self.coordinator.kill().expect("kill the coordinator");
        let _ = self.coordinator.wait();
    }

    /// Starts the coordinator again on its address, over the same data
    /// directory and options, after [`Cluster::kill_coordinator`].
    pub fn start_coordinator(&mut self) {
        let addr = self.url.trim_start_matches("http://").to_string();
        let (coordinator, url, http) =
            spawn_coordinator(self.dir.path(), &self.options, Some(&addr));
        assert_eq!(url, self.url, "the coordinator came back on its address");
        self.coordinator = coordinator;
        self.http = http;
    }

    /// Starts one more task manager process (output to log files).
    pub fn add_taskmanager(&mut self, slots: u32) {
        self.add_taskmanager_with_env(slots, &[]);
    }

    /// Starts one more task manager process with `env` added to the
    /// cluster's environment.
    pub fn add_taskmanager_with_env(&mut self, slots: u32, env: &[(&str, &str)]) {
        let n = self.taskmanagers.len();
        let child = self
            .taskmanager_command(slots)
            .envs(env.iter().copied())
            .stdout(log_file(self.dir.path(), &format!("tm{n}.out")))
            .stderr(log_file(self.dir.path(), &format!("tm{n}.log")))
            .spawn()
            .expect("start task manager");
        self.taskmanagers.push(child);
    }

    /// The command that starts a task manager of this cluster.
    pub fn taskmanager_command(&self, slots: u32) -> Command {
        let mut command = Command::new(rtdw_binary());
        command.envs(self.env.iter().cloned());
        command.args([
            "taskmanager",
            "--coordinator",
            &self.url,
            "--slots",
            &slots.to_string(),
        ]);
        command
    }

    /// Waits until `n` task managers are ALIVE.
    pub fn wait_for_alive(&self, n: usize) {
        wait_for(
            &format!("{n} live task managers"),
            Duration::from_secs(30),
            || {
                let alive = self
                    .taskmanager_list()
                    .iter()
                    .filter(|t| t["state"] == "ALIVE")
                    .count();
                (alive == n).then_some(())
            },
        );
    }

    /// Runs the CLI against this cluster.
    pub fn rtdw(&self, args: &[&str]) -> Output {
        Command::new(rtdw_binary())
            .args(args)
            .env("RTDW_COORDINATOR", &self.url)
            .stdin(Stdio::null())
            .output()
            .expect("run rtdw")
    }

    /// Runs the CLI and returns its stdout, failing the test if it fails.
    pub fn rtdw_ok(&self, args: &[&str]) -> String {
        let output = self.rtdw(args);
        assert!(
            output.status.success(),
            "rtdw {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `rtdw cluster list --json`.
    pub fn taskmanager_list(&self) -> Vec<Value> {
        let output = self.rtdw(&["cluster", "list", "--json"]);
        if !output.status.success() {
            return Vec::new();
        }
        serde_json::from_slice::<Value>(&output.stdout)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    /// Writes a SQL script into the scratch directory and submits it;
    /// returns the job id.
    pub fn submit(&self, name: &str, sql: &str, extra: &[&str]) -> String {
        let path = self.write(name, sql);
        let mut args = vec!["job", "submit", path.to_str().expect("utf-8 path")];
        args.extend_from_slice(extra);
        self.rtdw_ok(&args).trim().to_string()
    }

    /// Writes a file into the scratch directory.
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::write(&path, content).expect("write file");
        path
    }

    /// A path inside the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Stops the job with a savepoint into `dir` (`rtdw job stop --savepoint`);
    /// returns the savepoint.
    pub fn stop_with_savepoint(&self, id: &str, dir: &Path) -> String {
        let dir = format!("file://{}", dir.display());
        let stopped = self.rtdw_ok(&["job", "stop", id, "--savepoint", "--dir", &dir]);
        stopped
            .lines()
            .next()
            .expect("the savepoint's directory")
            .to_string()
    }

    /// `rtdw job status ID --json`.
    pub fn job(&self, id: &str) -> Value {
        serde_json::from_str(&self.rtdw_ok(&["job", "status", id, "--json"]))
            .expect("job status JSON")
    }

    /// Waits until the job is in `state`, failing early if it reaches
    /// another terminal state.
    pub fn wait_for_state(&self, id: &str, state: &str, timeout: Duration) -> Value {
        wait_for(&format!("job {id} to be {state}"), timeout, || {
            let job = self.job(id);
            let current = job["state"].as_str().unwrap_or_default().to_string();
            if current == state {
                return Some(job);
            }
            let terminal = ["FINISHED", "FAILED", "CANCELED"].contains(&current.as_str());
            assert!(
                !terminal,
                "job {id} is {current}, expected {state}: {job}\n{}",
                self.logs()
            );
            None
        })
    }

    /// Everything the processes logged, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        let mut entries: Vec<_> = fs::read_dir(self.dir.path())
            .map(|d| d.flatten().collect())
            .unwrap_or_default();
        entries.sort_by_key(|e| e.path());
        for entry in entries {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log") {
                let content = fs::read_to_string(&path).unwrap_or_default();
                let tail: Vec<&str> = content.lines().rev().take(40).collect();
                text.push_str(&format!("--- {}\n", path.display()));
                for line in tail.into_iter().rev() {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
        text
    }

    /// The index of the task manager process registered as `id`.
    pub fn taskmanager_index(&self, id: &str) -> Option<usize> {
        let log_of =
            |n: usize| fs::read_to_string(self.path(&format!("tm{n}.log"))).unwrap_or_default();
        (0..self.taskmanagers.len())
            .find(|&n| log_of(n).contains(&format!("task manager {id} serving")))
    }

    /// Submits `sql` at `parallelism` and waits (up to an hour) until it
    /// finishes: returns the seconds from submission to FINISHED and the
    /// peak RSS (KiB) of the busiest task manager, as the benchmarks
    /// report them.
    pub fn run_to_finish(&self, sql: &str, parallelism: u32) -> (f64, u64) {
        let id = self.submit(
            "bench.sql",
            sql,
            &["--parallelism", &parallelism.to_string()],
        );
        let job = self.wait_for_state(&id, "FINISHED", Duration::from_secs(3600));
        let millis = job["end_time_ms"].as_i64().expect("an end time")
            - job["submit_time_ms"].as_i64().expect("a submit time");
        let peak = self
            .taskmanagers
            .iter()
            .filter_map(|tm| peak_rss_kib(tm.id()))
            .max()
            .unwrap_or(0);
        (millis as f64 / 1000.0, peak)
    }

    /// Waits until the job completed a checkpoint newer than `after`.
    pub fn wait_for_checkpoint(&self, id: &str, after: u64) -> u64 {
        let started = Instant::now();
        wait_for("a completed checkpoint", RECOVERY_WAIT, || {
            let job = self.job(id);
            let latest = job["latest_checkpoint_id"].as_u64().unwrap_or(0);
            if started.elapsed() > RECOVERY_WAIT - Duration::from_secs(5) {
                eprintln!(
                    "no checkpoint yet: {job}\n{}\n{}",
                    self.rtdw_ok(&["job", "checkpoints", id]),
                    self.logs()
                );
            }
            (latest > after).then_some(latest)
        })
    }

    /// Waits until the job runs again after its `restarts`-th failover.
    pub fn wait_for_restart(&self, id: &str, restarts: u64) -> Value {
        wait_for("the job to run again", RECOVERY_WAIT, || {
            let job = self.job(id);
            let running = job["state"] == "RUNNING" && job["restarts"].as_u64() >= Some(restarts);
            running.then_some(job)
        })
    }

    /// Kills the task manager running the first subtask of the job's first
    /// vertex and starts a fresh one.
    pub fn kill_a_taskmanager_of(&mut self, id: &str) {
        let victim = self.job(id)["vertices"][0]["subtasks"][0]["taskmanager_id"]
            .as_str()
            .expect("a placement")
            .to_string();
        let index = self
            .taskmanager_index(&victim)
            .expect("the victim is one of ours");
        self.kill_taskmanager(index);
        self.add_taskmanager(2);
    }

    /// Kills a task manager with SIGKILL.
    pub fn kill_taskmanager(&mut self, index: usize) {
        let _ = self.taskmanagers[index].kill();
        let _ = self.taskmanagers[index].wait();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self
            .taskmanagers
            .iter_mut()
            .chain(std::iter::once(&mut self.coordinator))
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The committed files of a sink directory (what a reader sees: no hidden
/// in-progress files), sorted; fails the test when there are none.
pub fn committed_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("output directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no committed files in {}", dir.display());
    files
}

/// Every line of the committed files of a sink directory, sorted.
pub fn committed_lines(dir: &Path) -> Vec<String> {
    let mut lines: Vec<String> = committed_files(dir)
        .iter()
        .flat_map(|f| {
            fs::read_to_string(f)
                .expect("read output")
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    lines
}

/// Folds a directory of Debezium JSON changelog files into the final table,
/// keyed by `key`; fails on a retraction of a row that is not there and on
/// an insert of a key that is (an update arrives as a delete and an insert).
pub fn fold_debezium(dir: &Path, key: &str) -> BTreeMap<String, Value> {
    let mut table = BTreeMap::new();
    for file in committed_files(dir) {
        for line in fs::read_to_string(&file).expect("read output").lines() {
            let event: Value = serde_json::from_str(line).expect("debezium JSON line");
            match event["op"].as_str() {
                Some("c") | Some("u") | Some("r") => {
                    let row = event["after"].clone();
                    let earlier = table.insert(row[key].to_string(), row);
                    assert!(
                        earlier.is_none(),
                        "insert of a key already present, a duplicated change: {line}"
                    );
                }
                Some("d") => {
                    let row = &event["before"];
                    let removed = table.remove(&row[key].to_string());
                    assert_eq!(
                        removed.as_ref(),
                        Some(row),
                        "retraction of a row not in the table: {line}"
                    );
                }
                other => panic!("unexpected op {other:?} in {line}"),
            }
        }
    }
    table
}

/// Folds a directory of Debezium JSON changelog files into the final table
/// as a multiset of rows (each row rendered as JSON with sorted keys, with
/// its number of occurrences); fails on a retraction of a row that is not
/// there. For results without a unique key (joins, windows).
pub fn fold_changelog(dir: &Path) -> BTreeMap<String, usize> {
    let mut table: BTreeMap<String, usize> = BTreeMap::new();
    for file in committed_files(dir) {
        for line in fs::read_to_string(&file).expect("read output").lines() {
            let event: Value = serde_json::from_str(line).expect("debezium JSON line");
            match event["op"].as_str() {
                Some("c") | Some("u") | Some("r") => {
                    *table.entry(event["after"].to_string()).or_default() += 1;
                }
                Some("d") => {
                    let row = event["before"].to_string();
                    let count = table
                        .get_mut(&row)
                        .unwrap_or_else(|| panic!("retraction of a row not in the table: {line}"));
                    *count -= 1;
                    if *count == 0 {
                        table.remove(&row);
                    }
                }
                other => panic!("unexpected op {other:?} in {line}"),
            }
        }
    }
    table
}

/// The multiset of rows `fold_changelog` returns, built from JSON rows
/// written in a test.
pub fn rows(expected: &[Value]) -> BTreeMap<String, usize> {
    let mut table: BTreeMap<String, usize> = BTreeMap::new();
    for row in expected {
        *table.entry(row.to_string()).or_default() += 1;
    }
    table
}

/// The body of an HTTP GET answered with 200, failing the test otherwise.
pub fn http_get(addr: &str, path: &str) -> String {
    try_http_get(addr, path).unwrap_or_else(|e| panic!("GET http://{addr}{path}: {e}"))
}

/// The body of an HTTP GET answered with 200, or what went wrong.
pub fn try_http_get(addr: &str, path: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or("not an HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(head.lines().next().unwrap_or_default().to_string());
    }
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    if chunked {
        decode_chunked(body)
    } else {
        Ok(body.to_string())
    }
}

/// The content of an HTTP/1.1 chunked body (Go servers send one when an
/// answer outgrows their buffer).
fn decode_chunked(mut body: &str) -> Result<String, String> {
    let mut content = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").ok_or("a truncated chunk")?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or_default().trim(), 16)
            .map_err(|e| format!("a chunk size: {e}"))?;
        if size == 0 {
            return Ok(content);
        }
        content.push_str(rest.get(..size).ok_or("a truncated chunk")?);
        body = rest[size..]
            .strip_prefix("\r\n")
            .ok_or("a chunk without its end")?;
    }
}

/// The sum of the samples of metric `name` whose labels include all of
/// `labels`, in Prometheus or OpenMetrics text.
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut sum = 0.0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = match line.rsplit_once(' ') {
            Some(parts) => parts,
            None => continue,
        };
        let (metric, label_text) = match series.split_once('{') {
            Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if metric != name {
            continue;
        }
        let matches = labels.iter().all(|(k, v)| {
            label_text
                .split(',')
                .any(|pair| pair == format!("{k}=\"{v}\""))
        });
        if matches {
            sum += value.parse::<f64>().expect("a metric value");
        }
    }
    sum
}

/// A memory figure of a process in KiB, from /proc/PID/status.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resident memory of a process in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    proc_status_kib(pid, "VmRSS:")
}

/// Peak resident memory of a process in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    proc_status_kib(pid, "VmHWM:")
}
