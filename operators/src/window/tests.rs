//! Window aggregation results, checked against expectations worked out by
//! hand from the inputs and against a naive model that tests every row
//! against every window of the test's time range.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;

use super::*;
use crate::aggregate::AggregateFunction;
use crate::keys::{hash_keys, key_group, key_group_range, subtask_for_key_group};
use crate::watermark::WatermarkAssigner;

/// An input row: key, value, event time in ms (`None` for NULL).
type In = (&'static str, i64, Option<i64>);

/// An output row: key, window start and end in ms, `COUNT(*)`, `SUM(v)`.
type Out = (String, i64, i64, i64, i64);

/// Event times of the tests lie in `0..HORIZON` ms.
const HORIZON: i64 = 60_000;

const TUMBLE_5S: WindowKind = WindowKind::Tumble {
    size_ms: 5000,
    offset_ms: 0,
};

fn time_type(unit: TimeUnit) -> DataType {
    DataType::Timestamp(unit, None)
}

/// `SELECT k, window_start, window_end, COUNT(*), SUM(v) ... GROUP BY k,
/// window_start, window_end` over input columns `k, v, ts`.
fn count_and_sum(window: WindowKind, unit: TimeUnit) -> WindowAggregate {
    try_count_and_sum(window, unit).unwrap()
}

fn try_count_and_sum(window: WindowKind, unit: TimeUnit) -> Result<WindowAggregate> {
    let int = |function, input_column| AggregateSpec {
        function,
        input_column,
        input_type: DataType::Int64,
        output_type: DataType::Int64,
        input_retracts: false,
    };
    let specs = vec![
        int(AggregateFunction::CountStar, None),
        int(AggregateFunction::Sum, Some(1)),
    ];
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("window_start", time_type(unit), false),
        Field::new("window_end", time_type(unit), false),
        Field::new("cnt", DataType::Int64, false),
        Field::new("total", DataType::Int64, true),
    ]));
    WindowAggregate::new(&[DataType::Utf8], 2, window, specs, schema)
}

/// A batch of `k, v, ts` rows.
fn batch(rows: &[In], unit: TimeUnit) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
        Field::new("ts", time_type(unit), true),
    ]));
    let millis: ArrayRef = Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.2)));
    let times = cast(&millis, &time_type(TimeUnit::Millisecond)).unwrap();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            cast(&times, &time_type(unit)).unwrap(),
        ],
    )
    .unwrap()
}

/// The rows of output batches, window bounds in ms.
fn render(out: &[RecordBatch]) -> Vec<Out> {
    let mut rows = Vec::new();
    for b in out {
        let millis = |c: usize| cast(b.column(c), &time_type(TimeUnit::Millisecond)).unwrap();
        let (starts, ends) = (millis(1), millis(2));
        let starts = starts.as_primitive::<TimestampMillisecondType>();
        let ends = ends.as_primitive::<TimestampMillisecondType>();
        let keys = b.column(0).as_string::<i32>();
        let counts = b.column(3).as_primitive::<Int64Type>();
        let sums = b.column(4).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            rows.push((
                keys.value(i).to_string(),
                starts.value(i),
                ends.value(i),
                counts.value(i),
                sums.value(i),
            ));
        }
    }
    rows
}

fn out(key: &str, start: i64, end: i64, count: i64, sum: i64) -> Out {
    (key.to_string(), start, end, count, sum)
}

/// What happens to the operator.
#[derive(Clone)]
enum Event {
    Rows(Vec<In>),
    Watermark(i64),
    Finish,
}

/// Feeds the events to the operator and returns what each watermark and
/// the finish emitted, checking that windows come in end order (rows of one
/// end are then sorted by key, their order being unspecified).
fn run(agg: &mut WindowAggregate, events: &[Event]) -> Vec<Vec<Out>> {
    let mut emitted = Vec::new();
    for event in events {
        let mut out = Vec::new();
        match event {
            Event::Rows(rows) => {
                agg.process_batch(0, batch(rows, TimeUnit::Millisecond), &mut out)
                    .unwrap();
                assert!(out.is_empty(), "rows alone fire nothing");
                continue;
            }
            Event::Watermark(w) => {
                assert_eq!(agg.process_watermark(*w, &mut out).unwrap(), Some(*w));
            }
            Event::Finish => agg.finish(&mut out).unwrap(),
        }
        let mut rows = render(&out);
        assert!(
            rows.windows(2).all(|p| p[0].2 <= p[1].2),
            "fired windows in end order: {rows:?}"
        );
        rows.sort_by(|x, y| (x.2, &x.0).cmp(&(y.2, &y.0)));
        emitted.push(rows);
    }
    emitted
}

