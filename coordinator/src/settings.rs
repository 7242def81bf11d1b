//! A job's checkpointing and restart settings, read from its options with
//! Flink's keys and defaults: the cluster's job defaults, overridden by the
//! script's `SET` statements, overridden by the submission.

use std::collections::BTreeMap;
use std::time::Duration;

pub use rtdw_operators::time::parse_duration;

/// An option with a value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("option '{key}' {expected}, got '{value}'")]
pub struct SettingsError {
    /// The key.
    pub key: String,
    /// What was expected.
    pub expected: String,
    /// The value given.
    pub value: String,
}

/// How checkpoints are taken.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointSettings {
    /// `execution.checkpointing.interval`; `None` turns checkpoints off.
    pub interval: Option<Duration>,
    /// `execution.checkpointing.timeout` (default 10 min).
    pub timeout: Duration,
    /// `execution.checkpointing.min-pause` between the end of one checkpoint
    /// and the start of the next (default 0).
    pub min_pause: Duration,
    /// `execution.checkpointing.tolerable-failed-checkpoints`: consecutive
    /// failed checkpoints tolerated before the job fails over (default 0).
    pub tolerable_failures: u32,
    /// `state.checkpoints.dir`: storage URL under which each job keeps its
    /// checkpoints in `<job id>/chk-<n>`.
    pub dir: String,
    /// `state.checkpoints.num-retained` (default 1).
    pub retained: u32,
    /// `state.savepoints.dir`, the default target of savepoints.
    pub savepoints_dir: Option<String>,
    /// `state.savepoints.num-retained`: savepoints kept per job (default 3);
    /// older ones are deleted.
    pub savepoints_retained: u32,
}

impl CheckpointSettings {
    /// True when checkpoints are taken.
    pub fn enabled(&self) -> bool {
        self.interval.is_some()
    }
}

/// What happens after a failure: Flink's restart strategies.
#[derive(Debug, Clone, PartialEq)]
pub enum RestartStrategy {
    /// Fail the job.
    None,
    /// Restart after `delay`, at most `attempts` times.
    FixedDelay {
        /// `restart-strategy.fixed-delay.attempts` (default 1).
        attempts: u32,
        /// `restart-strategy.fixed-delay.delay` (default 1 s).
        delay: Duration,
    },
    /// Restart after `delay` unless more than `max_failures` failures
    /// happened within `interval`.
    FailureRate {
        /// `restart-strategy.failure-rate.max-failures-per-interval` (default 1).
        max_failures: u32,
        /// `restart-strategy.failure-rate.failure-rate-interval` (default 1 min).
        interval: Duration,
        /// `restart-strategy.failure-rate.delay` (default 1 s).
        delay: Duration,
    },
    /// Restart after a delay growing by `multiplier` from `initial` up to
    /// `max`, reset after `reset_threshold` without failure.
    ExponentialDelay {
        /// `restart-strategy.exponential-delay.initial-backoff` (default 1 s).
        initial: Duration,
        /// `restart-strategy.exponential-delay.max-backoff` (default 1 min).
        max: Duration,
        /// `restart-strategy.exponential-delay.backoff-multiplier` (default 1.5).
        multiplier: f64,
        /// `restart-strategy.exponential-delay.reset-backoff-threshold` (default 1 h).
        reset_threshold: Duration,
        /// `restart-strategy.exponential-delay.jitter-factor` (default 0.1).
        jitter: f64,
        /// `restart-strategy.exponential-delay.attempts-before-reset-backoff`
        /// (default unlimited).
        attempts: u32,
    },
}

/// A job's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSettings {
    /// Checkpointing.
    pub checkpoints: CheckpointSettings,
    /// Failure handling.
    pub restart: RestartStrategy,
}

/// Reads typed options, naming the key of a bad value.
struct Options<'a>(&'a BTreeMap<String, String>);

impl Options<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.trim())
    }

    fn error(&self, key: &str, expected: &str) -> SettingsError {
        SettingsError {
            key: key.to_string(),
            expected: expected.to_string(),
            value: self.0.get(key).cloned().unwrap_or_default(),
        }
    }

    fn duration(&self, key: &str, default: Duration) -> Result<Duration, SettingsError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => parse_duration(v).ok_or_else(|| {
                self.error(
                    key,
                    "must be a duration such as '500 ms', '10 s' or '1 min'",
                )
            }),
        }
    }

    fn count(&self, key: &str, default: u32) -> Result<u32, SettingsError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| self.error(key, "must be a non-negative integer")),
        }
    }

    fn number(&self, key: &str, default: f64) -> Result<f64, SettingsError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .ok_or_else(|| self.error(key, "must be a non-negative number")),
        }
    }
}

impl JobSettings {
    /// Reads the settings from a job's merged options; `data_dir` holds the
    /// default checkpoint directory.
    pub fn from_options(
        options: &BTreeMap<String, String>,
        default_checkpoint_dir: &str,
    ) -> Result<JobSettings, SettingsError> {
        let o = Options(options);
        let interval = match o.get("execution.checkpointing.interval") {
            None => None,
            Some(_) => {
                let interval = o.duration("execution.checkpointing.interval", Duration::ZERO)?;
                if interval < Duration::from_millis(10) {
                    return Err(
                        o.error("execution.checkpointing.interval", "must be at least 10 ms")
                    );
                }
                Some(interval)
            }
        };
        let retained = o.count("state.checkpoints.num-retained", 1)?;
        if retained == 0 {
            return Err(o.error("state.checkpoints.num-retained", "must be at least 1"));
        }
        let checkpoints = CheckpointSettings {
            interval,
            timeout: o.duration("execution.checkpointing.timeout", Duration::from_secs(600))?,
            min_pause: o.duration("execution.checkpointing.min-pause", Duration::ZERO)?,
            tolerable_failures: o
                .count("execution.checkpointing.tolerable-failed-checkpoints", 0)?,
            dir: o
                .get("state.checkpoints.dir")
                .unwrap_or(default_checkpoint_dir)
                .trim_end_matches('/')
                .to_string(),
            retained,
            savepoints_dir: o.get("state.savepoints.dir").map(str::to_string),
            savepoints_retained: o.count("state.savepoints.num-retained", 3)?,
        };
        let restart = restart_strategy(&o, checkpoints.interval.is_some())?;
        Ok(JobSettings {
            checkpoints,
            restart,
        })
    }
}

