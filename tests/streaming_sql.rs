//! Golden tests of the streaming SQL features, end to end on a cluster of
//! separate processes: small files in, exactly-once changelog files out,
//! folded into the final table and compared with the table worked out by
//! hand from the input (the reasoning is next to each expectation).

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Cluster, ClusterOptions, fold_changelog, fold_debezium, rows};

const MINUTE: Duration = Duration::from_secs(60);

/// An order changelog as Flink CDC writes it: order 1 corrected from 10 to
/// 12, order 2 deleted, carol's only order 5 created and deleted.
const ORDER_CHANGES: &str = r#"{"op":"c","after":{"order_id":1,"customer":"alice","amount":10}}
{"op":"c","after":{"order_id":2,"customer":"alice","amount":5}}
{"op":"c","after":{"order_id":3,"customer":"bob","amount":7}}
{"op":"u","before":{"order_id":1,"customer":"alice","amount":10},"after":{"order_id":1,"customer":"alice","amount":12}}
{"op":"d","before":{"order_id":2,"customer":"alice","amount":5}}
{"op":"c","after":{"order_id":4,"customer":"bob","amount":3}}
{"op":"c","after":{"order_id":5,"customer":"carol","amount":4}}
{"op":"d","before":{"order_id":5,"customer":"carol","amount":4}}
{"op":"c","after":{"order_id":6,"customer":"bob","amount":7}}
{"op":"c","after":{"order_id":7,"customer":"erin","amount":2}}
"#;

/// A cluster with the order changelog in `orders/` and the DDL reading it.
fn with_order_changes() -> (Cluster, String) {
    let cluster = Cluster::start(ClusterOptions::default());
    std::fs::create_dir_all(cluster.path("orders")).expect("orders dir");
    cluster.write("orders/changes.json", ORDER_CHANGES);
    let ddl = format!(
        "CREATE TABLE orders (order_id BIGINT, customer STRING, amount INT)\n\
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n",
        cluster.path("orders").display()
    );
    (cluster, ddl)
}

/// DDL of a Debezium JSON sink table writing into `dir` of the cluster.
fn changelog_sink(cluster: &Cluster, name: &str, columns: &str) -> String {
    format!(
        "CREATE TABLE {name} ({columns}) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n",
        cluster.path(name).display()
    )
}

/// Submits a script at parallelism 2 and waits until it finished.
fn run(cluster: &Cluster, name: &str, sql: &str) {
    let id = cluster.submit(name, sql, &["-p", "2"]);
    cluster.wait_for_state(&id, "FINISHED", MINUTE);
}

#[test]
fn group_aggregates_retract_corrected_and_deleted_orders() {
    let (cluster, orders) = with_order_changes();
    let sql = format!(
        "{orders}{}INSERT INTO per_customer\n\
         SELECT customer, COUNT(*), SUM(amount), MIN(amount), MAX(amount), COUNT(DISTINCT amount)\n\
         FROM orders GROUP BY customer HAVING SUM(amount) > 0;",
        changelog_sink(
            &cluster,
            "per_customer",
            "customer STRING, orders BIGINT, revenue BIGINT, smallest INT, largest INT, amounts BIGINT"
        )
    );
    run(&cluster, "aggregates.sql", &sql);
    let table = fold_debezium(&cluster.path("per_customer"), "customer");
    // Final orders: alice {1: 12} (10 corrected to 12, order 2 of 5 deleted,
    // so her MIN moves from 5 back to 12); bob {3: 7, 4: 3, 6: 7}; erin
    // {7: 2}; carol's only order was deleted, so she is gone.
    let expected = [
        json!({"customer": "alice", "orders": 1, "revenue": 12, "smallest": 12, "largest": 12, "amounts": 1}),
        json!({"customer": "bob", "orders": 3, "revenue": 17, "smallest": 3, "largest": 7, "amounts": 2}),
        json!({"customer": "erin", "orders": 1, "revenue": 2, "smallest": 2, "largest": 2, "amounts": 1}),
    ];
    let actual: Vec<&Value> = table.values().collect();
    assert_eq!(actual, expected.iter().collect::<Vec<_>>());
}