/// Every window of `kind` that can hold an event time in `0..HORIZON`.
fn all_windows(kind: WindowKind) -> Vec<(i64, i64)> {
    match kind {
        WindowKind::Tumble { size_ms, offset_ms } => (-1..=HORIZON / size_ms + 1)
            .map(|k| (k * size_ms + offset_ms, (k + 1) * size_ms + offset_ms))
            .collect(),
        WindowKind::Hop { size_ms, slide_ms } => (-size_ms / slide_ms..=HORIZON / slide_ms)
            .map(|k| (k * slide_ms, k * slide_ms + size_ms))
            .collect(),
        WindowKind::Cumulate {
            step_ms,
            max_size_ms,
        } => (-1..=HORIZON / max_size_ms)
            .flat_map(|p| {
                (1..=max_size_ms / step_ms)
                    .map(move |k| (p * max_size_ms, p * max_size_ms + k * step_ms))
            })
            .collect(),
    }
}

/// The naive model: what each watermark and the finish emit (sorted by
/// window end, then key), and the late and NULL-time rows dropped.
fn naive(kind: WindowKind, events: &[Event]) -> (Vec<Vec<Out>>, u64, u64) {
    let windows = all_windows(kind);
    // (end, key, start) -> (count, sum)
    let mut open: BTreeMap<(i64, String, i64), (i64, i64)> = BTreeMap::new();
    let (mut watermark, mut late, mut nulls) = (i64::MIN, 0, 0);
    let mut emitted = Vec::new();
    for event in events {
        let fire_up_to = match event {
            Event::Rows(rows) => {
                for &(key, value, ts) in rows {
                    let Some(t) = ts else {
                        nulls += 1;
                        continue;
                    };
                    let holding: Vec<_> = windows
                        .iter()
                        .filter(|&&(s, e)| s <= t && t < e && e - 1 > watermark)
                        .collect();
                    if holding.is_empty() {
                        late += 1;
                    }
                    for &(s, e) in holding {
                        let acc = open.entry((e, key.to_string(), s)).or_default();
                        acc.0 += 1;
                        acc.1 += value;
                    }
                }
                continue;
            }
            Event::Watermark(w) => *w,
            Event::Finish => i64::MAX,
        };
        watermark = watermark.max(fire_up_to);
        // Windows ending by watermark + 1 fire.
        let still_open = open.split_off(&(watermark.saturating_add(2), String::new(), i64::MIN));
        let fired = std::mem::replace(&mut open, still_open);
        emitted.push(
            fired
                .into_iter()
                .map(|((e, key, s), (c, sum))| (key, s, e, c, sum))
                .collect(),
        );
    }
    (emitted, late, nulls)
}

/// Runs the events through the operator and the naive model and compares
/// everything emitted and dropped.
fn check_against_naive(kind: WindowKind, events: &[Event]) {
    let mut agg = count_and_sum(kind, TimeUnit::Millisecond);
    let actual = run(&mut agg, events);
    let (expected, late, nulls) = naive(kind, events);
    assert_eq!(actual, expected, "{kind:?}");
    assert_eq!(agg.late_rows_dropped(), late, "late rows of {kind:?}");
    assert_eq!(agg.null_time_rows_dropped(), nulls, "NULL rows of {kind:?}");
}

#[test]
fn tumbling_windows_fire_when_the_watermark_reaches_their_last_millisecond() {
    let events = [
        Event::Rows(vec![
            ("a", 1, Some(1000)),
            ("b", 10, Some(2000)),
            ("a", 2, Some(4999)),
            ("a", 4, Some(5000)),
            ("b", 20, Some(7000)),
        ]),
        Event::Watermark(4998),
        Event::Watermark(4999),
        Event::Watermark(9999),
    ];
    let mut agg = count_and_sum(TUMBLE_5S, TimeUnit::Millisecond);
    // [0, 5000) holds a: 1 + 2 and b: 10; its last millisecond is 4999, so
    // watermark 4998 fires nothing. [5000, 10000) holds a: 4 and b: 20.
    assert_eq!(
        run(&mut agg, &events),
        [
            vec![],
            vec![out("a", 0, 5000, 2, 3), out("b", 0, 5000, 1, 10)],
            vec![out("a", 5000, 10000, 1, 4), out("b", 5000, 10000, 1, 20)],
        ]
    );
    assert_eq!(agg.open_window_count(), 0);
    check_against_naive(TUMBLE_5S, &events);
}

