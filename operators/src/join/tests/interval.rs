//! The interval join: left (id, k, t) joined with right (id, k, t) on k and
//! `l.t - 1000 <= r.t <= l.t + 2000` unless a test says otherwise.

use std::sync::Arc;

use arrow::array::{Int8Array, Int64Array, TimestampMicrosecondArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use datafusion_common::ScalarValue;
use datafusion_expr_common::operator::Operator as BinaryOp;
use datafusion_physical_expr::expressions::{BinaryExpr, Column, Literal};
use datafusion_physical_expr_common::physical_expr::PhysicalExpr;

use super::*;
use crate::join::{IntervalJoin, JoinKind};
use crate::keys::key_group_range;
use crate::row_kind::with_row_kinds;

const LEFT: usize = 0;
const RIGHT: usize = 1;
const LOWER: i64 = 1000;
const UPPER: i64 = 2000;

fn schema(unit: TimeUnit) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("k", DataType::Int64, true),
        Field::new("t", DataType::Timestamp(unit, None), false),
    ]))
}

fn output_schema(right_unit: TimeUnit) -> SchemaRef {
    let fields: Vec<Field> = schema(TimeUnit::Millisecond)
        .fields()
        .iter()
        .chain(schema(right_unit).fields())
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    Arc::new(Schema::new(fields))
}

/// An insert-only batch of (id, k, t) rows with times in `unit`.
fn rows(unit: TimeUnit, rows: &[(i64, Option<i64>, i64)]) -> RecordBatch {
    let times = rows.iter().map(|r| r.2);
    let t: ArrayRef = match unit {
        TimeUnit::Millisecond => Arc::new(TimestampMillisecondArray::from_iter_values(times)),
        TimeUnit::Microsecond => Arc::new(TimestampMicrosecondArray::from_iter_values(times)),
        other => panic!("no {other:?} in these tests"),
    };
    RecordBatch::try_new(
        schema(unit),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))),
            t,
        ],
    )
    .unwrap()
}

/// Rows with times in milliseconds.
fn ms(batch: &[(i64, Option<i64>, i64)]) -> RecordBatch {
    rows(TimeUnit::Millisecond, batch)
}

fn interval_join(
    kind: JoinKind,
    lower: i64,
    upper: i64,
    filter: Option<Arc<dyn PhysicalExpr>>,
) -> IntervalJoin {
    IntervalJoin::new(
        kind,
        schema(TimeUnit::Millisecond),
        schema(TimeUnit::Millisecond),
        vec![1],
        vec![1],
        2,
        2,
        lower,
        upper,
        filter,
        output_schema(TimeUnit::Millisecond),
    )
    .unwrap()
}

fn join(kind: JoinKind) -> IntervalJoin {
    interval_join(kind, LOWER, UPPER, None)
}

/// Advances the watermark; returns the changes emitted and the watermark
/// forwarded.
fn watermark(j: &mut IntervalJoin, ms: i64) -> (Vec<String>, Option<i64>) {
    let mut out = Vec::new();
    let forwarded = j.process_watermark(ms, &mut out).unwrap();
    (changes(&out), forwarded)
}

#[test]
fn both_bounds_are_inclusive_from_either_side() {
    let mut j = join(JoinKind::Inner);
    assert!(run(&mut j, LEFT, ms(&[(1, Some(1), 10_000)])).is_empty());
    // Right rows may be 1000 before to 2000 after 10000.
    let step = run(
        &mut j,
        RIGHT,
        ms(&[
            (11, Some(1), 9_000),
            (12, Some(1), 8_999),
            (13, Some(1), 12_000),
            (14, Some(1), 12_001),
            (15, Some(2), 10_000),
        ]),
    );
    assert_eq!(step, ["+I 1,1,10000,11,1,9000", "+I 1,1,10000,13,1,12000"]);

    // Left rows may be 2000 before to 1000 after a right row at 5000.
    run(&mut j, RIGHT, ms(&[(21, Some(3), 5_000)]));
    let step = run(
        &mut j,
        LEFT,
        ms(&[
            (2, Some(3), 3_000),
            (3, Some(3), 6_000),
            (4, Some(3), 6_001),
            (5, Some(3), 2_999),
        ]),
    );
    assert_eq!(step, ["+I 2,3,3000,21,3,5000", "+I 3,3,6000,21,3,5000"]);
}

