//! What the changelog formats share: rows decoded from the JSON objects of
//! change events, with their row kinds; rows encoded as JSON objects and
//! wrapped in each format's event envelope.

use std::sync::Arc;

use arrow::array::Int8Array;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use rtdw_operators::RowKind;
use rtdw_operators::row_kind::{changelog_schema, row_kind_at, split_row_kinds};
use serde_json::{Map, Value};

use super::json::{TimestampStandard, decode_objects, encode_objects};
use super::{FormatError, RecordDecoder, RecordEncoder};

/// One change a record holds: its kind and the row's columns by name.
pub(super) type Change = (RowKind, Map<String, Value>);

/// Reads one change event of a JSON changelog format into the changes it
/// holds, in order.
pub(super) trait ChangeEvents: Send {
    /// Appends the event's changes to `out`.
    fn changes(&self, event: Value, out: &mut Vec<Change>) -> Result<(), FormatError>;
}

/// Decodes the events of a JSON changelog format into changelog batches:
/// the data columns, then the row-kind column.
pub(super) struct ChangeEventDecoder<E> {
    data: SchemaRef,
    output: SchemaRef,
    events: E,
}

impl<E> ChangeEventDecoder<E> {
    /// A decoder for rows of `data` whose events `events` reads.
    pub fn new(data: &SchemaRef, events: E) -> Self {
        ChangeEventDecoder {
            data: data.clone(),
            output: changelog_schema(data),
            events,
        }
    }
}

impl<E: ChangeEvents> RecordDecoder for ChangeEventDecoder<E> {
    fn schema(&self) -> &SchemaRef {
        &self.output
    }

    fn decode(&mut self, records: &[&[u8]]) -> Result<Option<RecordBatch>, FormatError> {
        let mut all = Vec::new();
        for record in records {
            self.events
                .changes(serde_json::from_slice(record)?, &mut all)?;
        }
        if all.is_empty() {
            return Ok(None);
        }
        let mut rows = Vec::with_capacity(all.len());
        let mut kinds = Vec::with_capacity(all.len());
        for (kind, row) in all {
            rows.push(serde_json::to_vec(&Value::Object(row))?);
            kinds.push(kind as i8);
        }
        let rows: Vec<&[u8]> = rows.iter().map(Vec::as_slice).collect();
        let Some(batch) = decode_objects(&self.data, &rows)? else {
            return Ok(None);
        };
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(Int8Array::from(kinds)));
        Ok(Some(RecordBatch::try_new(self.output.clone(), columns)?))
    }
}

/// The JSON object of an event's field, or an error naming the field.
pub(super) fn object(
    value: Option<&Value>,
    field: &str,
) -> Result<Map<String, Value>, FormatError> {
    match value {
        Some(Value::Object(map)) => Ok(map.clone()),
        _ => Err(FormatError::Invalid(format!(
            "the \"{field}\" field is not a JSON object"
        ))),
    }
}

/// The row before an update, from the row after it and the old values of
/// the columns that changed (canal's and maxwell's `old`): a column absent
/// from `old` did not change.
pub(super) fn before_image(
    after: &Map<String, Value>,
    old: &Map<String, Value>,
) -> Map<String, Value> {
    let mut before = after.clone();
    for (column, value) in old {
        before.insert(column.clone(), value.clone());
    }
    before
}

/// Encodes rows as the events of a JSON changelog format: each row's JSON
/// object wrapped by the format's envelope according to its row kind.
pub(super) struct ChangeEventEncoder {
    /// Wraps a row's JSON object into the format's event.
    pub envelope: fn(RowKind, &[u8]) -> Vec<u8>,
    /// How timestamps are written.
    pub timestamps: TimestampStandard,
}

impl RecordEncoder for ChangeEventEncoder {
    fn encode(
        &mut self,
        batch: &RecordBatch,
        records: &mut Vec<Vec<u8>>,
    ) -> Result<(), FormatError> {
        let (data, kinds) = split_row_kinds(batch)?;
        let mut row = 0;
        let mut failed = None;
        encode_objects(&data, self.timestamps, true, |object| {
            match row_kind_at(kinds.as_ref(), row) {
                Ok(kind) => records.push((self.envelope)(kind, object)),
                Err(e) => failed = Some(e),
            }
            row += 1;
        })?;
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

/// `{"<a>":<value>,...}` from raw JSON parts, without re-parsing them.
pub(super) fn json_object(fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::from(&b"{"[..]);
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(value);
    }
    out.push(b'}');
    out
}
