//! The current time. Flink evaluates these for each record in a streaming
//! job; they are volatile here, so DataFusion evaluates them for each batch
//! instead of folding them into the time the query was planned.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion_common::{Result, ScalarValue};
use datafusion_expr::{ColumnarValue, ScalarUDF, Volatility};

use super::args::{Call, Function, Input, Kind, udf};
use super::datetime::{now_millis, timestamp, timestamp_ltz};

/// The clock functions.
pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    [
        Clock::Now,
        Clock::Proctime,
        Clock::LocalTimestamp,
        Clock::CurrentDate,
    ]
    .into_iter()
    .map(udf)
    .collect()
}

const MILLIS_PER_DAY: i64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Clock {
    /// `NOW()` and `CURRENT_TIMESTAMP`: a TIMESTAMP_LTZ(3).
    Now,
    /// `PROCTIME()`: the processing time, a TIMESTAMP_LTZ(3).
    Proctime,
    /// `LOCALTIMESTAMP`: a TIMESTAMP(3) in the session time zone, UTC.
    LocalTimestamp,
    /// `CURRENT_DATE`: a DATE in the session time zone, UTC.
    CurrentDate,
}

impl Function for Clock {
    fn name(&self) -> &'static str {
        match self {
            Clock::Now => "now",
            Clock::Proctime => "proctime",
            Clock::LocalTimestamp => "localtimestamp",
            Clock::CurrentDate => "current_date",
        }
    }

    fn aliases(&self) -> &'static [&'static str] {
        match self {
            Clock::Now => &["current_timestamp"],
            _ => &[],
        }
    }

    fn display(&self) -> &'static str {
        match self {
            Clock::Now => "NOW",
            Clock::Proctime => "PROCTIME",
            Clock::LocalTimestamp => "LOCALTIMESTAMP",
            Clock::CurrentDate => "CURRENT_DATE",
        }
    }

    fn signatures(&self) -> &'static [&'static [Kind]] {
        &[&[]]
    }

    fn volatility(&self) -> Volatility {
        Volatility::Volatile
    }

    fn return_type(&self, _call: &Call<'_>) -> Result<DataType> {
        Ok(match self {
            Clock::Now | Clock::Proctime => timestamp_ltz(),
            Clock::LocalTimestamp => timestamp(),
            Clock::CurrentDate => DataType::Date32,
        })
    }

    fn invoke(&self, _input: &Input<'_>) -> Result<ColumnarValue> {
        let now = now_millis()?;
        let value = match self {
            Clock::Now | Clock::Proctime => {
                ScalarValue::TimestampMillisecond(Some(now), Some("UTC".into()))
            }
            Clock::LocalTimestamp => ScalarValue::TimestampMillisecond(Some(now), None),
            Clock::CurrentDate => {
                let days = i32::try_from(now.div_euclid(MILLIS_PER_DAY))
                    .map_err(|e| datafusion_common::exec_datafusion_err!("{e}"))?;
                ScalarValue::Date32(Some(days))
            }
        };
        Ok(ColumnarValue::Scalar(value))
    }
}