#[test]
fn a_tumble_offset_shifts_the_windows() {
    let kind = WindowKind::Tumble {
        size_ms: 5000,
        offset_ms: 1000,
    };
    let mut agg = count_and_sum(kind, TimeUnit::Millisecond);
    let events = [
        Event::Rows(vec![("a", 1, Some(500)), ("a", 2, Some(1000))]),
        Event::Finish,
    ];
    // Windows start at 1000 modulo 5000: 500 is in [-4000, 1000), 1000 in
    // [1000, 6000).
    assert_eq!(
        run(&mut agg, &events),
        [vec![
            out("a", -4000, 1000, 1, 1),
            out("a", 1000, 6000, 1, 2)
        ]]
    );
}

#[test]
fn a_hopping_row_counts_in_size_over_slide_windows() {
    let kind = WindowKind::Hop {
        size_ms: 10_000,
        slide_ms: 5000,
    };
    let events = [
        Event::Rows(vec![("a", 5, Some(7000)), ("b", 1, Some(12_000))]),
        Event::Watermark(9999),
        Event::Watermark(14_999),
        Event::Finish,
    ];
    let mut agg = count_and_sum(kind, TimeUnit::Millisecond);
    // 7000 is in [0, 10000) and [5000, 15000); 12000 in [5000, 15000) and
    // [10000, 20000).
    assert_eq!(
        run(&mut agg, &events),
        [
            vec![out("a", 0, 10_000, 1, 5)],
            vec![out("a", 5000, 15_000, 1, 5), out("b", 5000, 15_000, 1, 1)],
            vec![out("b", 10_000, 20_000, 1, 1)],
        ]
    );
    check_against_naive(kind, &events);
}

#[test]
fn cumulating_windows_grow_by_a_step_up_to_the_maximum_size() {
    let kind = WindowKind::Cumulate {
        step_ms: 2000,
        max_size_ms: 6000,
    };
    let events = [
        Event::Rows(vec![
            ("a", 1, Some(1000)),
            ("a", 2, Some(3000)),
            ("a", 4, Some(5000)),
            ("b", 7, Some(6500)),
        ]),
        Event::Watermark(1999),
        Event::Watermark(3999),
        Event::Watermark(5999),
        Event::Finish,
    ];
    let mut agg = count_and_sum(kind, TimeUnit::Millisecond);
    // a's period [0, 6000) has windows ending at 2000 (1000), 4000 (1000,
    // 3000) and 6000 (all three); b's row at 6500 is in every window of the
    // next period, ending at 8000, 10000 and 12000.
    assert_eq!(
        run(&mut agg, &events),
        [
            vec![out("a", 0, 2000, 1, 1)],
            vec![out("a", 0, 4000, 2, 3)],
            vec![out("a", 0, 6000, 3, 7)],
            vec![
                out("b", 6000, 8000, 1, 7),
                out("b", 6000, 10_000, 1, 7),
                out("b", 6000, 12_000, 1, 7),
            ],
        ]
    );
    check_against_naive(kind, &events);
}

#[test]
fn out_of_order_rows_within_the_delay_count_and_later_ones_are_dropped() {
    let mut assigner = WatermarkAssigner::new(2, 2000);
    let mut agg = count_and_sum(TUMBLE_5S, TimeUnit::Millisecond);
    let mut emitted = Vec::new();
    let mut feed = |rows: &[In], emitted: &mut Vec<RecordBatch>| {
        let mut passed = Vec::new();
        assigner
            .process_batch(0, batch(rows, TimeUnit::Millisecond), &mut passed)
            .unwrap();
        for b in passed {
            agg.process_batch(0, b, emitted).unwrap();
        }
        if let Some(w) = assigner.generated_watermark() {
            agg.process_watermark(w, emitted).unwrap();
        }
    };
    // Watermarks trail the largest time by 2000: 2000, 4000, 4000, 5500.
    feed(&[("a", 1, Some(4000))], &mut emitted);
    feed(&[("a", 2, Some(6000))], &mut emitted);
    // 3000 is out of order, but [0, 5000) has not fired at watermark 4000.
    feed(&[("a", 4, Some(3000))], &mut emitted);
    assert!(emitted.is_empty());
    feed(&[("a", 8, Some(7500))], &mut emitted);
    assert_eq!(render(&emitted), [out("a", 0, 5000, 2, 5)]);
    emitted.clear();
    // [0, 5000) fired: 2000 comes too late.
    feed(&[("a", 16, Some(2000))], &mut emitted);
    assert_eq!(agg.late_rows_dropped(), 1);
    agg.finish(&mut emitted).unwrap();
    assert_eq!(render(&emitted), [out("a", 5000, 10_000, 2, 10)]);
}

