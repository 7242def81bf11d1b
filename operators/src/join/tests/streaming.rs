//! The regular join: orders (order_id, customer_id, amount) joined with
//! customers (customer_id, name) on customer_id.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use arrow::array::{Int8Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion_common::ScalarValue;
use datafusion_expr_common::operator::Operator as BinaryOp;
use datafusion_physical_expr::expressions::{BinaryExpr, Column, Literal};
use datafusion_physical_expr_common::physical_expr::PhysicalExpr;

use super::*;
use crate::join::{JoinKind, StreamingJoin};
use crate::keys::key_group_range;
use crate::row_kind::{has_row_kinds, with_row_kinds};

const ORDERS: usize = 0;
const CUSTOMERS: usize = 1;

fn orders_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Int64, false),
        Field::new("customer_id", DataType::Int64, true),
        Field::new("amount", DataType::Int64, false),
    ]))
}

fn customers_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, false),
    ]))
}

fn output_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Int64, true),
        Field::new("customer_id", DataType::Int64, true),
        Field::new("amount", DataType::Int64, true),
        Field::new("c_customer_id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]))
}

/// A changelog batch of orders: (kind, order_id, customer_id, amount).
fn orders(rows: &[(&str, i64, Option<i64>, i64)]) -> RecordBatch {
    let data = RecordBatch::try_new(
        orders_schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.2))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
        ],
    )
    .unwrap();
    let kinds = Int8Array::from_iter_values(rows.iter().map(|r| kind_byte(r.0)));
    with_row_kinds(&data, kinds).unwrap()
}

