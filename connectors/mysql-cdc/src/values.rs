//! Column values, from the server's two encodings to the declared column
//! types, as Flink CDC maps them: a snapshot reads text (`SELECT` over the
//! text protocol, in a UTC session) and the binlog carries binary values;
//! both go through [`Cell::of_value`] by the column's [`ColumnKind`], so
//! the same row gives the same cells whichever way it was read.

use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    Float32Builder, Float64Builder, Int8Builder, Int16Builder, Int32Builder, Int64Builder,
    StringBuilder, Time32MillisecondBuilder, Time32SecondBuilder, Time64MicrosecondBuilder,
    Time64NanosecondBuilder, TimestampMicrosecondBuilder, TimestampMillisecondBuilder,
    TimestampNanosecondBuilder, TimestampSecondBuilder,
};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime};
use mysql_async::Value;

/// What a server column holds, as far as converting its values goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    /// TINYINT .. BIGINT, signed or not.
    Integer,
    /// FLOAT.
    Float,
    /// DOUBLE.
    Double,
    /// DECIMAL: exact text.
    Decimal,
    /// DATE.
    Date,
    /// DATETIME: a wall-clock time.
    DateTime,
    /// TIMESTAMP: an instant.
    Timestamp,
    /// TIME: a duration of the day (or beyond: MySQL's range is ±838 h).
    Time,
    /// YEAR.
    Year,
    /// CHAR, VARCHAR, TEXT, BINARY, VARBINARY, BLOB (and MariaDB's JSON,
    /// a LONGTEXT): bytes, read as text or bytes by the declared type.
    Chars,
    /// MySQL's JSON: text, normalized so both encodings agree.
    Json,
    /// ENUM and its values (the binlog carries an index into them).
    Enum(Arc<[String]>),
    /// SET and its values (the binlog carries a bit mask over them).
    Set(Arc<[String]>),
    /// BIT(n): big-endian bytes.
    Bit,
}

impl ColumnKind {
    /// The kind of a column as `information_schema.COLUMNS` describes it
    /// (`DATA_TYPE`, `COLUMN_TYPE`); `None` for a type rtdw does not read.
    pub(crate) fn of_schema(data_type: &str, column_type: &str) -> Option<ColumnKind> {
        Some(match data_type.to_ascii_lowercase().as_str() {
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" => {
                ColumnKind::Integer
            }
            "float" => ColumnKind::Float,
            "double" | "real" => ColumnKind::Double,
            "decimal" | "numeric" => ColumnKind::Decimal,
            "date" => ColumnKind::Date,
            "datetime" => ColumnKind::DateTime,
            "timestamp" => ColumnKind::Timestamp,
            "time" => ColumnKind::Time,
            "year" => ColumnKind::Year,
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "binary"
            | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => ColumnKind::Chars,
            "json" => ColumnKind::Json,
            "enum" => ColumnKind::Enum(quoted_values(column_type).into()),
            "set" => ColumnKind::Set(quoted_values(column_type).into()),
            "bit" => ColumnKind::Bit,
            _ => return None,
        })
    }
}

impl ColumnKind {
    /// The server's name for such columns, for messages.
    pub(crate) fn sql_name(&self) -> &'static str {
        match self {
            ColumnKind::Integer => "integer",
            ColumnKind::Float => "FLOAT",
            ColumnKind::Double => "DOUBLE",
            ColumnKind::Decimal => "DECIMAL",
            ColumnKind::Date => "DATE",
            ColumnKind::DateTime => "DATETIME",
            ColumnKind::Timestamp => "TIMESTAMP",
            ColumnKind::Time => "TIME",
            ColumnKind::Year => "YEAR",
            ColumnKind::Chars => "character or binary",
            ColumnKind::Json => "JSON",
            ColumnKind::Enum(_) => "ENUM",
            ColumnKind::Set(_) => "SET",
            ColumnKind::Bit => "BIT",
        }
    }
}

