//! Top-N and deduplication results, folded from the changelog and compared
//! with final tables worked out by hand from the inputs.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{BooleanArray, Int64Array, StringArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{Int8Type, UInt32Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::*;
use crate::keys::{hash_keys, key_group, key_group_range, subtask_for_key_group};
use crate::row_kind::with_row_kinds;

/// A multiset of rendered rows.
type Table = BTreeMap<String, usize>;

const MAX_PARALLELISM: u32 = 128;

/// `ORDER BY v ASC NULLS FIRST`.
const ASC: SortKey = SortKey {
    column: 1,
    descending: false,
    nulls_first: true,
};

/// `ORDER BY v DESC NULLS LAST`.
const DESC: SortKey = SortKey {
    column: 1,
    descending: true,
    nulls_first: false,
};

/// The input: partition key `k`, sort value `v`, payload `name`.
fn input_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("v", DataType::Int64, true),
        Field::new("name", DataType::Utf8, false),
    ]))
}

/// `ROW_NUMBER() OVER (PARTITION BY k ORDER BY <order>) <= limit`.
fn rank(order: SortKey, limit: u64, rank_number: bool) -> Rank {
    let mut fields = input_schema().fields().to_vec();
    if rank_number {
        fields.push(Arc::new(Field::new("rn", DataType::Int64, false)));
    }
    let output = Arc::new(Schema::new(fields));
    Rank::new(
        input_schema(),
        vec![0],
        vec![order],
        limit,
        rank_number,
        output,
    )
    .unwrap()
}

