//! Rows to Stream Load bodies, as the Flink connector writes them: CSV
//! lines (NULL as `\N`) or one JSON array of objects
//! (`strip_outer_array`), encoded by the `json` format. For a changelog
//! input every row carries StarRocks's `__op` column last: 0 upserts
//! (`+I`, `+U`), 1 deletes (`-D`, and `-U` unless it is ignored).

use std::io::Write;
use std::sync::Arc;

use arrow::array::{BooleanArray, Int8Array};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::Bytes;
use rtdw_connector_core::format::RecordEncoder;
use rtdw_operators::row_kind::{RowKind, split_row_kinds};
use rtdw_operators::{Result, StreamError};

use crate::options::LoadFormat;

/// StarRocks's column saying whether a row upserts or deletes.
pub(crate) const OP_COLUMN: &str = "__op";

/// `__op` of an upsert.
const UPSERT: i8 = 0;
/// `__op` of a delete.
const DELETE: i8 = 1;

/// How CSV writes timestamps: as StarRocks's `DATETIME` reads them.
const CSV_TIMESTAMP: &str = "%Y-%m-%d %H:%M:%S%.f";

/// Rows encoded and waiting for a load.
pub(crate) struct LoadBuffer {
    body: Vec<u8>,
    rows: usize,
    /// Between two rows.
    separator: Vec<u8>,
    /// Whether the rows are a JSON array.
    json: bool,
}

impl LoadBuffer {
    /// An empty buffer for `format`.
    pub(crate) fn new(format: &LoadFormat) -> Self {
        let (separator, json) = match format {
            LoadFormat::Csv { row_delimiter, .. } => (row_delimiter.clone(), false),
            LoadFormat::Json => (b",".to_vec(), true),
        };
        LoadBuffer {
            body: Vec::new(),
            rows: 0,
            separator,
            json,
        }
    }

    fn push(&mut self, row: &[u8]) {
        if self.rows > 0 {
            self.body.extend_from_slice(&self.separator);
        } else if self.json {
            self.body.push(b'[');
        }
        self.body.extend_from_slice(row);
        self.rows += 1;
    }

    /// Rows buffered.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes buffered.
    pub(crate) fn bytes(&self) -> usize {
        self.body.len()
    }

    /// The body of a load of the buffered rows, emptying the buffer;
    /// `None` when it holds none.
    pub(crate) fn take(&mut self) -> Option<Bytes> {
        if self.rows == 0 {
            return None;
        }
        if self.json {
            self.body.push(b']');
        }
        self.rows = 0;
        Some(Bytes::from(std::mem::take(&mut self.body)))
    }
}

/// How the values of a row become bytes.
pub(crate) enum RowFormat {
    /// Delimited text.
    Csv {
        /// Between two columns.
        separator: Vec<u8>,
    },
    /// JSON objects, by the `json` format's encoder.
    Json(Box<dyn RecordEncoder>),
}

/// Encodes a sink's batches into load bodies.
pub(crate) struct RowEncoder {
    format: RowFormat,
    /// The table's columns, in order.
    columns: Vec<String>,
    ignore_update_before: bool,
    /// Whether the input carries row kinds, known from its first batch.
    changelog: bool,
}

impl RowEncoder {
    /// An encoder of rows of `columns` in `format`; `-U` rows are left
    /// out when `ignore_update_before`.
    pub(crate) fn new(format: RowFormat, columns: Vec<String>, ignore_update_before: bool) -> Self {
        RowEncoder {
            format,
            columns,
            ignore_update_before,
            changelog: false,
        }
    }

    /// The `columns` header: the table's columns (back-quoted), and
    /// `__op` for a changelog.
    pub(crate) fn columns_header(&self) -> String {
        let mut names: Vec<String> = self.columns.iter().map(|c| format!("`{c}`")).collect();
        if self.changelog {
            names.push(OP_COLUMN.to_string());
        }
        names.join(",")
    }

    /// Appends the rows of `batch` to `buffer`.
    pub(crate) fn encode(&mut self, batch: &RecordBatch, buffer: &mut LoadBuffer) -> Result<()> {
        let (data, kinds) = split_row_kinds(batch)?;
        let data = match kinds {
            None => data,
            Some(kinds) => {
                self.changelog = true;
                self.with_ops(&data, &kinds)?
            }
        };
        match &mut self.format {
            RowFormat::Json(encoder) => {
                let mut records = Vec::with_capacity(data.num_rows());
                encoder
                    .encode(&data, &mut records)
                    .map_err(|e| StreamError::Failed(format!("cannot encode rows as JSON: {e}")))?;
                records.iter().for_each(|record| buffer.push(record));
            }
            RowFormat::Csv { separator } => encode_csv(&data, separator, buffer)?,
        }
        Ok(())
    }

