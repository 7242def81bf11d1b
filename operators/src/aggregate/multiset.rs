//! Aggregates that must remember every value of a group: `COUNT(DISTINCT x)`,
//! and `MIN`/`MAX` over a changelog, where retracting the current extreme
//! needs the next one. Each group holds its values as a sorted multiset
//! (value -> occurrences), keyed by Arrow's row encoding, which orders
//! bytes the way the values compare (NULLs are never stored).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, ListArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Int64Type};
use arrow::row::{RowConverter, SortField};

use super::accumulators::GroupAccumulator;
use crate::error::{Result, StreamError};

/// What a group's multiset answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MultisetResult {
    /// The number of distinct values.
    DistinctCount,
    /// The smallest value.
    Min,
    /// The largest value.
    Max,
}

/// Per group, every non-NULL value with its number of occurrences.
pub(crate) struct Multiset {
    result: MultisetResult,
    value_type: DataType,
    converter: RowConverter,
    groups: Vec<BTreeMap<Box<[u8]>, i64>>,
}

impl Multiset {
    /// A multiset accumulator over values of `value_type`.
    pub(crate) fn new(result: MultisetResult, value_type: DataType) -> Result<Self> {
        let converter = RowConverter::new(vec![SortField::new(value_type.clone())])?;
        Ok(Multiset {
            result,
            value_type,
            converter,
            groups: Vec::new(),
        })
    }

    /// Decodes row-encoded values back into an array.
    fn decode<'a>(&self, encoded: impl IntoIterator<Item = &'a [u8]>) -> Result<ArrayRef> {
        let parser = self.converter.parser();
        let mut arrays = self
            .converter
            .convert_rows(encoded.into_iter().map(|bytes| parser.parse(bytes)))?;
        arrays
            .pop()
            .ok_or_else(|| StreamError::Failed("multiset decoded no column".into()))
    }

    fn list_field(&self) -> Arc<Field> {
        Arc::new(Field::new("item", self.value_type.clone(), true))
    }
}

impl GroupAccumulator for Multiset {
    fn resize(&mut self, groups: usize) {
        self.groups.resize_with(groups, BTreeMap::new);
    }

    fn update(&mut self, input: Option<&ArrayRef>, groups: &[u32], weights: &[i8]) -> Result<()> {
        let input = input.ok_or_else(|| {
            StreamError::Failed("a DISTINCT, MIN or MAX aggregate without an argument".into())
        })?;
        let rows = self
            .converter
            .convert_columns(std::slice::from_ref(input))?;
        for (i, (&g, &w)) in groups.iter().zip(weights).enumerate() {
            if w == 0 || input.is_null(i) {
                continue;
            }
            let values = &mut self.groups[g as usize];
            let bytes = rows.row(i);
            if w > 0 {
                *values.entry(bytes.as_ref().into()).or_insert(0) += 1;
            } else if let Some(count) = values.get_mut(bytes.as_ref()) {
                // A retraction of a value never added is ignored, as the
                // record counter ignores retractions of empty groups.
                *count -= 1;
                if *count == 0 {
                    values.remove(bytes.as_ref());
                }
            }
        }
        Ok(())
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        let values = groups.iter().map(|&g| &self.groups[g as usize]);
        match self.result {
            MultisetResult::DistinctCount => Ok(Arc::new(Int64Array::from_iter_values(
                values.map(|v| v.len() as i64),
            ))),
            MultisetResult::Min | MultisetResult::Max => {
                let max = self.result == MultisetResult::Max;
                let extremes: Vec<Option<&[u8]>> = values
                    .map(|v| {
                        let entry = if max {
                            v.last_key_value()
                        } else {
                            v.first_key_value()
                        };
                        entry.map(|(bytes, _)| bytes.as_ref())
                    })
                    .collect();
                let present: Vec<&[u8]> = extremes.iter().flatten().copied().collect();
                let decoded = self.decode(present)?;
                // Put NULLs where a group holds no value.
                let mut next = 0usize;
                let indices: arrow::array::UInt32Array = extremes
                    .iter()
                    .map(|e| {
                        e.map(|_| {
                            next += 1;
                            (next - 1) as u32
                        })
                    })
                    .collect();
                Ok(arrow::compute::take(decoded.as_ref(), &indices, None)?)
            }
        }
    }

    fn reset(&mut self, group: usize) {
        self.groups[group].clear();
    }

    fn state(&self, groups: &[u32]) -> Result<Vec<ArrayRef>> {
        let maps: Vec<&BTreeMap<Box<[u8]>, i64>> =
            groups.iter().map(|&g| &self.groups[g as usize]).collect();
        let values = self.decode(maps.iter().flat_map(|m| m.keys().map(|k| k.as_ref())))?;
        let counts = Int64Array::from_iter_values(maps.iter().flat_map(|m| m.values().copied()));
        let offsets = OffsetBuffer::from_lengths(maps.iter().map(|m| m.len()));
        let values_list = ListArray::try_new(self.list_field(), offsets.clone(), values, None)?;
        let counts_list = ListArray::try_new(
            Arc::new(Field::new("item", DataType::Int64, true)),
            offsets,
            Arc::new(counts),
            None,
        )?;
        Ok(vec![Arc::new(values_list), Arc::new(counts_list)])
    }

    fn state_fields(&self) -> Vec<(&'static str, DataType)> {
        vec![
            ("values", DataType::List(self.list_field())),
            (
                "counts",
                DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            ),
        ]
    }

    fn restore(&mut self, first: usize, columns: &[ArrayRef]) -> Result<()> {
        let malformed = || StreamError::Failed("multiset state columns are malformed".into());
        let [values, counts] = columns else {
            return Err(malformed());
        };
        let values = values.as_list_opt::<i32>().ok_or_else(malformed)?;
        let counts = counts.as_list_opt::<i32>().ok_or_else(malformed)?;
        let rows = self
            .converter
            .convert_columns(std::slice::from_ref(values.values()))?;
        let all_counts = counts
            .values()
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(malformed)?;
        for (i, range) in values.offsets().windows(2).enumerate() {
            let group = &mut self.groups[first + i];
            for j in range[0] as usize..range[1] as usize {
                group.insert(rows.row(j).as_ref().into(), all_counts.value(j));
            }
        }
        Ok(())
    }

    /// Multisets are never merged: [`super::AggregateSpec::merges_partials`]
    /// keeps their aggregates one-phase.
    fn merge(&mut self, _partial: &[ArrayRef], _groups: &[u32]) -> Result<()> {
        Err(StreamError::Failed(
            "COUNT(DISTINCT) and MIN/MAX over a changelog keep every value of a group and cannot merge partial aggregates; they run one-phase".into(),
        ))
    }
}