/// The values of `enum('a','b''c')`: `a`, `b'c`.
fn quoted_values(column_type: &str) -> Vec<String> {
    let Some(inner) = column_type.find('(').and_then(|start| {
        column_type
            .rfind(')')
            .map(|end| &column_type[start + 1..end])
    }) else {
        return Vec::new();
    };
    let mut values = Vec::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    value.push('\'');
                } else {
                    break;
                }
            } else {
                value.push(c);
            }
        }
        values.push(value);
    }
    values
}

/// One value, already in the representation of its declared column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Cell {
    /// SQL NULL.
    Null,
    /// BOOLEAN.
    Bool(bool),
    /// Integer columns; DATE as days, TIMESTAMP and TIME in the column's
    /// unit since the epoch or midnight.
    Int(i64),
    /// DECIMAL, unscaled.
    Decimal(i128),
    /// FLOAT, as bits (so rows compare and hash exactly).
    Float(u32),
    /// DOUBLE, as bits.
    Double(u64),
    /// STRING.
    Text(String),
    /// BYTES.
    Bytes(Vec<u8>),
}

impl Cell {
    /// Converts a server value of a column of `kind` to the declared
    /// `target` type; the error says what did not fit.
    pub(crate) fn of_value(
        kind: &ColumnKind,
        value: Value,
        target: &DataType,
    ) -> Result<Cell, String> {
        if value == Value::NULL {
            return Ok(Cell::Null);
        }
        match target {
            DataType::Boolean => Ok(Cell::Bool(match kind {
                ColumnKind::Bit => bytes(value).iter().any(|b| *b != 0),
                _ => integer(kind, value)? != 0,
            })),
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                let n = integer(kind, value)?;
                let fits = match target {
                    DataType::Int8 => i8::try_from(n).is_ok(),
                    DataType::Int16 => i16::try_from(n).is_ok(),
                    DataType::Int32 => i32::try_from(n).is_ok(),
                    _ => i64::try_from(n).is_ok(),
                };
                if fits {
                    Ok(Cell::Int(n as i64))
                } else {
                    Err(format!("{n} is out of the range of {target}"))
                }
            }
            DataType::Float32 => Ok(Cell::Float((float(kind, value)? as f32).to_bits())),
            DataType::Float64 => Ok(Cell::Double(float(kind, value)?.to_bits())),
            DataType::Decimal128(precision, scale) => {
                decimal(kind, value, *precision, *scale).map(Cell::Decimal)
            }
            DataType::Utf8 => text(kind, value).map(Cell::Text),
            DataType::Binary => Ok(Cell::Bytes(bytes(value))),
            DataType::Date32 => match kind {
                ColumnKind::Date | ColumnKind::DateTime => {
                    let micros = wall_clock_micros(value)?;
                    Ok(Cell::Int(micros.div_euclid(MICROS_PER_DAY)))
                }
                _ => Err(mismatch(kind, target)),
            },
            DataType::Timestamp(unit, zone) => {
                let micros = match (kind, zone) {
                    (ColumnKind::DateTime | ColumnKind::Date, None) => wall_clock_micros(value)?,
                    (ColumnKind::Timestamp, Some(_)) => instant_micros(value)?,
                    _ => return Err(mismatch(kind, target)),
                };
                Ok(Cell::Int(in_unit(micros, *unit)))
            }
            DataType::Time32(unit) | DataType::Time64(unit) if *kind == ColumnKind::Time => {
                let micros = time_micros(value)?;
                if !(0..MICROS_PER_DAY).contains(&micros) {
                    return Err(format!(
                        "the TIME value of {micros} µs is not a time of day, which Flink's TIME holds: declare the column STRING"
                    ));
                }
                Ok(Cell::Int(in_unit(micros, *unit)))
            }
            _ => Err(mismatch(kind, target)),
        }
    }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

fn mismatch(kind: &ColumnKind, target: &DataType) -> String {
    format!("a {} column cannot be read as {target}", kind.sql_name())
}

