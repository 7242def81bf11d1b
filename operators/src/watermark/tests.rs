//! The watermark rule of Flink SQL's `WATERMARK FOR ts AS ts - INTERVAL`.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, TimestampMicrosecondArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use super::*;

/// A batch of `v, ts` rows with the given time column.
fn batch(times: ArrayRef) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("v", DataType::Int64, false),
        Field::new("ts", times.data_type().clone(), true),
    ]));
    let values = Arc::new(Int64Array::from_iter_values(0..times.len() as i64));
    RecordBatch::try_new(schema, vec![values, times]).unwrap()
}

fn millis(times: &[Option<i64>]) -> RecordBatch {
    batch(Arc::new(TimestampMillisecondArray::from(times.to_vec())))
}

/// Passes a batch through and returns the watermark it generated.
fn feed(assigner: &mut WatermarkAssigner, input: RecordBatch) -> Option<i64> {
    let mut out = Vec::new();
    assigner.process_batch(0, input.clone(), &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0], input, "batches pass unchanged");
    assigner.generated_watermark()
}

#[test]
fn the_watermark_trails_the_largest_time_by_the_delay_and_only_advances() {
    let mut assigner = WatermarkAssigner::new(1, 2000);
    // Largest 9000 - 2000.
    assert_eq!(
        feed(&mut assigner, millis(&[Some(5000), Some(9000), Some(7000)])),
        Some(7000)
    );
    assert_eq!(assigner.generated_watermark(), None, "handed out once");
    // Older rows (and NULL times) do not move it back or forward.
    assert_eq!(feed(&mut assigner, millis(&[Some(8000), None])), None);
    assert_eq!(feed(&mut assigner, millis(&[Some(9500)])), Some(7500));
}

#[test]
fn watermarks_start_at_zero_as_in_flink() {
    let mut assigner = WatermarkAssigner::new(1, 2000);
    // 1500 - 2000 is below the initial 0: nothing to hand out.
    assert_eq!(feed(&mut assigner, millis(&[Some(1500)])), None);
    assert_eq!(feed(&mut assigner, millis(&[Some(2001)])), Some(1));
}

#[test]
fn microsecond_times_round_down_to_milliseconds() {
    let mut assigner = WatermarkAssigner::new(1, 1000);
    let micros = batch(Arc::new(TimestampMicrosecondArray::from(vec![5_000_999])));
    assert_eq!(feed(&mut assigner, micros), Some(4000));
}

#[test]
fn upstream_watermarks_are_swallowed_except_the_end_of_input() {
    let mut assigner = WatermarkAssigner::new(1, 0);
    let mut out = Vec::new();
    assert_eq!(assigner.process_watermark(5000, &mut out).unwrap(), None);
    assert_eq!(
        assigner.process_watermark(i64::MAX, &mut out).unwrap(),
        Some(i64::MAX)
    );
    assert_eq!(
        assigner.process_watermark(i64::MAX, &mut out).unwrap(),
        None
    );
    // Nothing lower follows the end of input.
    assert_eq!(feed(&mut assigner, millis(&[Some(9000)])), None);
    assert!(out.is_empty());
}

#[test]
fn a_time_column_of_another_type_is_an_error() {
    let mut assigner = WatermarkAssigner::new(0, 0);
    let input = millis(&[Some(1)]);
    assert!(
        assigner
            .process_batch(0, input.clone(), &mut Vec::new())
            .is_err()
    );
    let mut missing = WatermarkAssigner::new(7, 0);
    assert!(missing.process_batch(0, input, &mut Vec::new()).is_err());
}

/// Passes a batch of split `split` through and returns the watermark.
fn feed_split(assigner: &mut WatermarkAssigner, split: &str, times: &[Option<i64>]) -> Option<i64> {
    assigner.next_batch_split(split);
    feed(assigner, millis(times))
}

fn splits(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

#[test]
fn per_split_the_slowest_split_holds_the_watermark_back() {
    let mut assigner = WatermarkAssigner::new(1, 1000);
    assigner.source_splits(&splits(&["t:0", "t:1"]));
    assert_eq!(
        feed_split(&mut assigner, "t:0", &[Some(10_000)]),
        None,
        "t:1 has given no rows yet"
    );
    assert_eq!(
        feed_split(&mut assigner, "t:1", &[Some(4_000)]),
        Some(3_000)
    );
    assert_eq!(
        feed_split(&mut assigner, "t:1", &[Some(20_000)]),
        Some(9_000)
    );
    // A split added later holds it back until it gives rows.
    assigner.source_splits(&splits(&["t:0", "t:1", "t:2"]));
    assert_eq!(feed_split(&mut assigner, "t:0", &[Some(30_000)]), None);
    assert_eq!(
        feed_split(&mut assigner, "t:2", &[Some(15_000)]),
        Some(14_000)
    );
    // A finished split no longer counts.
    assigner.source_splits(&splits(&["t:0", "t:1"]));
    assert_eq!(assigner.generated_watermark(), Some(19_000));
}

#[test]
fn an_idle_split_stops_holding_the_watermark_back_until_it_gives_rows() {
    let timeout = Duration::from_millis(50);
    let mut assigner = WatermarkAssigner::new(1, 0).with_idle_timeout(Some(timeout));
    assert_eq!(assigner.flush_interval(), Some(timeout));
    assigner.source_splits(&splits(&["t:0", "t:1"]));
    assert_eq!(feed_split(&mut assigner, "t:0", &[Some(10_000)]), None);
    std::thread::sleep(timeout * 2);
    // t:0 just gave rows; t:1 gave none for longer than the timeout.
    assert_eq!(
        feed_split(&mut assigner, "t:0", &[Some(11_000)]),
        Some(11_000)
    );
    // Back from idleness, t:1 counts again (its rows are late: its own
    // watermark is below the one handed out, which never goes back).
    assert_eq!(feed_split(&mut assigner, "t:1", &[Some(5_000)]), None);
    assert_eq!(feed_split(&mut assigner, "t:0", &[Some(20_000)]), None);
    assert_eq!(
        feed_split(&mut assigner, "t:1", &[Some(25_000)]),
        Some(20_000)
    );
}

#[test]
fn without_an_idle_timeout_a_silent_split_holds_the_watermark_back() {
    let mut assigner = WatermarkAssigner::new(1, 0);
    assert_eq!(assigner.flush_interval(), None);
    assigner.source_splits(&splits(&["t:0", "t:1"]));
    feed_split(&mut assigner, "t:0", &[Some(10_000)]);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(feed_split(&mut assigner, "t:0", &[Some(11_000)]), None);
}
