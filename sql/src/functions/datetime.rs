//! Arrow temporal columns as chrono date-times.
//!
//! A TIMESTAMP is a date-time as written; a TIMESTAMP_LTZ is an instant,
//! shown in UTC, the session time zone of rtdw (Flink's
//! `table.local-time-zone` is not supported). So both read as the UTC
//! date-time of their value.

use std::time::{SystemTime, UNIX_EPOCH};

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Date32Type, Int64Type, TimeUnit};
use arrow::temporal_conversions::date32_to_datetime;
use chrono::{DateTime, NaiveDateTime};
use datafusion::common::{Result, exec_datafusion_err, internal_err};

/// Flink's TIMESTAMP_LTZ(3).
pub(super) fn timestamp_ltz() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// Flink's TIMESTAMP(3).
pub(super) fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

/// Milliseconds since the epoch, now.
pub(super) fn now_millis() -> Result<i64> {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| exec_datafusion_err!("the clock is before 1970: {e}"))?;
    i64::try_from(elapsed.as_millis()).map_err(|e| exec_datafusion_err!("{e}"))
}

/// A TIMESTAMP, TIMESTAMP_LTZ or DATE column as date-times (a date at
/// midnight); NULL, and values chrono cannot represent, as `None`.
pub(super) fn datetimes(array: &ArrayRef) -> Result<Vec<Option<NaiveDateTime>>> {
    Ok(match array.data_type() {
        DataType::Timestamp(unit, _) => {
            let values = arrow::compute::cast(array, &DataType::Int64)?;
            values
                .as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.and_then(|v| from_epoch(v, *unit)))
                .collect()
        }
        DataType::Date32 => array
            .as_primitive::<Date32Type>()
            .iter()
            .map(|d| d.and_then(date32_to_datetime))
            .collect(),
        other => return internal_err!("{other} is not a temporal type"),
    })
}

/// A value of a timestamp column as a date-time.
fn from_epoch(value: i64, unit: TimeUnit) -> Option<NaiveDateTime> {
    let instant = match unit {
        TimeUnit::Second => DateTime::from_timestamp(value, 0),
        TimeUnit::Millisecond => DateTime::from_timestamp_millis(value),
        TimeUnit::Microsecond => DateTime::from_timestamp_micros(value),
        TimeUnit::Nanosecond => Some(DateTime::from_timestamp_nanos(value)),
    };
    instant.map(|i| i.naive_utc())
}
