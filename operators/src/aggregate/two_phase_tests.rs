//! Two-phase (local/global) aggregation and mini-batches, checked against
//! the one-phase aggregate fed the same rows and against tables worked out
//! by hand.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, Decimal128Array, Int8Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::util::display::array_value_to_string;

use super::*;
use crate::row_kind::with_row_kinds;

/// Flushed only when a test says so (or a watermark, the end of input).
const MINI_BATCH: MiniBatch = MiniBatch {
    allow_latency: Duration::from_secs(2),
    size: None,
};

/// An aggregate over the BIGINT column 1.
fn spec(function: AggregateFunction, output_type: DataType) -> AggregateSpec {
    AggregateSpec {
        function,
        input_column: (function != AggregateFunction::CountStar).then_some(1),
        input_type: DataType::Int64,
        output_type,
        input_retracts: false,
    }
}

/// `COUNT(*), COUNT(v), SUM(v), AVG(v), MIN(v), MAX(v)` of an insert-only
/// input.
fn insert_only_specs() -> Vec<AggregateSpec> {
    use AggregateFunction::*;
    vec![
        spec(CountStar, DataType::Int64),
        spec(Count, DataType::Int64),
        spec(Sum, DataType::Int64),
        spec(Avg, DataType::Float64),
        spec(Min, DataType::Int64),
        spec(Max, DataType::Int64),
    ]
}

/// `COUNT(*), SUM(v), AVG(v)` of a changelog.
fn changelog_specs() -> Vec<AggregateSpec> {
    use AggregateFunction::*;
    [
        spec(CountStar, DataType::Int64),
        spec(Sum, DataType::Int64),
        spec(Avg, DataType::Float64),
    ]
    .into_iter()
    .map(|s| AggregateSpec {
        input_retracts: true,
        ..s
    })
    .collect()
}

fn key_fields() -> Vec<FieldRef> {
    vec![Arc::new(Field::new("k", DataType::Utf8, true))]
}

/// `k`, then one column per aggregate.
fn output_schema(specs: &[AggregateSpec]) -> SchemaRef {
    let mut fields = key_fields();
    for (i, s) in specs.iter().enumerate() {
        fields.push(Arc::new(Field::new(
            format!("agg{i}"),
            s.output_type.clone(),
            true,
        )));
    }
    Arc::new(Schema::new(fields))
}

fn one_phase(specs: &[AggregateSpec]) -> GroupAggregate {
    GroupAggregate::new(&[DataType::Utf8], specs.to_vec(), output_schema(specs)).unwrap()
}

fn global(specs: &[AggregateSpec]) -> GroupAggregate {
    GroupAggregate::new_global(&[DataType::Utf8], specs.to_vec(), output_schema(specs)).unwrap()
}

fn local(specs: &[AggregateSpec], mini_batch: MiniBatch) -> LocalGroupAggregate {
    LocalGroupAggregate::new(&key_fields(), specs.to_vec(), mini_batch).unwrap()
}

/// Rows `(k, v)`, with the given row kinds or insert-only.
fn batch(rows: &[(&str, Option<i64>)], kinds: Option<&[RowKind]>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
    ]));
    let data = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))),
        ],
    )
    .unwrap();
    match kinds {
        Some(kinds) => {
            let bytes = Int8Array::from_iter_values(kinds.iter().map(|&k| k as i8));
            with_row_kinds(&data, bytes).unwrap()
        }
        None => data,
    }
}

