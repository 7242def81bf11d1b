//! Fault injection for tests of exactly-once sinks, off unless the task
//! manager's environment asks for it: with
//! `RTDW_FAULT_CRASH_BEFORE_COMMIT=N`, the process dies at once (no
//! cleanup, as under `kill -9`) when a sink subtask is about to commit
//! checkpoint `N` or a later one. That is the narrowest window of a
//! two-phase sink — its output prepared, the checkpoint complete on the
//! coordinator, the commit not yet made — which a kill from outside hits
//! only by chance.

use std::sync::OnceLock;

/// The environment variable naming the first checkpoint whose commit
/// crashes the process.
pub const CRASH_BEFORE_COMMIT: &str = "RTDW_FAULT_CRASH_BEFORE_COMMIT";

/// Dies when the environment asks for a crash before committing
/// `checkpoint_id`.
pub fn before_commit(checkpoint_id: u64) {
    static FIRST: OnceLock<Option<u64>> = OnceLock::new();
    let first = FIRST.get_or_init(|| {
        std::env::var(CRASH_BEFORE_COMMIT)
            .ok()
            .and_then(|value| value.trim().parse().ok())
    });
    if first.is_some_and(|first| checkpoint_id >= first) {
        eprintln!("{CRASH_BEFORE_COMMIT}: crashing before committing checkpoint {checkpoint_id}");
        std::process::abort();
    }
}
