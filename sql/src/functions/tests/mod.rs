//! Flink's functions as a query reaches them: Flink syntax rewritten, then
//! planned and evaluated by DataFusion with `rtdw-functions` registered.

mod calendar;
mod clock;
mod json;
mod math;
mod string;
mod time;
