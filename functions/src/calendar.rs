//! Calendar arithmetic: `EXTRACT(unit FROM t)`, `FLOOR(t TO unit)`,
//! `CEIL(t TO unit)` and `TIMESTAMPDIFF(unit, t1, t2)`. The SQL rewrite
//! ([`super::syntax`]) turns that syntax into calls of the functions here
//! with the unit as a string literal first.

use std::sync::Arc;

use arrow::array::{Int32Array, Int64Array};
use arrow::datatypes::DataType;
use chrono::{Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike};
use datafusion_common::{Result, plan_err};
use datafusion_expr::{ColumnarValue, ScalarUDF};

use super::args::{Call, Function, Input, Kind, column, udf};
use super::datetime::{datetimes, temporal_column};

/// The calendar functions.
pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        udf(Operation::Extract),
        udf(Operation::Floor),
        udf(Operation::Ceil),
        udf(Operation::TimestampDiff),
    ]
}

/// A time unit, by Flink's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Millennium,
    Century,
    Decade,
    Year,
    Quarter,
    Month,
    Week,
    Day,
    DayOfYear,
    DayOfWeek,
    IsoDayOfWeek,
    IsoYear,
    Hour,
    Minute,
    Second,
    Millisecond,
    Microsecond,
    Nanosecond,
    Epoch,
}

/// Every unit with Flink's name, in the order error messages list them.
const UNITS: &[(&str, Unit)] = &[
    ("MILLENNIUM", Unit::Millennium),
    ("CENTURY", Unit::Century),
    ("DECADE", Unit::Decade),
    ("YEAR", Unit::Year),
    ("QUARTER", Unit::Quarter),
    ("MONTH", Unit::Month),
    ("WEEK", Unit::Week),
    ("DAY", Unit::Day),
    ("DOY", Unit::DayOfYear),
    ("DOW", Unit::DayOfWeek),
    ("ISODOW", Unit::IsoDayOfWeek),
    ("ISOYEAR", Unit::IsoYear),
    ("HOUR", Unit::Hour),
    ("MINUTE", Unit::Minute),
    ("SECOND", Unit::Second),
    ("MILLISECOND", Unit::Millisecond),
    ("MICROSECOND", Unit::Microsecond),
    ("NANOSECOND", Unit::Nanosecond),
    ("EPOCH", Unit::Epoch),
];

/// The units FLOOR, CEIL and TIMESTAMPDIFF take.
const WHOLE_UNITS: &[Unit] = &[
    Unit::Year,
    Unit::Quarter,
    Unit::Month,
    Unit::Week,
    Unit::Day,
    Unit::Hour,
    Unit::Minute,
    Unit::Second,
];

impl Unit {
    /// Flink's name of the unit.
    pub fn name(self) -> &'static str {
        UNITS
            .iter()
            .find(|(_, unit)| *unit == self)
            .map_or("?", |(name, _)| name)
    }

    /// Whether the unit is part of a date, as opposed to a time of day.
    fn of_date(self) -> bool {
        !matches!(
            self,
            Unit::Hour
                | Unit::Minute
                | Unit::Second
                | Unit::Millisecond
                | Unit::Microsecond
                | Unit::Nanosecond
        )
    }
}

/// A calendar function, each a UDF taking the unit first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `EXTRACT(unit FROM t)`: a BIGINT.
    Extract,
    /// `FLOOR(t TO unit)`: `t` rounded down, of `t`'s type.
    Floor,
    /// `CEIL(t TO unit)`: `t` rounded up, of `t`'s type.
    Ceil,
    /// `TIMESTAMPDIFF(unit, t1, t2)`: whole units from `t1` to `t2`, an INT.
    TimestampDiff,
}

impl Operation {
    /// Whether this operation takes `unit`: EXTRACT takes every unit,
    /// the others only [`WHOLE_UNITS`].
    fn takes(self, unit: Unit) -> bool {
        match self {
            Operation::Extract => true,
            Operation::Floor | Operation::Ceil | Operation::TimestampDiff => {
                WHOLE_UNITS.contains(&unit)
            }
        }
    }

