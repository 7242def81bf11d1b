//! Upserts and tombstones turned into Flink's full changelog, checked row
//! by row against the rules of the module docs.

use std::sync::atomic::{AtomicI64, Ordering};

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::Int8Type;

use super::*;
use crate::row_kind::with_row_kinds;

/// Rows `k, v`, keyed by `k`.
fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
    ]))
}

/// An upsert batch: `(kind, k, v)`, `v` NULL for a tombstone.
fn upserts(rows: &[(RowKind, &str, Option<i64>)]) -> RecordBatch {
    let keys: Vec<&str> = rows.iter().map(|r| r.1).collect();
    let values: Vec<Option<i64>> = rows.iter().map(|r| r.2).collect();
    let data = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(keys)),
            Arc::new(Int64Array::from(values)),
        ],
    )
    .unwrap();
    let kinds = rows.iter().map(|r| r.0 as i8).collect::<Vec<_>>();
    with_row_kinds(&data, Int8Array::from(kinds)).unwrap()
}

/// The emitted changes as `+I k=v` strings, in order.
fn feed(normalize: &mut ChangelogNormalize, batch: RecordBatch) -> Vec<String> {
    let mut out = Vec::new();
    normalize.process_batch(0, batch, &mut out).unwrap();
    out.iter()
        .flat_map(|batch| {
            let keys = batch.column(0).as_string::<i32>().clone();
            let values = batch.column(1).as_primitive::<Int64Type>().clone();
            let kinds = batch.column(2).as_primitive::<Int8Type>().clone();
            (0..batch.num_rows())
                .map(|i| {
                    let kind = RowKind::from_byte(kinds.value(i)).unwrap();
                    let value = if values.is_null(i) {
                        "null".to_string()
                    } else {
                        values.value(i).to_string()
                    };
                    format!("{} {}={value}", kind.short_string(), keys.value(i))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn normalizer(ttl: Option<Duration>) -> ChangelogNormalize {
    ChangelogNormalize::new(schema(), vec![0], ttl).unwrap()
}

use RowKind::{Delete, Insert, UpdateAfter, UpdateBefore};

#[test]
fn the_first_value_inserts_later_ones_update_and_a_tombstone_deletes_the_whole_row() {
    let mut normalize = normalizer(None);
    assert_eq!(
        feed(
            &mut normalize,
            upserts(&[
                (Insert, "a", Some(1)),
                (UpdateAfter, "b", Some(10)),
                (Insert, "a", Some(2)),
                (Delete, "b", None),
            ])
        ),
        ["+I a=1", "+I b=10", "-U a=1", "+U a=2", "-D b=10"]
    );
    // A key deleted and written again starts over with +I.
    assert_eq!(
        feed(&mut normalize, upserts(&[(UpdateAfter, "b", Some(11))])),
        ["+I b=11"]
    );
}

#[test]
fn unknown_deletes_equal_rewrites_and_update_befores_emit_nothing() {
    let mut normalize = normalizer(None);
    assert_eq!(
        feed(
            &mut normalize,
            upserts(&[
                (Delete, "x", None),
                (Insert, "a", Some(1)),
                (UpdateAfter, "a", Some(1)),
                (UpdateBefore, "a", Some(1)),
            ])
        ),
        ["+I a=1"]
    );
}

#[test]
fn the_state_survives_a_snapshot_and_restore() {
    let mut normalize = normalizer(None);
    feed(
        &mut normalize,
        upserts(&[
            (Insert, "a", Some(1)),
            (Insert, "b", Some(2)),
            (Delete, "b", None),
        ]),
    );
    let snapshot = normalize.snapshot_state(128).unwrap().expect("state");
    assert_eq!(snapshot.num_rows(), 1, "only live keys are kept");
    let mut restored = normalizer(None);
    restored.restore_state(vec![snapshot]).unwrap();
    assert_eq!(
        feed(
            &mut restored,
            upserts(&[(UpdateAfter, "a", Some(3)), (Insert, "b", Some(4))])
        ),
        ["-U a=1", "+U a=3", "+I b=4"]
    );
}

#[test]
fn with_a_ttl_an_unwritten_key_is_forgotten_and_rewrites_are_emitted() {
    let clock = Arc::new(AtomicI64::new(1_000));
    let time = clock.clone();
    let mut normalize =
        normalizer(Some(Duration::from_secs(10))).with_clock(move || time.load(Ordering::SeqCst));
    assert_eq!(
        feed(
            &mut normalize,
            upserts(&[(Insert, "a", Some(1)), (Insert, "a", Some(1))])
        ),
        ["+I a=1", "-U a=1", "+U a=1"],
        "with a TTL an equal rewrite is passed on"
    );
    clock.store(11_001, Ordering::SeqCst);
    assert_eq!(
        feed(&mut normalize, upserts(&[(Insert, "a", Some(2))])),
        ["+I a=2"],
        "expired: the key starts over"
    );
}