    /// `data` with the `__op` column added, without the `-U` rows when
    /// they are ignored.
    fn with_ops(&self, data: &RecordBatch, kinds: &Int8Array) -> Result<RecordBatch> {
        let mut keep = Vec::with_capacity(kinds.len());
        let mut ops = Vec::with_capacity(kinds.len());
        for row in 0..kinds.len() {
            let kind = RowKind::from_byte(kinds.value(row))?;
            let skipped = kind == RowKind::UpdateBefore && self.ignore_update_before;
            keep.push(!skipped);
            if !skipped {
                ops.push(if kind.is_retraction() { DELETE } else { UPSERT });
            }
        }
        let kept = filter_record_batch(data, &BooleanArray::from(keep))?;
        let mut fields: Vec<Arc<Field>> = kept.schema().fields().iter().cloned().collect();
        fields.push(Arc::new(Field::new(
            OP_COLUMN,
            arrow::datatypes::DataType::Int8,
            false,
        )));
        let mut columns = kept.columns().to_vec();
        columns.push(Arc::new(Int8Array::from(ops)));
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }
}

/// Appends each row of `data` as one line: values split by `separator`,
/// NULL as `\N`.
fn encode_csv(data: &RecordBatch, separator: &[u8], buffer: &mut LoadBuffer) -> Result<()> {
    let options = FormatOptions::default()
        .with_null("\\N")
        .with_timestamp_format(Some(CSV_TIMESTAMP))
        .with_timestamp_tz_format(Some(CSV_TIMESTAMP));
    let formatters = data
        .columns()
        .iter()
        .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut line = Vec::new();
    for row in 0..data.num_rows() {
        line.clear();
        for (i, formatter) in formatters.iter().enumerate() {
            if i > 0 {
                line.extend_from_slice(separator);
            }
            write!(line, "{}", formatter.value(row)).map_err(|e| StreamError::Io {
                context: "encoding a row as CSV".into(),
                source: e,
            })?;
        }
        buffer.push(&line);
    }
    Ok(())
}

/// Rows waiting for a load, and when there are enough of them: a sink's
/// `sink.buffer-flush.max-rows` and `sink.buffer-flush.max-bytes`.
pub(crate) struct RowBuffer {
    encoder: RowEncoder,
    buffer: LoadBuffer,
    max_rows: usize,
    max_bytes: usize,
}

impl RowBuffer {
    /// A buffer encoding with `encoder` into bodies of `format`, full at
    /// `max_rows` rows or `max_bytes` bytes.
    pub(crate) fn new(
        encoder: RowEncoder,
        format: &LoadFormat,
        max_rows: usize,
        max_bytes: usize,
    ) -> Self {
        RowBuffer {
            encoder,
            buffer: LoadBuffer::new(format),
            max_rows,
            max_bytes,
        }
    }

    /// Adds the rows of `batch`; true when the buffer should be loaded now.
    pub(crate) fn add(&mut self, batch: &RecordBatch) -> Result<bool> {
        self.encoder.encode(batch, &mut self.buffer)?;
        Ok(self.buffer.rows() >= self.max_rows || self.buffer.bytes() >= self.max_bytes)
    }

