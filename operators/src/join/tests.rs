//! Tests of both joins, with expectations worked out by hand from the
//! inputs, and the helpers they share.

mod interval;
mod streaming;

use std::collections::BTreeMap;
use std::ops::Range;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, UInt32Array};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, UInt32Type};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::keys::{hash_keys, key_group, subtask_for_key_group};
use crate::operator::Operator;
use crate::row_kind::{RowKind, split_row_kinds};

/// Key groups of the snapshots in these tests.
const MAX_PARALLELISM: u32 = 128;

/// The byte of a row kind written as `+I`, `-U`, `+U` or `-D`.
fn kind_byte(kind: &str) -> i8 {
    let kind = match kind {
        "+I" => RowKind::Insert,
        "-U" => RowKind::UpdateBefore,
        "+U" => RowKind::UpdateAfter,
        "-D" => RowKind::Delete,
        other => panic!("unknown row kind {other}"),
    };
    kind as i8
}

/// Each row of a batch's data columns as comma-separated values (NULL for
/// nulls, timestamps as their raw numbers).
fn render_rows(data: &RecordBatch) -> Vec<String> {
    let columns: Vec<ArrayRef> = data
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Timestamp(_, _) => cast(c, &DataType::Int64).unwrap(),
            _ => c.clone(),
        })
        .collect();
    let options = FormatOptions::default().with_null("NULL");
    let formatters: Vec<ArrayFormatter> = columns
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
        .collect();
    (0..data.num_rows())
        .map(|i| {
            formatters
                .iter()
                .map(|f| f.value(i).to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// The changes in `out` as `kind row` lines, e.g. `+I 1,1,10,NULL,NULL`;
/// rows of batches without a row-kind column are `+I`.
pub(crate) fn changes(out: &[RecordBatch]) -> Vec<String> {
    let mut lines = Vec::new();
    for batch in out {
        let (data, kinds) = split_row_kinds(batch).unwrap();
        for (i, row) in render_rows(&data).into_iter().enumerate() {
            let kind = match &kinds {
                Some(k) => RowKind::from_byte(k.value(i)).unwrap(),
                None => RowKind::Insert,
            };
            lines.push(format!("{} {row}", kind.short_string()));
        }
    }
    lines
}

/// Runs one batch through `op` and returns the changes it emitted.
fn run(op: &mut dyn Operator, input: usize, batch: RecordBatch) -> Vec<String> {
    let mut out = Vec::new();
    op.process_batch(input, batch, &mut out).unwrap();
    changes(&out)
}

/// Folds `kind row` lines into the multiset of rows they leave; panics when
/// a retraction takes back a row that is not there.
fn fold(lines: &[String]) -> BTreeMap<String, usize> {
    let mut table = BTreeMap::new();
    for line in lines {
        let (kind, row) = line.split_once(' ').unwrap();
        if matches!(kind, "+I" | "+U") {
            *table.entry(row.to_string()).or_insert(0) += 1;
        } else {
            let count = table
                .get_mut(row)
                .unwrap_or_else(|| panic!("{kind} of a row not in the result: {row}"));
            *count -= 1;
            if *count == 0 {
                table.remove(row);
            }
        }
    }
    table
}

/// A multiset of rows written out.
fn table(rows: &[&str]) -> BTreeMap<String, usize> {
    let mut table = BTreeMap::new();
    for row in rows {
        *table.entry(row.to_string()).or_insert(0) += 1;
    }
    table
}

/// Lines sorted, to compare changes whose order may differ.
fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

/// The rows of a snapshot whose key group lies in `groups`.
fn key_groups_in(snapshot: &RecordBatch, groups: Range<u32>) -> RecordBatch {
    let column = snapshot.column(0).as_primitive::<UInt32Type>();
    let mask: BooleanArray = column
        .iter()
        .map(|g| Some(groups.contains(&g.unwrap())))
        .collect();
    filter_record_batch(snapshot, &mask).unwrap()
}

/// Splits a batch by the subtask (of `parallelism`) owning each row's key
/// (columns `key_columns`), as the hash exchange in front of a join does.
fn route(batch: &RecordBatch, key_columns: &[usize], parallelism: u32) -> Vec<RecordBatch> {
    let keys: Vec<ArrayRef> = key_columns
        .iter()
        .map(|&c| batch.column(c).clone())
        .collect();
    let owners: UInt32Array = hash_keys(&keys, batch.num_rows())
        .unwrap()
        .into_iter()
        .map(|h| {
            let group = key_group(h, MAX_PARALLELISM);
            subtask_for_key_group(group, MAX_PARALLELISM, parallelism)
        })
        .collect();
    (0..parallelism)
        .map(|subtask| {
            let mask: BooleanArray = owners.iter().map(|o| Some(o == Some(subtask))).collect();
            filter_record_batch(batch, &mask).unwrap()
        })
        .collect()
}

#[test]
fn the_fold_helper_rejects_retracting_a_missing_row() {
    let result = std::panic::catch_unwind(|| fold(&["-D 1,a".to_string()]));
    assert!(result.is_err());
    let lines = ["+I 1,a", "+I 1,a", "-U 1,a", "+U 1,b"].map(String::from);
    assert_eq!(fold(&lines), table(&["1,a", "1,b"]));
}
