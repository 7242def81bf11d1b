//! Arrow layouts of the nested SQL types that the planner (which maps a
//! declared column type) and connectors (which fill such columns) must
//! spell identically.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields};

/// Flink's `MAP<key, value>`: Arrow's map of `entries` structs with a
/// non-null `key` and a nullable `value`, unsorted, as Arrow's
/// `MapBuilder` builds it.
pub fn map_type(key: DataType, value: DataType) -> DataType {
    let entries = Fields::from(vec![
        Field::new("key", key, false),
        Field::new("value", value, true),
    ]);
    DataType::Map(
        Arc::new(Field::new("entries", DataType::Struct(entries), false)),
        false,
    )
}