/// Row `i` of `columns` as space-separated values, NULLs as `null`.
fn render(columns: &[ArrayRef], i: usize) -> String {
    columns
        .iter()
        .map(|c| {
            if c.is_null(i) {
                "null".to_string()
            } else {
                array_value_to_string(c, i).unwrap()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every row of insert-only batches.
fn lines(out: &[RecordBatch]) -> Vec<String> {
    out.iter()
        .flat_map(|b| (0..b.num_rows()).map(move |i| render(b.columns(), i)))
        .collect()
}

/// A changelog as `kind values` lines.
fn changes(out: &[RecordBatch]) -> Vec<String> {
    let mut lines = Vec::new();
    for batch in out {
        let (data, kinds) = split_row_kinds(batch).unwrap();
        for i in 0..batch.num_rows() {
            let kind = row_kind_at(kinds.as_ref(), i).unwrap();
            lines.push(format!(
                "{} {}",
                kind.short_string(),
                render(data.columns(), i)
            ));
        }
    }
    lines
}

/// The table a changelog leaves behind, sorted; a retraction must take
/// back a row that is there.
fn fold(out: &[RecordBatch]) -> Vec<String> {
    let mut table: BTreeMap<String, usize> = BTreeMap::new();
    for line in changes(out) {
        let (kind, row) = line.split_once(' ').unwrap();
        if kind == "+I" || kind == "+U" {
            *table.entry(row.to_string()).or_insert(0) += 1;
        } else {
            let count = table
                .get_mut(row)
                .unwrap_or_else(|| panic!("{kind} of absent {row}"));
            *count -= 1;
            if *count == 0 {
                table.remove(row);
            }
        }
    }
    table
        .into_iter()
        .flat_map(|(row, n)| std::iter::repeat_n(row, n))
        .collect()
}

/// Each mini-batch through a local aggregate (flushed after it) into a
/// global one: the global's changelog.
fn two_phase(specs: &[AggregateSpec], mini_batches: &[RecordBatch]) -> Vec<RecordBatch> {
    let mut local = local(specs, MINI_BATCH);
    let mut global = global(specs);
    let mut out = Vec::new();
    for mini_batch in mini_batches {
        let mut partials = Vec::new();
        local
            .process_batch(0, mini_batch.clone(), &mut partials)
            .unwrap();
        assert!(partials.is_empty(), "held until the flush");
        local.flush(&mut partials).unwrap();
        for partial in partials {
            global.process_batch(0, partial, &mut out).unwrap();
        }
    }
    out
}

/// Each mini-batch as one batch into the one-phase aggregate.
fn one_phase_run(specs: &[AggregateSpec], mini_batches: &[RecordBatch]) -> Vec<RecordBatch> {
    let mut agg = one_phase(specs);
    let mut out = Vec::new();
    for mini_batch in mini_batches {
        agg.process_batch(0, mini_batch.clone(), &mut out).unwrap();
    }
    out
}

#[test]
fn two_phases_over_an_insert_only_input_emit_what_one_phase_does() {
    let specs = insert_only_specs();
    let mini_batches = [
        batch(
            &[("a", Some(1)), ("b", Some(10)), ("a", None), ("c", Some(5))],
            None,
        ),
        batch(&[("a", Some(4)), ("b", Some(-2)), ("a", Some(7))], None),
    ];
    let out = two_phase(&specs, &mini_batches);
    // Columns: k, COUNT(*), COUNT(v), SUM(v), AVG(v), MIN(v), MAX(v).
    // a: 1 and NULL, then 4 and 7; b: 10, then -2; c: 5.
    assert_eq!(
        changes(&out),
        [
            "+I a 2 1 1 1.0 1 1",
            "+I b 1 1 10 10.0 10 10",
            "+I c 1 1 5 5.0 5 5",
            "-U a 2 1 1 1.0 1 1",
            "+U a 4 3 12 4.0 1 7",
            "-U b 1 1 10 10.0 10 10",
            "+U b 2 2 8 4.0 -2 10",
        ]
    );
    assert_eq!(
        fold(&out),
        ["a 4 3 12 4.0 1 7", "b 2 2 8 4.0 -2 10", "c 1 1 5 5.0 5 5"]
    );
    assert_eq!(
        changes(&out),
        changes(&one_phase_run(&specs, &mini_batches))
    );
}

#[test]
fn two_phases_over_a_changelog_subtract_retractions_across_mini_batches() {
    use RowKind::*;
    let specs = changelog_specs();
    let mini_batches = [
        batch(
            &[("a", Some(5)), ("a", Some(3)), ("b", Some(4))],
            Some(&[Insert, Insert, Insert]),
        ),
        // a's 5 becomes 6, b's only row goes, c arrives.
        batch(
            &[
                ("a", Some(5)),
                ("a", Some(6)),
                ("b", Some(4)),
                ("c", Some(2)),
            ],
            Some(&[UpdateBefore, UpdateAfter, Delete, Insert]),
        ),
        // a's 6 goes: 3 is left.
        batch(&[("a", Some(6))], Some(&[Delete])),
    ];

    // The local aggregate's partials of the second mini-batch are deltas:
    // k, record count, COUNT(*), SUM's (non-NULL count, sum), AVG's (with a
    // DOUBLE sum).
    let mut local = local(&specs, MINI_BATCH);
    let mut partials = Vec::new();
    local
        .process_batch(0, mini_batches[1].clone(), &mut partials)
        .unwrap();
    local.flush(&mut partials).unwrap();
    let names: Vec<&str> = partials[0]
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(
        names,
        [
            "k",
            RECORD_COUNT_DELTA_COLUMN,
            "count1$0",
            "count$1",
            "sum$2",
            "count$3",
            "sum$4"
        ]
    );
    assert_eq!(
        lines(&partials),
        [
            "a 0 0 0 1 0 1.0",
            "b -1 -1 -1 -4 -1 -4.0",
            "c 1 1 1 2 1 2.0"
        ]
    );

    let out = two_phase(&specs, &mini_batches);
    // Columns: k, COUNT(*), SUM(v), AVG(v); the average of integers
    // truncates as Flink's does (9 / 2 is 4).
    assert_eq!(
        changes(&out),
        [
            "+I a 2 8 4.0",
            "+I b 1 4 4.0",
            "-U a 2 8 4.0",
            "+U a 2 9 4.0",
            "-D b 1 4 4.0",
            "+I c 1 2 2.0",
            "-U a 2 9 4.0",
            "+U a 1 3 3.0",
        ]
    );
    assert_eq!(fold(&out), ["a 1 3 3.0", "c 1 2 2.0"]);
    let one = one_phase_run(&specs, &mini_batches);
    assert_eq!(fold(&out), fold(&one));
    assert_eq!(changes(&out), changes(&one));
}

#[test]
fn a_group_retracted_to_nothing_by_a_partial_is_deleted_and_starts_afresh() {
    use RowKind::*;
    let specs = changelog_specs();
    let mini_batches = [
        batch(&[("a", Some(4))], None),
        batch(&[("a", Some(4))], Some(&[Delete])),
        // A stray retraction of a row a does not hold is ignored.
        batch(&[("a", Some(9))], Some(&[Delete])),
        batch(&[("a", Some(1))], Some(&[Insert])),
    ];
    let out = two_phase(&specs, &mini_batches);
    assert_eq!(
        changes(&out),
        ["+I a 1 4 4.0", "-D a 1 4 4.0", "+I a 1 1 1.0"]
    );
    assert_eq!(
        changes(&out),
        changes(&one_phase_run(&specs, &mini_batches))
    );
}

#[test]
fn a_skewed_key_split_over_two_local_aggregates_merges_right() {
    use AggregateFunction::*;
    let specs = vec![
        spec(CountStar, DataType::Int64),
        spec(Sum, DataType::Int64),
        spec(Min, DataType::Int64),
        spec(Max, DataType::Int64),
    ];
    // Rows i = 0..20 with v = i + 1: "x" at i = 4, "y" at i = 13, the other
    // 18 (90%) "hot". Even rows go to local aggregate A, odd ones to B.
    let key = |i: i64| match i {
        4 => "x",
        13 => "y",
        _ => "hot",
    };
    let rows: Vec<(&str, Option<i64>)> = (0..20).map(|i| (key(i), Some(i + 1))).collect();
    let half = |parity: usize| -> Vec<(&str, Option<i64>)> {
        rows.iter().skip(parity).step_by(2).copied().collect()
    };
    let mut global = global(&specs);
    let mut out = Vec::new();
    let mut partial_rows = Vec::new();
    for parity in [0, 1] {
        let mut local = local(&specs, MINI_BATCH);
        let mut partials = Vec::new();
        local
            .process_batch(0, batch(&half(parity), None), &mut partials)
            .unwrap();
        local.finish(&mut partials).unwrap();
        partial_rows.extend(lines(&partials));
        for partial in partials {
            global.process_batch(0, partial, &mut out).unwrap();
        }
    }
    // A's hot rows: v = 1, 3, 7, ..., 19 (9 rows, sum 100 - 5 = 95); B's:
    // v = 2, 4, ..., 20 without 14 (9 rows, sum 110 - 14 = 96). The hot key
    // crosses the exchange once per local aggregate.
    assert_eq!(
        partial_rows,
        [
            "hot 9 9 9 95 1 19",
            "x 1 1 1 5 5 5",
            "hot 9 9 9 96 2 20",
            "y 1 1 1 14 14 14"
        ]
    );
    assert_eq!(
        changes(&out),
        [
            "+I hot 9 95 1 19",
            "+I x 1 5 5 5",
            "-U hot 9 95 1 19",
            "+U hot 18 191 1 20",
            "+I y 1 14 14 14"
        ]
    );
    let all_at_once = one_phase_run(&specs, &[batch(&rows, None)]);
    assert_eq!(fold(&out), fold(&all_at_once));
    assert_eq!(fold(&out), ["hot 18 191 1 20", "x 1 5 5 5", "y 1 14 14 14"]);
}

#[test]
fn decimal_sums_cross_the_exchange_at_the_input_scale() {
    let decimal = DataType::Decimal128(10, 2);
    let specs = vec![AggregateSpec {
        function: AggregateFunction::Sum,
        input_column: Some(1),
        input_type: decimal.clone(),
        output_type: DataType::Decimal128(20, 2),
        input_retracts: false,
    }];
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("v", decimal.clone(), true),
    ]));
    let amounts = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["a", "a"])),
            Arc::new(Decimal128Array::from(vec![150, 225]).with_data_type(decimal)),
        ],
    )
    .unwrap();
    let local_schema = local(&specs, MINI_BATCH).output_schema();
    assert_eq!(
        local_schema.field(3).data_type(),
        &DataType::Decimal128(38, 2)
    );
    assert_eq!(changes(&two_phase(&specs, &[amounts])), ["+I a 3.75"]);
}