fn in_unit(micros: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => micros.div_euclid(1_000_000),
        TimeUnit::Millisecond => micros.div_euclid(1_000),
        TimeUnit::Microsecond => micros,
        TimeUnit::Nanosecond => micros.saturating_mul(1_000),
    }
}

fn bytes(value: Value) -> Vec<u8> {
    match value {
        Value::Bytes(b) => b,
        other => other.as_sql(true).into_bytes(),
    }
}

fn utf8(value: Value) -> Result<String, String> {
    String::from_utf8(bytes(value)).map_err(|e| format!("the value is not UTF-8: {e}"))
}

/// An integer column's value (YEAR and BIT too).
fn integer(kind: &ColumnKind, value: Value) -> Result<i128, String> {
    match (kind, value) {
        (_, Value::Int(n)) => Ok(i128::from(n)),
        (_, Value::UInt(n)) => Ok(i128::from(n)),
        (ColumnKind::Bit, value) => Ok(bytes(value)
            .iter()
            .fold(0i128, |n, b| (n << 8) | i128::from(*b))),
        (ColumnKind::Integer | ColumnKind::Year, value) => {
            let text = utf8(value)?;
            text.trim()
                .parse()
                .map_err(|_| format!("'{text}' is not an integer"))
        }
        (kind, _) => Err(mismatch(kind, &DataType::Int64)),
    }
}

/// A FLOAT's value is parsed as single precision (so a FLOAT read as
/// DOUBLE widens the same way from text and from the binlog).
fn float(kind: &ColumnKind, value: Value) -> Result<f64, String> {
    match value {
        Value::Float(f) => Ok(f64::from(f)),
        Value::Double(d) => Ok(d),
        Value::Int(n) => Ok(n as f64),
        Value::UInt(n) => Ok(n as f64),
        value => {
            let text = utf8(value)?;
            let parsed = if *kind == ColumnKind::Float {
                text.trim().parse::<f32>().map(f64::from)
            } else {
                text.trim().parse::<f64>()
            };
            parsed.map_err(|_| format!("'{text}' is not a number"))
        }
    }
}

/// An exact number as the unscaled value at `scale`.
fn decimal(kind: &ColumnKind, value: Value, precision: u8, scale: i8) -> Result<i128, String> {
    let text = match (kind, value) {
        (_, Value::Int(n)) => n.to_string(),
        (_, Value::UInt(n)) => n.to_string(),
        (ColumnKind::Decimal | ColumnKind::Integer, value) => utf8(value)?,
        (kind, _) => return Err(mismatch(kind, &DataType::Decimal128(precision, scale))),
    };
    let unscaled = parse_decimal(text.trim(), scale)
        .ok_or_else(|| format!("'{text}' does not fit DECIMAL({precision}, {scale})"))?;
    if unscaled.unsigned_abs() >= 10u128.pow(u32::from(precision)) {
        return Err(format!(
            "'{text}' does not fit DECIMAL({precision}, {scale})"
        ));
    }
    Ok(unscaled)
}

/// `-12.5` at scale 2 is `-1250`; digits beyond the scale must be zeros.
fn parse_decimal(text: &str, scale: i8) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let scale = usize::try_from(scale).ok()?;
    let (kept, dropped) = fraction.split_at(fraction.len().min(scale));
    if !dropped.chars().all(|c| c == '0') {
        return None;
    }
    let mut unscaled: i128 = 0;
    for c in whole.chars().chain(kept.chars()) {
        unscaled = unscaled
            .checked_mul(10)?
            .checked_add(i128::from(c.to_digit(10)?))?;
    }
    unscaled = unscaled.checked_mul(10i128.checked_pow((scale - kept.len()) as u32)?)?;
    Some(if negative { -unscaled } else { unscaled })
}

