//! Changes held by a sink between writes, reduced to the last change of
//! each key (Flink's `TableBufferReducedStatementExecutor`): `+I`/`+U`
//! become upserts of the row, `-U`/`-D` deletes of its key. Without a key
//! every row is an insert.

use std::collections::HashSet;
use std::time::Instant;

use arrow::array::UInt32Array;
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use rtdw_operators::Result;
use rtdw_operators::row_kind::{row_kind_at, split_row_kinds};

/// The rows to write, reduced.
#[derive(Debug)]
pub(crate) struct Reduced {
    /// Rows to insert or upsert (data columns only).
    pub upserts: RecordBatch,
    /// Rows whose keys to delete (data columns only).
    pub deletes: RecordBatch,
}

/// Batches held since the last write.
pub(crate) struct HeldChanges {
    /// The data columns' positions of the key (empty: append only).
    key: Vec<usize>,
    batches: Vec<RecordBatch>,
    rows: usize,
    /// Since when the oldest held change waits.
    since: Option<Instant>,
}

impl HeldChanges {
    /// Changes of a table keyed by the data columns at `key`.
    pub fn new(key: Vec<usize>) -> Self {
        HeldChanges {
            key,
            batches: Vec::new(),
            rows: 0,
            since: None,
        }
    }

    /// Holds a batch (with a row-kind column when the stream has updates).
    pub fn push(&mut self, batch: RecordBatch) {
        if batch.num_rows() == 0 {
            return;
        }
        self.since.get_or_insert_with(Instant::now);
        self.rows += batch.num_rows();
        self.batches.push(batch);
    }

    /// Changes held.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// When the oldest held change arrived.
    pub fn since(&self) -> Option<Instant> {
        self.since
    }

    /// Takes the held changes out, reduced; `None` when nothing is held.
    pub fn take(&mut self) -> Result<Option<Reduced>> {
        let batches = std::mem::take(&mut self.batches);
        self.rows = 0;
        self.since = None;
        let Some(first) = batches.first() else {
            return Ok(None);
        };
        let all = concat_batches(&first.schema(), &batches)?;
        let (data, kinds) = split_row_kinds(&all)?;
        let last_of_key = self.last_change_of_each_key(&data)?;
        let mut upserts = Vec::new();
        let mut deletes = Vec::new();
        for row in 0..data.num_rows() {
            if !last_of_key.as_ref().is_none_or(|last| last.contains(&row)) {
                continue;
            }
            let index = u32::try_from(row).map_err(|_| {
                rtdw_operators::StreamError::Failed("a sink buffer outgrew 4 G rows".into())
            })?;
            if row_kind_at(kinds.as_ref(), row)?.is_retraction() {
                deletes.push(index);
            } else {
                upserts.push(index);
            }
        }
        Ok(Some(Reduced {
            upserts: take_rows(&data, upserts)?,
            deletes: take_rows(&data, deletes)?,
        }))
    }

    /// With a key, the rows holding the last change of each key.
    fn last_change_of_each_key(&self, data: &RecordBatch) -> Result<Option<HashSet<usize>>> {
        if self.key.is_empty() {
            return Ok(None);
        }
        let schema: SchemaRef = data.schema();
        let converter = RowConverter::new(
            self.key
                .iter()
                .map(|&k| SortField::new(schema.field(k).data_type().clone()))
                .collect(),
        )?;
        let columns: Vec<_> = self.key.iter().map(|&k| data.column(k).clone()).collect();
        let keys = converter.convert_columns(&columns)?;
        let mut seen = HashSet::new();
        let mut last = HashSet::new();
        for row in (0..data.num_rows()).rev() {
            if seen.insert(keys.row(row)) {
                last.insert(row);
            }
        }
        Ok(Some(last))
    }
}

/// The rows of `data` at `indices`.
fn take_rows(data: &RecordBatch, indices: Vec<u32>) -> Result<RecordBatch> {
    let indices = UInt32Array::from(indices);
    if indices.len() == data.num_rows() {
        return Ok(data.clone());
    }
    Ok(take_record_batch(data, &indices)?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int8Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use rtdw_operators::row_kind::{RowKind, with_row_kinds};

    use super::*;

    fn changes(ids: &[i64], names: &[&str], kinds: &[RowKind]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]);
        let data = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(ids.to_vec())),
                Arc::new(StringArray::from(names.to_vec())),
            ],
        )
        .unwrap();
        let kinds = Int8Array::from(kinds.iter().map(|k| *k as i8).collect::<Vec<_>>());
        with_row_kinds(&data, kinds).unwrap()
    }

    fn ids(batch: &RecordBatch) -> Vec<i64> {
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        column.values().to_vec()
    }

    #[test]
    fn the_last_change_of_each_key_wins() {
        use RowKind::*;
        let mut held = HeldChanges::new(vec![0]);
        held.push(changes(
            &[1, 2, 3],
            &["a", "b", "c"],
            &[Insert, Insert, Insert],
        ));
        held.push(changes(
            &[1, 1, 2, 3, 3],
            &["a", "a2", "b", "c", "c2"],
            &[UpdateBefore, UpdateAfter, Delete, UpdateBefore, UpdateAfter],
        ));
        held.push(changes(&[4, 2], &["d", "b2"], &[Insert, Insert]));
        assert_eq!(held.rows(), 10);
        let reduced = held.take().unwrap().unwrap();
        assert_eq!(ids(&reduced.upserts), [1, 3, 4, 2]);
        let names = reduced
            .upserts
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(names.value(0), "a2");
        assert_eq!(names.value(3), "b2");
        assert_eq!(reduced.deletes.num_rows(), 0);
        assert_eq!(held.rows(), 0);
        assert!(held.take().unwrap().is_none());
    }

    #[test]
    fn a_retraction_last_deletes_and_without_a_key_every_row_is_kept() {
        use RowKind::*;
        let mut held = HeldChanges::new(vec![0]);
        held.push(changes(&[5, 5], &["e", "e"], &[Insert, Delete]));
        let reduced = held.take().unwrap().unwrap();
        assert_eq!(ids(&reduced.deletes), [5]);
        assert_eq!(reduced.upserts.num_rows(), 0);
        let mut appends = HeldChanges::new(vec![]);
        appends.push(changes(&[5, 5], &["e", "e"], &[Insert, Insert]));
        assert_eq!(ids(&appends.take().unwrap().unwrap().upserts), [5, 5]);
    }
}