fn data(rows: &[(&str, Option<i64>, &str)]) -> RecordBatch {
    RecordBatch::try_new(
        input_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap()
}

/// A changelog batch of `(kind, k, v, name)` rows, kinds written `+I` etc.
fn changelog(rows: &[(&str, &str, Option<i64>, &str)]) -> RecordBatch {
    let kinds = rows.iter().map(|r| match r.0 {
        "+I" => RowKind::Insert as i8,
        "-U" => RowKind::UpdateBefore as i8,
        "+U" => RowKind::UpdateAfter as i8,
        "-D" => RowKind::Delete as i8,
        other => panic!("unknown row kind {other}"),
    });
    let values: Vec<_> = rows.iter().map(|r| (r.1, r.2, r.3)).collect();
    with_row_kinds(&data(&values), Int8Array::from_iter_values(kinds)).unwrap()
}

/// Renders row `i` of a changelog batch as `kind col col ...`.
fn render(batch: &RecordBatch, i: usize) -> (RowKind, String) {
    let options = FormatOptions::default().with_null("null");
    let last = batch.num_columns() - 1;
    let kind = RowKind::from_byte(batch.column(last).as_primitive::<Int8Type>().value(i)).unwrap();
    let values: Vec<String> = batch.columns()[..last]
        .iter()
        .map(|c| {
            ArrayFormatter::try_new(c, &options)
                .unwrap()
                .value(i)
                .to_string()
        })
        .collect();
    (kind, values.join(" "))
}

/// Applies a changelog to `table`, failing on a retraction of a row that is
/// not in it. Returns the changelog as `kind row` lines.
fn fold(table: &mut Table, out: &[RecordBatch]) -> Vec<String> {
    let mut lines = Vec::new();
    for batch in out {
        for i in 0..batch.num_rows() {
            let (kind, row) = render(batch, i);
            if kind.is_retraction() {
                match table.get(&row) {
                    None => panic!("{} {row}: not in {table:?}", kind.short_string()),
                    Some(1) => table.remove(&row),
                    Some(&count) => table.insert(row.clone(), count - 1),
                };
            } else {
                *table.entry(row.clone()).or_default() += 1;
            }
            lines.push(format!("{} {row}", kind.short_string()));
        }
    }
    lines
}

/// Processes one batch, folding its output into `table`; returns the
/// batch's changelog lines, checking that no row is both retracted and
/// emitted again (a redundant pair).
fn feed(rank: &mut Rank, table: &mut Table, batch: RecordBatch) -> Vec<String> {
    let mut out = Vec::new();
    rank.process_batch(0, batch, &mut out).unwrap();
    let lines = fold(table, &out);
    let rows_of = |kinds: [&str; 2]| -> Vec<&str> {
        lines
            .iter()
            .filter_map(|l| l.split_once(' '))
            .filter(|(kind, _)| kinds.contains(kind))
            .map(|(_, row)| row)
            .collect()
    };
    let emitted = rows_of(["+I", "+U"]);
    for row in rows_of(["-U", "-D"]) {
        assert!(
            !emitted.contains(&row),
            "{row} retracted and emitted: {lines:?}"
        );
    }
    lines
}

fn table(rows: &[&str]) -> Table {
    let mut table = Table::new();
    for row in rows {
        *table.entry(row.to_string()).or_default() += 1;
    }
    table
}

/// Most rows any partition holds in state.
fn largest_partition(rank: &Rank) -> usize {
    rank.partitions
        .iter()
        .map(|p| p.rows.len())
        .max()
        .unwrap_or(0)
}

#[test]
fn dedup_keep_first_keeps_the_earliest_row_and_the_first_of_equal_ones() {
    let mut rank = rank(ASC, 1, false);
    let mut result = Table::new();
    // a: 5 then 3 in one batch, so only the net change (3 y) comes out.
    let lines = feed(
        &mut rank,
        &mut result,
        data(&[
            ("a", Some(5), "x"),
            ("b", Some(7), "p"),
            ("a", Some(3), "y"),
        ]),
    );
    assert_eq!(lines, ["+I a 3 y", "+I b 7 p"]);
    // a: 3 z ties with 3 y, which came first and stays; 9 w ranks lower.
    // b: 6 q is earlier than 7 p and replaces it.
    let lines = feed(
        &mut rank,
        &mut result,
        data(&[
            ("a", Some(3), "z"),
            ("a", Some(9), "w"),
            ("b", Some(6), "q"),
        ]),
    );
    assert_eq!(lines, ["-D b 7 p", "+I b 6 q"]);
    assert_eq!(result, table(&["a 3 y", "b 6 q"]));
    assert_eq!(largest_partition(&rank), 1);
}

#[test]
fn dedup_keep_last_keeps_the_latest_row_also_among_equal_times() {
    let mut rank = rank(DESC, 1, false);
    let mut result = Table::new();
    feed(
        &mut rank,
        &mut result,
        data(&[("a", Some(1), "x"), ("a", Some(2), "y")]),
    );
    // a: 2 z ties with 2 y and arrived later, so it wins; 1 w is older.
    // b: two rows at 4 in one batch, the later (q) wins.
    feed(
        &mut rank,
        &mut result,
        data(&[
            ("a", Some(2), "z"),
            ("a", Some(1), "w"),
            ("b", Some(4), "p"),
            ("b", Some(4), "q"),
        ]),
    );
    assert_eq!(result, table(&["a 2 z", "b 4 q"]));
    // The same row again replaces an equal one: nothing to emit.
    let lines = feed(&mut rank, &mut result, data(&[("a", Some(2), "z")]));
    assert!(lines.is_empty(), "{lines:?}");
    assert_eq!(largest_partition(&rank), 1);
}

/// Values 5, 9, 1, 7, 3 of partition a over three batches.
fn five_values() -> [RecordBatch; 3] {
    [
        data(&[("a", Some(5), "e"), ("a", Some(9), "n")]),
        data(&[("a", Some(1), "o"), ("a", Some(7), "s")]),
        data(&[("a", Some(3), "t")]),
    ]
}

#[test]
fn top_three_without_rank_number() {
    let mut rank = rank(DESC, 3, false);
    let mut result = Table::new();
    for batch in five_values() {
        feed(&mut rank, &mut result, batch);
    }
    // The three largest of 5, 9, 1, 7, 3.
    assert_eq!(result, table(&["a 9 n", "a 7 s", "a 5 e"]));
}

#[test]
fn top_three_with_rank_number() {
    let mut rank = rank(DESC, 3, true);
    let mut result = Table::new();
    let [first, second, third] = five_values();
    feed(&mut rank, &mut result, first);
    assert_eq!(result, table(&["a 9 n 1", "a 5 e 2"]));
    // 7 pushes 5 to rank 3; 1 ranks 4th.
    feed(&mut rank, &mut result, second);
    assert_eq!(result, table(&["a 9 n 1", "a 7 s 2", "a 5 e 3"]));
    // 3 ranks 4th: nothing changes.
    let lines = feed(&mut rank, &mut result, third);
    assert!(lines.is_empty(), "{lines:?}");
    assert_eq!(result, table(&["a 9 n 1", "a 7 s 2", "a 5 e 3"]));
}

#[test]
fn deleting_a_top_row_moves_the_fourth_row_up() {
    let inserts = changelog(&[
        ("+I", "a", Some(1), "p"),
        ("+I", "a", Some(2), "q"),
        ("+I", "a", Some(3), "r"),
        ("+I", "a", Some(4), "s"),
    ]);
    let delete = changelog(&[("-D", "a", Some(1), "p")]);

    let mut numbered = rank(ASC, 3, true);
    let mut result = Table::new();
    feed(&mut numbered, &mut result, inserts.clone());
    assert_eq!(result, table(&["a 1 p 1", "a 2 q 2", "a 3 r 3"]));
    feed(&mut numbered, &mut result, delete.clone());
    assert_eq!(result, table(&["a 2 q 1", "a 3 r 2", "a 4 s 3"]));

    let mut plain = rank(ASC, 3, false);
    let mut result = Table::new();
    feed(&mut plain, &mut result, inserts);
    let lines = feed(&mut plain, &mut result, delete);
    assert_eq!(lines, ["-D a 1 p", "+I a 4 s"]);
    assert_eq!(result, table(&["a 2 q", "a 3 r", "a 4 s"]));
}

#[test]
fn updating_a_sort_value_reorders_the_ranks() {
    let mut rank = rank(DESC, 3, true);
    let mut result = Table::new();
    feed(
        &mut rank,
        &mut result,
        changelog(&[
            ("+I", "a", Some(10), "x"),
            ("+I", "a", Some(20), "y"),
            ("+I", "a", Some(30), "z"),
        ]),
    );
    assert_eq!(result, table(&["a 30 z 1", "a 20 y 2", "a 10 x 3"]));
    // x: 10 -> 40 takes rank 1 and pushes z and y down.
    feed(
        &mut rank,
        &mut result,
        changelog(&[("-U", "a", Some(10), "x"), ("+U", "a", Some(40), "x")]),
    );
    assert_eq!(result, table(&["a 40 x 1", "a 30 z 2", "a 20 y 3"]));
    // x: 40 -> 5 falls back to rank 3; w (1) ranks 4th.
    feed(
        &mut rank,
        &mut result,
        changelog(&[
            ("-U", "a", Some(40), "x"),
            ("+U", "a", Some(5), "x"),
            ("+I", "a", Some(1), "w"),
        ]),
    );
    assert_eq!(result, table(&["a 30 z 1", "a 20 y 2", "a 5 x 3"]));
}

#[test]
fn nulls_rank_where_the_sort_key_puts_them() {
    let input = || data(&[("a", None, "n"), ("a", Some(5), "f"), ("a", Some(3), "t")]);
    let cases = [
        (ASC, table(&["a null n 1", "a 3 t 2"])),
        (
            SortKey {
                nulls_first: false,
                ..ASC
            },
            table(&["a 3 t 1", "a 5 f 2"]),
        ),
        (DESC, table(&["a 5 f 1", "a 3 t 2"])),
        (
            SortKey {
                nulls_first: true,
                ..DESC
            },
            table(&["a null n 1", "a 5 f 2"]),
        ),
    ];
    for (order, expected) in cases {
        let mut rank = rank(order, 2, true);
        let mut result = Table::new();
        feed(&mut rank, &mut result, input());
        assert_eq!(result, expected, "{order:?}");
    }
}

#[test]
fn one_batch_updates_several_partitions_each_by_its_net_change() {
    let mut rank = rank(ASC, 2, false);
    let mut result = Table::new();
    let lines = feed(
        &mut rank,
        &mut result,
        data(&[
            ("a", Some(3), "a3"),
            ("b", Some(1), "b1"),
            ("a", Some(1), "a1"),
            ("c", Some(5), "c5"),
            ("b", Some(2), "b2"),
            ("a", Some(2), "a2"),
            ("b", Some(0), "b0"),
        ]),
    );
    // a3 and b2 were among the first two of their partition for a while,
    // but not at the end of the batch: they are never emitted.
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert_eq!(
        result,
        table(&["a 1 a1", "a 2 a2", "b 0 b0", "b 1 b1", "c 5 c5"])
    );
}

#[test]
fn insert_only_input_keeps_at_most_n_rows_per_partition() {
    let mut rank = rank(ASC, 2, false);
    let mut result = Table::new();
    // Per partition the values 49 down to 0, so every row enters the top 2.
    for v in (0..50).rev() {
        let names: Vec<String> = ["a", "b", "c"].iter().map(|k| format!("{k}{v}")).collect();
        let rows: Vec<_> = ["a", "b", "c"]
            .iter()
            .zip(&names)
            .map(|(k, name)| (*k, Some(v), name.as_str()))
            .collect();
        feed(&mut rank, &mut result, data(&rows));
        assert!(largest_partition(&rank) <= 2);
    }
    assert_eq!(
        result,
        table(&["a 0 a0", "a 1 a1", "b 0 b0", "b 1 b1", "c 0 c0", "c 1 c1"])
    );
}

#[test]
fn changelog_input_keeps_rows_beyond_n() {
    let mut rank = rank(ASC, 1, false);
    let mut result = Table::new();
    feed(
        &mut rank,
        &mut result,
        changelog(&[("+I", "a", Some(1), "p"), ("+I", "a", Some(2), "q")]),
    );
    assert_eq!(largest_partition(&rank), 2);
    feed(
        &mut rank,
        &mut result,
        changelog(&[("-D", "a", Some(1), "p")]),
    );
    assert_eq!(result, table(&["a 2 q"]));
}

#[test]
fn retracting_a_row_not_in_state_is_ignored() {
    let mut rank = rank(ASC, 2, false);
    let mut result = Table::new();
    feed(
        &mut rank,
        &mut result,
        changelog(&[("+I", "a", Some(1), "p")]),
    );
    // Same sort value but another name; another value; another partition.
    let lines = feed(
        &mut rank,
        &mut result,
        changelog(&[
            ("-D", "a", Some(1), "q"),
            ("-U", "a", Some(2), "p"),
            ("-D", "b", Some(1), "p"),
        ]),
    );
    assert!(lines.is_empty(), "{lines:?}");
    assert_eq!(result, table(&["a 1 p"]));
}

#[test]
fn an_input_switching_from_insert_only_to_changelog_fails() {
    let mut rank = rank(ASC, 1, false);
    rank.process_batch(0, data(&[("a", Some(1), "p")]), &mut Vec::new())
        .unwrap();
    let err = rank
        .process_batch(0, changelog(&[("-D", "a", Some(1), "p")]), &mut Vec::new())
        .unwrap_err();
    assert!(err.to_string().contains("insert-only"), "{err}");
}

/// The rows of a snapshot whose key group falls in `groups`.
fn state_of(snapshot: &RecordBatch, groups: Range<u32>) -> RecordBatch {
    let key_groups = snapshot.column(0).as_primitive::<UInt32Type>();
    let keep: BooleanArray = key_groups
        .values()
        .iter()
        .map(|g| Some(groups.contains(g)))
        .collect();
    filter_record_batch(snapshot, &keep).unwrap()
}

/// The subtask of two that owns partition `k`.
fn owner(k: &str) -> usize {
    let column: ArrayRef = Arc::new(StringArray::from(vec![k]));
    let hash = hash_keys(&[column], 1).unwrap()[0];
    subtask_for_key_group(key_group(hash, MAX_PARALLELISM), MAX_PARALLELISM, 2) as usize
}

#[test]
fn restored_state_split_over_two_subtasks_continues_as_the_original() {
    let keys = ["a", "b", "c", "d", "e", "f"];
    let first: Vec<_> = keys
        .iter()
        .flat_map(|k| {
            [
                ("+I", *k, Some(1), "one"),
                ("+I", *k, Some(2), "two"),
                ("+I", *k, Some(3), "three"),
            ]
        })
        .collect();
    let mut original = rank(ASC, 2, true);
    let mut before = Table::new();
    feed(&mut original, &mut before, changelog(&first));
    let snapshot = original
        .snapshot_state(MAX_PARALLELISM)
        .unwrap()
        .expect("state");
    assert_eq!(snapshot.num_rows(), 18, "every row of a changelog input");

    let mut halves: Vec<Rank> = (0..2)
        .map(|subtask| {
            let mut half = rank(ASC, 2, true);
            let range = key_group_range(subtask, MAX_PARALLELISM, 2);
            half.restore_state(vec![state_of(&snapshot, range)])
                .unwrap();
            half
        })
        .collect();
    assert!(keys.iter().any(|k| owner(k) == 0) && keys.iter().any(|k| owner(k) == 1));

    // Deleting each partition's first row brings its third row up.
    let mut continued = before.clone();
    let mut split = before;
    for k in keys {
        let delete = changelog(&[("-D", k, Some(1), "one")]);
        feed(&mut halves[owner(k)], &mut split, delete.clone());
        feed(&mut original, &mut continued, delete);
    }
    let expected: Vec<String> = keys
        .iter()
        .flat_map(|k| [format!("{k} 2 two 1"), format!("{k} 3 three 2")])
        .collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(continued, table(&expected));
    assert_eq!(split, continued);
}

#[test]
fn restored_arrival_order_still_ranks_later_rows_first_on_descending_keys() {
    let mut original = rank(DESC, 1, false);
    let mut result = Table::new();
    feed(&mut original, &mut result, data(&[("a", Some(5), "x")]));
    let snapshot = original
        .snapshot_state(MAX_PARALLELISM)
        .unwrap()
        .expect("state");
    let mut restored = rank(DESC, 1, false);
    restored.restore_state(vec![snapshot]).unwrap();
    // Keep-last: the equal-valued y arrived after x and replaces it.
    feed(&mut restored, &mut result, data(&[("a", Some(5), "y")]));
    assert_eq!(result, table(&["a 5 y"]));
}

/// A row of the reference model: arrival number, `k`, `v`, `name`.
type ModelRow = (u64, &'static str, Option<i64>, &'static str);

/// The reference ranking: by `v` as `order` says, then by arrival (later
/// first only for deduplication on a descending key, as in Flink).
fn model_order(order: SortKey, limit: usize, a: &ModelRow, b: &ModelRow) -> std::cmp::Ordering {
    use std::cmp::Ordering::{Greater, Less};
    let by_value = match (a.2, b.2) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, Some(_)) if order.nulls_first => Less,
        (None, Some(_)) => Greater,
        (Some(_), None) if order.nulls_first => Greater,
        (Some(_), None) => Less,
        (Some(x), Some(y)) if order.descending => y.cmp(&x),
        (Some(x), Some(y)) => x.cmp(&y),
    };
    let by_arrival = if order.descending && limit == 1 {
        b.0.cmp(&a.0)
    } else {
        a.0.cmp(&b.0)
    };
    by_value.then(by_arrival)
}

