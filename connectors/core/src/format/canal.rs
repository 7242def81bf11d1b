//! `canal-json`: Alibaba Canal's change events (Flink's `canal-json`):
//! `{"data":[{..}],"old":[{..}],"type":"INSERT|UPDATE|DELETE",
//! "database":..,"table":..}`. `old` holds the previous values of the
//! columns an update changed. DDL events (`"isDdl":true`) carry no rows.

use arrow::datatypes::SchemaRef;
use regex::Regex;
use rtdw_operators::RowKind;
use serde_json::Value;

use super::change::{
    Change, ChangeEventDecoder, ChangeEventEncoder, ChangeEvents, before_image, json_object, object,
};
use super::json::{MAP_NULL_KEY_LITERAL, MAP_NULL_KEY_MODE, TIMESTAMP_FORMAT, TimestampStandard};
use super::policy::IGNORE_PARSE_ERRORS;
use super::{FormatError, FormatFactory, FormatOptions, RecordDecoder, RecordEncoder};
use crate::error::ConnectorError;
use crate::options::{ConnectorOption, OptionType};

/// Flink's `canal-json.database.include`.
const DATABASE_INCLUDE: ConnectorOption = ConnectorOption::new(
    "database.include",
    OptionType::String,
    "Only read events of databases matching this regular expression.",
)
.source_only();

/// Flink's `canal-json.table.include`.
const TABLE_INCLUDE: ConnectorOption = ConnectorOption::new(
    "table.include",
    OptionType::String,
    "Only read events of tables matching this regular expression.",
)
.source_only();

/// The `canal-json` format.
pub(super) struct CanalJsonFormat;

impl FormatFactory for CanalJsonFormat {
    fn name(&self) -> &'static str {
        "canal-json"
    }

    fn description(&self) -> &'static str {
        "Canal change events: inserts, updates (with the changed columns' old values) and deletes."
    }

    fn options(&self) -> &'static [ConnectorOption] {
        &[
            IGNORE_PARSE_ERRORS,
            DATABASE_INCLUDE,
            TABLE_INCLUDE,
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
        options: &FormatOptions<'_>,
    ) -> Result<Box<dyn RecordDecoder>, ConnectorError> {
        let pattern = |option: &ConnectorOption| -> Result<Option<Regex>, ConnectorError> {
            let Some(text) = options.string(option) else {
                return Ok(None);
            };
            Regex::new(&format!("^(?:{text})$")).map(Some).map_err(|e| {
                options.invalid(option, text, &format!("must be a regular expression ({e})"))
            })
        };
        let events = CanalEvents {
            database: pattern(&DATABASE_INCLUDE)?,
            table: pattern(&TABLE_INCLUDE)?,
        };
        Ok(Box::new(ChangeEventDecoder::new(schema, events)))
    }

    fn create_encoder(
        &self,
        _schema: &SchemaRef,
        options: &FormatOptions<'_>,
    ) -> Result<Box<dyn RecordEncoder>, ConnectorError> {
        Ok(Box::new(ChangeEventEncoder {
            envelope: canal_event,
            timestamps: TimestampStandard::of(options)?,
        }))
    }
}

/// Reads Canal events, of the included databases and tables.
struct CanalEvents {
    database: Option<Regex>,
    table: Option<Regex>,
}

impl CanalEvents {
    /// Whether the event passes the database and table filters.
    fn included(&self, event: &Value) -> bool {
        let matches = |filter: &Option<Regex>, field: &str| match filter {
            None => true,
            Some(regex) => event
                .get(field)
                .and_then(Value::as_str)
                .is_some_and(|name| regex.is_match(name)),
        };
        matches(&self.database, "database") && matches(&self.table, "table")
    }
}

impl ChangeEvents for CanalEvents {
    fn changes(&self, event: Value, out: &mut Vec<Change>) -> Result<(), FormatError> {
        if event.get("isDdl").and_then(Value::as_bool) == Some(true) || !self.included(&event) {
            return Ok(());
        }
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| FormatError::Invalid("no \"type\" field".into()))?;
        let rows = match event.get("data") {
            Some(Value::Array(rows)) => rows.as_slice(),
            Some(Value::Null) | None => &[],
            Some(_) => {
                return Err(FormatError::Invalid(
                    "the \"data\" field is not an array".into(),
                ));
            }
        };
        match kind {
            "INSERT" => {
                for row in rows {
                    out.push((RowKind::Insert, object(Some(row), "data")?));
                }
            }
            "DELETE" => {
                for row in rows {
                    out.push((RowKind::Delete, object(Some(row), "data")?));
                }
            }
            "UPDATE" => {
                let old = match event.get("old") {
                    Some(Value::Array(old)) if old.len() == rows.len() => old,
                    _ => {
                        return Err(FormatError::Invalid(
                            "an UPDATE event needs an \"old\" array as long as its \"data\"".into(),
                        ));
                    }
                };
                for (row, old) in rows.iter().zip(old) {
                    let after = object(Some(row), "data")?;
                    let before = before_image(&after, &object(Some(old), "old")?);
                    out.push((RowKind::UpdateBefore, before));
                    out.push((RowKind::UpdateAfter, after));
                }
            }
            "CREATE" | "ALTER" | "ERASE" | "TRUNCATE" | "QUERY" => {}
            other => {
                return Err(FormatError::Invalid(format!(
                    "unknown \"type\" value \"{other}\" (expected INSERT, UPDATE or DELETE)"
                )));
            }
        }
        Ok(())
    }
}

/// A change as a Canal event: `+I`/`+U` as INSERT and `-U`/`-D` as
/// DELETE, as Flink writes them.
fn canal_event(kind: RowKind, row: &[u8]) -> Vec<u8> {
    let kind: &[u8] = if kind.is_retraction() {
        b"\"DELETE\""
    } else {
        b"\"INSERT\""
    };
    let mut data = Vec::from(&b"["[..]);
    data.extend_from_slice(row);
    data.push(b']');
    json_object(&[("data", &data), ("type", kind)])
}