/// A value as text: strings as they are, the others as the server writes
/// them.
fn text(kind: &ColumnKind, value: Value) -> Result<String, String> {
    match (kind, value) {
        (ColumnKind::Json, value) => {
            let text = utf8(value)?;
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(json) => Ok(json.to_string()),
                Err(_) => Ok(text),
            }
        }
        (ColumnKind::Float, Value::Float(f)) => Ok(f.to_string()),
        (ColumnKind::Float, value) => {
            let number = float(&ColumnKind::Float, value)? as f32;
            Ok(number.to_string())
        }
        (ColumnKind::Double, value) => Ok(float(kind, value)?.to_string()),
        (ColumnKind::Date, Value::Date(y, m, d, ..)) => Ok(format!("{y:04}-{m:02}-{d:02}")),
        (ColumnKind::DateTime, Value::Date(y, mo, d, h, mi, s, us)) => {
            let mut text = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}");
            if us != 0 {
                text.push_str(&format!(".{us:06}"));
            }
            Ok(text)
        }
        (ColumnKind::Time, Value::Time(negative, days, h, m, s, us)) => {
            let hours = days * 24 + u32::from(h);
            let mut text = format!(
                "{}{hours:02}:{m:02}:{s:02}",
                if negative { "-" } else { "" }
            );
            if us != 0 {
                text.push_str(&format!(".{us:06}"));
            }
            Ok(text)
        }
        (ColumnKind::Timestamp, value) => {
            let micros = instant_micros(value)?;
            let time = chrono::DateTime::from_timestamp_micros(micros)
                .ok_or_else(|| format!("{micros} µs is out of range"))?;
            Ok(time.format("%Y-%m-%d %H:%M:%S%.f").to_string())
        }
        (ColumnKind::Integer | ColumnKind::Year, Value::Int(n)) => Ok(n.to_string()),
        (ColumnKind::Integer | ColumnKind::Year, Value::UInt(n)) => Ok(n.to_string()),
        (_, value) => utf8(value),
    }
}

/// DATE or DATETIME as microseconds since 1970-01-01 00:00 of the wall
/// clock.
fn wall_clock_micros(value: Value) -> Result<i64, String> {
    let time = match value {
        Value::Date(y, mo, d, h, mi, s, us) => {
            NaiveDate::from_ymd_opt(i32::from(y), u32::from(mo), u32::from(d))
                .and_then(|date| {
                    date.and_hms_micro_opt(u32::from(h), u32::from(mi), u32::from(s), us)
                })
                .ok_or_else(|| {
                    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} is not a valid date")
                })?
        }
        value => parse_wall_clock(&utf8(value)?)?,
    };
    Ok(time.and_utc().timestamp_micros())
}

fn parse_wall_clock(text: &str) -> Result<NaiveDateTime, String> {
    let text = text.trim();
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| d.and_time(Default::default()))
        })
        .map_err(|_| format!("'{text}' is not a date and time (zero dates are not supported)"))
}

/// TIMESTAMP as microseconds since the epoch: the binlog carries
/// `seconds[.micros]` since the epoch, a UTC session's text the UTC wall
/// clock.
fn instant_micros(value: Value) -> Result<i64, String> {
    match value {
        Value::Int(seconds) => Ok(seconds * 1_000_000),
        Value::UInt(seconds) => Ok(seconds as i64 * 1_000_000),
        value @ Value::Date(..) => wall_clock_micros(value),
        value => {
            let text = utf8(value)?;
            if text.contains('-') {
                return Ok(parse_wall_clock(&text)?.and_utc().timestamp_micros());
            }
            let (seconds, fraction) = text.split_once('.').unwrap_or((&text, ""));
            let seconds: i64 = seconds
                .parse()
                .map_err(|_| format!("'{text}' is not a timestamp"))?;
            let micros = format!("{fraction:0<6}")[..6]
                .parse::<i64>()
                .map_err(|_| format!("'{text}' is not a timestamp"))?;
            Ok(seconds * 1_000_000 + micros)
        }
    }
}