#[test]
fn late_rows_are_dropped_and_counted_unless_a_window_of_theirs_is_open() {
    let tumble = [
        Event::Rows(vec![("a", 1, Some(1000))]),
        Event::Watermark(4999),
        // Both are in the fired [0, 5000); 5000 opens [5000, 10000).
        Event::Rows(vec![
            ("a", 2, Some(2000)),
            ("b", 4, Some(4999)),
            ("a", 8, Some(5000)),
        ]),
        Event::Finish,
    ];
    let mut agg = count_and_sum(TUMBLE_5S, TimeUnit::Millisecond);
    assert_eq!(
        run(&mut agg, &tumble),
        [
            vec![out("a", 0, 5000, 1, 1)],
            vec![out("a", 5000, 10_000, 1, 8)]
        ]
    );
    assert_eq!(agg.late_rows_dropped(), 2);
    check_against_naive(TUMBLE_5S, &tumble);

    let hop = WindowKind::Hop {
        size_ms: 10_000,
        slide_ms: 5000,
    };
    let events = [
        Event::Watermark(9999),
        // [0, 10000) fired, [5000, 15000) is open: not late.
        Event::Rows(vec![("a", 3, Some(7000))]),
        Event::Finish,
    ];
    let mut agg = count_and_sum(hop, TimeUnit::Millisecond);
    assert_eq!(
        run(&mut agg, &events),
        [vec![], vec![out("a", 5000, 15_000, 1, 3)]]
    );
    assert_eq!(agg.late_rows_dropped(), 0);
}

#[test]
fn rows_without_a_time_are_dropped_and_counted_apart_from_late_ones() {
    let events = [
        Event::Rows(vec![("a", 1, None), ("a", 2, Some(1000))]),
        Event::Finish,
    ];
    let mut agg = count_and_sum(TUMBLE_5S, TimeUnit::Millisecond);
    assert_eq!(run(&mut agg, &events), [vec![out("a", 0, 5000, 1, 2)]]);
    assert_eq!(agg.null_time_rows_dropped(), 1);
    assert_eq!(agg.late_rows_dropped(), 0);
}

#[test]
fn one_watermark_fires_overlapping_windows_in_end_order() {
    let kind = WindowKind::Hop {
        size_ms: 6000,
        slide_ms: 2000,
    };
    let events = [
        Event::Rows(vec![
            ("b", 1, Some(9000)),
            ("a", 2, Some(500)),
            ("b", 4, Some(4100)),
            ("a", 8, Some(7000)),
            ("c", 16, Some(2500)),
        ]),
        Event::Watermark(11_999),
        Event::Finish,
    ];
    let mut agg = count_and_sum(kind, TimeUnit::Millisecond);
    let emitted = run(&mut agg, &events);
    // Windows ending at 2000 ... 12000 fire together.
    let ends: Vec<i64> = emitted[0].iter().map(|r| r.2).collect();
    assert_eq!(ends.first(), Some(&2000));
    assert_eq!(ends.last(), Some(&12_000));
    check_against_naive(kind, &events);
}

/// A deterministic stream of disordered rows (some with NULL times) and
/// watermarks that leave some rows late.
fn disordered_events(seed: u64) -> Vec<Event> {
    let mut state = seed;
    let mut next = move |bound: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) % bound) as i64
    };
    let mut events = Vec::new();
    for round in 0..40 {
        let base = 1000 + round * 1000;
        let rows = (0..1 + next(6))
            .map(|_| {
                let key = ["a", "b", "c"][next(3) as usize];
                let ts = (next(20) > 0).then(|| base + next(6000) - 3000);
                (key, next(100), ts)
            })
            .collect();
        events.push(Event::Rows(rows));
        events.push(Event::Watermark(base - next(2000)));
    }
    events.push(Event::Finish);
    events
}

