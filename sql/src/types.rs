//! Flink SQL column types to Arrow types.

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::sql::sqlparser::ast::{self, ExactNumberInfo, TimezoneInfo};

/// Maps a column type as written in `CREATE TABLE` to its Arrow type.
pub fn arrow_type(sql_type: &ast::DataType) -> Result<DataType, String> {
    use ast::DataType as T;
    Ok(match sql_type {
        T::Boolean | T::Bool => DataType::Boolean,
        T::TinyInt(_) => DataType::Int8,
        T::SmallInt(_) => DataType::Int16,
        T::Int(_) | T::Integer(_) => DataType::Int32,
        T::BigInt(_) => DataType::Int64,
        T::Float(_) | T::Real => DataType::Float32,
        T::Double(_) | T::DoublePrecision => DataType::Float64,
        T::Decimal(info) | T::Numeric(info) | T::Dec(info) => decimal(info)?,
        T::String(_)
        | T::Varchar(_)
        | T::Char(_)
        | T::Character(_)
        | T::CharacterVarying(_)
        | T::CharVarying(_)
        | T::Text => DataType::Utf8,
        T::Bytes(_) | T::Binary(_) | T::Varbinary(_) => DataType::Binary,
        T::Date => DataType::Date32,
        T::Time(precision, _) => match precision.unwrap_or(0) {
            0..=3 => DataType::Time32(TimeUnit::Millisecond),
            4..=6 => DataType::Time64(TimeUnit::Microsecond),
            7..=9 => DataType::Time64(TimeUnit::Nanosecond),
            p => return Err(format!("time precision {p} is out of range 0..9")),
        },
        T::Timestamp(precision, tz) => {
            let zone = match tz {
                TimezoneInfo::None | TimezoneInfo::WithoutTimeZone => None,
                TimezoneInfo::WithTimeZone | TimezoneInfo::Tz => Some("UTC".into()),
            };
            DataType::Timestamp(time_unit(*precision)?, zone)
        }
        T::Custom(name, args) if name.to_string().eq_ignore_ascii_case("TIMESTAMP_LTZ") => {
            let precision = match args.as_slice() {
                [] => None,
                [p] => Some(
                    p.parse::<u64>()
                        .map_err(|_| format!("invalid precision '{p}'"))?,
                ),
                _ => return Err("TIMESTAMP_LTZ takes one precision".into()),
            };
            DataType::Timestamp(time_unit(precision)?, Some("UTC".into()))
        }
        T::Custom(name, _) if name.to_string().eq_ignore_ascii_case("STRING") => DataType::Utf8,
        T::Map(key, value) => {
            rtdw_connector_core::types::map_type(arrow_type(key)?, arrow_type(value)?)
        }
        other => return Err(format!("column type {other} is not supported")),
    })
}

fn decimal(info: &ExactNumberInfo) -> Result<DataType, String> {
    let (precision, scale) = match info {
        ExactNumberInfo::None => (10, 0),
        ExactNumberInfo::Precision(p) => (*p, 0),
        ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s),
    };
    if !(1..=38).contains(&precision) || scale < 0 || scale as u64 > precision {
        return Err(format!(
            "DECIMAL({precision}, {scale}) is out of range: precision 1..38, scale 0..precision"
        ));
    }
    Ok(DataType::Decimal128(precision as u8, scale as i8))
}

/// Flink's TIMESTAMP precision (default 6) as an Arrow time unit.
fn time_unit(precision: Option<u64>) -> Result<TimeUnit, String> {
    Ok(match precision.unwrap_or(6) {
        0 => TimeUnit::Second,
        1..=3 => TimeUnit::Millisecond,
        4..=6 => TimeUnit::Microsecond,
        7..=9 => TimeUnit::Nanosecond,
        p => return Err(format!("timestamp precision {p} is out of range 0..9")),
    })
}