/// A changelog batch of customers: (kind, customer_id, name).
fn customers(rows: &[(&str, Option<i64>, &str)]) -> RecordBatch {
    let data = RecordBatch::try_new(
        customers_schema(),
        vec![
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap();
    let kinds = Int8Array::from_iter_values(rows.iter().map(|r| kind_byte(r.0)));
    with_row_kinds(&data, kinds).unwrap()
}

fn join_with(
    kind: JoinKind,
    filter: Option<Arc<dyn PhysicalExpr>>,
    ttl: Option<Duration>,
) -> StreamingJoin {
    StreamingJoin::new(
        kind,
        orders_schema(),
        customers_schema(),
        vec![1],
        vec![0],
        filter,
        output_schema(),
        true,
        ttl,
    )
    .unwrap()
}

fn join(kind: JoinKind) -> StreamingJoin {
    join_with(kind, None, None)
}

#[test]
fn inner_join_follows_updates_and_deletes_of_either_side() {
    let mut j = join(JoinKind::Inner);
    let customers_in = customers(&[("+I", Some(1), "ann"), ("+I", Some(2), "bob")]);
    assert!(run(&mut j, CUSTOMERS, customers_in).is_empty());
    let mut all = Vec::new();

    let step = run(
        &mut j,
        ORDERS,
        orders(&[
            ("+I", 1, Some(1), 10),
            ("+I", 2, Some(2), 20),
            ("+I", 3, Some(3), 30),
        ]),
    );
    // Order 3's customer is unknown yet.
    assert_eq!(step, ["+I 1,1,10,1,ann", "+I 2,2,20,2,bob"]);
    all.extend(step);

    // Order 1's amount is corrected from 10 to 12.
    let step = run(
        &mut j,
        ORDERS,
        orders(&[("-U", 1, Some(1), 10), ("+U", 1, Some(1), 12)]),
    );
    assert_eq!(step, ["-D 1,1,10,1,ann", "+I 1,1,12,1,ann"]);
    all.extend(step);

    // Order 2 is deleted.
    let step = run(&mut j, ORDERS, orders(&[("-D", 2, Some(2), 20)]));
    assert_eq!(step, ["-D 2,2,20,2,bob"]);
    all.extend(step);

    // Customer 3 arrives and joins the order that waited for it; customer 1
    // is renamed.
    let step = run(
        &mut j,
        CUSTOMERS,
        customers(&[
            ("+I", Some(3), "cy"),
            ("-U", Some(1), "ann"),
            ("+U", Some(1), "anne"),
        ]),
    );
    assert_eq!(
        step,
        ["+I 3,3,30,3,cy", "-D 1,1,12,1,ann", "+I 1,1,12,1,anne"]
    );
    all.extend(step);

    assert_eq!(fold(&all), table(&["1,1,12,1,anne", "3,3,30,3,cy"]));
    // Orders 1 and 3, customers 1 (renamed), 2 and 3.
    assert_eq!(j.stored_rows(ORDERS), 2);
    assert_eq!(j.stored_rows(CUSTOMERS), 3);
}

#[test]
fn duplicate_rows_join_once_per_copy_and_retract_one_copy_at_a_time() {
    let mut j = join(JoinKind::Inner);
    run(&mut j, CUSTOMERS, customers(&[("+I", Some(1), "ann")]));
    let order = ("+I", 1, Some(1), 10);
    let step = run(&mut j, ORDERS, orders(&[order, order]));
    assert_eq!(step, ["+I 1,1,10,1,ann", "+I 1,1,10,1,ann"]);
    assert_eq!(j.stored_rows(ORDERS), 1, "one distinct row, two copies");
    // A second copy of the customer joins both copies of the order.
    let step = run(&mut j, CUSTOMERS, customers(&[("+I", Some(1), "ann")]));
    assert_eq!(step, ["+I 1,1,10,1,ann", "+I 1,1,10,1,ann"]);
    // Retracting one copy of the order retracts its join with both copies
    // of the customer.
    let step = run(&mut j, ORDERS, orders(&[("-D", 1, Some(1), 10)]));
    assert_eq!(step, ["-D 1,1,10,1,ann", "-D 1,1,10,1,ann"]);
}

#[test]
fn an_insert_only_inner_join_emits_no_row_kinds_and_rejects_retractions() {
    let mut j = StreamingJoin::new(
        JoinKind::Inner,
        orders_schema(),
        customers_schema(),
        vec![1],
        vec![0],
        None,
        output_schema(),
        false,
        None,
    )
    .unwrap();
    let (customers_data, _) = split_row_kinds(&customers(&[("+I", Some(1), "ann")])).unwrap();
    let (orders_data, _) = split_row_kinds(&orders(&[("+I", 1, Some(1), 10)])).unwrap();
    let mut out = Vec::new();
    j.process_batch(CUSTOMERS, customers_data, &mut out)
        .unwrap();
    j.process_batch(ORDERS, orders_data, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert!(!has_row_kinds(out[0].schema_ref()));
    assert_eq!(changes(&out), ["+I 1,1,10,1,ann"]);
    let retraction = orders(&[("-D", 1, Some(1), 10)]);
    assert!(j.process_batch(ORDERS, retraction, &mut out).is_err());

    let outer = StreamingJoin::new(
        JoinKind::Left,
        orders_schema(),
        customers_schema(),
        vec![1],
        vec![0],
        None,
        output_schema(),
        false,
        None,
    );
    assert!(outer.is_err(), "an outer join's output has retractions");
}

#[test]
fn left_join_pads_an_order_until_it_matches_and_again_after_its_last_match_goes() {
    let mut j = join(JoinKind::Left);
    let mut all = Vec::new();
    let mut step = |batch_input: usize, batch: RecordBatch| {
        let lines = run(&mut j, batch_input, batch);
        all.extend(lines.clone());
        lines
    };
    assert_eq!(
        step(ORDERS, orders(&[("+I", 1, Some(1), 10)])),
        ["+I 1,1,10,NULL,NULL"]
    );
    // The first match replaces the padded row.
    assert_eq!(
        step(CUSTOMERS, customers(&[("+I", Some(1), "ann")])),
        ["-D 1,1,10,NULL,NULL", "+I 1,1,10,1,ann"]
    );
    // A second match just adds a joined row.
    assert_eq!(
        step(CUSTOMERS, customers(&[("+I", Some(1), "ann")])),
        ["+I 1,1,10,1,ann"]
    );
    // One match remains after this retraction: no padding.
    assert_eq!(
        step(CUSTOMERS, customers(&[("-D", Some(1), "ann")])),
        ["-D 1,1,10,1,ann"]
    );
    // The last match goes: the padded row comes back.
    assert_eq!(
        step(CUSTOMERS, customers(&[("-D", Some(1), "ann")])),
        ["-D 1,1,10,1,ann", "+I 1,1,10,NULL,NULL"]
    );
    // Unmatched customers produce nothing on a left join.
    assert!(step(CUSTOMERS, customers(&[("+I", Some(7), "gus")])).is_empty());
    assert_eq!(
        step(ORDERS, orders(&[("-D", 1, Some(1), 10)])),
        ["-D 1,1,10,NULL,NULL"]
    );
    assert!(fold(&all).is_empty());
}

#[test]
fn right_join_pads_customers_without_orders() {
    let mut j = join(JoinKind::Right);
    assert_eq!(
        run(&mut j, CUSTOMERS, customers(&[("+I", Some(1), "ann")])),
        ["+I NULL,NULL,NULL,1,ann"]
    );
    assert!(run(&mut j, ORDERS, orders(&[("+I", 5, Some(2), 50)])).is_empty());
    assert_eq!(
        run(&mut j, ORDERS, orders(&[("+I", 1, Some(1), 10)])),
        ["-D NULL,NULL,NULL,1,ann", "+I 1,1,10,1,ann"]
    );
}

#[test]
fn full_join_pads_and_unpads_both_sides() {
    let mut j = join(JoinKind::Full);
    let mut all = Vec::new();
    let mut step = |batch_input: usize, batch: RecordBatch| {
        let lines = run(&mut j, batch_input, batch);
        all.extend(lines.clone());
        lines
    };
    assert_eq!(
        step(ORDERS, orders(&[("+I", 1, Some(1), 10)])),
        ["+I 1,1,10,NULL,NULL"]
    );
    assert_eq!(
        step(CUSTOMERS, customers(&[("+I", Some(2), "bob")])),
        ["+I NULL,NULL,NULL,2,bob"]
    );
    assert_eq!(
        step(CUSTOMERS, customers(&[("+I", Some(1), "ann")])),
        ["-D 1,1,10,NULL,NULL", "+I 1,1,10,1,ann"]
    );
    assert_eq!(
        step(ORDERS, orders(&[("+I", 2, Some(2), 20)])),
        ["-D NULL,NULL,NULL,2,bob", "+I 2,2,20,2,bob"]
    );
    assert_eq!(
        step(ORDERS, orders(&[("-D", 2, Some(2), 20)])),
        ["-D 2,2,20,2,bob", "+I NULL,NULL,NULL,2,bob"]
    );
    assert_eq!(
        step(CUSTOMERS, customers(&[("-D", Some(1), "ann")])),
        ["-D 1,1,10,1,ann", "+I 1,1,10,NULL,NULL"]
    );
    assert_eq!(
        fold(&all),
        table(&["1,1,10,NULL,NULL", "NULL,NULL,NULL,2,bob"])
    );
}

#[test]
fn rows_of_one_batch_see_the_state_the_rows_before_them_left() {
    let mut j = join(JoinKind::Full);
    run(&mut j, CUSTOMERS, customers(&[("+I", Some(1), "ann")]));
    // The order arrives and goes within one batch: the customer is unpadded,
    // joined, unjoined and padded again, in that order.
    let step = run(
        &mut j,
        ORDERS,
        orders(&[("+I", 1, Some(1), 10), ("-D", 1, Some(1), 10)]),
    );
    assert_eq!(
        step,
        [
            "-D NULL,NULL,NULL,1,ann",
            "+I 1,1,10,1,ann",
            "-D 1,1,10,1,ann",
            "+I NULL,NULL,NULL,1,ann",
        ]
    );
    assert_eq!(j.stored_rows(ORDERS), 0);
}

#[test]
fn null_keys_match_nothing_but_outer_rows_with_them_are_padded() {
    let mut j = join(JoinKind::Full);
    let mut all = Vec::new();
    all.extend(run(&mut j, ORDERS, orders(&[("+I", 1, None, 10)])));
    all.extend(run(
        &mut j,
        CUSTOMERS,
        customers(&[("+I", None, "nobody"), ("+I", Some(1), "ann")]),
    ));
    assert_eq!(
        all,
        [
            "+I 1,NULL,10,NULL,NULL",
            "+I NULL,NULL,NULL,NULL,nobody",
            "+I NULL,NULL,NULL,1,ann",
        ]
    );
    assert_eq!(
        run(&mut j, ORDERS, orders(&[("-D", 1, None, 10)])),
        ["-D 1,NULL,10,NULL,NULL"]
    );

    let mut inner = join(JoinKind::Inner);
    assert!(run(&mut inner, ORDERS, orders(&[("+I", 1, None, 10)])).is_empty());
    assert!(run(&mut inner, CUSTOMERS, customers(&[("+I", None, "nobody")])).is_empty());
    assert_eq!(
        inner.stored_rows(ORDERS),
        0,
        "an inner side's NULL keys are not kept"
    );
    assert_eq!(inner.stored_rows(CUSTOMERS), 0);
}

#[test]
fn retracting_a_row_that_is_not_stored_is_ignored() {
    let mut j = join(JoinKind::Left);
    run(&mut j, CUSTOMERS, customers(&[("+I", Some(1), "ann")]));
    assert!(run(&mut j, ORDERS, orders(&[("-D", 9, Some(1), 5)])).is_empty());
    assert!(run(&mut j, ORDERS, orders(&[("-U", 9, Some(4), 5)])).is_empty());
    run(&mut j, ORDERS, orders(&[("+I", 1, Some(1), 10)]));
    // Same key, different row: not stored either.
    assert!(run(&mut j, ORDERS, orders(&[("-D", 1, Some(1), 11)])).is_empty());
    assert!(run(&mut j, CUSTOMERS, customers(&[("-D", Some(1), "bob")])).is_empty());
}

/// `amount > 15`, over the output's layout.
fn amount_over_15() -> Arc<dyn PhysicalExpr> {
    Arc::new(BinaryExpr::new(
        Arc::new(Column::new("amount", 2)),
        BinaryOp::Gt,
        Arc::new(Literal::new(ScalarValue::Int64(Some(15)))),
    ))
}

#[test]
fn the_residual_condition_decides_which_pairs_match() {
    let mut inner = join_with(JoinKind::Inner, Some(amount_over_15()), None);
    run(&mut inner, CUSTOMERS, customers(&[("+I", Some(1), "ann")]));
    assert_eq!(
        run(
            &mut inner,
            ORDERS,
            orders(&[("+I", 1, Some(1), 10), ("+I", 2, Some(1), 20)])
        ),
        ["+I 2,1,20,1,ann"]
    );
    assert_eq!(
        run(&mut inner, CUSTOMERS, customers(&[("+I", Some(1), "bea")])),
        ["+I 2,1,20,1,bea"]
    );

    // On a left join an order that fails the condition stays padded.
    let mut left = join_with(JoinKind::Left, Some(amount_over_15()), None);
    assert_eq!(
        run(&mut left, ORDERS, orders(&[("+I", 1, Some(1), 10)])),
        ["+I 1,1,10,NULL,NULL"]
    );
    assert!(run(&mut left, CUSTOMERS, customers(&[("+I", Some(1), "ann")])).is_empty());
    assert_eq!(
        run(&mut left, ORDERS, orders(&[("-D", 1, Some(1), 10)])),
        ["-D 1,1,10,NULL,NULL"]
    );
}

/// Runs one batch through `j` at processing time `ms` of `clock`.
fn at(
    j: &mut StreamingJoin,
    clock: &AtomicI64,
    ms: i64,
    input: usize,
    batch: RecordBatch,
) -> Vec<String> {
    clock.store(ms, Ordering::SeqCst);
    run(j, input, batch)
}

#[test]
fn rows_untouched_for_the_ttl_are_dropped_without_output() {
    let time = Arc::new(AtomicI64::new(0));
    let clock = {
        let time = time.clone();
        move || time.load(Ordering::SeqCst)
    };
    let ttl = Some(Duration::from_secs(10));
    let mut j = join_with(JoinKind::Inner, None, ttl).with_clock(clock);
    let t = time.as_ref();

    assert!(
        at(
            &mut j,
            t,
            0,
            CUSTOMERS,
            customers(&[("+I", Some(1), "ann")])
        )
        .is_empty()
    );
    assert!(at(&mut j, t, 0, ORDERS, orders(&[("+I", 9, Some(2), 5)])).is_empty());
    // Ann, added at 0, is alive and matched (refreshed) at 5000.
    assert_eq!(
        at(&mut j, t, 5_000, ORDERS, orders(&[("+I", 1, Some(1), 10)])),
        ["+I 1,1,10,1,ann"]
    );
    // At 14999 ann (5000) is still alive and is refreshed again. The sweep
    // due since 10000 drops order 9 (added at 0, its key never touched
    // since); orders 1 and 2 remain.
    assert_eq!(
        at(&mut j, t, 14_999, ORDERS, orders(&[("+I", 2, Some(1), 20)])),
        ["+I 2,1,20,1,ann"]
    );
    assert_eq!(j.stored_rows(ORDERS), 2);
    // At 15000 order 1 (last touched at 5000) has expired: bea joins only
    // order 2, which is refreshed.
    assert_eq!(
        at(
            &mut j,
            t,
            15_000,
            CUSTOMERS,
            customers(&[("+I", Some(1), "bea")])
        ),
        ["+I 2,1,20,1,bea"]
    );
    assert_eq!(j.stored_rows(ORDERS), 1);
    // At 24998 ann (14999) and bea (15000) are alive: deleting order 2
    // (15000) retracts both joins.
    assert_eq!(
        at(&mut j, t, 24_998, ORDERS, orders(&[("-D", 2, Some(1), 20)])),
        ["-D 2,1,20,1,ann", "-D 2,1,20,1,bea"]
    );
    // At 40000 everything stored has expired: cy finds nothing to join and
    // is the only row left.
    assert!(
        at(
            &mut j,
            t,
            40_000,
            CUSTOMERS,
            customers(&[("+I", Some(1), "cy")])
        )
        .is_empty()
    );
    assert_eq!(j.stored_rows(ORDERS), 0);
    assert_eq!(j.stored_rows(CUSTOMERS), 1);
    // A retraction of an expired row is one of a row not stored: ignored.
    assert!(
        at(
            &mut j,
            t,
            40_000,
            CUSTOMERS,
            customers(&[("-D", Some(1), "ann")])
        )
        .is_empty()
    );
}

#[test]
fn a_snapshot_split_by_key_groups_continues_like_the_original() {
    let mut original = join(JoinKind::Full);
    let before = [
        (
            CUSTOMERS,
            customers(&[
                ("+I", Some(1), "ann"),
                ("+I", Some(2), "bob"),
                ("+I", Some(3), "cy"),
                ("+I", Some(4), "dan"),
                ("+I", Some(6), "fay"),
                ("+I", None, "nobody"),
            ]),
        ),
        (
            ORDERS,
            orders(&[
                ("+I", 1, Some(1), 10),
                ("+I", 2, Some(2), 20),
                ("+I", 3, Some(3), 30),
                ("+I", 5, Some(5), 50),
                ("+I", 7, Some(7), 70),
                ("+I", 8, Some(8), 80),
                ("+I", 8, Some(8), 80),
                ("+I", 11, None, 110),
            ]),
        ),
        (
            ORDERS,
            orders(&[("-U", 1, Some(1), 10), ("+U", 1, Some(1), 12)]),
        ),
    ];
    for (input, batch) in before {
        run(&mut original, input, batch);
    }
    let snapshot = original.snapshot_state(MAX_PARALLELISM).unwrap().unwrap();
    let mut restored: Vec<StreamingJoin> = (0..2)
        .map(|subtask| {
            let part = key_groups_in(&snapshot, key_group_range(subtask, MAX_PARALLELISM, 2));
            assert!(part.num_rows() > 0, "subtask {subtask} restores some rows");
            let mut j = join(JoinKind::Full);
            j.restore_state(vec![part]).unwrap();
            j
        })
        .collect();

    let after = [
        (
            CUSTOMERS,
            customers(&[
                ("+I", Some(5), "eve"),
                ("-D", Some(2), "bob"),
                ("+I", Some(8), "hal"),
            ]),
        ),
        (
            ORDERS,
            orders(&[
                ("-D", 3, Some(3), 30),
                ("+I", 9, Some(4), 90),
                ("+I", 10, Some(6), 100),
                ("-D", 8, Some(8), 80),
                ("-D", 11, None, 110),
            ]),
        ),
        (CUSTOMERS, customers(&[("-D", Some(6), "fay")])),
    ];
    let key_column = |input: usize| if input == ORDERS { 1 } else { 0 };
    let mut expected = Vec::new();
    let mut actual = Vec::new();
    for (input, batch) in after {
        for (subtask, part) in route(&batch, &[key_column(input)], 2)
            .into_iter()
            .enumerate()
        {
            actual.extend(run(&mut restored[subtask], input, part));
        }
        expected.extend(run(&mut original, input, batch));
    }
    assert_eq!(sorted(actual), sorted(expected.clone()));
    // The changes worked out by hand: eve unpads order 5, bob's removal
    // pads order 2, hal joins both copies of order 8, order 3's deletion
    // pads cy, order 9 joins dan (unpadding dan), order 10 joins fay, one
    // copy of order 8 leaves, the NULL-key order leaves, and fay's removal
    // pads order 10.
    assert_eq!(
        sorted(expected),
        sorted(
            [
                "-D 5,5,50,NULL,NULL",
                "+I 5,5,50,5,eve",
                "-D 2,2,20,2,bob",
                "+I 2,2,20,NULL,NULL",
                "-D 8,8,80,NULL,NULL",
                "-D 8,8,80,NULL,NULL",
                "+I 8,8,80,8,hal",
                "+I 8,8,80,8,hal",
                "-D 3,3,30,3,cy",
                "+I NULL,NULL,NULL,3,cy",
                "-D NULL,NULL,NULL,4,dan",
                "+I 9,4,90,4,dan",
                "-D NULL,NULL,NULL,6,fay",
                "+I 10,6,100,6,fay",
                "-D 8,8,80,8,hal",
                "-D 11,NULL,110,NULL,NULL",
                "-D 10,6,100,6,fay",
                "+I 10,6,100,NULL,NULL",
            ]
            .map(String::from)
            .to_vec()
        )
    );
}

#[test]
fn an_empty_join_has_no_state_to_snapshot() {
    let mut j = join(JoinKind::Inner);
    assert!(j.snapshot_state(MAX_PARALLELISM).unwrap().is_none());
}

#[test]
fn churned_state_is_compacted_and_still_joins() {
    let mut j = join(JoinKind::Inner);
    // 3000 orders, each under its own customer id, of which 2900 are then
    // deleted: their rows and keys die, and the buffers are rewritten.
    let placed: Vec<(&str, i64, Option<i64>, i64)> =
        (0..3000).map(|id| ("+I", id, Some(id), id * 10)).collect();
    assert!(run(&mut j, ORDERS, orders(&placed)).is_empty());
    let deleted: Vec<(&str, i64, Option<i64>, i64)> = (100..3000)
        .map(|id| ("-D", id, Some(id), id * 10))
        .collect();
    assert!(run(&mut j, ORDERS, orders(&deleted)).is_empty());
    assert_eq!(j.stored_rows(ORDERS), 100);

    let names: Vec<String> = (0..200).map(|id| format!("c{id}")).collect();
    let arriving: Vec<(&str, Option<i64>, &str)> = (0..200)
        .map(|id| ("+I", Some(id), names[id as usize].as_str()))
        .collect();
    let step = run(&mut j, CUSTOMERS, customers(&arriving));
    let expected: Vec<String> = (0..100)
        .map(|id| format!("+I {id},{id},{},{id},c{id}", id * 10))
        .collect();
    assert_eq!(step, expected);
    // Rows are still found by content after the rewrite.
    assert_eq!(
        run(&mut j, ORDERS, orders(&[("-D", 5, Some(5), 50)])),
        ["-D 5,5,50,5,c5"]
    );
}

#[test]
fn a_join_without_equality_keys_pairs_every_row_the_condition_accepts() {
    let mut j = StreamingJoin::new(
        JoinKind::Left,
        orders_schema(),
        customers_schema(),
        vec![],
        vec![],
        Some(amount_over_15()),
        output_schema(),
        true,
        None,
    )
    .unwrap();
    run(
        &mut j,
        CUSTOMERS,
        customers(&[("+I", Some(1), "ann"), ("+I", None, "nobody")]),
    );
    assert_eq!(
        run(
            &mut j,
            ORDERS,
            orders(&[("+I", 1, Some(7), 20), ("+I", 2, None, 10)])
        ),
        [
            "+I 1,7,20,1,ann",
            "+I 1,7,20,NULL,nobody",
            "+I 2,NULL,10,NULL,NULL"
        ]
    );
    // Without keys every row is in key group 0.
    let snapshot = j.snapshot_state(MAX_PARALLELISM).unwrap().unwrap();
    let part = key_groups_in(&snapshot, 0..1);
    assert_eq!(part.num_rows(), 4);
    let mut restored = StreamingJoin::new(
        JoinKind::Left,
        orders_schema(),
        customers_schema(),
        vec![],
        vec![],
        Some(amount_over_15()),
        output_schema(),
        true,
        None,
    )
    .unwrap();
    restored.restore_state(vec![part]).unwrap();
    assert_eq!(
        run(
            &mut restored,
            CUSTOMERS,
            customers(&[("-D", Some(1), "ann")])
        ),
        ["-D 1,7,20,1,ann"]
    );
}
