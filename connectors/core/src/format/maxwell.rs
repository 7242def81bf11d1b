//! `maxwell-json`: Maxwell's change events (Flink's `maxwell-json`):
//! `{"database":..,"table":..,"type":"insert|update|delete","data":{..},
//! "old":{..}}`. `old` holds the previous values of the columns an update
//! changed.

use arrow::datatypes::SchemaRef;
use rtdw_operators::RowKind;
use serde_json::Value;

use super::change::{
    Change, ChangeEventDecoder, ChangeEventEncoder, ChangeEvents, before_image, json_object, object,
};
use super::json::{MAP_NULL_KEY_LITERAL, MAP_NULL_KEY_MODE, TIMESTAMP_FORMAT, TimestampStandard};
use super::policy::IGNORE_PARSE_ERRORS;
use super::{FormatError, FormatFactory, FormatOptions, RecordDecoder, RecordEncoder};
use crate::error::ConnectorError;
use crate::options::ConnectorOption;

/// The `maxwell-json` format.
pub(super) struct MaxwellJsonFormat;

impl FormatFactory for MaxwellJsonFormat {
    fn name(&self) -> &'static str {
        "maxwell-json"
    }

    fn description(&self) -> &'static str {
        "Maxwell change events: inserts, updates (with the changed columns' old values) and deletes."
    }

    fn options(&self) -> &'static [ConnectorOption] {
        &[
            IGNORE_PARSE_ERRORS,
            TIMESTAMP_FORMAT,
            MAP_NULL_KEY_MODE,
            MAP_NULL_KEY_LITERAL,
        ]
    }

    fn changelog(&self) -> bool {
        true
    }

    fn create_decoder(
        &self,
        schema: &SchemaRef,
        _options: &FormatOptions<'_>,
    ) -> Result<Box<dyn RecordDecoder>, ConnectorError> {
        Ok(Box::new(ChangeEventDecoder::new(schema, MaxwellEvents)))
    }

    fn create_encoder(
        &self,
        _schema: &SchemaRef,
        options: &FormatOptions<'_>,
    ) -> Result<Box<dyn RecordEncoder>, ConnectorError> {
        Ok(Box::new(ChangeEventEncoder {
            envelope: maxwell_event,
            timestamps: TimestampStandard::of(options)?,
        }))
    }
}

/// Reads Maxwell events.
struct MaxwellEvents;

impl ChangeEvents for MaxwellEvents {
    fn changes(&self, event: Value, out: &mut Vec<Change>) -> Result<(), FormatError> {
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| FormatError::Invalid("no \"type\" field".into()))?;
        let data = object(event.get("data"), "data");
        match kind {
            "insert" => out.push((RowKind::Insert, data?)),
            "delete" => out.push((RowKind::Delete, data?)),
            "update" => {
                let after = data?;
                let before = before_image(&after, &object(event.get("old"), "old")?);
                out.push((RowKind::UpdateBefore, before));
                out.push((RowKind::UpdateAfter, after));
            }
            other => {
                return Err(FormatError::Invalid(format!(
                    "unknown \"type\" value \"{other}\" (expected insert, update or delete)"
                )));
            }
        }
        Ok(())
    }
}

/// A change as a Maxwell event: `+I`/`+U` as insert and `-U`/`-D` as
/// delete, as Flink writes them.
fn maxwell_event(kind: RowKind, row: &[u8]) -> Vec<u8> {
    let kind: &[u8] = if kind.is_retraction() {
        b"\"delete\""
    } else {
        b"\"insert\""
    };
    json_object(&[("data", row), ("type", kind)])
}
