//! Conversions between date-times and text or epoch seconds, with Java
//! date-time patterns ([`super::pattern`]). Times are in UTC.

use std::sync::Arc;

use arrow::array::{Date32Array, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Date32Type};
use chrono::{DateTime, NaiveDateTime};
use datafusion_common::{Result, ScalarValue, exec_datafusion_err, plan_err};
use datafusion_expr::{ColumnarValue, ScalarUDF, Volatility};

use super::args::{Call, Compiled, Function, Input, Kind, column, udf};
use super::datetime::{datetimes, now_millis, timestamp};
use super::pattern::{
    DEFAULT_TIMESTAMP, DatePattern, Match, parse_default_date, parse_default_timestamp,
};

/// The conversion functions defined here.
pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        udf(DateFormat),
        udf(ToTimestamp),
        udf(ToDate),
        udf(FromUnixtime),
        udf(UnixTimestamp),
    ]
}

/// A format given as a literal must be a supported pattern when the query
/// is planned; one given by a column that is not makes the row NULL.
fn check_pattern(call: &Call<'_>, i: usize, function: &str) -> Result<()> {
    match call.literal_str(i).map(DatePattern::new) {
        Some(Err(e)) => plan_err!("{function}: {e}"),
        _ => Ok(()),
    }
}

/// The pattern in argument `i` of each row, or `default` when the call has
/// no argument `i`.
struct Patterns<'a> {
    texts: Option<&'a StringArray>,
    default: &'static str,
    compiled: Compiled<DatePattern>,
}

impl<'a> Patterns<'a> {
    fn new(input: &'a Input<'_>, i: usize, default: &'static str) -> Result<Self> {
        Ok(Patterns {
            texts: input
                .signature
                .get(i)
                .map(|_| input.strings(i))
                .transpose()?,
            default,
            compiled: Compiled::default(),
        })
    }

    fn at(&mut self, row: usize) -> Option<&DatePattern> {
        let text = self.texts.map_or(self.default, |t| t.value(row));
        self.compiled.get(text, |t| DatePattern::new(t).ok())
    }
}

/// `DATE_FORMAT(timestamp | date | string, format)`: formats with a Java
/// pattern; a string is first read as `yyyy-MM-dd HH:mm:ss`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DateFormat;

impl Function for DateFormat {
    fn name(&self) -> &'static str {
        "date_format"
    }

    fn display(&self) -> &'static str {
        "DATE_FORMAT"
    }

    fn signatures(&self) -> &'static [&'static [Kind]] {
        &[
            &[Kind::Temporal, Kind::String],
            &[Kind::String, Kind::String],
        ]
    }

    fn return_type(&self, call: &Call<'_>) -> Result<DataType> {
        check_pattern(call, 1, self.display())?;
        Ok(DataType::Utf8)
    }

    fn invoke(&self, input: &Input<'_>) -> Result<ColumnarValue> {
        let values: Vec<Option<NaiveDateTime>> = if input.signature[0] == Kind::String {
            let default =
                DatePattern::new(DEFAULT_TIMESTAMP).map_err(|e| exec_datafusion_err!("{e}"))?;
            input
                .strings(0)?
                .iter()
                .map(|text| Some(default.parse(text?, Match::Prefix)?.local))
                .collect()
        } else {
            datetimes(input.array(0)?)?
        };
        let mut patterns = Patterns::new(input, 1, DEFAULT_TIMESTAMP)?;
        let out: StringArray = input.map_rows(|row| patterns.at(row)?.format(values[row]?));
        column(out)
    }
}

/// `TO_TIMESTAMP(string [, format])`: a TIMESTAMP(3); the default format
/// is `yyyy-MM-dd HH:mm:ss` with an optional fraction, or a date alone;
/// NULL when the text does not parse.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToTimestamp;

impl Function for ToTimestamp {
    fn name(&self) -> &'static str {
        "to_timestamp"
    }

    fn display(&self) -> &'static str {
        "TO_TIMESTAMP"
    }

    fn signatures(&self) -> &'static [&'static [Kind]] {
        &[&[Kind::String], &[Kind::String, Kind::String]]
    }

    fn return_type(&self, call: &Call<'_>) -> Result<DataType> {
        check_pattern(call, 1, self.display())?;
        Ok(timestamp())
    }

    fn invoke(&self, input: &Input<'_>) -> Result<ColumnarValue> {
        let texts = input.strings(0)?;
        let mut patterns = Patterns::new(input, 1, DEFAULT_TIMESTAMP)?;
        let with_format = input.signature.len() == 2;
        let out: TimestampMillisecondArray = input.map_rows(|row| {
            let text = texts.value(row);
            // Like Flink, fall back to the default format when the given
            // one does not match.
            let parsed = if with_format {
                patterns.at(row)?.parse(text, Match::Whole).map(|r| r.local)
            } else {
                None
            };
            let value = parsed.or_else(|| parse_default_timestamp(text.trim()))?;
            Some(value.and_utc().timestamp_millis())
        });
        column(out)
    }
}

