//! Values between Arrow and the databases, in their text forms: rows go
//! out as statement parameters in each database's text syntax (MySQL
//! converts strings to the column's type, PostgreSQL takes parameters in
//! its text format), and come back as text parsed into the declared Arrow
//! types. One path for every type, so Flink's type mapping is the
//! databases' own conversion of their literals.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BinaryArray, BooleanArray, StringArray};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use rtdw_connector_core::ConnectorError;
use rtdw_operators::ErrorClass;

use crate::dialect::Statements;
use crate::options::JdbcOptions;
use crate::url::Dialect;

/// One value as it crosses the wire: its text (raw bytes for binary
/// columns of MySQL), or SQL `NULL`.
pub(crate) type WireValue = Option<Vec<u8>>;

/// How timestamps are written: both databases read this form, and a
/// session in UTC makes `TIMESTAMP_LTZ` instants exact.
const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f";

/// Renders the values of Arrow columns for one dialect.
pub(crate) struct Renderer<'a> {
    columns: Vec<ColumnRenderer<'a>>,
}

/// How one column is rendered.
enum ColumnRenderer<'a> {
    /// Through Arrow's display of the value.
    Display(ArrayFormatter<'a>, &'a dyn Array),
    /// Booleans as `1`/`0` (MySQL's TINYINT(1)).
    Bit(&'a BooleanArray),
    /// Bytes as they are (MySQL binary parameters).
    Raw(&'a BinaryArray),
    /// Bytes as `\x` and hex (PostgreSQL's bytea text format).
    Hex(&'a BinaryArray),
}

impl<'a> Renderer<'a> {
    /// A renderer of `columns` for `dialect`.
    pub fn new(columns: &[&'a dyn Array], dialect: Dialect) -> Result<Self, ArrowError> {
        let options = FormatOptions::new()
            .with_timestamp_format(Some(TIMESTAMP_FORMAT))
            .with_timestamp_tz_format(Some(TIMESTAMP_FORMAT));
        let columns = columns
            .iter()
            .map(|&array| {
                let binary = array.as_any().downcast_ref::<BinaryArray>();
                let boolean = array.as_any().downcast_ref::<BooleanArray>();
                Ok(match (dialect, binary, boolean) {
                    (Dialect::MySql, Some(bytes), _) => ColumnRenderer::Raw(bytes),
                    (Dialect::Postgres, Some(bytes), _) => ColumnRenderer::Hex(bytes),
                    (Dialect::MySql, None, Some(bits)) => ColumnRenderer::Bit(bits),
                    _ => ColumnRenderer::Display(ArrayFormatter::try_new(array, &options)?, array),
                })
            })
            .collect::<Result<_, ArrowError>>()?;
        Ok(Renderer { columns })
    }

    /// The value of column `column` in row `row`.
    pub fn value(&self, column: usize, row: usize) -> WireValue {
        match &self.columns[column] {
            ColumnRenderer::Display(formatter, array) => {
                (!array.is_null(row)).then(|| formatter.value(row).to_string().into_bytes())
            }
            ColumnRenderer::Bit(bits) => {
                (!bits.is_null(row)).then(|| if bits.value(row) { b"1" } else { b"0" }.to_vec())
            }
            ColumnRenderer::Raw(bytes) => (!bytes.is_null(row)).then(|| bytes.value(row).to_vec()),
            ColumnRenderer::Hex(bytes) => (!bytes.is_null(row)).then(|| {
                let mut text = String::from("\\x");
                for byte in bytes.value(row) {
                    text.push_str(&format!("{byte:02x}"));
                }
                text.into_bytes()
            }),
        }
    }
}

/// Statements of at most [`Statements::rows_per_statement`] rows each,
/// their SQL built by `sql` for a row count, with the values of `columns`
/// (of equal length) row by row as parameters.
pub(crate) fn statements_with_rows(
    columns: &[&dyn Array],
    dialect: Dialect,
    sql: impl Fn(usize) -> String,
) -> Result<Vec<(String, Vec<WireValue>)>, ArrowError> {
    let count = columns.first().map_or(0, |c| c.len());
    let renderer = Renderer::new(columns, dialect)?;
    let per_statement = Statements::rows_per_statement(columns.len());
    let mut statements = Vec::new();
    let mut start = 0;
    while start < count {
        let rows = per_statement.min(count - start);
        let mut parameters = Vec::with_capacity(rows * columns.len());
        for row in start..start + rows {
            parameters.extend((0..columns.len()).map(|column| renderer.value(column, row)));
        }
        statements.push((sql(rows), parameters));
        start += rows;
    }
    Ok(statements)
}

/// Builds a column of `data_type` from values read in `dialect`'s text
/// form; a value the type cannot hold is an error naming it.
pub(crate) fn column_from_text(
    data_type: &DataType,
    values: Vec<WireValue>,
    dialect: Dialect,
) -> Result<ArrayRef, ArrowError> {
    if *data_type == DataType::Binary {
        let bytes = values
            .into_iter()
            .map(|value| match (value, dialect) {
                (Some(raw), Dialect::MySql) => Ok(Some(raw)),
                (Some(text), Dialect::Postgres) => decode_bytea(&text).map(Some),
                (None, _) => Ok(None),
            })
            .collect::<Result<Vec<_>, ArrowError>>()?;
        return Ok(Arc::new(BinaryArray::from_iter(bytes)));
    }
    let text: StringArray = values
        .into_iter()
        .map(|value| {
            value
                .map(|bytes| {
                    String::from_utf8(bytes).map_err(|e| {
                        ArrowError::CastError(format!("a value is not UTF-8 text: {e}"))
                    })
                })
                .transpose()
                .map(|text| text.map(|t| normalize_timestamp(data_type, t)))
        })
        .collect::<Result<_, ArrowError>>()?;
    if *data_type == DataType::Utf8 {
        return Ok(Arc::new(text));
    }
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    cast_with_options(&text, data_type, &options)
}

/// A batch of `schema`'s columns from rows of text read from `options`'
/// table; a value a column cannot hold is an error naming the column.
pub(crate) fn batch_from_text(
    schema: &SchemaRef,
    rows: Vec<Vec<WireValue>>,
    options: &JdbcOptions,
) -> Result<RecordBatch, ConnectorError> {
    let mut columns: Vec<Vec<WireValue>> =
        vec![Vec::with_capacity(rows.len()); schema.fields().len()];
    for row in rows {
        for (column, value) in columns.iter_mut().zip(row) {
            column.push(value);
        }
    }
    let arrays = schema
        .fields()
        .iter()
        .zip(columns)
        .map(|(field, values)| {
            column_from_text(field.data_type(), values, options.url.dialect).map_err(|e| {
                ConnectorError::external(
                    &options.table,
                    format!("reading column '{}'", field.name()),
                    ErrorClass::User,
                    e,
                )
            })
        })
        .collect::<Result<Vec<_>, ConnectorError>>()?;
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| {
        ConnectorError::external(&options.table, "building a batch", ErrorClass::User, e)
    })
}

/// PostgreSQL writes a `timestamptz` in a UTC session as `... +00`, an
/// offset form Arrow does not parse: the instant is the same without it.
fn normalize_timestamp(data_type: &DataType, text: String) -> String {
    match data_type {
        DataType::Timestamp(_, Some(_)) => match text.strip_suffix("+00") {
            Some(stripped) => stripped.to_string(),
            None => text,
        },
        _ => text,
    }
}

/// PostgreSQL's bytea text format: `\x` and two hex digits a byte.
fn decode_bytea(text: &[u8]) -> Result<Vec<u8>, ArrowError> {
    let invalid = || ArrowError::CastError("a bytea value is not in hex format ('\\x...')".into());
    let hex = text.strip_prefix(b"\\x").ok_or_else(invalid)?;
    hex.chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .filter(|p| p.len() == 2)
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(invalid)
        })
        .collect()
}

