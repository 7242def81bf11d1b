//! `debezium-json`: one Debezium change event per record,
//! `{"before":{..},"after":{..},"op":".."}` (inside `"payload"` when the
//! Kafka Connect envelope with its `"schema"` is included), decoded into
//! changelog batches: the table's columns and the row-kind column.
//!
//! `op` `c` (create) and `r` (snapshot read) become `+I` of `after`, `u`
//! becomes `-U` of `before` then `+U` of `after`, `d` becomes `-D` of
//! `before`. Other fields (`source`, `ts_ms`, ...) are ignored. Written
//! as Flink writes it: `+I`/`+U` as `c` events with `after`, `-U`/`-D` as
//! `d` events with `before`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int8Array, StructArray};
use arrow::compute::interleave;
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::json::ReaderBuilder;
use arrow::record_batch::RecordBatch;
use rtdw_operators::row_kind::{RowKind, changelog_schema};

use super::change::{ChangeEventEncoder, json_object};
use super::json::{MAP_NULL_KEY_LITERAL, MAP_NULL_KEY_MODE, TIMESTAMP_FORMAT, TimestampStandard};
use super::policy::IGNORE_PARSE_ERRORS;
use super::{FormatError, FormatFactory, FormatOptions, RecordDecoder, RecordEncoder};
use crate::error::ConnectorError;
use crate::options::{ConnectorOption, OptionType};

/// Flink's `debezium-json.schema-include`.
const SCHEMA_INCLUDE: ConnectorOption = ConnectorOption::new(
    "schema-include",
    OptionType::Boolean,
    "Events come in Kafka Connect's envelope, {\"schema\":..,\"payload\":{..}}.",
)
.default_value("false")
.source_only();

/// The `debezium-json` format.
pub(super) struct DebeziumJsonFormat;

impl FormatFactory for DebeziumJsonFormat {
    fn name(&self) -> &'static str {
        "debezium-json"
    }

    fn description(&self) -> &'static str {
        "Debezium change events with before and after images."
    }

    fn options(&self) -> &'static [ConnectorOption] {
        &[
            SCHEMA_INCLUDE,
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
        options: &FormatOptions<'_>,
    ) -> Result<Box<dyn RecordDecoder>, ConnectorError> {
        Ok(Box::new(ChangeDecoder::new(
            schema,
            options.boolean(&SCHEMA_INCLUDE)?,
        )))
    }

    fn create_encoder(
        &self,
        _schema: &SchemaRef,
        options: &FormatOptions<'_>,
    ) -> Result<Box<dyn RecordEncoder>, ConnectorError> {
        Ok(Box::new(ChangeEventEncoder {
            envelope: debezium_event,
            timestamps: TimestampStandard::of(options)?,
        }))
    }
}

/// Why a change event cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChangeError {
    /// Not JSON, or not of the table's shape.
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    /// The envelope has no `payload` object.
    #[error("no \"payload\" object ('debezium-json.schema-include' is 'true')")]
    MissingPayload,
    /// The event has no `op`.
    #[error("no \"op\" field{}", envelope_hint(*.enveloped))]
    MissingOp {
        /// Whether events were read inside an envelope.
        enveloped: bool,
    },
    /// `op` is none of `c`, `r`, `u`, `d`.
    #[error("unknown \"op\" value \"{0}\" (expected \"c\", \"r\", \"u\" or \"d\")")]
    UnknownOp(String),
    /// An update or delete without the row's old content.
    #[error(
        "the \"before\" field of an \"op\":\"{op}\" event is null; Debezium writes it only when \
         the source table logs whole rows (PostgreSQL: REPLICA IDENTITY FULL)"
    )]
    MissingBefore {
        /// The event's `op`.
        op: String,
    },
    /// A create, read or update without the row's new content.
    #[error("the \"after\" field of an \"op\":\"{op}\" event is null")]
    MissingAfter {
        /// The event's `op`.
        op: String,
    },
}

fn envelope_hint(enveloped: bool) -> &'static str {
    if enveloped {
        ""
    } else {
        " (for events wrapped in {\"schema\":..,\"payload\":..} set \
         'debezium-json.schema-include' = 'true')"
    }
}

/// Which image of the row an output row is taken from, as an index into
/// the arrays given to `interleave`.
const BEFORE: usize = 0;
const AFTER: usize = 1;

