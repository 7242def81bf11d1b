//! Decides, failure by failure, whether a job restarts and after how long,
//! as the job's restart strategy says.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::settings::RestartStrategy;

/// The restart strategy of one job with its failure history.
#[derive(Debug, Clone)]
pub struct RestartTracker {
    strategy: RestartStrategy,
    /// Restarts granted (fixed delay) or since the backoff was reset
    /// (exponential delay).
    attempts: u32,
    /// Failure times within the failure-rate interval.
    recent: VecDeque<Instant>,
    /// The next exponential backoff.
    backoff: Option<Duration>,
    last_failure: Option<Instant>,
}

impl RestartTracker {
    /// A tracker with no failures yet.
    pub fn new(strategy: RestartStrategy) -> Self {
        RestartTracker {
            strategy,
            attempts: 0,
            recent: VecDeque::new(),
            backoff: None,
            last_failure: None,
        }
    }

    /// Records a failure at `now`: the delay before the restart, or `None`
    /// when the strategy gives up and the job fails.
    pub fn on_failure(&mut self, now: Instant) -> Option<Duration> {
        let since_last = self.last_failure.map(|t| now.duration_since(t));
        self.last_failure = Some(now);
        match &self.strategy {
            RestartStrategy::None => None,
            RestartStrategy::FixedDelay { attempts, delay } => {
                (self.attempts < *attempts).then(|| {
                    self.attempts += 1;
                    *delay
                })
            }
            RestartStrategy::FailureRate {
                max_failures,
                interval,
                delay,
            } => {
                self.recent.push_back(now);
                while self
                    .recent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > *interval)
                {
                    self.recent.pop_front();
                }
                (self.recent.len() as u32 <= *max_failures).then_some(*delay)
            }
            RestartStrategy::ExponentialDelay {
                initial,
                max,
                multiplier,
                reset_threshold,
                jitter,
                attempts,
            } => {
                if since_last.is_some_and(|d| d >= *reset_threshold) {
                    self.backoff = None;
                    self.attempts = 0;
                }
                if self.attempts >= *attempts {
                    return None;
                }
                self.attempts += 1;
                let backoff = self.backoff.unwrap_or(*initial).min(*max);
                self.backoff = Some(backoff.mul_f64(*multiplier).min(*max));
                let spread = backoff.mul_f64(*jitter);
                let offset = spread.mul_f64(rand::random::<f64>() * 2.0);
                Some((backoff + offset).saturating_sub(spread))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn fixed_delay_grants_its_attempts_then_gives_up() {
        let mut tracker = RestartTracker::new(RestartStrategy::FixedDelay {
            attempts: 2,
            delay: 5 * MS,
        });
        let now = Instant::now();
        assert_eq!(tracker.on_failure(now), Some(5 * MS));
        assert_eq!(tracker.on_failure(now), Some(5 * MS));
        assert_eq!(tracker.on_failure(now), None);
    }

    #[test]
    fn failure_rate_counts_only_failures_within_the_interval() {
        let mut tracker = RestartTracker::new(RestartStrategy::FailureRate {
            max_failures: 2,
            interval: 100 * MS,
            delay: MS,
        });
        let start = Instant::now();
        assert_eq!(tracker.on_failure(start), Some(MS));
        assert_eq!(tracker.on_failure(start + 10 * MS), Some(MS));
        assert_eq!(
            tracker.on_failure(start + 20 * MS),
            None,
            "three within 100 ms"
        );
        assert_eq!(
            tracker.on_failure(start + 500 * MS),
            Some(MS),
            "the earlier failures left the interval"
        );
    }

    #[test]
    fn exponential_delay_grows_to_its_cap_and_resets_after_quiet_time() {
        let mut tracker = RestartTracker::new(RestartStrategy::ExponentialDelay {
            initial: 100 * MS,
            max: 300 * MS,
            multiplier: 2.0,
            reset_threshold: Duration::from_secs(10),
            jitter: 0.0,
            attempts: u32::MAX,
        });
        let start = Instant::now();
        let delays: Vec<Option<Duration>> =
            (0..4).map(|i| tracker.on_failure(start + i * MS)).collect();
        assert_eq!(
            delays,
            [
                Some(100 * MS),
                Some(200 * MS),
                Some(300 * MS),
                Some(300 * MS)
            ]
        );
        assert_eq!(
            tracker.on_failure(start + Duration::from_secs(60)),
            Some(100 * MS)
        );
    }

    #[test]
    fn jitter_stays_within_its_factor() {
        let mut tracker = RestartTracker::new(RestartStrategy::ExponentialDelay {
            initial: 1000 * MS,
            max: 1000 * MS,
            multiplier: 1.0,
            reset_threshold: Duration::from_secs(3600),
            jitter: 0.1,
            attempts: u32::MAX,
        });
        for _ in 0..50 {
            let delay = tracker.on_failure(Instant::now()).expect("restarts");
            assert!((900 * MS..=1100 * MS).contains(&delay), "{delay:?}");
        }
    }

    #[test]
    fn no_strategy_never_restarts() {
        assert_eq!(
            RestartTracker::new(RestartStrategy::None).on_failure(Instant::now()),
            None
        );
    }
}