#[test]
fn disordered_streams_match_the_naive_model_for_every_kind() {
    let kinds = [
        TUMBLE_5S,
        WindowKind::Tumble {
            size_ms: 3000,
            offset_ms: 500,
        },
        WindowKind::Hop {
            size_ms: 6000,
            slide_ms: 2000,
        },
        WindowKind::Hop {
            size_ms: 3000,
            slide_ms: 3000,
        },
        WindowKind::Cumulate {
            step_ms: 1000,
            max_size_ms: 4000,
        },
    ];
    for seed in 1..=5 {
        let events = disordered_events(seed);
        let (emitted, late, nulls) = naive(TUMBLE_5S, &events);
        assert!(
            late > 0 && nulls > 0 && emitted.concat().len() > 10,
            "the stream exercises late and NULL rows"
        );
        for kind in kinds {
            check_against_naive(kind, &events);
        }
    }
}

#[test]
fn fired_windows_free_their_slots_and_keys_for_reuse() {
    let mut agg = count_and_sum(
        WindowKind::Tumble {
            size_ms: 1000,
            offset_ms: 0,
        },
        TimeUnit::Millisecond,
    );
    let mut emitted = Vec::new();
    for second in 0..100 {
        let t = second * 1000 + 500;
        let key = if second % 2 == 0 { "even" } else { "odd" };
        agg.process_batch(
            0,
            batch(
                &[("a", 1, Some(t)), (key, 1, Some(t))],
                TimeUnit::Millisecond,
            ),
            &mut emitted,
        )
        .unwrap();
        agg.process_watermark(t + 499, &mut emitted).unwrap();
    }
    assert_eq!(render(&emitted).len(), 200);
    assert_eq!(agg.open_window_count(), 0);
    assert_eq!(agg.slots.capacity(), 2, "two windows open at a time");
    assert_eq!(agg.keys.len(), 0, "no key outlives its windows");
}

#[test]
fn microsecond_times_give_microsecond_windows() {
    let mut agg = count_and_sum(TUMBLE_5S, TimeUnit::Microsecond);
    let times: ArrayRef = Arc::new(arrow::array::TimestampMicrosecondArray::from(vec![
        4_999_999, 5_000_000,
    ]));
    let input = batch(
        &[("a", 1, Some(0)), ("a", 2, Some(0))],
        TimeUnit::Microsecond,
    );
    let input = RecordBatch::try_new(
        input.schema(),
        vec![input.column(0).clone(), input.column(1).clone(), times],
    )
    .unwrap();
    let mut emitted = Vec::new();
    agg.process_batch(0, input, &mut emitted).unwrap();
    // 4999.999 ms rounds down into [0, 5000): it fires at watermark 4999.
    agg.process_watermark(4999, &mut emitted).unwrap();
    assert_eq!(emitted.len(), 1);
    let fired = &emitted[0];
    assert_eq!(
        fired.column(1).data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, None)
    );
    let micros = |c: usize| {
        fired
            .column(c)
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
            .values()
            .to_vec()
    };
    assert_eq!((micros(1), micros(2)), (vec![0], vec![5_000_000]));
    assert_eq!(render(&emitted), [out("a", 0, 5000, 1, 1)]);
}

#[test]
fn a_global_window_aggregate_has_one_group_per_window() {
    let specs = vec![AggregateSpec {
        function: AggregateFunction::CountStar,
        input_column: None,
        input_type: DataType::Int64,
        output_type: DataType::Int64,
        input_retracts: false,
    }];
    let ms = time_type(TimeUnit::Millisecond);
    let schema = Arc::new(Schema::new(vec![
        Field::new("window_start", ms.clone(), false),
        Field::new("window_end", ms.clone(), false),
        Field::new("cnt", DataType::Int64, false),
    ]));
    let mut agg = WindowAggregate::new(&[], 2, TUMBLE_5S, specs, schema).unwrap();
    let mut emitted = Vec::new();
    agg.process_batch(
        0,
        batch(
            &[
                ("a", 1, Some(1000)),
                ("b", 1, Some(2000)),
                ("c", 1, Some(6000)),
            ],
            TimeUnit::Millisecond,
        ),
        &mut emitted,
    )
    .unwrap();
    agg.finish(&mut emitted).unwrap();
    let fired = &emitted[0];
    assert_eq!(
        fired.column(2).as_primitive::<Int64Type>().values(),
        &[2, 1]
    );
}

