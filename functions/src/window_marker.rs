//! The marker function the planner puts in place of a window
//! table-valued function's columns (`__rtdw_window(time, window id,
//! part)`). It returns the row's time and is volatile, so no optimization
//! folds or merges it; the planner recognizes a GROUP BY on its calls and
//! plans a window aggregation, which assigns rows to windows itself. A
//! projection before that aggregation still evaluates it, so it is one of
//! the functions a task manager must find by name.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion_common::{DataFusionError, Result};
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Name of the marker function.
pub const WINDOW_MARKER: &str = "__rtdw_window";

#[derive(Debug, PartialEq, Eq, Hash)]
struct WindowMarker {
    signature: Signature,
}

impl ScalarUDFImpl for WindowMarker {
    fn name(&self) -> &str {
        WINDOW_MARKER
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        arg_types.first().cloned().ok_or_else(missing_time)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        args.args.into_iter().next().ok_or_else(missing_time)
    }
}

fn missing_time() -> DataFusionError {
    DataFusionError::Plan(format!("{WINDOW_MARKER} takes the time column"))
}

/// The marker function.
pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(ScalarUDF::new_from_impl(WindowMarker {
        signature: Signature::any(3, Volatility::Volatile),
    }))]
}
