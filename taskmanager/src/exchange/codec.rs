//! Stream elements as Arrow Flight messages.
//!
//! A batch travels as an IPC record-batch message, preceded by an IPC schema
//! message whenever its schema differs from the previous batch's. A control
//! element travels as a message with no IPC header and a
//! [`ControlElement`] protobuf in `app_metadata`. The first message of a
//! stream carries only the descriptor naming the channel.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::ipc::writer::{DictionaryTracker, IpcDataGenerator, IpcWriteContext, IpcWriteOptions};
use arrow::record_batch::RecordBatch;
use arrow_flight::{FlightData, SchemaAsIpc};
use prost::Message;
use rtdw_operators::{Barrier, Element};
use rtdw_proto::v1::{self, control_element::Kind};

/// Why a message could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Arrow IPC failed.
    #[error("arrow IPC: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The control protobuf was malformed.
    #[error("malformed control element: {0}")]
    Control(#[from] prost::DecodeError),
    /// A record batch arrived before any schema.
    #[error("record batch before schema")]
    NoSchema,
    /// An IPC message of another kind.
    #[error("unexpected IPC message {0}")]
    Unexpected(String),
}

/// Encodes the elements of one channel, sending schemas when they change.
#[derive(Default)]
pub struct Encoder {
    schema: Option<SchemaRef>,
    options: IpcWriteOptions,
}

impl Encoder {
    /// The Flight messages for one element.
    pub fn encode(&mut self, element: &Element) -> Result<Vec<FlightData>, CodecError> {
        let control = |kind| {
            let bytes = v1::ControlElement { kind: Some(kind) }.encode_to_vec();
            vec![FlightData {
                app_metadata: bytes.into(),
                ..Default::default()
            }]
        };
        Ok(match element {
            Element::Batch(batch) => {
                let batch = without_dictionaries(batch)?;
                let mut messages = Vec::with_capacity(2);
                if self.schema.as_ref() != Some(batch.schema_ref()) {
                    messages.push(SchemaAsIpc::new(batch.schema_ref(), &self.options).into());
                    self.schema = Some(batch.schema());
                }
                let mut tracker = DictionaryTracker::new(false);
                let (_, encoded) = IpcDataGenerator::default().encode(
                    &batch,
                    &mut tracker,
                    &self.options,
                    &mut IpcWriteContext::default(),
                )?;
                messages.push(encoded.into());
                messages
            }
            Element::Watermark(ts) => control(Kind::Watermark(*ts)),
            Element::Barrier(b) => control(Kind::Barrier(v1::Barrier {
                checkpoint_id: b.checkpoint_id,
                savepoint: b.savepoint,
                location: b.location.to_string(),
                trace_parent: b.trace_parent.to_string(),
            })),
            Element::Idle => control(Kind::Idle(true)),
            Element::EndOfInput => control(Kind::EndOfInput(true)),
        })
    }
}

/// Casts dictionary-encoded columns to their value type, so no dictionary
/// state has to be kept per channel.
fn without_dictionaries(batch: &RecordBatch) -> Result<RecordBatch, CodecError> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Dictionary(_, _)))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        match field.data_type() {
            DataType::Dictionary(_, value) => {
                columns.push(cast(column, value)?);
                fields.push(Field::new(
                    field.name(),
                    value.as_ref().clone(),
                    field.is_nullable(),
                ));
            }
            _ => {
                columns.push(column.clone());
                fields.push(field.as_ref().clone());
            }
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Decodes the messages of one channel.
#[derive(Default)]
pub struct Decoder {
    schema: Option<SchemaRef>,
}

impl Decoder {
    /// The element a message carries, if any (schema and descriptor
    /// messages carry none).
    pub fn decode(&mut self, data: &FlightData) -> Result<Option<Element>, CodecError> {
        if data.data_header.is_empty() {
            if data.app_metadata.is_empty() {
                return Ok(None);
            }
            let control = v1::ControlElement::decode(data.app_metadata.as_ref())?;
            return Ok(match control.kind {
                Some(Kind::Watermark(ts)) => Some(Element::Watermark(ts)),
                Some(Kind::Barrier(b)) => Some(Element::Barrier(Barrier {
                    checkpoint_id: b.checkpoint_id,
                    savepoint: b.savepoint,
                    location: b.location.into(),
                    trace_parent: b.trace_parent.into(),
                })),
                Some(Kind::EndOfInput(_)) => Some(Element::EndOfInput),
                Some(Kind::Idle(_)) => Some(Element::Idle),
                None => None,
            });
        }
        let message = arrow::ipc::root_as_message(&data.data_header[..])
            .map_err(|e| CodecError::Unexpected(format!("undecodable IPC header: {e}")))?;
        match message.header_type() {
            arrow::ipc::MessageHeader::Schema => {
                self.schema = Some(Arc::new(Schema::try_from(data)?));
                Ok(None)
            }
            arrow::ipc::MessageHeader::RecordBatch => {
                let schema = self.schema.clone().ok_or(CodecError::NoSchema)?;
                let batch =
                    arrow_flight::utils::flight_data_to_arrow_batch(data, schema, &HashMap::new())?;
                Ok(Some(Element::Batch(batch)))
            }
            other => Err(CodecError::Unexpected(format!("{other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};

    use super::*;

    #[test]
    fn elements_survive_the_round_trip_in_order() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None, Some(-3)])),
                Arc::new(StringArray::from(vec![Some("a"), Some("ü"), None])),
            ],
        )
        .unwrap();
        let barrier = Barrier {
            checkpoint_id: 7,
            savepoint: true,
            location: "s3://bucket/job/chk-7".into(),
            trace_parent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        };
        let elements = [
            Element::Batch(batch.clone()),
            Element::Watermark(42),
            Element::Batch(batch.clone()),
            Element::Barrier(barrier.clone()),
            Element::EndOfInput,
        ];
        let mut encoder = Encoder::default();
        let messages: Vec<FlightData> = elements
            .iter()
            .flat_map(|e| encoder.encode(e).unwrap())
            .collect();
        // One schema message, only before the first batch.
        assert_eq!(messages.len(), elements.len() + 1);
        let mut decoder = Decoder::default();
        let decoded: Vec<Element> = messages
            .iter()
            .filter_map(|m| decoder.decode(m).unwrap())
            .collect();
        assert_eq!(decoded.len(), elements.len());
        assert!(matches!(&decoded[0], Element::Batch(b) if *b == batch));
        assert!(matches!(decoded[1], Element::Watermark(42)));
        assert!(matches!(&decoded[2], Element::Batch(b) if *b == batch));
        assert!(matches!(&decoded[3], Element::Barrier(b) if *b == barrier));
        assert!(matches!(decoded[4], Element::EndOfInput));
    }
}