    /// The unit named `name` (any case), if this operation takes it.
    pub fn unit(self, name: &str) -> std::result::Result<Unit, String> {
        UNITS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, unit)| *unit)
            .filter(|unit| self.takes(*unit))
            .ok_or_else(|| {
                let names: Vec<&str> = UNITS
                    .iter()
                    .filter(|(_, unit)| self.takes(*unit))
                    .map(|(name, _)| *name)
                    .collect();
                format!(
                    "{} does not support the time unit {name}; supported: {}",
                    self.display(),
                    names.join(", ")
                )
            })
    }
}

impl Function for Operation {
    fn name(&self) -> &'static str {
        match self {
            Operation::Extract => "extract",
            Operation::Floor => "time_floor",
            Operation::Ceil => "time_ceil",
            Operation::TimestampDiff => "timestampdiff",
        }
    }

    fn display(&self) -> &'static str {
        match self {
            Operation::Extract => "EXTRACT",
            Operation::Floor => "FLOOR",
            Operation::Ceil => "CEIL",
            Operation::TimestampDiff => "TIMESTAMPDIFF",
        }
    }

    fn signatures(&self) -> &'static [&'static [Kind]] {
        match self {
            Operation::TimestampDiff => &[&[Kind::Unit, Kind::Temporal, Kind::Temporal]],
            _ => &[&[Kind::Unit, Kind::Temporal]],
        }
    }

    fn return_type(&self, call: &Call<'_>) -> Result<DataType> {
        let Some(name) = call.literal_str(0) else {
            return plan_err!("{}: the time unit must be a literal", self.display());
        };
        let unit = match self.unit(name) {
            Ok(unit) => unit,
            Err(e) => return plan_err!("{e}"),
        };
        match self {
            Operation::Extract => {
                if call.types[1] == DataType::Date32 && !unit.of_date() {
                    return plan_err!(
                        "EXTRACT({} FROM <DATE>): a DATE has no time of day",
                        unit.name()
                    );
                }
                Ok(DataType::Int64)
            }
            Operation::Floor | Operation::Ceil => Ok(call.types[1].clone()),
            Operation::TimestampDiff => Ok(DataType::Int32),
        }
    }

    fn invoke(&self, input: &Input<'_>) -> Result<ColumnarValue> {
        let unit = match self.unit(input.unit(0)?) {
            Ok(unit) => unit,
            Err(e) => return plan_err!("{e}"),
        };
        let values = datetimes(input.array(1)?)?;
        match self {
            Operation::Extract => {
                let out: Int64Array = input.map_rows(|row| Some(extract(unit, values[row]?)));
                column(out)
            }
            Operation::Floor | Operation::Ceil => {
                let up = *self == Operation::Ceil;
                let rounded = (0..input.rows).map(|row| {
                    let value = values[row]?;
                    if up {
                        ceil(unit, value)
                    } else {
                        floor(unit, value)
                    }
                });
                temporal_column(rounded, input.return_type)
            }
            Operation::TimestampDiff => {
                let ends = datetimes(input.array(2)?)?;
                let out: Int32Array = input.map_rows(|row| {
                    let units = difference(unit, values[row]?, ends[row]?)?;
                    i32::try_from(units).ok()
                });
                column(out)
            }
        }
    }
}

/// A field of a date-time; Flink's DOW counts from Sunday = 1, ISODOW from
/// Monday = 1, WEEK is the ISO week; MILLISECOND and smaller count within
/// the second; EPOCH is seconds since 1970 (for a date, of its midnight).
fn extract(unit: Unit, value: NaiveDateTime) -> i64 {
    let year = i64::from(value.year());
    let nanos = i64::from(value.nanosecond());
    match unit {
        Unit::Millennium if year > 0 => (year + 999) / 1000,
        Unit::Millennium => (year - 999) / 1000,
        Unit::Century if year > 0 => (year + 99) / 100,
        Unit::Century => (year - 99) / 100,
        Unit::Decade => year / 10,
        Unit::Year => year,
        Unit::Quarter => i64::from(value.month0() / 3 + 1),
        Unit::Month => i64::from(value.month()),
        Unit::Week => i64::from(value.iso_week().week()),
        Unit::Day => i64::from(value.day()),
        Unit::DayOfYear => i64::from(value.ordinal()),
        Unit::DayOfWeek => i64::from(value.weekday().number_from_sunday()),
        Unit::IsoDayOfWeek => i64::from(value.weekday().number_from_monday()),
        Unit::IsoYear => i64::from(value.iso_week().year()),
        Unit::Hour => i64::from(value.hour()),
        Unit::Minute => i64::from(value.minute()),
        Unit::Second => i64::from(value.second()),
        Unit::Millisecond => nanos / 1_000_000,
        Unit::Microsecond => nanos / 1_000,
        Unit::Nanosecond => nanos,
        Unit::Epoch => value.and_utc().timestamp(),
    }
}

