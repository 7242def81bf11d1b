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
        input_retracts: false,
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

/// The rows of a snapshot whose key group falls in `groups`.
fn state_of(snapshot: &RecordBatch, groups: std::ops::Range<u32>) -> RecordBatch {
    let key_groups = snapshot
        .column(0)
        .as_primitive::<arrow::datatypes::UInt32Type>();
    let keep: arrow::array::BooleanArray = key_groups
        .values()
        .iter()
        .map(|g| Some(groups.contains(g)))
        .collect();
    arrow::compute::filter_record_batch(snapshot, &keep).unwrap()
}

#[test]
fn restored_state_continues_the_changelog_also_split_over_two_subtasks() {
    let mut original = count_and_sum();
    let mut out = Vec::new();
    original
        .process_batch(
            0,
            input(&["a", "b", "c", "a"], &[1, 2, 3, 4], None),
            &mut out,
        )
        .unwrap();
    let snapshot = original.snapshot_state(128).unwrap().expect("state");
    assert_eq!(snapshot.num_rows(), 3, "one row per live group");

    // Rescaled to two subtasks: each restores the key groups it owns.
    let mut halves: Vec<GroupAggregate> = (0..2)
        .map(|subtask| {
            let mut half = count_and_sum();
            let range = crate::keys::key_group_range(subtask, 128, 2);
            half.restore_state(vec![state_of(&snapshot, range)])
                .unwrap();
            half
        })
        .collect();
    assert_eq!(halves[0].group_count() + halves[1].group_count(), 3);

    // "a" had 2 rows summing to 5; one more row of 10 updates it to 3 / 15,
    // and retracting "b"'s only row deletes it.
    let more = [("a", 10, 0i8), ("b", 2, 3)];
    let mut lines = Vec::new();
    for (key, value, kind) in more {
        let probe = input(&[key], &[0], None);
        let hash = crate::keys::hash_keys(&probe.columns()[..1], 1).unwrap()[0];
        let owner =
            crate::keys::subtask_for_key_group(crate::keys::key_group(hash, 128), 128, 2) as usize;
        let mut out = Vec::new();
        halves[owner]
            .process_batch(0, input(&[key], &[value], Some(&[kind])), &mut out)
            .unwrap();
        lines.extend(rows(&out));
    }
    assert_eq!(lines, ["-U a 2 5", "+U a 3 15", "-D b 1 2"]);
}

#[test]
fn a_global_aggregate_snapshots_its_one_group() {
    let specs = vec![int_spec(AggregateFunction::Sum, Some(0))];
    let schema = Arc::new(Schema::new(vec![Field::new(
        "total",
        DataType::Int64,
        true,
    )]));
    let values = |v: &[i64]| {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(v.to_vec()))]).unwrap()
    };
    let mut original = GroupAggregate::new(&[], specs.clone(), schema.clone()).unwrap();
    original
        .process_batch(0, values(&[4, 5]), &mut Vec::new())
        .unwrap();
    let snapshot = original.snapshot_state(128).unwrap().expect("state");
    let mut restored = GroupAggregate::new(&[], specs, schema).unwrap();
    restored.restore_state(vec![snapshot]).unwrap();
    let mut out = Vec::new();
    restored.process_batch(0, values(&[1]), &mut out).unwrap();
    let totals = out[0].column(0).as_primitive::<Int64Type>();
    assert_eq!(totals.values(), &[9, 10], "-U 9 then +U 10");
}

/// Per key, `COUNT(DISTINCT v)`, `MIN(v)` and `MAX(v)` over a changelog.
fn distinct_min_max() -> GroupAggregate {
    let retracting = |function| AggregateSpec {
        input_retracts: true,
        ..int_spec(function, Some(1))
    };
    let specs = vec![
        retracting(AggregateFunction::CountDistinct),
        retracting(AggregateFunction::Min),
        retracting(AggregateFunction::Max),
    ];
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("distinct", DataType::Int64, true),
        Field::new("lowest", DataType::Int64, true),
        Field::new("highest", DataType::Int64, true),
    ]));
    GroupAggregate::new(&[DataType::Utf8], specs, schema).unwrap()
}

/// Renders `kind key distinct min max` lines, NULLs as `null`.
fn extreme_rows(out: &[RecordBatch]) -> Vec<String> {
    let mut lines = Vec::new();
    for batch in out {
        let keys = batch.column(0).as_string::<i32>();
        let kinds = batch.column(4).as_primitive::<arrow::datatypes::Int8Type>();
        let value = |c: usize, i: usize| {
            let column = batch.column(c).as_primitive::<Int64Type>();
            if column.is_null(i) {
                "null".to_string()
            } else {
                column.value(i).to_string()
            }
        };
        for i in 0..batch.num_rows() {
            let kind = RowKind::from_byte(kinds.value(i)).unwrap().short_string();
            lines.push(format!(
                "{kind} {} {} {} {}",
                keys.value(i),
                value(1, i),
                value(2, i),
                value(3, i)
            ));
        }
    }
    lines
}