    /// The body of a load of everything buffered, with its `columns`
    /// header; `None` when nothing is.
    pub(crate) fn take(&mut self) -> Option<(Bytes, String)> {
        self.buffer
            .take()
            .map(|body| (body, self.encoder.columns_header()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::DataType;
    use rtdw_connector_core::TableDescriptor;
    use rtdw_connector_core::factory::FormatSlot;
    use rtdw_connector_core::format::Formats;
    use rtdw_operators::row_kind::with_row_kinds;

    use super::*;
    use crate::options::FORMAT;

    fn data() -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, false),
                Field::new("name", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    None,
                    Some("c"),
                    Some("d"),
                ])),
            ],
        )
        .unwrap()
    }

    /// `data()` as +I, -U, +U, -D.
    fn changes() -> RecordBatch {
        let kinds = [
            RowKind::Insert,
            RowKind::UpdateBefore,
            RowKind::UpdateAfter,
            RowKind::Delete,
        ];
        with_row_kinds(
            &data(),
            Int8Array::from(kinds.iter().map(|k| *k as i8).collect::<Vec<_>>()),
        )
        .unwrap()
    }

    fn json_encoder(ignore_update_before: bool) -> RowEncoder {
        let table = TableDescriptor {
            name: "t".into(),
            schema: data().schema(),
            options: BTreeMap::from([(FORMAT.key.to_string(), "json".to_string())]),
            primary_key: vec!["id".into()],
            partition_keys: vec![],
            metadata: vec![],
        };
        static SLOT: FormatSlot = FormatSlot {
            option: &FORMAT,
            prefix: "",
        };
        let json = Formats::builtin().resolve(&table, &SLOT).unwrap();
        let encoder = json
            .factory
            .create_encoder(&table.schema, &json.options)
            .unwrap();
        RowEncoder::new(
            RowFormat::Json(encoder),
            vec!["id".into(), "name".into()],
            ignore_update_before,
        )
    }

    fn csv_encoder(separator: &[u8]) -> RowEncoder {
        RowEncoder::new(
            RowFormat::Csv {
                separator: separator.to_vec(),
            },
            vec!["id".into(), "name".into()],
            true,
        )
    }

    fn body(encoder: &mut RowEncoder, format: &LoadFormat, batch: &RecordBatch) -> String {
        let mut buffer = LoadBuffer::new(format);
        encoder.encode(batch, &mut buffer).unwrap();
        String::from_utf8(buffer.take().unwrap().to_vec()).unwrap()
    }

    #[test]
    fn inserts_are_a_json_array_without_op() {
        let mut encoder = json_encoder(true);
        let text = body(&mut encoder, &LoadFormat::Json, &data());
        let rows: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            rows,
            serde_json::json!([
                {"id": 1, "name": "a"}, {"id": 2, "name": null},
                {"id": 3, "name": "c"}, {"id": 4, "name": "d"}
            ])
        );
        assert_eq!(encoder.columns_header(), "`id`,`name`");
    }

    #[test]
    fn changes_carry_op_and_update_befores_are_ignored_by_default() {
        let mut encoder = json_encoder(true);
        let text = body(&mut encoder, &LoadFormat::Json, &changes());
        let rows: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            rows,
            serde_json::json!([
                {"id": 1, "name": "a", "__op": 0},
                {"id": 3, "name": "c", "__op": 0},
                {"id": 4, "name": "d", "__op": 1}
            ])
        );
        assert_eq!(encoder.columns_header(), "`id`,`name`,__op");
    }

    #[test]
    fn update_befores_are_deletes_when_not_ignored() {
        let mut encoder = json_encoder(false);
        let text = body(&mut encoder, &LoadFormat::Json, &changes());
        let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        let ops: Vec<i64> = rows.iter().map(|r| r["__op"].as_i64().unwrap()).collect();
        assert_eq!(ops, vec![0, 1, 0, 1]);
    }

    #[test]
    fn csv_lines_use_the_separators_and_write_null_as_backslash_n() {
        let format = LoadFormat::Csv {
            column_separator: vec![1],
            row_delimiter: b"|\n".to_vec(),
        };
        let mut encoder = csv_encoder(&[1]);
        assert_eq!(
            body(&mut encoder, &format, &changes()),
            "1\u{1}a\u{1}0|\n3\u{1}c\u{1}0|\n4\u{1}d\u{1}1"
        );
        let mut encoder = csv_encoder(b"\t");
        assert_eq!(
            body(&mut encoder, &format, &data()),
            "1\ta|\n2\t\\N|\n3\tc|\n4\td"
        );
    }

    #[test]
    fn a_row_buffer_is_full_at_its_limits_and_empty_after_a_take() {
        let format = LoadFormat::Json;
        let mut rows = RowBuffer::new(json_encoder(true), &format, 6, usize::MAX);
        assert!(!rows.add(&data()).unwrap());
        assert!(rows.add(&data()).unwrap());
        let (body, columns) = rows.take().unwrap();
        let parsed: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed.len(), 8);
        assert_eq!(columns, "`id`,`name`");
        assert!(rows.take().is_none());
        let mut bytes = RowBuffer::new(
            csv_encoder(b","),
            &LoadFormat::Csv {
                column_separator: b",".to_vec(),
                row_delimiter: b"\n".to_vec(),
            },
            usize::MAX,
            8,
        );
        assert!(bytes.add(&data()).unwrap());
    }
}