/// The reference top-N table: sort every live row, keep the first `limit`
/// of each partition.
fn model_table(live: &[ModelRow], order: SortKey, limit: usize, rank_number: bool) -> Table {
    let mut sorted = live.to_vec();
    sorted.sort_by(|a, b| a.1.cmp(b.1).then(model_order(order, limit, a, b)));
    let mut rows = Vec::new();
    for k in ["a", "b", "c"] {
        let top = sorted.iter().filter(|r| r.1 == k).take(limit);
        for (rank, r) in (1..).zip(top) {
            let value = r.2.map_or("null".to_string(), |v| v.to_string());
            let row = format!("{k} {value} {}", r.3);
            rows.push(if rank_number {
                format!("{row} {rank}")
            } else {
                row
            });
        }
    }
    table(&rows.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn random_inputs_match_a_sorting_reference_after_every_batch() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut random = |bound: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound as u64) as usize
    };
    let nulls_last_asc = SortKey {
        nulls_first: false,
        ..ASC
    };
    for order in [ASC, DESC, nulls_last_asc] {
        for (limit, rank_number, changelog_input) in [
            (1, false, false),
            (2, true, false),
            (1, false, true),
            (3, true, true),
            (2, false, true),
        ] {
            let mut rank = rank(order, limit, rank_number);
            let mut result = Table::new();
            let mut live: Vec<ModelRow> = Vec::new();
            let mut arrival = 0;
            for _ in 0..60 {
                let mut batch = Vec::new();
                for _ in 0..random(6) {
                    let mut row = (
                        ["a", "b", "c"][random(3)],
                        [None, Some(0), Some(1), Some(2)][random(4)],
                        ["p", "q"][random(2)],
                    );
                    let retract = changelog_input && random(3) == 0;
                    if retract && !live.is_empty() && random(4) > 0 {
                        let some = live[random(live.len())];
                        row = (some.1, some.2, some.3);
                    }
                    let same = |r: &ModelRow| (r.1, r.2, r.3) == row;
                    if retract {
                        let best = (0..live.len())
                            .filter(|&i| same(&live[i]))
                            .min_by(|&i, &j| {
                                model_order(order, limit as usize, &live[i], &live[j])
                            });
                        if let Some(i) = best {
                            live.remove(i);
                        }
                    } else {
                        live.push((arrival, row.0, row.1, row.2));
                        arrival += 1;
                    }
                    let kind = if retract {
                        ["-U", "-D"][random(2)]
                    } else {
                        ["+I", "+U"][random(2)]
                    };
                    batch.push((kind, row.0, row.1, row.2));
                }
                let input = if changelog_input {
                    changelog(&batch)
                } else {
                    data(&batch.iter().map(|r| (r.1, r.2, r.3)).collect::<Vec<_>>())
                };
                feed(&mut rank, &mut result, input);
                let expected = model_table(&live, order, limit as usize, rank_number);
                assert_eq!(result, expected, "{order:?} top {limit}");
            }
        }
    }
}
