//! A local Flink (PyFlink's mini-cluster) running the same SQL as an rtdw
//! benchmark, for the figures side by side: found where the benches README
//! says to install it, run through `benches/flink_sql.py`, measured from
//! the outside (wall-clock seconds, peak RSS of its JVM).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::peak_rss_kib;

/// A PyFlink installation and the connector jars a job needs.
pub struct Flink {
    python: PathBuf,
    jars: Vec<PathBuf>,
}

impl Flink {
    /// The Python in `$python_var` (else `~/.cache/rtdw/<venv>/bin/python`)
    /// if PyFlink imports there, with the jars: each `(variable, path under
    /// ~/.cache/rtdw/m2)`, taken from the variable when set; `None` unless
    /// all exist.
    pub fn find(python_var: &str, venv: &str, jars: &[(&str, &str)]) -> Option<Flink> {
        let cache = PathBuf::from(std::env::var("HOME").ok()?).join(".cache/rtdw");
        let python = std::env::var_os(python_var)
            .map(PathBuf::from)
            .unwrap_or_else(|| cache.join(venv).join("bin/python"));
        let jars: Vec<PathBuf> = jars
            .iter()
            .map(|(var, path)| {
                std::env::var_os(var)
                    .map(PathBuf::from)
                    .unwrap_or_else(|| cache.join("m2").join(path))
            })
            .collect();
        let has_pyflink = Command::new(&python)
            .args(["-c", "import pyflink"])
            .output()
            .is_ok_and(|o| o.status.success());
        (has_pyflink && jars.iter().all(|j| j.is_file())).then_some(Flink { python, jars })
    }

    /// Runs `sql` at `parallelism` until its INSERT finishes; returns the
    /// wall-clock seconds and the peak RSS (KiB) of the JVM.
    pub fn run(&self, sql: &str, scratch: &Path, parallelism: u32) -> (f64, u64) {
        let script = scratch.join("flink.sql");
        std::fs::write(&script, sql).expect("write the Flink script");
        let runner = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/flink_sql.py");
        let started = Instant::now();
        let jars: Vec<String> = self.jars.iter().map(|j| j.display().to_string()).collect();
        let mut child = Command::new(&self.python)
            .arg(runner)
            .arg(&script)
            .arg(jars.join(";"))
            .arg(parallelism.to_string())
            .spawn()
            .expect("start PyFlink");
        let mut peak = 0;
        let status = loop {
            for pid in children_of(child.id()) {
                peak = peak.max(peak_rss_kib(pid).unwrap_or(0));
            }
            if let Some(status) = child.try_wait().expect("PyFlink status") {
                break status;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        assert!(status.success(), "the Flink job failed: {status}");
        (started.elapsed().as_secs_f64(), peak)
    }
}

/// The processes whose parent is `pid` (PyFlink's JVM).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|stat| {
                // `pid (comm) state ppid ...`: the parent follows the
                // command's closing parenthesis.
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}