/// TIME as microseconds from midnight (negative, or past a day, as MySQL
/// allows).
fn time_micros(value: Value) -> Result<i64, String> {
    let (negative, hours, minutes, seconds, micros) = match value {
        Value::Time(negative, days, h, m, s, us) => (
            negative,
            i64::from(days) * 24 + i64::from(h),
            i64::from(m),
            i64::from(s),
            i64::from(us),
        ),
        value => {
            let text = utf8(value)?;
            let bad = || format!("'{text}' is not a time");
            let (negative, rest) = match text.trim().strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, text.trim()),
            };
            let (clock, fraction) = rest.split_once('.').unwrap_or((rest, ""));
            let mut parts = clock
                .split(':')
                .map(|p| p.parse::<i64>().map_err(|_| bad()));
            let (h, m, s) = (
                parts.next().ok_or_else(bad)??,
                parts.next().ok_or_else(bad)??,
                parts.next().ok_or_else(bad)??,
            );
            let micros = format!("{fraction:0<6}")[..6].parse().map_err(|_| bad())?;
            (negative, h, m, s, micros)
        }
    };
    let total = ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + micros;
    Ok(if negative { -total } else { total })
}

impl ColumnKind {
    /// A binlog value as the text protocol gives it: ENUM and SET members
    /// by name rather than by index and bit mask.
    pub(crate) fn binlog_value(&self, value: Value) -> Value {
        match (self, value) {
            (ColumnKind::Enum(values), Value::Int(index)) => {
                let name = usize::try_from(index)
                    .ok()
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|i| values.get(i))
                    .cloned()
                    .unwrap_or_default();
                Value::Bytes(name.into_bytes())
            }
            (ColumnKind::Set(values), Value::Bytes(mask)) => {
                let members: Vec<&str> = values
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask.get(i / 8).is_some_and(|byte| byte >> (i % 8) & 1 == 1))
                    .map(|(_, v)| v.as_str())
                    .collect();
                Value::Bytes(members.join(",").into_bytes())
            }
            (_, value) => value,
        }
    }
}

/// Builds one declared column of a batch from cells.
pub(crate) struct ColumnBuilder {
    builder: Box<dyn ArrayBuilder>,
    data_type: DataType,
}

impl ColumnBuilder {
    /// A builder for `data_type`; `None` for a type no MySQL column maps
    /// to.
    pub(crate) fn new(data_type: &DataType) -> Option<ColumnBuilder> {
        let builder: Box<dyn ArrayBuilder> = match data_type {
            DataType::Boolean => Box::new(BooleanBuilder::new()),
            DataType::Int8 => Box::new(Int8Builder::new()),
            DataType::Int16 => Box::new(Int16Builder::new()),
            DataType::Int32 => Box::new(Int32Builder::new()),
            DataType::Int64 => Box::new(Int64Builder::new()),
            DataType::Float32 => Box::new(Float32Builder::new()),
            DataType::Float64 => Box::new(Float64Builder::new()),
            DataType::Decimal128(p, s) => Box::new(
                Decimal128Builder::new()
                    .with_precision_and_scale(*p, *s)
                    .ok()?,
            ),
            DataType::Utf8 => Box::new(StringBuilder::new()),
            DataType::Binary => Box::new(BinaryBuilder::new()),
            DataType::Date32 => Box::new(Date32Builder::new()),
            DataType::Timestamp(unit, zone) => match unit {
                TimeUnit::Second => {
                    Box::new(TimestampSecondBuilder::new().with_timezone_opt(zone.clone()))
                }
                TimeUnit::Millisecond => {
                    Box::new(TimestampMillisecondBuilder::new().with_timezone_opt(zone.clone()))
                }
                TimeUnit::Microsecond => {
                    Box::new(TimestampMicrosecondBuilder::new().with_timezone_opt(zone.clone()))
                }
                TimeUnit::Nanosecond => {
                    Box::new(TimestampNanosecondBuilder::new().with_timezone_opt(zone.clone()))
                }
            },
            DataType::Time32(TimeUnit::Second) => Box::new(Time32SecondBuilder::new()),
            DataType::Time32(TimeUnit::Millisecond) => Box::new(Time32MillisecondBuilder::new()),
            DataType::Time64(TimeUnit::Microsecond) => Box::new(Time64MicrosecondBuilder::new()),
            DataType::Time64(TimeUnit::Nanosecond) => Box::new(Time64NanosecondBuilder::new()),
            _ => return None,
        };
        Some(ColumnBuilder {
            builder,
            data_type: data_type.clone(),
        })
    }

