//! Arrow types and schemas in DataFusion's protobuf messages
//! (`datafusion_common.ArrowType`, `datafusion_common.Schema`), serialized
//! to bytes.

use std::sync::Arc;

use arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion_proto_models::datafusion_common as proto;
use prost::Message;

use crate::PlanError;

/// The bytes of a schema.
pub(crate) fn encode_schema(schema: &Schema) -> Result<Vec<u8>, PlanError> {
    let message = proto::Schema::try_from(schema)
        .map_err(|e| PlanError::unshippable(format!("schema {schema}"), e))?;
    Ok(message.encode_to_vec())
}

/// The schema `bytes` hold; `what` names it in errors.
pub(crate) fn decode_schema(bytes: &[u8], what: &str) -> Result<SchemaRef, PlanError> {
    let message = proto::Schema::decode(bytes).map_err(|e| PlanError::invalid(what, e))?;
    let schema = Schema::try_from(&message).map_err(|e| PlanError::invalid(what, e))?;
    Ok(Arc::new(schema))
}

/// The bytes of a type.
pub(crate) fn encode_type(data_type: &DataType) -> Result<Vec<u8>, PlanError> {
    let message = proto::ArrowType::try_from(data_type)
        .map_err(|e| PlanError::unshippable(format!("type {data_type}"), e))?;
    Ok(message.encode_to_vec())
}

/// The type `bytes` hold; `what` names it in errors.
pub(crate) fn decode_type(bytes: &[u8], what: &str) -> Result<DataType, PlanError> {
    let message = proto::ArrowType::decode(bytes).map_err(|e| PlanError::invalid(what, e))?;
    DataType::try_from(&message).map_err(|e| PlanError::invalid(what, e))
}

/// The bytes of each type.
pub(crate) fn encode_types(types: &[DataType]) -> Result<Vec<Vec<u8>>, PlanError> {
    types.iter().map(encode_type).collect()
}

/// The types `bytes` hold; `what` names them in errors.
pub(crate) fn decode_types(bytes: &[Vec<u8>], what: &str) -> Result<Vec<DataType>, PlanError> {
    bytes.iter().map(|b| decode_type(b, what)).collect()
}