#[test]
fn a_mini_batch_emits_one_update_for_a_key_changed_many_times() {
    use RowKind::*;
    let specs = changelog_specs();
    let mut agg = one_phase(&specs).with_mini_batch(MINI_BATCH);
    let mut out = Vec::new();
    agg.process_batch(0, batch(&[("a", Some(1))], None), &mut out)
        .unwrap();
    assert!(out.is_empty(), "held until the flush");
    agg.flush(&mut out).unwrap();
    assert_eq!(changes(&out), ["+I a 1 1 1.0"]);
    out.clear();
    // Five batches, a changed four times: rows 2, 3 and 4 are left.
    for (row, kind) in [
        (("a", Some(2)), Insert),
        (("a", Some(3)), Insert),
        (("a", Some(1)), Delete),
        (("b", Some(7)), Insert),
        (("a", Some(4)), Insert),
    ] {
        agg.process_batch(0, batch(&[row], Some(&[kind])), &mut out)
            .unwrap();
    }
    assert!(out.is_empty());
    agg.flush(&mut out).unwrap();
    assert_eq!(
        changes(&out),
        ["-U a 1 1 1.0", "+U a 3 9 3.0", "+I b 1 7 7.0"]
    );
}

#[test]
fn a_mini_batch_aggregate_flushes_when_full_at_watermarks_and_at_the_end() {
    let specs = changelog_specs();
    let mini_batch = MiniBatch {
        size: Some(3),
        ..MINI_BATCH
    };
    let mut agg = one_phase(&specs).with_mini_batch(mini_batch);
    assert_eq!(agg.flush_interval(), Some(Duration::from_secs(2)));
    assert_eq!(one_phase(&specs).flush_interval(), None);
    let mut out = Vec::new();
    let one = |v| batch(&[("a", Some(v))], None);
    agg.process_batch(0, one(1), &mut out).unwrap();
    agg.process_batch(0, one(2), &mut out).unwrap();
    assert!(out.is_empty());
    agg.process_batch(0, one(3), &mut out).unwrap();
    assert_eq!(changes(&out), ["+I a 3 6 2.0"], "the third row fills it");
    out.clear();

    agg.process_batch(0, one(4), &mut out).unwrap();
    let error = agg.snapshot_state(128).unwrap_err().to_string();
    assert!(error.contains("flushed before the barrier"), "{error}");
    assert_eq!(agg.process_watermark(10, &mut out).unwrap(), Some(10));
    // 10 / 4 in integer arithmetic is 2.
    assert_eq!(changes(&out), ["-U a 3 6 2.0", "+U a 4 10 2.0"]);
    out.clear();
    assert!(agg.snapshot_state(128).unwrap().is_some());

    agg.process_batch(0, one(5), &mut out).unwrap();
    agg.finish(&mut out).unwrap();
    assert_eq!(changes(&out), ["-U a 4 10 2.0", "+U a 5 15 3.0"]);
    out.clear();
    agg.flush(&mut out).unwrap();
    assert!(out.is_empty(), "nothing is held");
}