    /// Appends one cell, made by [`Cell::of_value`] for this column's type.
    pub(crate) fn append(&mut self, cell: &Cell) {
        macro_rules! push {
            ($builder:ty, $value:expr) => {
                if let Some(b) = self.builder.as_any_mut().downcast_mut::<$builder>() {
                    match cell {
                        Cell::Null => b.append_null(),
                        _ => b.append_option($value),
                    }
                }
            };
        }
        let int = match cell {
            Cell::Int(n) => Some(*n),
            _ => None,
        };
        match &self.data_type {
            DataType::Boolean => push!(
                BooleanBuilder,
                match cell {
                    Cell::Bool(b) => Some(*b),
                    _ => None,
                }
            ),
            DataType::Int8 => push!(Int8Builder, int.map(|n| n as i8)),
            DataType::Int16 => push!(Int16Builder, int.map(|n| n as i16)),
            DataType::Int32 => push!(Int32Builder, int.map(|n| n as i32)),
            DataType::Int64 => push!(Int64Builder, int),
            DataType::Float32 => push!(
                Float32Builder,
                match cell {
                    Cell::Float(bits) => Some(f32::from_bits(*bits)),
                    _ => None,
                }
            ),
            DataType::Float64 => push!(
                Float64Builder,
                match cell {
                    Cell::Double(bits) => Some(f64::from_bits(*bits)),
                    _ => None,
                }
            ),
            DataType::Decimal128(..) => push!(
                Decimal128Builder,
                match cell {
                    Cell::Decimal(n) => Some(*n),
                    _ => None,
                }
            ),
            DataType::Utf8 => push!(
                StringBuilder,
                match cell {
                    Cell::Text(t) => Some(t.as_str()),
                    _ => None,
                }
            ),
            DataType::Binary => push!(
                BinaryBuilder,
                match cell {
                    Cell::Bytes(b) => Some(b.as_slice()),
                    _ => None,
                }
            ),
            DataType::Date32 => push!(Date32Builder, int.map(|n| n as i32)),
            DataType::Timestamp(TimeUnit::Second, _) => push!(TimestampSecondBuilder, int),
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                push!(TimestampMillisecondBuilder, int)
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                push!(TimestampMicrosecondBuilder, int)
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => push!(TimestampNanosecondBuilder, int),
            DataType::Time32(TimeUnit::Second) => push!(Time32SecondBuilder, int.map(|n| n as i32)),
            DataType::Time32(_) => push!(Time32MillisecondBuilder, int.map(|n| n as i32)),
            DataType::Time64(TimeUnit::Microsecond) => push!(Time64MicrosecondBuilder, int),
            DataType::Time64(_) => push!(Time64NanosecondBuilder, int),
            _ => {}
        }
    }