#[test]
fn microsecond_times_keep_their_precision() {
    let mut j = IntervalJoin::new(
        JoinKind::Inner,
        schema(TimeUnit::Millisecond),
        schema(TimeUnit::Microsecond),
        vec![1],
        vec![1],
        2,
        2,
        LOWER,
        UPPER,
        None,
        output_schema(TimeUnit::Microsecond),
    )
    .unwrap();
    run(&mut j, LEFT, ms(&[(1, Some(1), 10_000)]));
    let step = run(
        &mut j,
        RIGHT,
        rows(
            TimeUnit::Microsecond,
            &[
                (11, Some(1), 9_000_000),
                (12, Some(1), 8_999_999),
                (13, Some(1), 12_000_000),
                (14, Some(1), 12_000_001),
            ],
        ),
    );
    assert_eq!(
        step,
        ["+I 1,1,10000,11,1,9000000", "+I 1,1,10000,13,1,12000000"]
    );
    // The left row's interval ends at 12000 ms: kept at that watermark,
    // dropped at the next millisecond.
    watermark(&mut j, 12_000);
    assert_eq!(j.stored_rows(LEFT), 1);
    watermark(&mut j, 12_001);
    assert_eq!(j.stored_rows(LEFT), 0);
}

#[test]
fn bounds_may_both_lie_after_the_left_time() {
    // r.t BETWEEN l.t + 1000 AND l.t + 5000.
    let mut j = interval_join(JoinKind::Inner, -1000, 5000, None);
    run(&mut j, LEFT, ms(&[(1, Some(1), 10_000)]));
    let step = run(
        &mut j,
        RIGHT,
        ms(&[
            (11, Some(1), 10_999),
            (12, Some(1), 11_000),
            (13, Some(1), 15_000),
            (14, Some(1), 15_001),
            (15, Some(1), 9_000),
        ]),
    );
    assert_eq!(step, ["+I 1,1,10000,12,1,11000", "+I 1,1,10000,13,1,15000"]);
    // Outputs can be up to 5000 behind the input watermark.
    assert_eq!(watermark(&mut j, 20_000).1, Some(14_999));
}

#[test]
fn the_watermark_evicts_rows_and_late_rows_join_what_is_left() {
    let mut j = join(JoinKind::Inner);
    run(&mut j, LEFT, ms(&[(1, Some(1), 10_000)]));
    assert_eq!(
        run(&mut j, RIGHT, ms(&[(11, Some(1), 11_500)])),
        ["+I 1,1,10000,11,1,11500"]
    );
    // The left row's interval ends at 12000, the right row's at 12500.
    // The forwarded watermark lags by max(lower, upper) + 1.
    assert_eq!(watermark(&mut j, 12_000), (vec![], Some(9_999)));
    assert_eq!((j.stored_rows(LEFT), j.stored_rows(RIGHT)), (1, 1));
    assert_eq!(watermark(&mut j, 12_001), (vec![], Some(10_000)));
    assert_eq!((j.stored_rows(LEFT), j.stored_rows(RIGHT)), (0, 1));

    // A late left row still joins the right row in state, and is not kept.
    assert_eq!(
        run(&mut j, LEFT, ms(&[(2, Some(1), 10_000)])),
        ["+I 2,1,10000,11,1,11500"]
    );
    assert_eq!(j.stored_rows(LEFT), 0);
    // A late right row whose partner (left 1) was evicted finds nothing.
    assert!(run(&mut j, RIGHT, ms(&[(12, Some(1), 10_500)])).is_empty());
    assert_eq!(j.stored_rows(RIGHT), 1);

    watermark(&mut j, 12_501);
    assert_eq!((j.stored_rows(LEFT), j.stored_rows(RIGHT)), (0, 0));
    assert_eq!(watermark(&mut j, i64::MAX).1, Some(i64::MAX));
}

#[test]
fn a_left_join_pads_rows_no_match_can_reach_any_more() {
    let mut j = join(JoinKind::Left);
    let mut all = Vec::new();
    all.extend(run(
        &mut j,
        LEFT,
        ms(&[(1, Some(1), 10_000), (2, Some(2), 10_000)]),
    ));
    assert!(all.is_empty(), "both rows may still find a match");
    assert_eq!(
        run(&mut j, RIGHT, ms(&[(21, Some(2), 10_500)])),
        ["+I 2,2,10000,21,2,10500"]
    );
    assert!(watermark(&mut j, 12_000).0.is_empty());
    // Left 1 never matched; left 2 did; right 21 is on the inner side.
    assert_eq!(watermark(&mut j, 12_001).0, ["+I 1,1,10000,NULL,NULL,NULL"]);
    assert_eq!((j.stored_rows(LEFT), j.stored_rows(RIGHT)), (0, 0));

    // Too late to be kept and unmatched: padded at once. So is a NULL key.
    assert_eq!(
        run(&mut j, LEFT, ms(&[(3, Some(1), 9_000), (4, None, 20_000)])),
        [
            "+I 3,1,9000,NULL,NULL,NULL",
            "+I 4,NULL,20000,NULL,NULL,NULL"
        ]
    );
    // What is left when the inputs end is padded then.
    run(&mut j, LEFT, ms(&[(5, Some(1), 20_000)]));
    let mut out = Vec::new();
    j.finish(&mut out).unwrap();
    assert_eq!(changes(&out), ["+I 5,1,20000,NULL,NULL,NULL"]);
}

