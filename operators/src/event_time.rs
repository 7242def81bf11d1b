//! Event-time columns. A rowtime attribute is an Arrow timestamp in
//! milliseconds or microseconds without a time zone, while watermarks and
//! window bounds are milliseconds since the epoch, as in Flink.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, PrimitiveArray};
use arrow::datatypes::{
    DataType, Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
};

use crate::error::{Result, StreamError};

const MICROS_PER_MILLI: i64 = 1000;

/// The precision of an event-time column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventTimeUnit {
    /// `TIMESTAMP(3)`: Arrow `Timestamp(Millisecond, None)`.
    Millis,
    /// `TIMESTAMP(6)`: Arrow `Timestamp(Microsecond, None)`.
    Micros,
}

impl EventTimeUnit {
    /// The unit of an event-time column's type; any other type is an error.
    pub(crate) fn of(data_type: &DataType) -> Result<Self> {
        match data_type {
            DataType::Timestamp(TimeUnit::Millisecond, None) => Ok(EventTimeUnit::Millis),
            DataType::Timestamp(TimeUnit::Microsecond, None) => Ok(EventTimeUnit::Micros),
            other => Err(StreamError::Failed(format!(
                "an event-time column must be TIMESTAMP(3) or TIMESTAMP(6) without a time zone, not {other}"
            ))),
        }
    }

    /// A column of this unit holding the given milliseconds.
    pub(crate) fn column_of_millis(self, millis: impl Iterator<Item = i64>) -> Result<ArrayRef> {
        Ok(match self {
            EventTimeUnit::Millis => {
                Arc::new(PrimitiveArray::<TimestampMillisecondType>::from_iter_values(millis))
            }
            EventTimeUnit::Micros => {
                let micros = millis
                    .map(|ms| {
                        ms.checked_mul(MICROS_PER_MILLI).ok_or_else(|| {
                            StreamError::Failed(format!(
                                "{ms} ms is out of the range of TIMESTAMP(6)"
                            ))
                        })
                    })
                    .collect::<Result<Vec<i64>>>()?;
                Arc::new(PrimitiveArray::<TimestampMicrosecondType>::from(micros))
            }
        })
    }
}

/// An event-time column's values in milliseconds since the epoch
/// (microseconds round down, as Flink's `TimestampData::getMillisecond`);
/// NULLs stay NULL.
pub(crate) fn millis(column: &ArrayRef) -> Result<Int64Array> {
    Ok(match EventTimeUnit::of(column.data_type())? {
        EventTimeUnit::Millis => column
            .as_primitive::<TimestampMillisecondType>()
            .reinterpret_cast::<Int64Type>(),
        EventTimeUnit::Micros => column
            .as_primitive::<TimestampMicrosecondType>()
            .unary(|us| us.div_euclid(MICROS_PER_MILLI)),
    })
}