#[test]
fn a_local_aggregate_flushes_when_full_at_watermarks_before_barriers_and_at_the_end() {
    let specs = changelog_specs();
    let mini_batch = MiniBatch {
        size: Some(4),
        ..MINI_BATCH
    };
    let mut local = local(&specs, mini_batch);
    assert_eq!(local.flush_interval(), Some(Duration::from_secs(2)));
    let mut out = Vec::new();
    let rows = |n: usize| batch(&vec![("a", Some(1)); n], None);
    local.process_batch(0, rows(3), &mut out).unwrap();
    assert!(out.is_empty());
    // 5 rows held reach the size: all are aggregated, in one row.
    local.process_batch(0, rows(2), &mut out).unwrap();
    assert_eq!(lines(&out), ["a 5 5 5 5 5 5.0"]);
    out.clear();

    local.process_batch(0, rows(1), &mut out).unwrap();
    assert_eq!(local.process_watermark(7, &mut out).unwrap(), Some(7));
    assert_eq!(lines(&out), ["a 1 1 1 1 1 1.0"]);
    out.clear();

    local.process_batch(0, rows(2), &mut out).unwrap();
    let error = local.snapshot_state(128).unwrap_err().to_string();
    assert!(
        error.contains("LocalGroupAggregate holds 2 rows"),
        "{error}"
    );
    local.flush(&mut out).unwrap();
    assert_eq!(lines(&out), ["a 2 2 2 2 2 2.0"]);
    assert!(local.snapshot_state(128).unwrap().is_none(), "no state");
    out.clear();

    local.process_batch(0, rows(1), &mut out).unwrap();
    local.finish(&mut out).unwrap();
    assert_eq!(lines(&out), ["a 1 1 1 1 1 1.0"]);
    out.clear();
    local.finish(&mut out).unwrap();
    assert!(out.is_empty());
}