fn midnight(date: NaiveDate) -> NaiveDateTime {
    date.and_time(NaiveTime::MIN)
}

/// The start of the unit `value` is in; weeks start on Sunday, as in Flink.
fn floor(unit: Unit, value: NaiveDateTime) -> Option<NaiveDateTime> {
    let date = value.date();
    match unit {
        Unit::Second => value.with_nanosecond(0),
        Unit::Minute => value.with_nanosecond(0)?.with_second(0),
        Unit::Hour => date.and_hms_opt(value.hour(), 0, 0),
        Unit::Day => Some(midnight(date)),
        Unit::Week => {
            let since_sunday = date.weekday().num_days_from_sunday();
            Some(midnight(
                date.checked_sub_days(Days::new(u64::from(since_sunday)))?,
            ))
        }
        Unit::Month => Some(midnight(date.with_day(1)?)),
        Unit::Quarter => Some(midnight(NaiveDate::from_ymd_opt(
            date.year(),
            date.month0() / 3 * 3 + 1,
            1,
        )?)),
        Unit::Year => Some(midnight(NaiveDate::from_ymd_opt(date.year(), 1, 1)?)),
        _ => None,
    }
}

/// The smallest start of a unit not before `value`.
fn ceil(unit: Unit, value: NaiveDateTime) -> Option<NaiveDateTime> {
    let down = floor(unit, value)?;
    if down == value {
        return Some(value);
    }
    match unit {
        Unit::Second => down.checked_add_signed(TimeDelta::seconds(1)),
        Unit::Minute => down.checked_add_signed(TimeDelta::minutes(1)),
        Unit::Hour => down.checked_add_signed(TimeDelta::hours(1)),
        Unit::Day => down.checked_add_signed(TimeDelta::days(1)),
        Unit::Week => down.checked_add_signed(TimeDelta::weeks(1)),
        Unit::Month => down.checked_add_months(Months::new(1)),
        Unit::Quarter => down.checked_add_months(Months::new(3)),
        Unit::Year => down.checked_add_months(Months::new(12)),
        _ => None,
    }
}

/// Whole units from `start` to `end`, negative when `end` is earlier,
/// truncated towards zero.
fn difference(unit: Unit, start: NaiveDateTime, end: NaiveDateTime) -> Option<i64> {
    let elapsed = end - start;
    Some(match unit {
        Unit::Second => elapsed.num_seconds(),
        Unit::Minute => elapsed.num_minutes(),
        Unit::Hour => elapsed.num_hours(),
        Unit::Day => elapsed.num_days(),
        Unit::Week => elapsed.num_weeks(),
        Unit::Month => months_between(start, end)?,
        Unit::Quarter => months_between(start, end)? / 3,
        Unit::Year => months_between(start, end)? / 12,
        _ => return None,
    })
}

/// The most months that can be added to `start` (a day past the end of a
/// month is its last day) without passing `end`; negative when `end` is
/// earlier.
fn months_between(start: NaiveDateTime, end: NaiveDateTime) -> Option<i64> {
    if end < start {
        return months_between(end, start).map(|m| -m);
    }
    let mut months = i64::from(end.year() - start.year()) * 12 + i64::from(end.month())
        - i64::from(start.month());
    while months > 0 && start.checked_add_months(Months::new(u32::try_from(months).ok()?))? > end {
        months -= 1;
    }
    Some(months)
}