/// A MySQL value of the binary protocol in the text form of the text
/// protocol, so that both read through [`column_from_text`].
pub(crate) fn mysql_text(value: mysql_async::Value) -> WireValue {
    use mysql_async::Value;
    match value {
        Value::NULL => None,
        Value::Bytes(bytes) => Some(bytes),
        Value::Int(v) => Some(v.to_string().into_bytes()),
        Value::UInt(v) => Some(v.to_string().into_bytes()),
        Value::Float(v) => Some(v.to_string().into_bytes()),
        Value::Double(v) => Some(v.to_string().into_bytes()),
        Value::Date(year, month, day, hour, minute, second, micros) => Some(
            format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}.{micros:06}")
                .into_bytes(),
        ),
        Value::Time(negative, days, hours, minutes, seconds, micros) => {
            let hours = u32::from(hours) + days * 24;
            let sign = if negative { "-" } else { "" };
            Some(format!("{sign}{hours:02}:{minutes:02}:{seconds:02}.{micros:06}").into_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Date32Array, Decimal128Array, Int64Array, TimestampMicrosecondArray};
    use arrow::datatypes::TimeUnit;

    use super::*;

    fn text(value: WireValue) -> Option<String> {
        value.map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn values_render_in_each_databases_text_syntax() {
        let ids = Int64Array::from(vec![Some(7), None]);
        let amounts = Decimal128Array::from(vec![Some(12345), Some(-5)])
            .with_precision_and_scale(10, 2)
            .unwrap();
        let at = TimestampMicrosecondArray::from(vec![Some(1_700_000_000_123_456), None]);
        let paid = BooleanArray::from(vec![Some(true), Some(false)]);
        let blob = BinaryArray::from(vec![Some(&[0u8, 255][..]), None]);
        let columns: Vec<&dyn Array> = vec![&ids, &amounts, &at, &paid, &blob];
        let mysql = Renderer::new(&columns, Dialect::MySql).unwrap();
        assert_eq!(text(mysql.value(0, 0)).as_deref(), Some("7"));
        assert_eq!(mysql.value(0, 1), None);
        assert_eq!(text(mysql.value(1, 1)).as_deref(), Some("-0.05"));
        assert_eq!(
            text(mysql.value(2, 0)).as_deref(),
            Some("2023-11-14 22:13:20.123456")
        );
        assert_eq!(text(mysql.value(3, 0)).as_deref(), Some("1"));
        assert_eq!(mysql.value(4, 0), Some(vec![0, 255]));
        let postgres = Renderer::new(&columns, Dialect::Postgres).unwrap();
        assert_eq!(text(postgres.value(3, 1)).as_deref(), Some("false"));
        assert_eq!(text(postgres.value(4, 0)).as_deref(), Some("\\x00ff"));
    }

    #[test]
    fn text_parses_into_the_declared_types() {
        let parse = |data_type: &DataType, values: &[Option<&str>], dialect| {
            let values = values
                .iter()
                .map(|v| v.map(|t| t.as_bytes().to_vec()))
                .collect();
            column_from_text(data_type, values, dialect).unwrap()
        };
        let timestamps = parse(
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            &[Some("2023-11-14 22:13:20.5+00"), None],
            Dialect::Postgres,
        );
        let timestamps = timestamps
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(timestamps.value(0), 1_700_000_000_500_000);
        assert!(timestamps.is_null(1));
        let flags = parse(
            &DataType::Boolean,
            &[Some("t"), Some("0")],
            Dialect::Postgres,
        );
        let flags = flags.as_any().downcast_ref::<BooleanArray>().unwrap();
        assert!(flags.value(0) && !flags.value(1));
        let dates = parse(&DataType::Date32, &[Some("1970-01-02")], Dialect::MySql);
        assert_eq!(
            dates
                .as_any()
                .downcast_ref::<Date32Array>()
                .unwrap()
                .value(0),
            1
        );
        let bytes = parse(&DataType::Binary, &[Some("\\x0aff")], Dialect::Postgres);
        assert_eq!(
            bytes
                .as_any()
                .downcast_ref::<BinaryArray>()
                .unwrap()
                .value(0),
            [10, 255]
        );
        let wrong = column_from_text(
            &DataType::Int32,
            vec![Some(b"twelve".to_vec())],
            Dialect::MySql,
        );
        assert!(wrong.is_err());
    }

    #[test]
    fn binary_protocol_values_read_as_their_text() {
        use mysql_async::Value;
        assert_eq!(text(mysql_text(Value::Int(-3))).as_deref(), Some("-3"));
        assert_eq!(
            text(mysql_text(Value::Date(2024, 2, 29, 23, 5, 1, 42))).as_deref(),
            Some("2024-02-29 23:05:01.000042")
        );
        assert_eq!(
            text(mysql_text(Value::Time(true, 1, 2, 3, 4, 0))).as_deref(),
            Some("-26:03:04.000000")
        );
        assert_eq!(mysql_text(Value::NULL), None);
    }
}
