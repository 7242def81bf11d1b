//! `json`: one JSON object per record, its keys the column names (Flink's
//! `json` format).

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
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
        &[IGNORE_PARSE_ERRORS, FAIL_ON_MISSING_FIELD]
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
        _options: &FormatOptions<'_>,
    ) -> Result<Box<dyn RecordEncoder>, ConnectorError> {
        Ok(Box::new(JsonEncoder))
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

/// Encodes rows as JSON objects, NULLs written out.
struct JsonEncoder;

impl RecordEncoder for JsonEncoder {
    fn encode(
        &mut self,
        batch: &RecordBatch,
        records: &mut Vec<Vec<u8>>,
    ) -> Result<(), FormatError> {
        let (data, _) = split_row_kinds(batch)?;
        encode_objects(&data, |object| records.push(object.to_vec()))
    }
}

/// Writes each row of `data` as one JSON object, NULLs included, handing
/// each to `each` in row order.
pub(super) fn encode_objects(
    data: &RecordBatch,
    mut each: impl FnMut(&[u8]),
) -> Result<(), FormatError> {
    let mut lines = Vec::new();
    let mut writer = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
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