/// `TO_DATE(string [, format])`: a DATE; the default format is
/// `yyyy-MM-dd`; NULL when the text does not parse.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToDate;

impl Function for ToDate {
    fn name(&self) -> &'static str {
        "to_date"
    }

    fn display(&self) -> &'static str {
        "TO_DATE"
    }

    fn signatures(&self) -> &'static [&'static [Kind]] {
        &[&[Kind::String], &[Kind::String, Kind::String]]
    }

    fn return_type(&self, call: &Call<'_>) -> Result<DataType> {
        check_pattern(call, 1, self.display())?;
        Ok(DataType::Date32)
    }

    fn invoke(&self, input: &Input<'_>) -> Result<ColumnarValue> {
        let texts = input.strings(0)?;
        let out: Date32Array = if input.signature.len() == 2 {
            let mut patterns = Patterns::new(input, 1, DEFAULT_TIMESTAMP)?;
            input.map_rows(|row| {
                let reading = patterns.at(row)?.parse(texts.value(row), Match::Prefix)?;
                Some(Date32Type::from_naive_date(reading.utc()?.date()))
            })
        } else {
            input.map_rows(|row| {
                parse_default_date(texts.value(row)).map(Date32Type::from_naive_date)
            })
        };
        column(out)
    }
}

/// `FROM_UNIXTIME(seconds [, format])`: seconds since the epoch as text,
/// by default `yyyy-MM-dd HH:mm:ss`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FromUnixtime;

impl Function for FromUnixtime {
    fn name(&self) -> &'static str {
        "from_unixtime"
    }

    fn display(&self) -> &'static str {
        "FROM_UNIXTIME"
    }

    fn signatures(&self) -> &'static [&'static [Kind]] {
        &[&[Kind::Integer], &[Kind::Integer, Kind::String]]
    }

    fn return_type(&self, call: &Call<'_>) -> Result<DataType> {
        check_pattern(call, 1, self.display())?;
        Ok(DataType::Utf8)
    }

    fn invoke(&self, input: &Input<'_>) -> Result<ColumnarValue> {
        let seconds = input.integers(0)?;
        let mut patterns = Patterns::new(input, 1, DEFAULT_TIMESTAMP)?;
        let out: StringArray = input.map_rows(|row| {
            let value = DateTime::from_timestamp(seconds.value(row), 0)?.naive_utc();
            patterns.at(row)?.format(value)
        });
        column(out)
    }
}

/// `UNIX_TIMESTAMP()`: seconds since the epoch, now.
/// `UNIX_TIMESTAMP(string [, format])`: the text, by default
/// `yyyy-MM-dd HH:mm:ss`, in UTC unless it gives an offset, as seconds
/// since the epoch; -9223372036854775808 when it does not parse, as in
/// Flink.
#[derive(Debug, PartialEq, Eq, Hash)]
struct UnixTimestamp;

impl Function for UnixTimestamp {
    fn name(&self) -> &'static str {
        "unix_timestamp"
    }

    fn display(&self) -> &'static str {
        "UNIX_TIMESTAMP"
    }

    fn signatures(&self) -> &'static [&'static [Kind]] {
        &[&[], &[Kind::String], &[Kind::String, Kind::String]]
    }

    fn volatility(&self) -> Volatility {
        Volatility::Volatile
    }

    fn return_type(&self, call: &Call<'_>) -> Result<DataType> {
        check_pattern(call, 1, self.display())?;
        Ok(DataType::Int64)
    }

    fn invoke(&self, input: &Input<'_>) -> Result<ColumnarValue> {
        if input.signature.is_empty() {
            let seconds = now_millis()?.div_euclid(1000);
            return Ok(ColumnarValue::Scalar(ScalarValue::Int64(Some(seconds))));
        }
        let texts = input.strings(0)?;
        let mut patterns = Patterns::new(input, 1, DEFAULT_TIMESTAMP)?;
        let out: Int64Array = input.map_rows(|row| {
            let seconds = patterns
                .at(row)
                .and_then(|p| p.parse(texts.value(row), Match::Prefix))
                .and_then(|reading| reading.utc())
                .map(|utc| utc.and_utc().timestamp());
            Some(seconds.unwrap_or(i64::MIN))
        });
        column(out)
    }
}
