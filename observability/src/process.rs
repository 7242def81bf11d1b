//! Process and host metrics, read from `/proc` at every scrape, for the CPU
//! and memory alerts: `rtdw_process_cpu_seconds_total`,
//! `rtdw_process_resident_memory_bytes`, `rtdw_host_memory_bytes` and
//! `rtdw_host_cpus`. Where `/proc` is missing the metrics stay at zero.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Unit;

use crate::Observability;

/// Registers the metrics and the hook that reads them.
pub(crate) fn register(observability: &Observability) {
    let cpu = Counter::<f64, AtomicU64>::default();
    let rss = Gauge::<i64>::default();
    let host_memory = Gauge::<i64>::default();
    let host_cpus = Gauge::<i64>::default();
    observability.register(|r| {
        r.register_with_unit(
            "process_cpu",
            "CPU time used by this process.",
            Unit::Seconds,
            cpu.clone(),
        );
        r.register_with_unit(
            "process_resident_memory",
            "Resident memory of this process.",
            Unit::Bytes,
            rss.clone(),
        );
        r.register_with_unit(
            "host_memory",
            "Memory of the host.",
            Unit::Bytes,
            host_memory.clone(),
        );
        r.register(
            "host_cpus",
            "CPUs available to this process.",
            host_cpus.clone(),
        );
    });
    let counted_cpu = Mutex::new(0.0f64);
    observability.before_scrape(Box::new(move || {
        if let Some(seconds) = cpu_seconds() {
            let mut counted = counted_cpu.lock().unwrap_or_else(|p| p.into_inner());
            if seconds > *counted {
                cpu.inc_by(seconds - *counted);
                *counted = seconds;
            }
        }
        if let Some(bytes) = kib_field("/proc/self/status", "VmRSS:") {
            rss.set(bytes as i64 * 1024);
        }
        if let Some(bytes) = kib_field("/proc/meminfo", "MemTotal:") {
            host_memory.set(bytes as i64 * 1024);
        }
        host_cpus.set(
            std::thread::available_parallelism()
                .map(|n| n.get() as i64)
                .unwrap_or(1),
        );
    }));
}

/// User plus system CPU seconds of this process, from `/proc/self/stat`.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / CLOCK_TICKS_PER_SECOND)
}

/// `sysconf(_SC_CLK_TCK)`, 100 on every Linux platform rtdw runs on.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// A `Name:  123 kB` field of a `/proc` file, in KiB.
fn kib_field(path: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_metrics_are_read_from_proc() {
        let observability = Observability::new();
        // Burn a little CPU so the counter is above zero.
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert_ne!(x, 1);
        let text = observability.encode();
        let value = |name: &str| -> f64 {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} in {text}"));
            line.rsplit_once(' ').unwrap().1.parse().unwrap()
        };
        assert!(
            value("rtdw_process_resident_memory_bytes") > 1_000_000.0,
            "{text}"
        );
        assert!(value("rtdw_host_memory_bytes") >= value("rtdw_process_resident_memory_bytes"));
        assert!(value("rtdw_host_cpus") >= 1.0);
        assert!(value("rtdw_process_cpu_seconds_total") > 0.0, "{text}");
    }
}
