//! Streaming joins: Flink's regular join over changelog inputs
//! ([`StreamingJoin`]) and its event-time interval join over insert-only
//! inputs ([`IntervalJoin`]).
//!
//! Both are two-input operators: input 0 is the left side, input 1 the
//! right. The planner hash-partitions both inputs on the join key, so a
//! subtask sees every row of its keys from both sides.
//!
//! # How rows are kept
//!
//! The state (`state.rs` over `key_table.rs`, `side.rs` and `arena.rs`)
//! groups the rows of both inputs by join key: one hash table of keys, each
//! key holding one list of stored rows per side. A stored row is kept as its
//! full encoding in Arrow's row format ([`arrow::row::Rows`]), appended to
//! one buffer per side, next to a small plain struct of per-row bookkeeping
//! (multiplicity, association count, last access, event time).
//!
//! The row format rather than columns of the arriving batches, because:
//! - the regular join keeps a multiset of rows and a retraction must find the
//!   equal stored row. Encoded rows compare and hash as byte strings, and a
//!   whole batch is encoded with one `convert_columns` call, so identity
//!   costs no per-row work beyond hashing bytes;
//! - the same bytes are the storage, so nothing is kept twice. Columns would
//!   need a second structure for identity, and batches whose rows are mostly
//!   retracted would pin their memory until rewritten anyway;
//! - output is decoded with one `convert_rows` call per batch over exactly
//!   the stored rows that batch emits, so no Arrow arrays are built per row;
//!   the arriving side's columns are gathered with `take`, and NULL padding
//!   is a null index.
//!
//! The price is memory: a string's row encoding is somewhat larger than in
//! Arrow. Retracted rows leave garbage in the buffers; a buffer is rewritten
//! with its live rows once more than half of them are dead.
//!
//! # Per batch
//!
//! An arriving batch has its keys and rows encoded once. Every arriving row
//! is paired with the stored rows of the other side under the same key (and,
//! for the interval join, inside the time bounds); the residual condition is
//! evaluated once over all those pairs; then the rows are applied in order,
//! so each row sees the state the rows before it left. Output is one batch
//! per input batch, in a deterministic order for a given input order.
//!
//! # Snapshots
//!
//! A snapshot (`snapshot.rs`) holds every stored row as Arrow columns of its
//! side (the other side's columns NULL) with its bookkeeping, and its key
//! group computed from its join key columns with [`crate::keys`], so a
//! restore at another parallelism hands each subtask the rows of its keys.

mod arena;
mod interval;
mod key_table;
pub(crate) mod output;
mod probe;
mod side;
mod snapshot;
mod state;
mod streaming;

use arrow::array::Int8Array;
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

pub use interval::IntervalJoin;
pub use streaming::StreamingJoin;

use crate::error::{Result, StreamError};
use crate::row_kind::split_row_kinds;

/// Which unmatched rows a join emits, padded with NULLs for the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// Only matched pairs.
    Inner,
    /// Matched pairs and unmatched left rows.
    Left,
    /// Matched pairs and unmatched right rows.
    Right,
    /// Matched pairs and unmatched rows of both sides.
    Full,
}

impl JoinKind {
    /// True when unmatched rows of input `input` (0 = left, 1 = right) are
    /// emitted padded with NULLs.
    pub fn is_outer(self, input: usize) -> bool {
        matches!(
            (self, input),
            (JoinKind::Left, 0) | (JoinKind::Right, 1) | (JoinKind::Full, _)
        )
    }
}

/// The join keys of both inputs checked against their schemas: as many on
/// each side, and of the same types pairwise (equal encodings must mean
/// equal values). Returns the key types.
fn key_types(
    schemas: &[SchemaRef; 2],
    keys: &[Vec<usize>; 2],
    output_schema: &Schema,
) -> Result<Vec<DataType>> {
    let invalid = |what: String| StreamError::Failed(format!("invalid join: {what}"));
    if schemas.iter().any(|s| s.fields().is_empty()) {
        return Err(invalid("an input has no columns".into()));
    }
    let width = schemas[0].fields().len() + schemas[1].fields().len();
    if output_schema.fields().len() != width {
        return Err(invalid(format!(
            "the output has {} columns, the inputs {width} together",
            output_schema.fields().len()
        )));
    }
    if keys[0].len() != keys[1].len() {
        return Err(invalid(format!(
            "{} left keys but {} right keys",
            keys[0].len(),
            keys[1].len()
        )));
    }
    let mut types = Vec::with_capacity(keys[0].len());
    for (&l, &r) in keys[0].iter().zip(&keys[1]) {
        let (Some(left), Some(right)) = (schemas[0].fields().get(l), schemas[1].fields().get(r))
        else {
            return Err(invalid(format!("key column {l} or {r} does not exist")));
        };
        if left.data_type() != right.data_type() {
            return Err(invalid(format!(
                "key {} is {} but {} is {}; the keys must be cast to one type",
                left.name(),
                left.data_type(),
                right.name(),
                right.data_type()
            )));
        }
        types.push(left.data_type().clone());
    }
    Ok(types)
}

/// The input number as a side index, 0 or 1.
fn side_of(input: usize) -> Result<usize> {
    if input < 2 {
        Ok(input)
    } else {
        Err(StreamError::Failed(format!(
            "a join has two inputs; a batch arrived on input {input}"
        )))
    }
}

/// An input batch's data columns and row kinds, checked against the side's
/// schema.
fn split_input(batch: &RecordBatch, schema: &Schema) -> Result<(RecordBatch, Option<Int8Array>)> {
    let (data, kinds) = split_row_kinds(batch)?;
    if data.num_columns() != schema.fields().len() {
        return Err(StreamError::Failed(format!(
            "a join input batch has {} data columns, its schema {}",
            data.num_columns(),
            schema.fields().len()
        )));
    }
    Ok((data, kinds))
}

#[cfg(test)]
pub(crate) mod tests;