#[test]
fn joins_retract_their_results_when_either_side_changes() {
    let (cluster, orders) = with_order_changes();
    cluster.write("customers.csv", "alice,Berlin\nbob,Paris\ndave,Rome\n");
    let sql = format!(
        "{orders}CREATE TABLE customers (name STRING, city STRING)\n\
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         {}{}{}\
         EXECUTE STATEMENT SET BEGIN\n\
         INSERT INTO inner_joined SELECT o.order_id, o.amount, c.city FROM orders o JOIN customers c ON o.customer = c.name;\n\
         INSERT INTO left_joined SELECT c.name, o.order_id FROM customers c LEFT JOIN orders o ON c.name = o.customer;\n\
         INSERT INTO full_joined SELECT c.name, o.order_id FROM customers c FULL JOIN orders o ON c.name = o.customer;\n\
         END;",
        cluster.path("customers.csv").display(),
        changelog_sink(
            &cluster,
            "inner_joined",
            "order_id BIGINT, amount INT, city STRING"
        ),
        changelog_sink(&cluster, "left_joined", "name STRING, order_id BIGINT"),
        changelog_sink(&cluster, "full_joined", "name STRING, order_id BIGINT"),
    );
    run(&cluster, "joins.sql", &sql);
    // Orders left: 1 alice 12, 3 bob 7, 4 bob 3, 6 bob 7, 7 erin 2 (erin
    // is no customer; carol's order 5 and alice's order 2 were deleted).
    assert_eq!(
        fold_changelog(&cluster.path("inner_joined")),
        rows(&[
            json!({"order_id": 1, "amount": 12, "city": "Berlin"}),
            json!({"order_id": 3, "amount": 7, "city": "Paris"}),
            json!({"order_id": 4, "amount": 3, "city": "Paris"}),
            json!({"order_id": 6, "amount": 7, "city": "Paris"}),
        ])
    );
    // Every customer, dave without orders padded with NULL.
    let customers_side = [
        json!({"name": "alice", "order_id": 1}),
        json!({"name": "bob", "order_id": 3}),
        json!({"name": "bob", "order_id": 4}),
        json!({"name": "bob", "order_id": 6}),
        json!({"name": "dave", "order_id": null}),
    ];
    assert_eq!(
        fold_changelog(&cluster.path("left_joined")),
        rows(&customers_side)
    );
    // And erin's order without a customer.
    let mut full = customers_side.to_vec();
    full.push(json!({"name": null, "order_id": 7}));
    assert_eq!(fold_changelog(&cluster.path("full_joined")), rows(&full));
}

