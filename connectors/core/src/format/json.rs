//! `json`: one JSON object per record, its keys the column names (Flink's
//! `json` format).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions as DisplayOptions};
use rtdw_operators::row_kind::split_row_kinds;

use super::policy::IGNORE_PARSE_ERRORS;
use super::{FormatError, FormatFactory, FormatOptions, RecordDecoder, RecordEncoder};
use crate::error::ConnectorError;
use crate::options::{ConnectorOption, OptionType};

/// Flink's `json.fail-on-missing-field`.
const FAIL_ON_MISSING_FIELD: ConnectorOption = ConnectorOption::new(
    "fail-on-missing-field",
    OptionType::Boolean,
    "Treat a record that lacks one of the table's columns as malformed (else the column reads NULL).",
)
.default_value("false")
.source_only();

/// Flink's `<format>.timestamp-format.standard`, declared by every JSON
/// format.
pub(super) const TIMESTAMP_FORMAT: ConnectorOption = ConnectorOption::new(
    "timestamp-format.standard",
    OptionType::Enum(&["SQL", "ISO-8601"]),
    "How TIMESTAMP and TIMESTAMP_LTZ values are written: 'SQL' as 2020-12-30 12:13:14.123 (TIMESTAMP_LTZ with a trailing Z), 'ISO-8601' as 2020-12-30T12:13:14.123; both are read.",
)
.default_value("SQL");

/// Flink's `<format>.map-null-key.mode`, declared by every JSON format.
pub(super) const MAP_NULL_KEY_MODE: ConnectorOption = ConnectorOption::new(
    "map-null-key.mode",
    OptionType::Enum(&["FAIL", "DROP", "LITERAL"]),
    "What a NULL key of a MAP column becomes when written: an error, no entry, or 'map-null-key.literal'. rtdw has no MAP type yet, so, as in Flink for a table without MAP columns, no value is affected.",
)
.default_value("FAIL")
.sink_only();

/// Flink's `<format>.map-null-key.literal`, declared by every JSON format.
pub(super) const MAP_NULL_KEY_LITERAL: ConnectorOption = ConnectorOption::new(
    "map-null-key.literal",
    OptionType::String,
    "The key written for a NULL MAP key under 'map-null-key.mode' = 'LITERAL'.",
)
.default_value("null")
.sink_only();

/// Flink's `json.encode.ignore-null-fields`.
const ENCODE_IGNORE_NULL_FIELDS: ConnectorOption = ConnectorOption::new(
    "encode.ignore-null-fields",
    OptionType::Boolean,
    "Leave NULL columns out of the written object instead of writing them as null.",
)
.default_value("false")
.sink_only();

/// How the JSON formats write TIMESTAMP and TIMESTAMP_LTZ values, as
/// Flink's do: the fraction of a second with as many digits as it needs
/// (none when it is zero), and a `Z` after a TIMESTAMP_LTZ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimestampStandard {
    /// `2020-12-30 12:13:14.123`.
    Sql,
    /// `2020-12-30T12:13:14.123`.
    Iso8601,
}

impl TimestampStandard {
    /// The standard a table's format options choose.
    pub(super) fn of(options: &FormatOptions<'_>) -> Result<Self, ConnectorError> {
        Ok(match options.choice(&TIMESTAMP_FORMAT)? {
            Some("ISO-8601") => TimestampStandard::Iso8601,
            _ => TimestampStandard::Sql,
        })
    }

    /// `data` with its timestamp columns as text in this standard.
    fn format_timestamps(self, data: &RecordBatch) -> Result<RecordBatch, FormatError> {
        let schema = data.schema();
        if !schema
            .fields()
            .iter()
            .any(|f| matches!(f.data_type(), DataType::Timestamp(_, _)))
        {
            return Ok(data.clone());
        }
        let mut fields = Vec::with_capacity(data.num_columns());
        let mut columns = Vec::with_capacity(data.num_columns());
        for (field, column) in schema.fields().iter().zip(data.columns()) {
            match field.data_type() {
                DataType::Timestamp(_, zone) => {
                    fields.push(Field::new(
                        field.name(),
                        DataType::Utf8,
                        field.is_nullable(),
                    ));
                    columns.push(self.timestamp_text(column, zone.is_some())?);
                }
                _ => {
                    fields.push(field.as_ref().clone());
                    columns.push(column.clone());
                }
            }
        }
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }

    /// The values of a timestamp column as text.
    fn timestamp_text(self, column: &ArrayRef, with_zone: bool) -> Result<ArrayRef, FormatError> {
        const PATTERN: &str = "%Y-%m-%dT%H:%M:%S%.9f";
        let options = DisplayOptions::default()
            .with_timestamp_format(Some(PATTERN))
            .with_timestamp_tz_format(Some(PATTERN));
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        let texts: StringArray = (0..column.len())
            .map(|row| {
                column.is_valid(row).then(|| {
                    let mut text = formatter.value(row).to_string();
                    let fraction = text.trim_end_matches('0').trim_end_matches('.').len();
                    text.truncate(fraction);
                    if self == TimestampStandard::Sql {
                        text = text.replacen('T', " ", 1);
                    }
                    if with_zone {
                        text.push('Z');
                    }
                    text
                })
            })
            .collect();
        Ok(Arc::new(texts))
    }
}

/// The `json` format.
pub(super) struct JsonFormat;

impl FormatFactory for JsonFormat {
    fn name(&self) -> &'static str {
        "json"
    }

    fn description(&self) -> &'static str {
        "One JSON object per record, keyed by column name."
    }

    fn options(&self) -> &'static [ConnectorOption] {
        &[
            IGNORE_PARSE_ERRORS,
            FAIL_ON_MISSING_FIELD,
            TIMESTAMP_FORMAT,
            MAP_NULL_KEY_MODE,
            MAP_NULL_KEY_LITERAL,
            ENCODE_IGNORE_NULL_FIELDS,
        ]
    }

    fn create_decoder(
        &self,
        schema: &SchemaRef,
        options: &FormatOptions<'_>,
    ) -> Result<Box<dyn RecordDecoder>, ConnectorError> {
        Ok(Box::new(JsonDecoder {
            schema: schema.clone(),
            fail_on_missing_field: options.boolean(&FAIL_ON_MISSING_FIELD)?,
        }))
    }

    fn create_encoder(
        &self,
        _schema: &SchemaRef,
        options: &FormatOptions<'_>,
    ) -> Result<Box<dyn RecordEncoder>, ConnectorError> {
        Ok(Box::new(JsonEncoder {
            timestamps: TimestampStandard::of(options)?,
            explicit_nulls: !options.boolean(&ENCODE_IGNORE_NULL_FIELDS)?,
        }))
    }
}

/// Decodes JSON objects into rows of the table's columns.
struct JsonDecoder {
    schema: SchemaRef,
    fail_on_missing_field: bool,
}

impl RecordDecoder for JsonDecoder {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn decode(&mut self, records: &[&[u8]]) -> Result<Option<RecordBatch>, FormatError> {
        if self.fail_on_missing_field {
            for record in records {
                check_fields_present(&self.schema, record)?;
            }
        }
        decode_objects(&self.schema, records)
    }
}

/// Fails when the JSON object `record` has no key for one of the columns.
fn check_fields_present(schema: &SchemaRef, record: &[u8]) -> Result<(), FormatError> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(record)?;
    match schema
        .fields()
        .iter()
        .find(|f| !object.contains_key(f.name()))
    {
        Some(missing) => Err(FormatError::Invalid(format!(
            "field '{}' is missing ('json.fail-on-missing-field' is 'true')",
            missing.name()
        ))),
        None => Ok(()),
    }
}

/// Decodes JSON objects, one per record, into a batch of `schema`.
pub(super) fn decode_objects(
    schema: &SchemaRef,
    records: &[&[u8]],
) -> Result<Option<RecordBatch>, FormatError> {
    let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(records.len().max(1))
        .build_decoder()?;
    for record in records {
        decoder.decode(record)?;
        // A record must be one whole value: a record cut short would
        // otherwise run into the next.
        decoder.decode(b"\n")?;
    }
    Ok(decoder.flush()?)
}

/// Encodes rows as JSON objects.
struct JsonEncoder {
    timestamps: TimestampStandard,
    /// Write NULL columns as `null` (else leave them out).
    explicit_nulls: bool,
}

impl RecordEncoder for JsonEncoder {
    fn encode(
        &mut self,
        batch: &RecordBatch,
        records: &mut Vec<Vec<u8>>,
    ) -> Result<(), FormatError> {
        let (data, _) = split_row_kinds(batch)?;
        encode_objects(&data, self.timestamps, self.explicit_nulls, |object| {
            records.push(object.to_vec())
        })
    }
}

/// Writes each row of `data` as one JSON object, timestamps in
/// `timestamps` and NULL columns written out when `explicit_nulls`,
/// handing each to `each` in row order.
pub(super) fn encode_objects(
    data: &RecordBatch,
    timestamps: TimestampStandard,
    explicit_nulls: bool,
    mut each: impl FnMut(&[u8]),
) -> Result<(), FormatError> {
    let data = &timestamps.format_timestamps(data)?;
    let mut lines = Vec::new();
    let mut writer = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(explicit_nulls)
        .build::<_, arrow::json::writer::LineDelimited>(&mut lines);
    writer.write(data)?;
    writer.finish()?;
    // JSON text escapes newlines inside strings, so lines are rows.
    lines
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .for_each(&mut each);
    Ok(())
}
