//! `raw`: the record's bytes are the value of the table's single column
//! (Flink's `raw` format), as text (`STRING`) or bytes (`BYTES`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, StringArray};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use rtdw_operators::row_kind::split_row_kinds;

use super::policy::IGNORE_PARSE_ERRORS;
use super::{FormatError, FormatFactory, FormatOptions, RecordDecoder, RecordEncoder};
use crate::error::ConnectorError;
use crate::options::{ConnectorOption, OptionType};
use crate::table::TableDescriptor;

/// Flink's `raw.charset`; text is UTF-8 in rtdw, as in Flink by default.
const CHARSET: ConnectorOption = ConnectorOption::new(
    "charset",
    OptionType::Enum(&["UTF-8"]),
    "The character set of text values.",
)
.default_value("UTF-8");

/// The `raw` format.
pub(super) struct RawFormat;

impl FormatFactory for RawFormat {
    fn name(&self) -> &'static str {
        "raw"
    }

    fn description(&self) -> &'static str {
        "The whole record as the value of the table's one STRING or BYTES column."
    }

    fn options(&self) -> &'static [ConnectorOption] {
        &[CHARSET, IGNORE_PARSE_ERRORS]
    }

    fn validate(&self, table: &TableDescriptor, schema: &SchemaRef) -> Result<(), ConnectorError> {
        let fields = schema.fields();
        match fields.first() {
            Some(field) if fields.len() == 1 => match field.data_type() {
                DataType::Utf8 | DataType::Binary => Ok(()),
                other => Err(ConnectorError::UnsupportedColumn {
                    table: table.name.clone(),
                    column: field.name().clone(),
                    data_type: other.to_string(),
                    reason: "the 'raw' format carries one STRING or BYTES column".into(),
                }),
            },
            _ => Err(ConnectorError::UnsupportedColumn {
                table: table.name.clone(),
                column: fields
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                data_type: format!("{} columns", fields.len()),
                reason: "the 'raw' format carries exactly one column".into(),
            }),
        }
    }

    fn create_decoder(
        &self,
        schema: &SchemaRef,
        _options: &FormatOptions<'_>,
    ) -> Result<Box<dyn RecordDecoder>, ConnectorError> {
        Ok(Box::new(RawDecoder {
            schema: schema.clone(),
        }))
    }

    fn create_encoder(
        &self,
        _schema: &SchemaRef,
        _options: &FormatOptions<'_>,
    ) -> Result<Box<dyn RecordEncoder>, ConnectorError> {
        Ok(Box::new(RawEncoder))
    }
}

/// Makes each record one row.
struct RawDecoder {
    schema: SchemaRef,
}

impl RecordDecoder for RawDecoder {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn decode(&mut self, records: &[&[u8]]) -> Result<Option<RecordBatch>, FormatError> {
        if records.is_empty() {
            return Ok(None);
        }
        let column: ArrayRef = match self.schema.field(0).data_type() {
            DataType::Utf8 => {
                let texts = records
                    .iter()
                    .map(|r| std::str::from_utf8(r))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| FormatError::Invalid(format!("not UTF-8 text: {e}")))?;
                Arc::new(StringArray::from(texts))
            }
            _ => Arc::new(BinaryArray::from(records.to_vec())),
        };
        Ok(Some(RecordBatch::try_new(
            self.schema.clone(),
            vec![column],
        )?))
    }
}

/// Writes each row's one value as the record; a NULL is an empty record.
struct RawEncoder;

impl RecordEncoder for RawEncoder {
    fn encode(
        &mut self,
        batch: &RecordBatch,
        records: &mut Vec<Vec<u8>>,
    ) -> Result<(), FormatError> {
        let (data, _) = split_row_kinds(batch)?;
        let column = data.column(0);
        for row in 0..data.num_rows() {
            if column.is_null(row) {
                records.push(Vec::new());
                continue;
            }
            records.push(match column.data_type() {
                DataType::Utf8 => column.as_string::<i32>().value(row).as_bytes().to_vec(),
                _ => column.as_binary::<i32>().value(row).to_vec(),
            });
        }
        Ok(())
    }
}
