//! Flink's built-in scalar functions, by Flink's names and with Flink's
//! semantics, and the one list of every scalar function a query can call.
//!
//! Where DataFusion has a function of the same name and meaning (COALESCE,
//! UPPER, LOWER, TRIM, CONCAT_WS, REPLACE, CHAR_LENGTH, MD5, ABS), it is
//! kept. Where the meaning differs, the function here replaces it under
//! the same name (CONCAT, SUBSTRING, REGEXP_REPLACE, DATE_FORMAT,
//! TO_TIMESTAMP, TO_DATE, FROM_UNIXTIME, NOW, CURRENT_DATE, ROUND, ...).
//! The SQL planner rewrites syntax DataFusion would plan differently into
//! calls of these first. Function names are registered in lower case:
//! DataFusion lower-cases unquoted function names even with identifier
//! normalization off, so `DATE_FORMAT(...)` and `date_format(...)` both
//! find `date_format`.
//!
//! This crate depends on DataFusion's expression and function crates, not
//! on its planner: the planner registers [`ScalarFunctions::all`] in its
//! session, and a task manager finds the function of a shipped plan's call
//! by name in the same list ([`ScalarFunctions::get`]).
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
mod time;
mod window_marker;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion_expr::ScalarUDF;

pub use calendar::{Operation, Unit};
pub use window_marker::WINDOW_MARKER;

/// Every scalar function a query can call, by name and alias.
///
/// A later function in [`ScalarFunctions::all`] replaces an earlier one of
/// the same name or alias, as registering it in a DataFusion session does.
#[derive(Debug, Clone)]
pub struct ScalarFunctions {
    by_name: HashMap<String, Arc<ScalarUDF>>,
}

impl Default for ScalarFunctions {
    fn default() -> Self {
        let mut by_name = HashMap::new();
        for function in Self::all() {
            for name in std::iter::once(function.name())
                .chain(function.aliases().iter().map(String::as_str))
            {
                by_name.insert(name.to_string(), function.clone());
            }
        }
        Self { by_name }
    }
}

impl ScalarFunctions {
    /// DataFusion's built-in scalar functions (nested ones included), then
    /// Flink's, then the planner's window marker ([`WINDOW_MARKER`]), in
    /// registration order.
    pub fn all() -> Vec<Arc<ScalarUDF>> {
        [
            datafusion_functions::all_default_functions(),
            datafusion_functions_nested::all_default_nested_functions(),
            string::functions(),
            time::functions(),
            clock::functions(),
            calendar::functions(),
            json::functions(),
            math::functions(),
            window_marker::functions(),
        ]
        .concat()
    }

    /// The list built once per process, for the planner's sessions and the
    /// plan codec.
    pub fn shared() -> &'static ScalarFunctions {
        static SHARED: LazyLock<ScalarFunctions> = LazyLock::new(ScalarFunctions::default);
        &SHARED
    }

    /// The function a call of `name` (a name or an alias) reaches.
    pub fn get(&self, name: &str) -> Option<&Arc<ScalarUDF>> {
        self.by_name.get(name)
    }
}