#[test]
fn retracting_the_current_extreme_reveals_the_next_one() {
    let mut agg = distinct_min_max();
    let mut out = Vec::new();
    // Values 5, 1, 9, 5: distinct {1, 5, 9}, min 1, max 9.
    agg.process_batch(0, input(&["a"; 4], &[5, 1, 9, 5], None), &mut out)
        .unwrap();
    assert_eq!(extreme_rows(&out), ["+I a 3 1 9"]);
    out.clear();
    // Take back the 9 (the max) and the 1 (the min): {5, 5} is left.
    agg.process_batch(0, input(&["a", "a"], &[9, 1], Some(&[1, 3])), &mut out)
        .unwrap();
    assert_eq!(extreme_rows(&out), ["-U a 3 1 9", "+U a 1 5 5"]);
    out.clear();
    // One 5 goes: 5 is still there once, so nothing changes.
    agg.process_batch(0, input(&["a"], &[5], Some(&[3])), &mut out)
        .unwrap();
    assert!(extreme_rows(&out).is_empty(), "{:?}", extreme_rows(&out));
    // The last 5 goes: the group is empty and deleted.
    agg.process_batch(0, input(&["a"], &[5], Some(&[3])), &mut out)
        .unwrap();
    assert_eq!(extreme_rows(&out), ["-D a 1 5 5"]);
}

#[test]
fn nulls_are_not_counted_and_an_all_null_group_has_null_extremes() {
    let mut agg = distinct_min_max();
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["a", "a", "b"])),
            Arc::new(Int64Array::from(vec![None, Some(-3), None])),
        ],
    )
    .unwrap();
    let mut out = Vec::new();
    agg.process_batch(0, batch, &mut out).unwrap();
    assert_eq!(extreme_rows(&out), ["+I a 1 -3 -3", "+I b 0 null null"]);
}

#[test]
fn value_multisets_survive_a_snapshot_split_over_two_subtasks() {
    let mut original = distinct_min_max();
    original
        .process_batch(
            0,
            input(&["a", "a", "a", "b", "b"], &[3, 7, 7, 2, 8], None),
            &mut Vec::new(),
        )
        .unwrap();
    let snapshot = original.snapshot_state(128).unwrap().expect("state");
    let mut halves: Vec<GroupAggregate> = (0..2)
        .map(|subtask| {
            let mut half = distinct_min_max();
            let range = crate::keys::key_group_range(subtask, 128, 2);
            half.restore_state(vec![state_of(&snapshot, range)])
                .unwrap();
            half
        })
        .collect();
    // a holds {3, 7, 7}: retracting 7 once leaves {3, 7} (unchanged result),
    // retracting it again leaves {3}. b holds {2, 8}: retracting 8 leaves {2}.
    let changes = [("a", 7, 1i8), ("a", 7, 3), ("b", 8, 3)];
    let mut lines = Vec::new();
    for (key, value, kind) in changes {
        let probe = input(&[key], &[0], None);
        let hash = crate::keys::hash_keys(&probe.columns()[..1], 1).unwrap()[0];
        let owner =
            crate::keys::subtask_for_key_group(crate::keys::key_group(hash, 128), 128, 2) as usize;
        let mut out = Vec::new();
        halves[owner]
            .process_batch(0, input(&[key], &[value], Some(&[kind])), &mut out)
            .unwrap();
        lines.extend(extreme_rows(&out));
    }
    assert_eq!(
        lines,
        ["-U a 2 3 7", "+U a 1 3 3", "-U b 2 2 8", "+U b 1 2 2"]
    );
}

#[test]
fn the_average_of_integers_truncates_as_flink_computes_it() {
    let spec = AggregateSpec {
        output_type: DataType::Float64,
        ..int_spec(AggregateFunction::Avg, Some(1))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("avg", DataType::Float64, true),
    ]));
    let mut agg = GroupAggregate::new(&[DataType::Utf8], vec![spec], schema).unwrap();
    let mut out = Vec::new();
    // (1 + 2) / 2 = 1 and (-7 + 2) / 2 = -2 in integer arithmetic (towards zero).
    agg.process_batch(
        0,
        input(&["a", "a", "b", "b"], &[1, 2, -7, 2], None),
        &mut out,
    )
    .unwrap();
    let averages = out[0]
        .column(1)
        .as_primitive::<arrow::datatypes::Float64Type>();
    assert_eq!(averages.values(), &[1.0, -2.0]);
}
