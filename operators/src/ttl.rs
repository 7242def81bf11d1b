//! State TTL (Flink's `table.exec.state.ttl`): how long state that nothing
//! touched is kept, by processing time, and when the next sweep of what
//! expired is due.

use std::time::Duration;

/// The TTL of an operator's state and the clock it is measured by.
pub(crate) struct Ttl {
    /// The TTL in milliseconds.
    millis: i64,
    clock: Box<dyn Fn() -> i64 + Send>,
    next_sweep: i64,
}

impl Ttl {
    /// A TTL of `ttl` on the system clock; `None` for no TTL (`None` or
    /// zero: state is kept forever).
    pub(crate) fn new(ttl: Option<Duration>) -> Option<Self> {
        ttl.filter(|t| !t.is_zero()).map(|t| Ttl {
            millis: i64::try_from(t.as_millis()).unwrap_or(i64::MAX),
            clock: Box::new(crate::time::now_millis),
            next_sweep: i64::MIN,
        })
    }

    /// Reads processing time (ms since the epoch) from `clock` instead.
    pub(crate) fn set_clock(&mut self, clock: impl Fn() -> i64 + Send + 'static) {
        self.clock = Box::new(clock);
    }

    /// Processing time now, in milliseconds since the epoch.
    pub(crate) fn now(&self) -> i64 {
        (self.clock)()
    }

    /// State last touched at or before this time has expired at `now`.
    pub(crate) fn cutoff(&self, now: i64) -> i64 {
        now.saturating_sub(self.millis)
    }

    /// The cutoff to sweep all state by when a sweep is due at `now` (once
    /// per TTL), else `None`.
    pub(crate) fn sweep_due(&mut self, now: i64) -> Option<i64> {
        if now < self.next_sweep {
            return None;
        }
        self.next_sweep = now.saturating_add(self.millis);
        Some(self.cutoff(now))
    }
}