#[test]
fn invalid_windows_and_schemas_are_rejected() {
    for kind in [
        WindowKind::Tumble {
            size_ms: 0,
            offset_ms: 0,
        },
        WindowKind::Hop {
            size_ms: 5000,
            slide_ms: 2000,
        },
        WindowKind::Cumulate {
            step_ms: 0,
            max_size_ms: 5000,
        },
        WindowKind::Cumulate {
            step_ms: 2000,
            max_size_ms: 5000,
        },
    ] {
        assert!(try_count_and_sum(kind, TimeUnit::Millisecond).is_err());
    }
    let timestamp_with_zone = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("window_start", timestamp_with_zone.clone(), false),
        Field::new("window_end", timestamp_with_zone, false),
    ]));
    assert!(WindowAggregate::new(&[], 0, TUMBLE_5S, Vec::new(), schema).is_err());
    let mut agg = count_and_sum(TUMBLE_5S, TimeUnit::Millisecond);
    let input = batch(&[("a", 1, Some(0))], TimeUnit::Millisecond);
    let wrong_time = input.project(&[0, 1, 1]).unwrap();
    assert!(agg.process_batch(0, wrong_time, &mut Vec::new()).is_err());
}

/// The subtask of `parallelism` that owns `key`.
fn owner(key: &str, parallelism: u32) -> usize {
    let keys: ArrayRef = Arc::new(StringArray::from(vec![key]));
    let hash = hash_keys(&[keys], 1).unwrap()[0];
    subtask_for_key_group(key_group(hash, 128), 128, parallelism) as usize
}

/// The rows of a snapshot whose key group falls in `groups`, as the
/// runtime hands them to a restored subtask.
fn state_of(snapshot: &RecordBatch, groups: std::ops::Range<u32>) -> RecordBatch {
    let key_groups = snapshot
        .column(0)
        .as_primitive::<arrow::datatypes::UInt32Type>();
    let keep: arrow::array::BooleanArray = key_groups
        .values()
        .iter()
        .map(|g| Some(groups.contains(g)))
        .collect();
    filter_record_batch(snapshot, &keep).unwrap()
}

#[test]
fn restored_windows_continue_and_stay_closed_when_split_over_two_subtasks() {
    let keys = ["a", "b", "c", "d", "e", "f", "g", "h"];
    assert!(
        keys.iter().any(|k| owner(k, 2) == 0) && keys.iter().any(|k| owner(k, 2) == 1),
        "the keys spread over both subtasks"
    );
    let rows =
        |t: i64, value: i64| -> Vec<In> { keys.iter().map(|&k| (k, value, Some(t))).collect() };
    let before = [
        Event::Rows([rows(1000, 1), rows(6000, 2)].concat()),
        Event::Watermark(4999),
    ];
    let mut original = count_and_sum(TUMBLE_5S, TimeUnit::Millisecond);
    run(&mut original, &before);
    let snapshot = original.snapshot_state(128).unwrap().expect("state");

    let mut halves: Vec<WindowAggregate> = (0..2)
        .map(|subtask| {
            let mut half = count_and_sum(TUMBLE_5S, TimeUnit::Millisecond);
            half.restore_state(vec![state_of(&snapshot, key_group_range(subtask, 128, 2))])
                .unwrap();
            half
        })
        .collect();
    assert_eq!(
        halves[0].open_window_count() + halves[1].open_window_count(),
        original.open_window_count()
    );

    // After the restore, before any watermark: 2000 belongs to [0, 5000),
    // which fired before the checkpoint, so it is late; 7000 joins the
    // restored [5000, 10000).
    let after = [
        Event::Rows([rows(2000, 4), rows(7000, 8)].concat()),
        Event::Finish,
    ];
    let mut restored: Vec<Out> = Vec::new();
    for (subtask, half) in halves.iter_mut().enumerate() {
        let own = |event: &Event| match event {
            Event::Rows(rows) => Event::Rows(
                rows.iter()
                    .filter(|r| owner(r.0, 2) == subtask)
                    .copied()
                    .collect(),
            ),
            other => other.clone(),
        };
        let mine: Vec<Event> = after.iter().map(own).collect();
        restored.extend(run(half, &mine).concat());
    }
    restored.sort_by(|x, y| (x.2, &x.0).cmp(&(y.2, &y.0)));
    let late: u64 = halves.iter().map(WindowAggregate::late_rows_dropped).sum();

    let (expected, expected_late, _) = naive(TUMBLE_5S, &[before.as_slice(), &after].concat());
    assert_eq!(restored, expected[1], "what fires after the restore");
    assert_eq!(late, expected_late);
    assert_eq!(late, keys.len() as u64);
}

#[test]
fn a_snapshot_of_an_untouched_operator_is_empty() {
    let mut agg = count_and_sum(TUMBLE_5S, TimeUnit::Millisecond);
    assert!(agg.snapshot_state(128).unwrap().is_none());
}
