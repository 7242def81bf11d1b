//! Changelog semantics of the group aggregate, with expectations worked out
//! by hand from the inputs.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Int8Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow::record_batch::RecordBatch;

use super::*;
use crate::row_kind::with_row_kinds;

/// An aggregate over BIGINT producing BIGINT.
fn int_spec(function: AggregateFunction, input_column: Option<usize>) -> AggregateSpec {
    AggregateSpec {
        function,
        input_column,
        input_type: DataType::Int64,
        output_type: DataType::Int64,
    }
}

fn count_and_sum() -> GroupAggregate {
    let specs = vec![
        int_spec(AggregateFunction::CountStar, None),
        int_spec(AggregateFunction::Sum, Some(1)),
    ];
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("cnt", DataType::Int64, true),
        Field::new("total", DataType::Int64, true),
    ]));
    GroupAggregate::new(&[DataType::Utf8], specs, schema).unwrap()
}

fn input(keys: &[&str], values: &[i64], kinds: Option<&[i8]>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
    ]));
    let data = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(keys.to_vec())),
            Arc::new(Int64Array::from(values.to_vec())),
        ],
    )
    .unwrap();
    match kinds {
        Some(k) => with_row_kinds(&data, Int8Array::from(k.to_vec())).unwrap(),
        None => data,
    }
}

/// Renders the output as `kind key cnt total` lines.
fn rows(out: &[RecordBatch]) -> Vec<String> {
    let mut lines = Vec::new();
    for batch in out {
        let keys = batch.column(0).as_string::<i32>();
        let counts = batch.column(1).as_primitive::<Int64Type>();
        let sums = batch.column(2).as_primitive::<Int64Type>();
        let kinds = batch.column(3).as_primitive::<arrow::datatypes::Int8Type>();
        for i in 0..batch.num_rows() {
            let kind = RowKind::from_byte(kinds.value(i)).unwrap().short_string();
            let sum = if sums.is_null(i) {
                "null".to_string()
            } else {
                sums.value(i).to_string()
            };
            lines.push(format!(
                "{kind} {} {} {sum}",
                keys.value(i),
                counts.value(i)
            ));
        }
    }
    lines
}

#[test]
fn new_groups_insert_and_changed_groups_update() {
    let mut agg = count_and_sum();
    let mut out = Vec::new();
    agg.process_batch(0, input(&["a", "b", "a"], &[1, 10, 2], None), &mut out)
        .unwrap();
    // a: 2 rows summing 3; b: 1 row summing 10, both new.
    assert_eq!(rows(&out), ["+I a 2 3", "+I b 1 10"]);
    out.clear();
    agg.process_batch(0, input(&["a"], &[5], None), &mut out)
        .unwrap();
    assert_eq!(rows(&out), ["-U a 2 3", "+U a 3 8"]);
    assert_eq!(agg.group_count(), 2);
}

#[test]
fn retracting_every_row_deletes_the_group_and_unknown_retractions_are_ignored() {
    let mut agg = count_and_sum();
    let mut out = Vec::new();
    agg.process_batch(0, input(&["a", "a"], &[4, 6], None), &mut out)
        .unwrap();
    out.clear();
    // -U a 4 leaves one row (6); -D a 6 removes the last: the group goes away.
    // The -D of never-seen "z" changes nothing.
    agg.process_batch(0, input(&["a", "z"], &[4, 1], Some(&[1, 3])), &mut out)
        .unwrap();
    assert_eq!(rows(&out), ["-U a 2 10", "+U a 1 6"]);
    out.clear();
    agg.process_batch(0, input(&["a"], &[6], Some(&[3])), &mut out)
        .unwrap();
    assert_eq!(rows(&out), ["-D a 1 6"]);
    out.clear();
    // A group that comes back starts from scratch.
    agg.process_batch(0, input(&["a"], &[7], None), &mut out)
        .unwrap();
    assert_eq!(rows(&out), ["+I a 1 7"]);
}

#[test]
fn an_update_that_leaves_the_result_unchanged_emits_nothing() {
    let mut agg = count_and_sum();
    let mut out = Vec::new();
    agg.process_batch(0, input(&["a"], &[4], None), &mut out)
        .unwrap();
    out.clear();
    // Retract 4 and add 4 in one batch: count and sum end where they began.
    agg.process_batch(0, input(&["a", "a"], &[4, 4], Some(&[1, 2])), &mut out)
        .unwrap();
    assert!(rows(&out).is_empty());
}

#[test]
fn a_global_aggregate_keeps_one_group_for_all_rows() {
    let specs = vec![
        int_spec(AggregateFunction::CountStar, None),
        int_spec(AggregateFunction::Max, Some(1)),
    ];
    let schema = Arc::new(Schema::new(vec![
        Field::new("cnt", DataType::Int64, true),
        Field::new("biggest", DataType::Int64, true),
    ]));
    let mut agg = GroupAggregate::new(&[], specs, schema).unwrap();
    let mut out = Vec::new();
    agg.process_batch(0, input(&["a", "b"], &[3, 9], None), &mut out)
        .unwrap();
    agg.process_batch(0, input(&["c"], &[5], None), &mut out)
        .unwrap();
    let render: Vec<String> = out
        .iter()
        .flat_map(|b| {
            let counts = b.column(0).as_primitive::<Int64Type>().clone();
            let maxes = b.column(1).as_primitive::<Int64Type>().clone();
            let kinds = b
                .column(2)
                .as_primitive::<arrow::datatypes::Int8Type>()
                .clone();
            (0..b.num_rows()).map(move |i| {
                format!(
                    "{} {} {}",
                    RowKind::from_byte(kinds.value(i)).unwrap().short_string(),
                    counts.value(i),
                    maxes.value(i)
                )
            })
        })
        .collect();
    // 2 rows with max 9, then a third row (5) leaves the max at 9.
    assert_eq!(render, ["+I 2 9", "-U 2 9", "+U 3 9"]);
    assert_eq!(agg.group_count(), 1);
}