#[test]
fn a_global_aggregate_in_mini_batches_merges_the_partials_of_a_flush_at_once() {
    let specs = insert_only_specs();
    let mut global = global(&specs).with_mini_batch(MINI_BATCH);
    let mut out = Vec::new();
    for mini_batch in [
        batch(&[("a", Some(2))], None),
        batch(&[("a", Some(6))], None),
    ] {
        let mut local = local(&specs, MINI_BATCH);
        let mut partials = Vec::new();
        local.process_batch(0, mini_batch, &mut partials).unwrap();
        local.finish(&mut partials).unwrap();
        for partial in partials {
            global.process_batch(0, partial, &mut out).unwrap();
        }
    }
    assert!(out.is_empty());
    global.flush(&mut out).unwrap();
    assert_eq!(changes(&out), ["+I a 2 2 8 4.0 2 6"]);
}

#[test]
fn aggregates_keeping_every_value_cannot_merge_partials() {
    let distinct = spec(AggregateFunction::CountDistinct, DataType::Int64);
    let retracting_min = AggregateSpec {
        input_retracts: true,
        ..spec(AggregateFunction::Min, DataType::Int64)
    };
    let error = new_accumulator(&distinct)
        .unwrap()
        .merge(&[], &[])
        .unwrap_err()
        .to_string();
    assert!(error.contains("run one-phase"), "{error}");
    for spec in [distinct, retracting_min] {
        assert!(!spec.merges_partials());
        let specs = vec![spec];
        let global =
            GroupAggregate::new_global(&[DataType::Utf8], specs.clone(), output_schema(&specs));
        let error = global.err().expect("refused").to_string();
        assert!(error.contains("cannot merge partial aggregates"), "{error}");
        assert!(LocalGroupAggregate::new(&key_fields(), specs, MINI_BATCH).is_err());
    }
    assert!(
        insert_only_specs()
            .iter()
            .all(AggregateSpec::merges_partials)
    );
    assert!(changelog_specs().iter().all(AggregateSpec::merges_partials));
}