#[test]
fn a_full_join_pads_unmatched_rows_of_both_sides() {
    let mut j = join(JoinKind::Full);
    run(
        &mut j,
        RIGHT,
        ms(&[(21, Some(1), 10_000), (22, Some(2), 10_000)]),
    );
    assert_eq!(
        run(&mut j, LEFT, ms(&[(1, Some(2), 9_500)])),
        ["+I 1,2,9500,22,2,10000"]
    );
    // Right rows' intervals end at 11000, the left row's at 11500.
    assert_eq!(
        watermark(&mut j, 11_001).0,
        ["+I NULL,NULL,NULL,21,1,10000"]
    );
    assert!(watermark(&mut j, 11_501).0.is_empty());
    assert_eq!((j.stored_rows(LEFT), j.stored_rows(RIGHT)), (0, 0));
}

#[test]
fn a_pair_failing_the_residual_condition_is_no_match() {
    // r.id > 100.
    let filter: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(
        Arc::new(Column::new("id", 3)),
        BinaryOp::Gt,
        Arc::new(Literal::new(ScalarValue::Int64(Some(100)))),
    ));
    let mut j = interval_join(JoinKind::Left, LOWER, UPPER, Some(filter));
    run(
        &mut j,
        LEFT,
        ms(&[(1, Some(1), 10_000), (2, Some(2), 10_000)]),
    );
    assert_eq!(
        run(
            &mut j,
            RIGHT,
            ms(&[
                (11, Some(1), 10_000),
                (111, Some(1), 10_000),
                (12, Some(2), 10_000)
            ])
        ),
        ["+I 1,1,10000,111,1,10000"]
    );
    assert_eq!(watermark(&mut j, 12_001).0, ["+I 2,2,10000,NULL,NULL,NULL"]);
}

#[test]
fn interval_join_inputs_must_be_insert_only() {
    let mut j = join(JoinKind::Inner);
    let batch = with_row_kinds(
        &ms(&[(1, Some(1), 10_000)]),
        Int8Array::from(vec![kind_byte("-D")]),
    )
    .unwrap();
    assert!(j.process_batch(LEFT, batch, &mut Vec::new()).is_err());
}

#[test]
fn a_snapshot_split_by_key_groups_continues_like_the_original() {
    let mut original = join(JoinKind::Full);
    let left_rows: Vec<(i64, Option<i64>, i64)> = (1..=8).map(|k| (k, Some(k), 10_000)).collect();
    run(&mut original, LEFT, ms(&left_rows));
    run(
        &mut original,
        RIGHT,
        ms(&[
            (21, Some(1), 10_500),
            (22, Some(2), 10_500),
            (29, Some(9), 10_500),
        ]),
    );
    let snapshot = original.snapshot_state(MAX_PARALLELISM).unwrap().unwrap();
    let mut restored: Vec<IntervalJoin> = (0..2)
        .map(|subtask| {
            let part = key_groups_in(&snapshot, key_group_range(subtask, MAX_PARALLELISM, 2));
            assert!(part.num_rows() > 0, "subtask {subtask} restores some rows");
            let mut j = join(JoinKind::Full);
            j.restore_state(vec![part]).unwrap();
            j
        })
        .collect();

    let right = ms(&[(23, Some(3), 11_000), (24, Some(4), 13_000)]);
    let mut expected = run(&mut original, RIGHT, right.clone());
    let mut actual = Vec::new();
    for (subtask, part) in route(&right, &[1], 2).into_iter().enumerate() {
        actual.extend(run(&mut restored[subtask], RIGHT, part));
    }
    expected.extend(watermark(&mut original, 20_000).0);
    for j in &mut restored {
        actual.extend(watermark(j, 20_000).0);
    }
    assert_eq!(sorted(actual), sorted(expected.clone()));
    // Right 23 joins left 3; right 24 (13000) is past left 4's reach
    // (12000). At 20000 every row is gone: lefts 4 to 8 and rights 24 and
    // 29 never matched.
    assert_eq!(
        sorted(expected),
        sorted(
            [
                "+I 3,3,10000,23,3,11000",
                "+I 4,4,10000,NULL,NULL,NULL",
                "+I 5,5,10000,NULL,NULL,NULL",
                "+I 6,6,10000,NULL,NULL,NULL",
                "+I 7,7,10000,NULL,NULL,NULL",
                "+I 8,8,10000,NULL,NULL,NULL",
                "+I NULL,NULL,NULL,24,4,13000",
                "+I NULL,NULL,NULL,29,9,10500",
            ]
            .map(String::from)
            .to_vec()
        )
    );
}