    /// The column built so far; the builder starts over.
    pub(crate) fn finish(&mut self) -> ArrayRef {
        self.builder.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(kind: &ColumnKind, value: Value, target: DataType) -> Cell {
        Cell::of_value(kind, value, &target).unwrap()
    }

    #[test]
    fn text_and_binlog_values_of_a_row_give_the_same_cells() {
        let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let pairs = [
            (
                ColumnKind::Integer,
                Value::Bytes(b"-9007199254740993".to_vec()),
                Value::Int(-9007199254740993),
                DataType::Int64,
            ),
            (
                ColumnKind::Integer,
                Value::Bytes(b"18446744073709551615".to_vec()),
                Value::UInt(u64::MAX),
                DataType::Decimal128(20, 0),
            ),
            (
                ColumnKind::Float,
                Value::Bytes(b"1.1".to_vec()),
                Value::Float(1.1),
                DataType::Float64,
            ),
            (
                ColumnKind::Decimal,
                Value::Bytes(b"-12.50".to_vec()),
                Value::Bytes(b"-12.50".to_vec()),
                DataType::Decimal128(10, 3),
            ),
            (
                ColumnKind::DateTime,
                Value::Bytes(b"2024-02-29 23:59:58.123400".to_vec()),
                Value::Date(2024, 2, 29, 23, 59, 58, 123400),
                DataType::Timestamp(TimeUnit::Microsecond, None),
            ),
            (
                ColumnKind::Timestamp,
                Value::Bytes(b"2024-01-02 03:04:05.5".to_vec()),
                Value::Bytes(b"1704164645.500000".to_vec()),
                ts,
            ),
            (
                ColumnKind::Time,
                Value::Bytes(b"-838:59:59".to_vec()),
                Value::Time(true, 34, 22, 59, 59, 0),
                DataType::Utf8,
            ),
            (
                ColumnKind::Time,
                Value::Bytes(b"23:59:59.5".to_vec()),
                Value::Time(false, 0, 23, 59, 59, 500_000),
                DataType::Time64(TimeUnit::Microsecond),
            ),
            (
                ColumnKind::Date,
                Value::Bytes(b"1969-12-31".to_vec()),
                Value::Date(1969, 12, 31, 0, 0, 0, 0),
                DataType::Date32,
            ),
            (
                ColumnKind::Bit,
                Value::Bytes(vec![1]),
                Value::Bytes(vec![1]),
                DataType::Boolean,
            ),
            (
                ColumnKind::Year,
                Value::Bytes(b"2024".to_vec()),
                Value::Bytes(b"2024".to_vec()),
                DataType::Int32,
            ),
            (
                ColumnKind::Integer,
                Value::Bytes(b"1".to_vec()),
                Value::Int(1),
                DataType::Boolean,
            ),
        ];
        for (kind, text, binary, target) in pairs {
            let from_text = cell(&kind, text, target.clone());
            assert_eq!(
                from_text,
                cell(&kind, binary, target.clone()),
                "{kind:?} as {target}"
            );
            assert_ne!(from_text, Cell::Null);
        }
    }

    #[test]
    fn enum_and_set_members_of_the_binlog_read_as_their_names() {
        let kind = ColumnKind::Enum(vec!["a".into(), "b'c".into()].into());
        assert_eq!(
            kind.binlog_value(Value::Int(2)),
            Value::Bytes(b"b'c".to_vec())
        );
        let kind = ColumnKind::Set((0..10).map(|i| format!("m{i}")).collect::<Vec<_>>().into());
        assert_eq!(
            kind.binlog_value(Value::Bytes(vec![0b101, 0b10])),
            Value::Bytes(b"m0,m2,m9".to_vec())
        );
    }

    #[test]
    fn values_convert_to_their_representation() {
        assert_eq!(
            cell(
                &ColumnKind::Decimal,
                Value::Bytes(b"-12.5".to_vec()),
                DataType::Decimal128(10, 2)
            ),
            Cell::Decimal(-1250)
        );
        assert_eq!(
            cell(
                &ColumnKind::Timestamp,
                Value::Bytes(b"1.000001".to_vec()),
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
            ),
            Cell::Int(1000)
        );
        assert_eq!(
            cell(
                &ColumnKind::Time,
                Value::Bytes(b"01:00:00.5".to_vec()),
                DataType::Time32(TimeUnit::Millisecond)
            ),
            Cell::Int(3_600_500)
        );
        let error =
            Cell::of_value(&ColumnKind::Integer, Value::Int(300), &DataType::Int8).unwrap_err();
        assert!(error.contains("out of the range"), "{error}");
        let error = Cell::of_value(
            &ColumnKind::Decimal,
            Value::Bytes(b"1.234".to_vec()),
            &DataType::Decimal128(10, 2),
        )
        .unwrap_err();
        assert!(error.contains("does not fit DECIMAL(10, 2)"), "{error}");
        assert_eq!(quoted_values("enum('a','it''s')"), ["a", "it's"]);
    }
}
