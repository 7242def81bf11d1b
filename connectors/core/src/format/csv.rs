//! `csv`: one line of delimited values per record, no header, columns in
//! the table's order (Flink's `csv` format, RFC 4180 quoting).

use arrow::array::Array;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions as DisplayOptions};
use rtdw_operators::row_kind::split_row_kinds;

use super::policy::IGNORE_PARSE_ERRORS;
use super::{FormatError, FormatFactory, FormatOptions, RecordDecoder, RecordEncoder};
use crate::error::ConnectorError;
use crate::options::{ConnectorOption, OptionType};

/// Timestamps as Flink's CSV format writes them.
const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f";

/// Flink's `csv.field-delimiter`.
const FIELD_DELIMITER: ConnectorOption = ConnectorOption::new(
    "field-delimiter",
    OptionType::Character,
    "The character between fields ('\\t' for a tab).",
)
.default_value(",");

/// Flink's `csv.quote-character`.
const QUOTE_CHARACTER: ConnectorOption = ConnectorOption::new(
    "quote-character",
    OptionType::Character,
    "The character that encloses a field holding a delimiter, quote or line break.",
)
.default_value("\"");

/// Flink's `csv.escape-character`.
const ESCAPE_CHARACTER: ConnectorOption = ConnectorOption::new(
    "escape-character",
    OptionType::Character,
    "A character that makes the next one literal inside a field (none by default).",
)
.source_only();

/// Flink's `csv.allow-comments`.
const ALLOW_COMMENTS: ConnectorOption = ConnectorOption::new(
    "allow-comments",
    OptionType::Boolean,
    "Skip lines that start with '#'.",
)
.default_value("false")
.source_only();

/// Flink's `csv.null-literal`.
const NULL_LITERAL: ConnectorOption = ConnectorOption::new(
    "null-literal",
    OptionType::String,
    "The text that stands for NULL (an empty field by default).",
);

/// The `csv` format.
pub(super) struct CsvFormat;

/// The dialect a table's options choose.
#[derive(Debug, Clone)]
struct Dialect {
    delimiter: u8,
    quote: u8,
    escape: Option<u8>,
    comments: bool,
    null_literal: Option<String>,
}

impl Dialect {
    fn new(options: &FormatOptions<'_>) -> Result<Self, ConnectorError> {
        let byte = |option: &ConnectorOption| -> Result<Option<u8>, ConnectorError> {
            match options.character(option)? {
                None => Ok(None),
                Some(c) if c.is_ascii() => Ok(Some(c as u8)),
                Some(c) => {
                    Err(options.invalid(option, &c.to_string(), "must be an ASCII character"))
                }
            }
        };
        Ok(Dialect {
            delimiter: byte(&FIELD_DELIMITER)?.unwrap_or(b','),
            quote: byte(&QUOTE_CHARACTER)?.unwrap_or(b'"'),
            escape: byte(&ESCAPE_CHARACTER)?,
            comments: options.boolean(&ALLOW_COMMENTS)?,
            null_literal: options.string(&NULL_LITERAL).map(str::to_string),
        })
    }
}

impl FormatFactory for CsvFormat {
    fn name(&self) -> &'static str {
        "csv"
    }

    fn description(&self) -> &'static str {
        "Delimited values, one line per record, columns in the table's order, no header."
    }

    fn options(&self) -> &'static [ConnectorOption] {
        &[
            FIELD_DELIMITER,
            QUOTE_CHARACTER,
            ESCAPE_CHARACTER,
            ALLOW_COMMENTS,
            NULL_LITERAL,
            IGNORE_PARSE_ERRORS,
        ]
    }

    fn create_decoder(
        &self,
        schema: &SchemaRef,
        options: &FormatOptions<'_>,
    ) -> Result<Box<dyn RecordDecoder>, ConnectorError> {
        Ok(Box::new(CsvDecoder {
            schema: schema.clone(),
            dialect: Dialect::new(options)?,
        }))
    }

    fn create_encoder(
        &self,
        _schema: &SchemaRef,
        options: &FormatOptions<'_>,
    ) -> Result<Box<dyn RecordEncoder>, ConnectorError> {
        Ok(Box::new(CsvEncoder {
            dialect: Dialect::new(options)?,
        }))
    }
}

/// Decodes delimited lines into rows.
struct CsvDecoder {
    schema: SchemaRef,
    dialect: Dialect,
}

impl RecordDecoder for CsvDecoder {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn decode(&mut self, records: &[&[u8]]) -> Result<Option<RecordBatch>, FormatError> {
        let dialect = &self.dialect;
        let mut builder = arrow::csv::ReaderBuilder::new(self.schema.clone())
            .with_header(false)
            .with_delimiter(dialect.delimiter)
            .with_quote(dialect.quote)
            .with_batch_size(records.len().max(1));
        if let Some(escape) = dialect.escape {
            builder = builder.with_escape(escape);
        }
        if dialect.comments {
            builder = builder.with_comment(b'#');
        }
        if let Some(null) = &dialect.null_literal {
            let pattern = format!("^{}$", regex::escape(null));
            let regex = regex::Regex::new(&pattern)
                .map_err(|e| FormatError::Invalid(format!("null literal: {e}")))?;
            builder = builder.with_null_regex(regex);
        }
        let mut decoder = builder.build_decoder();
        for record in records {
            decoder.decode(record)?;
            decoder.decode(b"\n")?;
        }
        Ok(decoder.flush()?)
    }
}

/// Encodes rows as delimited lines, quoting fields that need it.
struct CsvEncoder {
    dialect: Dialect,
}

impl RecordEncoder for CsvEncoder {
    fn encode(
        &mut self,
        batch: &RecordBatch,
        records: &mut Vec<Vec<u8>>,
    ) -> Result<(), FormatError> {
        let (data, _) = split_row_kinds(batch)?;
        let options = DisplayOptions::default()
            .with_timestamp_format(Some(TIMESTAMP_FORMAT))
            .with_timestamp_tz_format(Some(TIMESTAMP_FORMAT));
        let formatters = data
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        let null = self.dialect.null_literal.as_deref().unwrap_or("");
        for row in 0..data.num_rows() {
            let mut line = Vec::new();
            for (i, (column, formatter)) in data.columns().iter().zip(&formatters).enumerate() {
                if i > 0 {
                    line.push(self.dialect.delimiter);
                }
                if column.is_null(row) {
                    line.extend_from_slice(null.as_bytes());
                } else {
                    self.write_field(&formatter.value(row).to_string(), &mut line);
                }
            }
            records.push(line);
        }
        Ok(())
    }
}

impl CsvEncoder {
    /// Writes one field, enclosed in quotes (inner quotes doubled) when it
    /// holds the delimiter, the quote character or a line break.
    fn write_field(&self, value: &str, line: &mut Vec<u8>) {
        let Dialect {
            delimiter, quote, ..
        } = self.dialect;
        let needs_quotes = value
            .bytes()
            .any(|b| b == delimiter || b == quote || b == b'\n' || b == b'\r');
        if !needs_quotes {
            line.extend_from_slice(value.as_bytes());
            return;
        }
        line.push(quote);
        for b in value.bytes() {
            if b == quote {
                line.push(quote);
            }
            line.push(b);
        }
        line.push(quote);
    }
}