/// Decodes Debezium change events into changelog batches.
#[derive(Debug)]
struct ChangeDecoder {
    /// What a line is read as: `before`, `after` and `op`, inside `payload`
    /// when enveloped.
    events: SchemaRef,
    enveloped: bool,
    /// The table's columns and the row-kind column.
    output: SchemaRef,
}

impl ChangeDecoder {
    /// A decoder for a table with columns `data`; `enveloped` when each
    /// event is `{"schema":..,"payload":{..}}`.
    fn new(data: &Schema, enveloped: bool) -> Self {
        let row = DataType::Struct(data.fields().clone());
        let event = Fields::from(vec![
            Field::new("before", row.clone(), true),
            Field::new("after", row, true),
            Field::new("op", DataType::Utf8, true),
        ]);
        let events = if enveloped {
            Schema::new(vec![Field::new("payload", DataType::Struct(event), true)])
        } else {
            Schema::new(event)
        };
        ChangeDecoder {
            events: Arc::new(events),
            enveloped,
            output: changelog_schema(data),
        }
    }

    /// Decodes events into their changes, in order.
    fn decode_events(&self, records: &[&[u8]]) -> Result<Option<RecordBatch>, ChangeError> {
        let mut decoder = ReaderBuilder::new(self.events.clone())
            .with_batch_size(records.len().max(1))
            .build_decoder()?;
        for record in records {
            decoder.decode(record)?;
            decoder.decode(b"\n")?;
        }
        let Some(lines) = decoder.flush()? else {
            return Ok(None);
        };
        let lines = StructArray::from(lines);
        let events = if self.enveloped {
            lines.column(0).as_struct()
        } else {
            &lines
        };
        let before = events.column(0).as_struct();
        let after = events.column(1).as_struct();
        let ops = events.column(2).as_string::<i32>();

        // Which image each change comes from, and its kind.
        let mut picks = Vec::with_capacity(events.len());
        let mut kinds = Vec::with_capacity(events.len());
        for event in 0..events.len() {
            if events.is_null(event) {
                return Err(ChangeError::MissingPayload);
            }
            if ops.is_null(event) {
                return Err(ChangeError::MissingOp {
                    enveloped: self.enveloped,
                });
            }
            let op = ops.value(event);
            match op {
                "u" | "d" if before.is_null(event) => {
                    return Err(ChangeError::MissingBefore { op: op.into() });
                }
                "c" | "r" | "u" if after.is_null(event) => {
                    return Err(ChangeError::MissingAfter { op: op.into() });
                }
                "c" | "r" => {
                    picks.push((AFTER, event));
                    kinds.push(RowKind::Insert as i8);
                }
                "u" => {
                    picks.extend([(BEFORE, event), (AFTER, event)]);
                    kinds.extend([RowKind::UpdateBefore as i8, RowKind::UpdateAfter as i8]);
                }
                "d" => {
                    picks.push((BEFORE, event));
                    kinds.push(RowKind::Delete as i8);
                }
                other => return Err(ChangeError::UnknownOp(other.into())),
            }
        }

        let mut columns: Vec<ArrayRef> = if picks.iter().all(|&(image, _)| image == AFTER) {
            // Inserts only (a snapshot): every event's `after`, as decoded.
            after.columns().to_vec()
        } else {
            before
                .columns()
                .iter()
                .zip(after.columns())
                .map(|(old, new)| interleave(&[old.as_ref(), new.as_ref()], &picks))
                .collect::<Result<_, _>>()?
        };
        columns.push(Arc::new(Int8Array::from(kinds)));
        Ok(Some(RecordBatch::try_new(self.output.clone(), columns)?))
    }
}

impl RecordDecoder for ChangeDecoder {
    fn schema(&self) -> &SchemaRef {
        &self.output
    }

    fn decode(&mut self, records: &[&[u8]]) -> Result<Option<RecordBatch>, FormatError> {
        self.decode_events(records).map_err(|e| match e {
            ChangeError::Arrow(e) => FormatError::Arrow(e),
            other => FormatError::Invalid(other.to_string()),
        })
    }
}

/// A change as a Debezium event.
fn debezium_event(kind: RowKind, row: &[u8]) -> Vec<u8> {
    let (before, after, op): (&[u8], &[u8], &[u8]) = if kind.is_retraction() {
        (row, b"null", b"\"d\"")
    } else {
        (b"null", row, b"\"c\"")
    };
    json_object(&[("before", before), ("after", after), ("op", op)])
}
