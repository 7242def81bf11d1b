//! Arrow temporal columns as chrono date-times and back.
//!
//! A TIMESTAMP is a date-time as written; a TIMESTAMP_LTZ is an instant,
//! shown in UTC, the session time zone of rtdw (Flink's
//! `table.local-time-zone` is not supported). So both read as the UTC
//! date-time of their value.

use std::time::{SystemTime, UNIX_EPOCH};

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray, TimestampSecondArray,
};
use arrow::datatypes::{DataType, Date32Type, Int64Type, TimeUnit};
use arrow::temporal_conversions::date32_to_datetime;
use chrono::{DateTime, NaiveDateTime};
use datafusion_common::{Result, exec_datafusion_err, internal_err};
use datafusion_expr::ColumnarValue;

use super::args::column;

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

/// A date-time as a value of a timestamp column; `None` out of range.
fn to_epoch(value: NaiveDateTime, unit: TimeUnit) -> Option<i64> {
    let instant = value.and_utc();
    match unit {
        TimeUnit::Second => Some(instant.timestamp()),
        TimeUnit::Millisecond => Some(instant.timestamp_millis()),
        TimeUnit::Microsecond => Some(instant.timestamp_micros()),
        TimeUnit::Nanosecond => instant.timestamp_nanos_opt(),
    }
}

/// Date-times as a column of `data_type`, a timestamp or DATE type.
pub(super) fn temporal_column(
    values: impl IntoIterator<Item = Option<NaiveDateTime>>,
    data_type: &DataType,
) -> Result<ColumnarValue> {
    let values = values.into_iter();
    match data_type {
        DataType::Date32 => column(
            values
                .map(|v| v.map(|v| Date32Type::from_naive_date(v.date())))
                .collect::<Date32Array>(),
        ),
        DataType::Timestamp(unit, zone) => {
            let raw = values.map(|v| v.and_then(|v| to_epoch(v, *unit)));
            match unit {
                TimeUnit::Second => column(
                    raw.collect::<TimestampSecondArray>()
                        .with_timezone_opt(zone.clone()),
                ),
                TimeUnit::Millisecond => column(
                    raw.collect::<TimestampMillisecondArray>()
                        .with_timezone_opt(zone.clone()),
                ),
                TimeUnit::Microsecond => column(
                    raw.collect::<TimestampMicrosecondArray>()
                        .with_timezone_opt(zone.clone()),
                ),
                TimeUnit::Nanosecond => column(
                    raw.collect::<TimestampNanosecondArray>()
                        .with_timezone_opt(zone.clone()),
                ),
            }
        }
        other => internal_err!("{other} is not a temporal type"),
    }
}