#[test]
fn deduplication_and_top_n_keep_the_rows_flink_keeps() {
    let cluster = Cluster::start(ClusterOptions::default());
    // Order versions in arrival order; ts increases with arrival.
    cluster.write(
        "versions.csv",
        "1,created,10,1\n2,created,20,2\n1,paid,10,3\n3,created,30,4\n2,cancelled,20,5\n1,shipped,11,6\n",
    );
    cluster.write(
        "sales.csv",
        "fruit,apple,5\nfruit,pear,9\nfruit,plum,7\nveg,kale,3\nfruit,fig,6\nveg,leek,8\nveg,corn,1\n",
    );
    let sql = format!(
        "CREATE TABLE versions (order_id BIGINT, status STRING, amount INT, ts BIGINT)\n\
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         CREATE TABLE sales (category STRING, product STRING, amount INT)\n\
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         {}{}{}{}\
         CREATE VIEW latest AS SELECT order_id, status, amount FROM (\n\
           SELECT *, ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY ts DESC) AS rn FROM versions)\n\
         WHERE rn = 1;\n\
         BEGIN STATEMENT SET;\n\
         INSERT INTO last_version SELECT * FROM latest;\n\
         INSERT INTO first_version SELECT order_id, status FROM (\n\
           SELECT *, ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY ts ASC) AS rn FROM versions)\n\
         WHERE rn = 1;\n\
         INSERT INTO by_status SELECT status, COUNT(*) FROM latest GROUP BY status;\n\
         INSERT INTO top_sales SELECT category, product, amount, rn FROM (\n\
           SELECT *, ROW_NUMBER() OVER (PARTITION BY category ORDER BY amount DESC) AS rn FROM sales)\n\
         WHERE rn <= 2;\n\
         END;",
        cluster.path("versions.csv").display(),
        cluster.path("sales.csv").display(),
        changelog_sink(
            &cluster,
            "last_version",
            "order_id BIGINT, status STRING, amount INT"
        ),
        changelog_sink(&cluster, "first_version", "order_id BIGINT, status STRING"),
        changelog_sink(&cluster, "by_status", "status STRING, orders BIGINT"),
        changelog_sink(
            &cluster,
            "top_sales",
            "category STRING, product STRING, amount INT, rn BIGINT"
        ),
    );
    run(&cluster, "dedup.sql", &sql);
    // The newest version of each order (largest ts).
    assert_eq!(
        fold_changelog(&cluster.path("last_version")),
        rows(&[
            json!({"order_id": 1, "status": "shipped", "amount": 11}),
            json!({"order_id": 2, "status": "cancelled", "amount": 20}),
            json!({"order_id": 3, "status": "created", "amount": 30}),
        ])
    );
    // The oldest version of each order.
    assert_eq!(
        fold_changelog(&cluster.path("first_version")),
        rows(&[
            json!({"order_id": 1, "status": "created"}),
            json!({"order_id": 2, "status": "created"}),
            json!({"order_id": 3, "status": "created"}),
        ])
    );
    // Counting the newest versions retracts each superseded status:
    // shipped 1, cancelled 1, created 1 (no "paid" left).
    let by_status = fold_debezium(&cluster.path("by_status"), "status");
    let counts: Vec<(&str, i64)> = by_status
        .values()
        .map(|row| {
            (
                row["status"].as_str().unwrap_or_default(),
                row["orders"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(counts, [("cancelled", 1), ("created", 1), ("shipped", 1)]);
    // Top two per category by amount: fruit pear 9, plum 7; veg leek 8,
    // kale 3 (apple 5, fig 6 and corn 1 fall out or never get in).
    assert_eq!(
        fold_changelog(&cluster.path("top_sales")),
        rows(&[
            json!({"category": "fruit", "product": "pear", "amount": 9, "rn": 1}),
            json!({"category": "fruit", "product": "plum", "amount": 7, "rn": 2}),
            json!({"category": "veg", "product": "leek", "amount": 8, "rn": 1}),
            json!({"category": "veg", "product": "kale", "amount": 3, "rn": 2}),
        ])
    );
}

#[test]
fn window_aggregations_fire_at_the_watermark_and_drop_late_rows() {
    let cluster = Cluster::start(ClusterOptions::default());
    std::fs::create_dir_all(cluster.path("clicks")).expect("clicks dir");
    // Read in name order by one source subtask: a.csv, then b.csv. After
    // a.csv the watermark is 12 s - 2 s = 10 s, so b.csv's click at 2 s is
    // late for every window that holds it; u2's click at 3 s comes out of
    // order but within the 2 s delay.
    cluster.write(
        "clicks/a.csv",
        "u1,2026-01-01 00:00:01\nu2,2026-01-01 00:00:02\nu1,2026-01-01 00:00:04\nu1,2026-01-01 00:00:06\nu2,2026-01-01 00:00:03\nu1,2026-01-01 00:00:12\n",
    );
    cluster.write(
        "clicks/b.csv",
        "u1,2026-01-01 00:00:02\nu2,2026-01-01 00:00:13\n",
    );
    let window_sink = |name: &str| {
        changelog_sink(
            &cluster,
            name,
            "user_id STRING, window_start STRING, window_end STRING, clicks BIGINT",
        )
    };
    let query = |tvf: &str| {
        format!(
            "SELECT user_id, DATE_FORMAT(window_start, 'HH:mm:ss'), DATE_FORMAT(window_end, 'HH:mm:ss'), COUNT(*)\n\
             FROM TABLE({tvf}(TABLE clicks, DESCRIPTOR(ts), {{}}))\n\
             GROUP BY user_id, window_start, window_end"
        )
    };
    let sql = format!(
        "CREATE TABLE clicks (user_id STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)\n\
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv', 'source.parallelism' = '1');\n\
         {}{}{}\
         EXECUTE STATEMENT SET BEGIN\n\
         INSERT INTO tumbling {};\n\
         INSERT INTO hopping {};\n\
         INSERT INTO cumulating {};\n\
         END;",
        cluster.path("clicks").display(),
        window_sink("tumbling"),
        window_sink("hopping"),
        window_sink("cumulating"),
        query("TUMBLE").replace("{}", "INTERVAL '5' SECOND"),
        query("HOP").replace("{}", "INTERVAL '5' SECOND, INTERVAL '10' SECOND"),
        query("CUMULATE").replace("{}", "INTERVAL '5' SECOND, INTERVAL '10' SECOND"),
    );
    run(&cluster, "windows.sql", &sql);
    let window = |user: &str, start: &str, end: &str, clicks: i64| json!({"user_id": user, "window_start": start, "window_end": end, "clicks": clicks});
    // On time: u1 at 1, 4, 6, 12 s; u2 at 2, 3, 13 s.
    assert_eq!(
        fold_changelog(&cluster.path("tumbling")),
        rows(&[
            window("u1", "00:00:00", "00:00:05", 2),
            window("u2", "00:00:00", "00:00:05", 2),
            window("u1", "00:00:05", "00:00:10", 1),
            window("u1", "00:00:10", "00:00:15", 1),
            window("u2", "00:00:10", "00:00:15", 1),
        ])
    );
    // 10 s windows every 5 s: [-5, 5), [0, 10), [5, 15), [10, 20).
    assert_eq!(
        fold_changelog(&cluster.path("hopping")),
        rows(&[
            window("u1", "23:59:55", "00:00:05", 2),
            window("u2", "23:59:55", "00:00:05", 2),
            window("u1", "00:00:00", "00:00:10", 3),
            window("u2", "00:00:00", "00:00:10", 2),
            window("u1", "00:00:05", "00:00:15", 2),
            window("u2", "00:00:05", "00:00:15", 1),
            window("u1", "00:00:10", "00:00:20", 1),
            window("u2", "00:00:10", "00:00:20", 1),
        ])
    );
    // Windows growing by 5 s up to 10 s: [0, 5), [0, 10), [10, 15), [10, 20).
    assert_eq!(
        fold_changelog(&cluster.path("cumulating")),
        rows(&[
            window("u1", "00:00:00", "00:00:05", 2),
            window("u2", "00:00:00", "00:00:05", 2),
            window("u1", "00:00:00", "00:00:10", 3),
            window("u2", "00:00:00", "00:00:10", 2),
            window("u1", "00:00:10", "00:00:15", 1),
            window("u2", "00:00:10", "00:00:15", 1),
            window("u1", "00:00:10", "00:00:20", 1),
            window("u2", "00:00:10", "00:00:20", 1),
        ])
    );
}

#[test]
fn interval_joins_match_within_the_bounds_and_pad_unmatched_rows_once_they_pass() {
    let cluster = Cluster::start(ClusterOptions::default());
    cluster.write(
        "placed.csv",
        "1,2026-01-01 00:00:01\n2,2026-01-01 00:00:02\n3,2026-01-01 00:00:03\n4,2026-01-01 00:00:04\n",
    );
    cluster.write(
        "shipped.csv",
        "1,2026-01-01 00:00:05\n2,2026-01-01 00:00:20\n3,2026-01-01 00:00:02\n4,2026-01-01 00:00:14\n1,2026-01-01 00:00:11\n",
    );
    let table = |name: &str| {
        format!(
            "CREATE TABLE {name} (order_id BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)\n\
             WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n",
            cluster.path(&format!("{name}.csv")).display()
        )
    };
    let query = |join: &str| {
        format!(
            "SELECT p.order_id, DATE_FORMAT(s.ts, 'HH:mm:ss') FROM placed p {join} shipped s\n\
             ON p.order_id = s.order_id AND s.ts BETWEEN p.ts AND p.ts + INTERVAL '10' SECOND"
        )
    };
    let sql = format!(
        "{}{}{}{}EXECUTE STATEMENT SET BEGIN\n\
         INSERT INTO in_time {};\n\
         INSERT INTO all_placed {};\n\
         END;",
        table("placed"),
        table("shipped"),
        changelog_sink(&cluster, "in_time", "order_id BIGINT, shipped STRING"),
        changelog_sink(&cluster, "all_placed", "order_id BIGINT, shipped STRING"),
        query("JOIN"),
        query("LEFT JOIN"),
    );
    run(&cluster, "interval.sql", &sql);
    // Shipped within [placed, placed + 10 s], both ends included: order 1 at
    // +4 s and +10 s, order 4 at +10 s; order 2's shipment comes 18 s later
    // and order 3's before it was placed.
    let matched = [
        json!({"order_id": 1, "shipped": "00:00:05"}),
        json!({"order_id": 1, "shipped": "00:00:11"}),
        json!({"order_id": 4, "shipped": "00:00:14"}),
    ];
    assert_eq!(fold_changelog(&cluster.path("in_time")), rows(&matched));
    let mut padded = matched.to_vec();
    padded.push(json!({"order_id": 2, "shipped": null}));
    padded.push(json!({"order_id": 3, "shipped": null}));
    assert_eq!(fold_changelog(&cluster.path("all_placed")), rows(&padded));
}

#[test]
fn cleaning_functions_give_flinks_results_end_to_end() {
    let cluster = Cluster::start(ClusterOptions::default());
    cluster.write(
        "raw.csv",
        "1| alice |2026-01-02 03:04:05|{\"amount\":\"12.5\",\"city\":\"Berlin\"}|a,b,c\n\
         2|BOB|2026-01-02 23:59:59|{\"amount\":\"7\"}|x\n\
         3||2026-01-03 00:00:00|not json|\n",
    );
    let sql = format!(
        "CREATE TABLE raw (id BIGINT, name STRING, created STRING, payload STRING, tags STRING)\n\
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv', 'csv.field-delimiter' = '|');\n\
         {}INSERT INTO clean SELECT\n\
           id,\n\
           COALESCE(NULLIF(UPPER(TRIM(name)), ''), 'UNKNOWN'),\n\
           DATE_FORMAT(TO_TIMESTAMP(created), 'yyyy/MM/dd'),\n\
           CAST(CAST(JSON_VALUE(payload, '$.amount') AS DOUBLE) * 10 AS BIGINT),\n\
           COALESCE(JSON_VALUE(payload, '$.city'), 'n/a'),\n\
           SPLIT_INDEX(tags, ',', 1),\n\
           IF(id > 1, 'later', 'first'),\n\
           EXTRACT(HOUR FROM TO_TIMESTAMP(created)),\n\
           TIMESTAMPDIFF(HOUR, TO_TIMESTAMP('2026-01-02 00:00:00'), TO_TIMESTAMP(created)),\n\
           MD5(CAST(id AS STRING))\n\
         FROM raw;",
        cluster.path("raw.csv").display(),
        changelog_sink(
            &cluster,
            "clean",
            "id BIGINT, name STRING, day STRING, dimes BIGINT, city STRING, tag STRING, label STRING, hour_of_day BIGINT, hours INT, digest STRING"
        ),
    );
    run(&cluster, "clean.sql", &sql);
    // Worked out from the rows: trimmed upper-case names (an empty one is
    // UNKNOWN), the date re-formatted, the amount in tenths (invalid JSON
    // gives NULL), the second tag (none for a single tag), hours since
    // 2026-01-02 00:00, and the MD5 of the id's text.
    assert_eq!(
        fold_changelog(&cluster.path("clean")),
        rows(&[
            json!({"id": 1, "name": "ALICE", "day": "2026/01/02", "dimes": 125, "city": "Berlin", "tag": "b",
                   "label": "first", "hour_of_day": 3, "hours": 3, "digest": "c4ca4238a0b923820dcc509a6f75849b"}),
            json!({"id": 2, "name": "BOB", "day": "2026/01/02", "dimes": 70, "city": "n/a", "tag": null,
                   "label": "later", "hour_of_day": 23, "hours": 23, "digest": "c81e728d9d4c2f636f067f89cc14862c"}),
            json!({"id": 3, "name": "UNKNOWN", "day": "2026/01/03", "dimes": null, "city": "n/a", "tag": null,
                   "label": "later", "hour_of_day": 0, "hours": 24, "digest": "eccbc87e4b5ce2fe28308fd9f2a7baf3"}),
        ])
    );
}

#[test]
fn a_print_sink_keyed_by_the_group_key_receives_upserts() {
    let cluster = Cluster::start(ClusterOptions::default());
    std::fs::create_dir_all(cluster.path("orders")).expect("orders dir");
    // Two files read in order by one source subtask: the second corrects
    // and adds orders, so both customers' sums change.
    let (first, second) = ORDER_CHANGES.split_at(
        ORDER_CHANGES
            .match_indices('\n')
            .nth(2)
            .map(|(i, _)| i + 1)
            .expect("three lines"),
    );
    cluster.write("orders/a.json", first);
    cluster.write("orders/b.json", second);
    let sql = format!(
        "CREATE TABLE orders (order_id BIGINT, customer STRING, amount INT)\n\
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json', 'source.parallelism' = '1');\n\
         CREATE TABLE per_customer (customer STRING, revenue BIGINT, PRIMARY KEY (customer) NOT ENFORCED)\n\
         WITH ('connector' = 'print', 'print-identifier' = 'upserts');\n\
         INSERT INTO per_customer SELECT customer, SUM(amount) FROM orders GROUP BY customer;",
        cluster.path("orders").display()
    );
    run(&cluster, "upserts.sql", &sql);
    let mut printed: Vec<String> = (0..2)
        .filter_map(|tm| std::fs::read_to_string(cluster.path(&format!("tm{tm}.out"))).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| l.split_once("> ").map(|(_, row)| row.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    printed.sort();
    // After a.json: alice 10 + 5, bob 7. After b.json: alice 12 (10
    // corrected, 5 deleted), bob 17, erin 2; carol came and went within
    // the file. Upserts carry new contents only: no -U before-images.
    assert_eq!(
        printed,
        [
            "+I[alice, 15]",
            "+I[bob, 7]",
            "+I[erin, 2]",
            "+U[alice, 12]",
            "+U[bob, 17]"
        ]
    );
}

/// Metadata columns (`METADATA FROM 'key'`) declared between physical
/// columns come out in their declared places, each row with its own file's
/// values, through a changelog source too.
#[test]
fn metadata_columns_carry_each_rows_file() {
    let cluster = Cluster::start(ClusterOptions::default());
    std::fs::create_dir_all(cluster.path("in/first")).expect("dir");
    std::fs::create_dir_all(cluster.path("in/second")).expect("dir");
    cluster.write("in/first/changes.json", ORDER_CHANGES);
    let late = "{\"op\":\"c\",\"after\":{\"order_id\":8,\"customer\":\"dan\",\"amount\":1}}\n";
    cluster.write("in/second/late.json", late);
    let sql = format!(
        "CREATE TABLE orders (order_id BIGINT,\n\
           file STRING METADATA FROM 'file.name' VIRTUAL,\n\
           customer STRING, amount INT,\n\
           size BIGINT METADATA FROM 'file.size')\n\
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'debezium-json');\n\
         {}INSERT INTO by_file SELECT file, COUNT(*), SUM(amount), MAX(size) FROM orders GROUP BY file;\n",
        cluster.path("in").display(),
        changelog_sink(
            &cluster,
            "by_file",
            "file STRING, orders BIGINT, amount INT, size BIGINT"
        ),
    );
    run(&cluster, "by_file.sql", &sql);
    let folded = fold_debezium(&cluster.path("by_file"), "file");
    // changes.json: orders 1 (12), 3 (7), 4 (3), 6 (7), 7 (2) remain after
    // the corrections and deletes; late.json: order 8 (1).
    let expected = [
        ("changes.json", 5, 31, ORDER_CHANGES.len()),
        ("late.json", 1, 1, late.len()),
    ];
    assert_eq!(folded.len(), expected.len(), "{folded:?}");
    for (file, orders, amount, size) in expected {
        let row = &folded[&Value::from(file).to_string()];
        assert_eq!(row["orders"], orders, "{row}");
        assert_eq!(row["amount"], amount, "{row}");
        assert_eq!(row["size"], size, "{row}");
    }
}
