//! Apache Paimon's own Python implementation, pypaimon, as the tests'
//! independent reader of the tables rtdw writes (`tests/support/paimon.py`,
//! installed by `deploy/local/pypaimon.sh`).

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// The python of pypaimon's environment, installed on first use.
fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/local/pypaimon.sh");
        let output = Command::new("bash")
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
        assert!(
            output.status.success(),
            "installing pypaimon failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    })
}

/// Runs `paimon.py COMMAND` on table `name` (`db.table`) of the warehouse
/// `catalog` describes, with `extra` arguments; its JSON output.
fn run(command: &str, catalog: &Value, name: &str, extra: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/paimon.py");
    let output = Command::new(python())
        .arg(&script)
        .args([command, &catalog.to_string(), name])
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("run pypaimon: {e}"));
    assert!(
        output.status.success(),
        "pypaimon {command} of {name} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "pypaimon printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// The rows of a table as pypaimon reads its latest snapshot (primary-key
/// tables merged by their merge engine).
pub fn read(catalog: &Value, name: &str) -> Vec<Value> {
    match run("read", catalog, name, &[]) {
        Value::Array(rows) => rows,
        other => panic!("pypaimon read no rows: {other}"),
    }
}

/// The snapshots of a table as pypaimon lists them: id, commit user,
/// commit identifier and kind.
pub fn snapshots(catalog: &Value, name: &str) -> Vec<Value> {
    match run("snapshots", catalog, name, &[]) {
        Value::Array(snapshots) => snapshots,
        other => panic!("pypaimon listed no snapshots: {other}"),
    }
}

/// The changes of every snapshot of a table, from the first to the
/// latest, as pypaimon's streaming reader sees them: rows with their
/// `_row_kind` (`+I`, `-U`, `+U`, `-D`), in order.
pub fn changes(catalog: &Value, name: &str) -> Vec<Value> {
    match run("changes", catalog, name, &[]) {
        Value::Array(rows) => rows,
        other => panic!("pypaimon streamed no changes: {other}"),
    }
}

/// Has pypaimon create and fill `database.events` and `database.users`
/// (see `paimon.py write-sample`) with `rows` rows.
pub fn write_sample(catalog: &Value, database: &str, rows: u64) {
    run("write-sample", catalog, database, &[&rows.to_string()]);
}
