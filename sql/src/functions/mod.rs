//! Flink's built-in scalar functions, by Flink's names and with Flink's
//! semantics.
//!
//! Where DataFusion has a function of the same name and meaning (COALESCE,
//! UPPER, LOWER, TRIM, CONCAT_WS, REPLACE, CHAR_LENGTH, MD5, ABS), it is
//! kept. Where the meaning differs, the function here replaces it under
//! the same name (CONCAT, SUBSTRING, REGEXP_REPLACE, DATE_FORMAT,
//! TO_TIMESTAMP, TO_DATE, FROM_UNIXTIME, NOW, CURRENT_DATE, ROUND, ...).
//! Syntax DataFusion would plan differently is rewritten into calls first
//! ([`rewrite_query`]). Function names are registered in lower case:
//! DataFusion lower-cases unquoted function names even with identifier
//! normalization off, so `DATE_FORMAT(...)` and `date_format(...)` both
//! find `date_format`.
//!
//! Time zone: TIMESTAMP_LTZ values are converted in UTC, the only session
//! time zone rtdw has.

mod args;
mod calendar;
mod clock;
mod datetime;
mod json;
mod math;
mod pattern;
mod string;
mod syntax;
#[cfg(test)]
mod testing;
mod time;

use std::sync::Arc;

use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::ScalarUDF;

pub(crate) use syntax::rewrite_query;

/// Adds Flink's functions to a session being built with DataFusion's
/// default features, replacing DataFusion's functions of the same names.
pub(crate) fn register(mut builder: SessionStateBuilder) -> SessionStateBuilder {
    builder
        .scalar_functions()
        .get_or_insert_with(Vec::new)
        .extend(functions());
    builder
}

fn functions() -> Vec<Arc<ScalarUDF>> {
    [
        string::functions(),
        time::functions(),
        clock::functions(),
        calendar::functions(),
        json::functions(),
        math::functions(),
    ]
    .concat()
}
