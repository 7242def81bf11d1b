//! Idle sources (`table.exec.source.idle-timeout`): a source subtask that
//! has read no rows for the timeout tells the subtasks it feeds, so its
//! silence does not hold back their watermark.

use std::time::{Duration, Instant};

/// The job option naming the idle timeout.
pub const IDLE_TIMEOUT_OPTION: &str = "table.exec.source.idle-timeout";

/// Watches how long a source has read nothing.
#[derive(Debug)]
pub struct IdleDetector {
    timeout: Duration,
    last_rows: Instant,
    idle: bool,
}

impl IdleDetector {
    /// A detector from the job's options: `None` when the timeout is unset
    /// or zero (Flink's default: sources never idle).
    pub fn from_options(options: &std::collections::BTreeMap<String, String>) -> Option<Self> {
        let timeout = options
            .get(IDLE_TIMEOUT_OPTION)
            .and_then(|v| rtdw_operators::time::parse_duration(v))
            .filter(|t| !t.is_zero())?;
        Some(IdleDetector {
            timeout,
            last_rows: Instant::now(),
            idle: false,
        })
    }

    /// The source returned a batch of `rows` rows at `now`; true when the
    /// source just became idle (the caller announces it once).
    pub fn observe(&mut self, rows: usize, now: Instant) -> bool {
        if rows > 0 {
            self.last_rows = now;
            self.idle = false;
            return false;
        }
        if !self.idle && now.duration_since(self.last_rows) >= self.timeout {
            self.idle = true;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_idles_once_after_the_timeout_and_wakes_with_rows() {
        let options = [(IDLE_TIMEOUT_OPTION.to_string(), "5 s".to_string())].into();
        let mut detector = IdleDetector::from_options(&options).expect("a timeout");
        let start = detector.last_rows;
        assert!(!detector.observe(0, start + Duration::from_secs(4)));
        assert!(detector.observe(0, start + Duration::from_secs(5)));
        assert!(
            !detector.observe(0, start + Duration::from_secs(9)),
            "announced once"
        );
        assert!(!detector.observe(3, start + Duration::from_secs(10)));
        assert!(!detector.observe(0, start + Duration::from_secs(14)));
        assert!(
            detector.observe(0, start + Duration::from_secs(15)),
            "idle again"
        );
    }

    #[test]
    fn no_timeout_or_zero_means_never_idle() {
        assert!(IdleDetector::from_options(&Default::default()).is_none());
        let zero = [(IDLE_TIMEOUT_OPTION.to_string(), "0 ms".to_string())].into();
        assert!(IdleDetector::from_options(&zero).is_none());
    }
}
