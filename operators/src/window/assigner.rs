//! Which windows an event time falls into, for Flink's TUMBLE, HOP and
//! CUMULATE window table functions, and when a window fires.

use crate::error::{Result, StreamError};

/// A window table function with its sizes in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// `TUMBLE(TABLE t, DESCRIPTOR(ts), size [, offset])`: back-to-back
    /// windows of `size_ms`, aligned to the epoch shifted by `offset_ms`
    /// (0 without an offset). Each row falls into exactly one.
    Tumble {
        /// The window size.
        size_ms: i64,
        /// Where windows start, modulo the size.
        offset_ms: i64,
    },
    /// `HOP(TABLE t, DESCRIPTOR(ts), slide, size)`: windows of `size_ms`
    /// starting every `slide_ms`, aligned to the epoch. As in Flink, the size
    /// must be a multiple of the slide, so each row falls into `size / slide`
    /// windows.
    Hop {
        /// The window size.
        size_ms: i64,
        /// The distance between window starts.
        slide_ms: i64,
    },
    /// `CUMULATE(TABLE t, DESCRIPTOR(ts), step, size)`: each period of
    /// `max_size_ms` (aligned to the epoch) has windows `[start, start + k *
    /// step_ms)` for `k = 1 ..= max_size_ms / step_ms`; a row falls into every
    /// window of its period that ends after it. As in Flink, the maximum size
    /// must be a multiple of the step.
    Cumulate {
        /// How much each window of a period is longer than the previous one.
        step_ms: i64,
        /// The period, and the size of its last window.
        max_size_ms: i64,
    },
}

/// A window `[start, end)` in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Window {
    /// First millisecond in the window.
    pub(crate) start: i64,
    /// First millisecond after the window.
    pub(crate) end: i64,
}

/// Whether a window ending at `end` has fired once the watermark reached
/// `watermark`: Flink fires a window when the watermark reaches its last
/// millisecond (its `window_time`, `end - 1`).
pub(crate) fn has_fired(end: i64, watermark: i64) -> bool {
    end - 1 <= watermark
}

/// The windows one event time falls into, in increasing end order: window
/// `i` is `[first.start + i * start_step, first.end + i * end_step)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Windows {
    first: Window,
    start_step: i64,
    end_step: i64,
    count: usize,
}

impl Windows {
    /// How many windows there are.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Window `i` (`i < count`).
    pub(crate) fn nth(&self, i: usize) -> Window {
        let i = i as i64;
        Window {
            start: self.first.start + i * self.start_step,
            end: self.first.end + i * self.end_step,
        }
    }

    /// The end of the last window: the row is late once that one fired.
    pub(crate) fn last_end(&self) -> i64 {
        self.nth(self.count - 1).end
    }
}

impl WindowKind {
    /// Checks the sizes as Flink's planner does.
    pub(crate) fn validate(&self) -> Result<()> {
        let invalid = |what: String| Err(StreamError::Failed(what));
        match *self {
            WindowKind::Tumble { size_ms, .. } if size_ms <= 0 => {
                invalid(format!("TUMBLE needs a positive size, not {size_ms} ms"))
            }
            WindowKind::Hop { size_ms, slide_ms } if size_ms <= 0 || slide_ms <= 0 => invalid(
                format!("HOP needs a positive size and slide, not {size_ms} ms and {slide_ms} ms"),
            ),
            WindowKind::Hop { size_ms, slide_ms } if size_ms % slide_ms != 0 => invalid(format!(
                "HOP needs a size ({size_ms} ms) that is a multiple of the slide ({slide_ms} ms)"
            )),
            WindowKind::Cumulate {
                step_ms,
                max_size_ms,
            } if step_ms <= 0 || max_size_ms <= 0 => invalid(format!(
                "CUMULATE needs a positive step and size, not {step_ms} ms and {max_size_ms} ms"
            )),
            WindowKind::Cumulate {
                step_ms,
                max_size_ms,
            } if max_size_ms % step_ms != 0 => invalid(format!(
                "CUMULATE needs a size ({max_size_ms} ms) that is a multiple of the step ({step_ms} ms)"
            )),
            _ => Ok(()),
        }
    }

    /// The windows event time `t` (ms) falls into.
    pub(crate) fn windows_of(&self, t: i64) -> Result<Windows> {
        self.checked_windows_of(t).ok_or_else(|| {
            StreamError::Failed(format!(
                "event time {t} ms is too close to the end of the time range for {self:?}"
            ))
        })
    }

    /// [`WindowKind::windows_of`], `None` when a bound overflows.
    fn checked_windows_of(&self, t: i64) -> Option<Windows> {
        // The start of the aligned period of length `period` holding `t`.
        let period_start =
            |period: i64, offset: i64| t.checked_sub(t.checked_sub(offset)?.rem_euclid(period));
        let windows = match *self {
            WindowKind::Tumble { size_ms, offset_ms } => {
                let start = period_start(size_ms, offset_ms)?;
                Windows {
                    first: Window {
                        start,
                        end: start.checked_add(size_ms)?,
                    },
                    start_step: 0,
                    end_step: 0,
                    count: 1,
                }
            }
            WindowKind::Hop { size_ms, slide_ms } => {
                let last_start = period_start(slide_ms, 0)?;
                last_start.checked_add(size_ms)?;
                let count = size_ms / slide_ms;
                let start = last_start.checked_sub((count - 1) * slide_ms)?;
                Windows {
                    first: Window {
                        start,
                        end: start + size_ms,
                    },
                    start_step: slide_ms,
                    end_step: slide_ms,
                    count: count as usize,
                }
            }
            WindowKind::Cumulate {
                step_ms,
                max_size_ms,
            } => {
                let start = period_start(max_size_ms, 0)?;
                start.checked_add(max_size_ms)?;
                let first_step = (t - start) / step_ms + 1;
                Windows {
                    first: Window {
                        start,
                        end: start + first_step * step_ms,
                    },
                    start_step: 0,
                    end_step: step_ms,
                    count: (max_size_ms / step_ms - first_step + 1) as usize,
                }
            }
        };
        Some(windows)
    }
}