fn restart_strategy(o: &Options, checkpointing: bool) -> Result<RestartStrategy, SettingsError> {
    let key = "restart-strategy.type";
    let kind = match o.get(key).map(str::to_ascii_lowercase) {
        Some(kind) => kind,
        // Flink restarts checkpointed jobs with exponential backoff by default.
        None if checkpointing => "exponential-delay".into(),
        None => "none".into(),
    };
    let second = Duration::from_secs(1);
    Ok(match kind.as_str() {
        "none" | "off" | "disable" => RestartStrategy::None,
        "fixed-delay" | "fixeddelay" => RestartStrategy::FixedDelay {
            attempts: o.count("restart-strategy.fixed-delay.attempts", 1)?,
            delay: o.duration("restart-strategy.fixed-delay.delay", second)?,
        },
        "failure-rate" | "failurerate" => RestartStrategy::FailureRate {
            max_failures: o.count("restart-strategy.failure-rate.max-failures-per-interval", 1)?,
            interval: o.duration(
                "restart-strategy.failure-rate.failure-rate-interval",
                Duration::from_secs(60),
            )?,
            delay: o.duration("restart-strategy.failure-rate.delay", second)?,
        },
        "exponential-delay" | "exponentialdelay" => RestartStrategy::ExponentialDelay {
            initial: o.duration("restart-strategy.exponential-delay.initial-backoff", second)?,
            max: o.duration(
                "restart-strategy.exponential-delay.max-backoff",
                Duration::from_secs(60),
            )?,
            multiplier: o.number("restart-strategy.exponential-delay.backoff-multiplier", 1.5)?,
            reset_threshold: o.duration(
                "restart-strategy.exponential-delay.reset-backoff-threshold",
                Duration::from_secs(3600),
            )?,
            jitter: o.number("restart-strategy.exponential-delay.jitter-factor", 0.1)?,
            attempts: o.count(
                "restart-strategy.exponential-delay.attempts-before-reset-backoff",
                u32::MAX,
            )?,
        },
        _ => {
            return Err(o.error(
                key,
                "must be one of none, fixed-delay, failure-rate, exponential-delay",
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn durations_read_as_flink_writes_them() {
        assert_eq!(parse_duration("500"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10 s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("1min"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("2 h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("ten s"), None);
        assert_eq!(parse_duration("3 weeks"), None);
    }

    #[test]
    fn checkpointing_is_off_without_an_interval_and_then_nothing_restarts() {
        let settings = JobSettings::from_options(&options(&[]), "file:///data/chk").unwrap();
        assert_eq!(settings.checkpoints.interval, None);
        assert_eq!(settings.checkpoints.dir, "file:///data/chk");
        assert_eq!(settings.restart, RestartStrategy::None);
    }

    #[test]
    fn flink_keys_set_every_setting() {
        let settings = JobSettings::from_options(
            &options(&[
                ("execution.checkpointing.interval", "1 s"),
                ("execution.checkpointing.timeout", "30 s"),
                ("execution.checkpointing.min-pause", "200 ms"),
                ("execution.checkpointing.tolerable-failed-checkpoints", "3"),
                ("state.checkpoints.dir", "s3://bucket/chk/"),
                ("state.checkpoints.num-retained", "2"),
                ("restart-strategy.type", "fixed-delay"),
                ("restart-strategy.fixed-delay.attempts", "5"),
                ("restart-strategy.fixed-delay.delay", "100 ms"),
            ]),
            "file:///unused",
        )
        .unwrap();
        let c = &settings.checkpoints;
        assert_eq!(c.interval, Some(Duration::from_secs(1)));
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert_eq!(c.min_pause, Duration::from_millis(200));
        assert_eq!(c.tolerable_failures, 3);
        assert_eq!(c.dir, "s3://bucket/chk");
        assert_eq!(c.retained, 2);
        assert_eq!(
            settings.restart,
            RestartStrategy::FixedDelay {
                attempts: 5,
                delay: Duration::from_millis(100)
            }
        );
    }

    #[test]
    fn checkpointed_jobs_restart_with_exponential_backoff_by_default() {
        let settings = JobSettings::from_options(
            &options(&[("execution.checkpointing.interval", "10s")]),
            "file:///d",
        )
        .unwrap();
        assert!(matches!(
            settings.restart,
            RestartStrategy::ExponentialDelay { initial, multiplier, .. }
                if initial == Duration::from_secs(1) && multiplier == 1.5
        ));
    }

    #[test]
    fn a_bad_value_names_the_key_and_what_was_expected() {
        let error = JobSettings::from_options(
            &options(&[("execution.checkpointing.interval", "soon")]),
            "file:///d",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "option 'execution.checkpointing.interval' must be a duration such as '500 ms', '10 s' or '1 min', got 'soon'"
        );
        let error = JobSettings::from_options(
            &options(&[("restart-strategy.type", "forever")]),
            "file:///d",
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("option 'restart-strategy.type' must be one of"),
            "{error}"
        );
    }
}
