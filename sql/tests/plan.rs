//! Planning: graph shape, chaining, changelog checks and error locations.

use rtdw_connector_core::ConnectorRegistry;
use rtdw_plan::{Partitioning, codec};
use rtdw_sql::{JobConfig, plan_job};

const SOURCE: &str = "CREATE TABLE orders (id BIGINT, customer STRING, amount INT)\n\
WITH ('connector' = 'datagen', 'number-of-rows' = '100', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '100');\n";

fn registry() -> ConnectorRegistry {
    ConnectorRegistry::builtin()
}

fn config(parallelism: u32) -> JobConfig {
    JobConfig {
        parallelism: Some(parallelism),
        ..JobConfig::default()
    }
}

#[tokio::test]
async fn group_by_is_split_at_a_hash_exchange_and_forward_edges_are_chained() {
    let sql = format!(
        "{SOURCE}CREATE TABLE totals (customer STRING, n BIGINT, total BIGINT) WITH ('connector' = 'print');\n\
         INSERT INTO totals SELECT customer, COUNT(*), SUM(amount) FROM orders WHERE amount > 0 GROUP BY customer;"
    );
    let graph = plan_job(&sql, &config(2), &registry()).await.unwrap();
    assert_eq!(graph.vertices.len(), 2, "{}", graph.explain());
    assert!(
        graph.vertices[0].name.starts_with("Source: orders -> Calc"),
        "{}",
        graph.vertices[0].name
    );
    assert!(
        graph.vertices[1]
            .name
            .contains("GroupAggregate(groupBy=[customer]"),
        "{}",
        graph.vertices[1].name
    );
    assert!(graph.vertices[1].name.ends_with("Sink: totals"));
    assert!(graph.vertices[1].updating);
    assert_eq!(graph.edges.len(), 1);
    assert_eq!(graph.edges[0].partitioning, Partitioning::Hash(vec![0]));
    assert_eq!(graph.edges[0].describe(), "HASH[customer]");
    assert_eq!(graph.required_slots(), 2);
    let shipped = codec::decode(&codec::encode(&graph).unwrap()).unwrap();
    assert_eq!(format!("{shipped:?}"), format!("{graph:?}"));
}

#[tokio::test]
async fn an_append_only_sink_rejects_an_updating_query_naming_the_producer() {
    let sql = format!(
        "{SOURCE}CREATE TABLE out (customer STRING, n BIGINT) WITH ('connector' = 'filesystem', 'path' = '/tmp/x', 'format' = 'csv');\n\
         INSERT INTO out SELECT customer, COUNT(*) FROM orders GROUP BY customer;"
    );
    let err = plan_job(&sql, &config(1), &registry()).await.unwrap_err();
    assert!(
        err.message.starts_with("Table sink 'out' doesn't support consuming update changes which is produced by node GroupAggregate(groupBy=[customer]"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unknown_column_is_reported_at_its_position() {
    let sql = format!(
        "{SOURCE}CREATE TABLE out (id BIGINT) WITH ('connector' = 'print');\n\
         INSERT INTO out\nSELECT amout FROM orders;"
    );
    let err = plan_job(&sql, &config(1), &registry()).await.unwrap_err();
    let location = err.location.expect("located");
    assert_eq!((location.line, location.column), (5, 8), "{err}");
    assert!(err.to_string().contains("amout"), "{err}");
}

#[tokio::test]
async fn connector_option_errors_name_the_option() {
    let sql = "CREATE TABLE s (id BIGINT) WITH ('connector' = 'datagen', 'fields.id.kind' = 'seq');\n\
               CREATE TABLE o (id BIGINT) WITH ('connector' = 'nope');\n\
               INSERT INTO o SELECT id FROM s;";
    let err = plan_job(sql, &config(1), &registry()).await.unwrap_err();
    assert!(
        err.message
            .contains("option 'fields.id.kind' must be 'sequence' or 'random'"),
        "{err}"
    );
    let sql = sql.replace("'seq'", "'random'");
    let err = plan_job(&sql, &config(1), &registry()).await.unwrap_err();
    assert!(
        err.message
            .contains("could not find a sink connector 'nope'"),
        "{err}"
    );
}

/// The first line of `explain` naming an operator kind, for assertions.
fn vertex_with<'a>(explain: &'a str, operator: &str) -> &'a str {
    explain
        .lines()
        .find(|l| l.trim_start().starts_with(operator))
        .unwrap_or_else(|| panic!("no {operator} in\n{explain}"))
}

const CHANGES: &str = "CREATE TABLE changes (id BIGINT, customer STRING, amount INT)\n\
WITH ('connector' = 'filesystem', 'path' = '/tmp/changes', 'format' = 'debezium-json');\n";

const CUSTOMERS: &str = "CREATE TABLE customers (name STRING, city STRING)\n\
WITH ('connector' = 'filesystem', 'path' = '/tmp/customers', 'format' = 'csv');\n";

fn changelog_sink(name: &str, columns: &str) -> String {
    format!(
        "CREATE TABLE {name} ({columns}) WITH ('connector' = 'filesystem', 'path' = '/tmp/{name}', 'format' = 'debezium-json');\n"
    )
}

#[tokio::test]
async fn a_statement_set_shares_its_source_and_writes_every_sink() {
    let sql = format!(
        "{SOURCE}{}{}EXECUTE STATEMENT SET BEGIN\n\
         INSERT INTO big SELECT id, amount FROM orders WHERE amount > 10;\n\
         INSERT INTO small SELECT id, amount FROM orders WHERE amount <= 10;\n\
         END;",
        "CREATE TABLE big (id BIGINT, amount INT) WITH ('connector' = 'blackhole');\n",
        "CREATE TABLE small (id BIGINT, amount INT) WITH ('connector' = 'blackhole');\n",
    );
    let graph = plan_job(&sql, &config(2), &registry()).await.unwrap();
    let sources = graph
        .vertices
        .iter()
        .flat_map(|v| &v.chain)
        .filter(|op| op.kind() == "Source")
        .count();
    assert_eq!(sources, 1, "{}", graph.explain());
    let sinks: Vec<String> = graph
        .vertices
        .iter()
        .flat_map(|v| &v.chain)
        .filter(|op| op.kind() == "Sink")
        .map(|op| op.describe())
        .collect();
    assert_eq!(sinks, ["Sink: big", "Sink: small"]);
    assert_eq!(graph.name, "insert-into_big,small");
    // Two inserts outside a statement set are two jobs: refused.
    let two = sql
        .replace("EXECUTE STATEMENT SET BEGIN\n", "")
        .replace("END;", "");
    let err = plan_job(&two, &config(1), &registry()).await.unwrap_err();
    assert!(err.message.contains("EXECUTE STATEMENT SET"), "{err}");
    assert!(
        err.to_string().contains("statement 5 (INSERT INTO small)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_changelog_source_makes_aggregates_retract_and_count_distinct_plans() {
    let sql = format!(
        "{CHANGES}{}INSERT INTO per_customer\n\
         SELECT customer, COUNT(DISTINCT amount), MIN(amount), MAX(amount) FROM changes GROUP BY customer;",
        changelog_sink(
            "per_customer",
            "customer STRING, amounts BIGINT, lo INT, hi INT"
        )
    );
    let graph = plan_job(&sql, &config(2), &registry()).await.unwrap();
    let explain = graph.explain();
    assert!(
        vertex_with(&explain, "GroupAggregate")
            .contains("COUNT(DISTINCT amount), MIN(amount), MAX(amount)"),
        "{explain}"
    );
    // The source's edge into the aggregate carries retractions.
    assert!(explain.contains("[HASH[customer], retract]"), "{explain}");
    // An append-only sink is refused, naming the source that updates.
    let plain = format!(
        "{CHANGES}CREATE TABLE copy (id BIGINT) WITH ('connector' = 'filesystem', 'path' = '/tmp/copy', 'format' = 'csv');\n\
         INSERT INTO copy SELECT id FROM changes;"
    );
    let err = plan_job(&plain, &config(1), &registry()).await.unwrap_err();
    assert!(
        err.message
            .contains("produced by node Source: changes (a changelog)"),
        "{err}"
    );
}

#[tokio::test]
async fn joins_are_hash_partitioned_on_their_keys_on_both_inputs() {
    let sql = format!(
        "{CHANGES}{CUSTOMERS}{}INSERT INTO joined\n\
         SELECT c.city, o.amount FROM changes o LEFT JOIN customers c ON o.customer = c.name AND c.city <> 'Rome';",
        changelog_sink("joined", "city STRING, amount INT")
    );
    let graph = plan_job(&sql, &config(2), &registry()).await.unwrap();
    let explain = graph.explain();
    let join = graph
        .vertices
        .iter()
        .find(|v| v.chain[0].kind() == "Join")
        .unwrap_or_else(|| panic!("no join vertex in\n{explain}"));
    let inputs = graph.inputs(join.id);
    assert_eq!(inputs.len(), 2, "{explain}");
    assert_eq!(inputs[0].describe(), "HASH[customer]");
    assert_eq!(inputs[1].describe(), "HASH[name]");
    assert!(join.updating, "a left join retracts padded rows");
    assert!(vertex_with(&explain, "Join(joinType=[Left]").contains("customer = name"));
}

#[tokio::test]
async fn a_time_bounded_join_of_append_streams_is_an_interval_join() {
    let sql = "CREATE TABLE shipments (order_id BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)\n\
               WITH ('connector' = 'filesystem', 'path' = '/tmp/shipments', 'format' = 'csv');\n\
               CREATE TABLE placed (order_id BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)\n\
               WITH ('connector' = 'filesystem', 'path' = '/tmp/placed', 'format' = 'csv');\n\
               CREATE TABLE shipped_in_time (order_id BIGINT) WITH ('connector' = 'blackhole');\n\
               INSERT INTO shipped_in_time SELECT p.order_id FROM placed p JOIN shipments s\n\
               ON p.order_id = s.order_id AND s.ts BETWEEN p.ts AND p.ts + INTERVAL '4' HOUR;";
    let graph = plan_job(sql, &config(2), &registry()).await.unwrap();
    let explain = graph.explain();
    let join = graph
        .vertices
        .iter()
        .flat_map(|v| &v.chain)
        .find(|op| op.kind() == "IntervalJoin")
        .unwrap_or_else(|| panic!("no interval join in\n{explain}"));
    let rtdw_plan::OperatorNode::IntervalJoin {
        lower_ms, upper_ms, ..
    } = join
    else {
        unreachable!()
    };
    // s.ts - p.ts lies in [0, 4 h].
    assert_eq!((*lower_ms, *upper_ms), (0, 4 * 3_600_000));
    assert!(
        explain.contains("WatermarkAssigner(rowtime=[ts]"),
        "{explain}"
    );
    assert!(
        !explain.contains("retract"),
        "an interval join appends:\n{explain}"
    );
}

#[tokio::test]
async fn row_number_filters_become_rank_operators_and_other_over_windows_are_refused() {
    let dedup = format!(
        "{CHANGES}{}INSERT INTO latest SELECT id, customer, amount FROM (\n\
         SELECT *, ROW_NUMBER() OVER (PARTITION BY customer ORDER BY amount DESC) AS rn FROM changes)\n\
         WHERE rn <= 3;",
        changelog_sink("latest", "id BIGINT, customer STRING, amount INT")
    );
    let graph = plan_job(&dedup, &config(2), &registry()).await.unwrap();
    let explain = graph.explain();
    assert!(
        explain.contains("Rank(rankType=[ROW_NUMBER], rankRange=[rankStart=1, rankEnd=3], partitionBy=[customer], orderBy=[amount DESC])"),
        "{explain}"
    );
    assert!(explain.contains("[HASH[customer], retract]"), "{explain}");
    let running_sum = format!(
        "{CHANGES}{}INSERT INTO latest SELECT id, customer, SUM(amount) OVER (PARTITION BY customer ORDER BY id) FROM changes;",
        changelog_sink("latest", "id BIGINT, customer STRING, amount BIGINT")
    );
    let err = plan_job(&running_sum, &config(1), &registry())
        .await
        .unwrap_err();
    assert!(err.message.contains("ROW_NUMBER()"), "{err}");
}

#[tokio::test]
async fn window_tvfs_plan_as_window_aggregates_after_a_watermark_assigner() {
    let sql = "CREATE TABLE clicks (user_id STRING, url STRING, ts TIMESTAMP(3),\n\
                 domain AS UPPER(url),\n\
                 WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)\n\
               WITH ('connector' = 'filesystem', 'path' = '/tmp/clicks', 'format' = 'csv');\n\
               CREATE TABLE per_window (domain STRING, window_start TIMESTAMP(3), window_end TIMESTAMP(3), clicks BIGINT)\n\
               WITH ('connector' = 'filesystem', 'path' = '/tmp/per_window', 'format' = 'csv');\n\
               INSERT INTO per_window SELECT domain, window_start, window_end, COUNT(*)\n\
               FROM TABLE(HOP(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '5' MINUTES))\n\
               GROUP BY domain, window_start, window_end;";
    let graph = plan_job(sql, &config(2), &registry()).await.unwrap();
    let explain = graph.explain();
    assert!(
        explain.contains("WatermarkAssigner(rowtime=[ts], watermark=[ts - INTERVAL '5' SECOND])"),
        "{explain}"
    );
    assert!(
        explain.contains("WindowAggregate(groupBy=[domain], window=[HOP(slide=[60000 ms], size=[300000 ms])], select=[COUNT(*)])"),
        "{explain}"
    );
    // Window aggregates append final results: a CSV sink takes them.
    assert!(!explain.contains("retract"), "{explain}");
    // Window columns outside a window aggregation are refused.
    let raw = sql
        .replace(
            "SELECT domain, window_start, window_end, COUNT(*)",
            "SELECT domain, window_start, window_end, 1",
        )
        .replace("\nGROUP BY domain, window_start, window_end", "");
    let err = plan_job(&raw, &config(1), &registry()).await.unwrap_err();
    assert!(err.message.contains("window aggregation"), "{err}");
}

#[tokio::test]
async fn a_query_with_flink_functions_plans_and_the_clock_stays_per_record() {
    let sql = format!(
        "{SOURCE}CREATE TABLE out (id BIGINT, label STRING, day STRING, first_part STRING, hours INT, seen TIMESTAMP_LTZ(3)) WITH ('connector' = 'print');\n\
         INSERT INTO out\n\
         SELECT id,\n\
           IF(amount > 50, UPPER(customer), CONCAT(customer, '-', CAST(id AS STRING))),\n\
           DATE_FORMAT(TO_TIMESTAMP(CONCAT('2024-03-0', CAST(id % 9 + 1 AS STRING), ' 07:08:09')), 'yyyy-MM-dd'),\n\
           SPLIT_INDEX(customer, ',', 0),\n\
           TIMESTAMPDIFF(HOUR, FLOOR(LOCALTIMESTAMP TO DAY), LOCALTIMESTAMP),\n\
           CURRENT_TIMESTAMP\n\
         FROM orders WHERE EXTRACT(YEAR FROM NOW()) > 2000 AND SUBSTRING(customer FROM 1 FOR 1) <> 'x';"
    );
    let graph = plan_job(&sql, &config(2), &registry()).await.unwrap();
    assert_eq!(graph.vertices.len(), 1, "{}", graph.explain());
    let name = &graph.vertices[0].name;
    for call in [
        "split_index(",
        "date_format(",
        "timestampdiff(",
        "now()",
        "localtimestamp()",
    ] {
        assert!(name.contains(call), "{call} in {name}");
    }
}

#[tokio::test]
async fn a_misspelt_function_is_named_with_a_suggestion() {
    let sql = format!(
        "{SOURCE}CREATE TABLE out (d STRING) WITH ('connector' = 'print');\n\
         INSERT INTO out\nSELECT date_fromat(customer, 'yyyy') FROM orders;"
    );
    let err = plan_job(&sql, &config(1), &registry()).await.unwrap_err();
    assert_eq!(
        err.message,
        "Invalid function 'date_fromat'.\nDid you mean 'date_format'?"
    );
    let location = err.location.expect("located");
    assert_eq!((location.line, location.column), (5, 8), "{err}");
}

#[tokio::test]
async fn function_errors_name_the_function() {
    let script = |select: &str| {
        format!(
            "{SOURCE}CREATE TABLE out (v STRING) WITH ('connector' = 'print');\n\
             INSERT INTO out\nSELECT {select} FROM orders;"
        )
    };
    let err = plan_job(
        &script("SPLIT_INDEX(amount, ',', 0)"),
        &config(1),
        &registry(),
    )
    .await
    .unwrap_err();
    assert!(
        err.message.starts_with("cannot call SPLIT_INDEX(INT, STRING, BIGINT); expected SPLIT_INDEX(STRING, STRING, INT) or SPLIT_INDEX(STRING, INT, INT)"),
        "{err}"
    );
    let err = plan_job(
        &script("CAST(TIMESTAMPDIFF(DAYS, LOCALTIMESTAMP, LOCALTIMESTAMP) AS STRING)"),
        &config(1),
        &registry(),
    )
    .await
    .unwrap_err();
    assert!(
        err.message
            .starts_with("TIMESTAMPDIFF does not support the time unit DAYS"),
        "{err}"
    );
    let location = err.location.expect("located");
    assert_eq!((location.line, location.column), (5, 13), "{err}");
}

const MINI_BATCH: &str = "SET 'table.exec.mini-batch.enabled' = 'true';\n\
SET 'table.exec.mini-batch.allow-latency' = '2 s';\n\
SET 'table.exec.mini-batch.size' = '5000';\n";

/// The nodes of a kind, across the graph.
fn operators<'a>(graph: &'a rtdw_plan::JobGraph, kind: &str) -> Vec<&'a rtdw_plan::OperatorNode> {
    graph
        .vertices
        .iter()
        .flat_map(|v| &v.chain)
        .filter(|op| op.kind() == kind)
        .collect()
}

#[tokio::test]
async fn mini_batches_split_a_group_by_into_a_local_and_a_global_aggregate() {
    let sql = format!(
        "{MINI_BATCH}{CHANGES}{}INSERT INTO totals SELECT customer, COUNT(*), SUM(id) FROM changes GROUP BY customer;",
        changelog_sink("totals", "customer STRING, n BIGINT, total BIGINT")
    );
    let graph = plan_job(&sql, &config(2), &registry()).await.unwrap();
    let explain = graph.explain();
    assert_eq!(graph.vertices.len(), 2, "{explain}");
    // The local aggregate is chained after the source's Calc.
    assert!(
        graph.vertices[0].name.ends_with(
            "LocalGroupAggregate(groupBy=[customer], select=[customer, COUNT(*) AS count1$0, SUM(id) AS (count$1, sum$2)])"
        ),
        "{explain}"
    );
    assert!(
        graph.vertices[1].name.starts_with(
            "GlobalGroupAggregate(groupBy=[customer], select=[customer, COUNT(*), SUM(id)]) -> "
        ),
        "{explain}"
    );
    // Partial aggregates are insert-only, hashed on the local output's key.
    assert!(!graph.vertices[0].updating);
    assert!(graph.vertices[1].updating);
    assert_eq!(graph.edges.len(), 1);
    assert_eq!(graph.edges[0].partitioning, Partitioning::Hash(vec![0]));
    assert!(
        explain.contains("vertex 0 -> vertex 1 [HASH[customer], insert-only]"),
        "{explain}"
    );
    let expected = rtdw_operators::aggregate::MiniBatch {
        allow_latency: std::time::Duration::from_secs(2),
        size: Some(5000),
    };
    let [rtdw_plan::OperatorNode::LocalGroupAggregate { mini_batch, .. }] =
        operators(&graph, "LocalGroupAggregate")[..]
    else {
        panic!("one local aggregate in\n{explain}")
    };
    assert_eq!(*mini_batch, expected);
    let [rtdw_plan::OperatorNode::GlobalGroupAggregate { mini_batch, .. }] =
        operators(&graph, "GlobalGroupAggregate")[..]
    else {
        panic!("one global aggregate in\n{explain}")
    };
    assert_eq!(*mini_batch, expected);
}

#[tokio::test]
async fn a_two_phase_aggregate_without_keys_gathers_partials_in_one_subtask() {
    let sql = format!(
        "{MINI_BATCH}{SOURCE}CREATE TABLE total (n BIGINT, biggest INT) WITH ('connector' = 'print');\n\
         INSERT INTO total SELECT COUNT(*), MAX(amount) FROM orders;"
    );
    let graph = plan_job(&sql, &config(2), &registry()).await.unwrap();
    let explain = graph.explain();
    assert!(
        explain.contains(
            "LocalGroupAggregate(groupBy=[], select=[COUNT(*) AS count1$0, MAX(amount) AS max$1])"
        ),
        "{explain}"
    );
    assert_eq!(graph.vertices[0].parallelism, 2, "{explain}");
    assert_eq!(graph.vertices[1].parallelism, 1, "{explain}");
    assert_eq!(graph.edges[0].describe(), "GLOBAL");
}

#[tokio::test]
async fn aggregates_that_cannot_merge_partials_and_one_phase_settings_stay_one_phase() {
    let query = |select: &str| {
        format!(
            "{CHANGES}{}INSERT INTO per_customer SELECT customer, {select} FROM changes GROUP BY customer;",
            changelog_sink("per_customer", "customer STRING, n BIGINT")
        )
    };
    let one_phase = [
        // COUNT(DISTINCT) and MIN over a changelog keep value multisets.
        format!("{MINI_BATCH}{}", query("COUNT(DISTINCT amount)")),
        format!("{MINI_BATCH}{}", query("MIN(amount)")),
        format!(
            "{MINI_BATCH}SET 'table.optimizer.agg-phase-strategy' = 'ONE_PHASE';\n{}",
            query("COUNT(*)")
        ),
    ];
    for sql in one_phase {
        let graph = plan_job(&sql, &config(2), &registry()).await.unwrap();
        let explain = graph.explain();
        assert!(!explain.contains("LocalGroupAggregate"), "{explain}");
        let [rtdw_plan::OperatorNode::GroupAggregate { mini_batch, .. }] =
            operators(&graph, "GroupAggregate")[..]
        else {
            panic!("one group aggregate in\n{explain}")
        };
        assert!(mini_batch.is_some(), "mini-batches, in one phase");
    }
    // Without mini-batches, TWO_PHASE cannot apply.
    let sql = format!(
        "SET 'table.optimizer.agg-phase-strategy' = 'TWO_PHASE';\n{}",
        query("COUNT(*)")
    );
    let graph = plan_job(&sql, &config(2), &registry()).await.unwrap();
    let [rtdw_plan::OperatorNode::GroupAggregate { mini_batch, .. }] =
        operators(&graph, "GroupAggregate")[..]
    else {
        panic!("one group aggregate in\n{}", graph.explain())
    };
    assert!(mini_batch.is_none());
}

#[tokio::test]
async fn bad_mini_batch_and_phase_options_are_errors_naming_the_key() {
    let query = format!(
        "{SOURCE}CREATE TABLE totals (customer STRING, n BIGINT) WITH ('connector' = 'print');\n\
         INSERT INTO totals SELECT customer, COUNT(*) FROM orders GROUP BY customer;"
    );
    let cases = [
        (
            "SET 'table.optimizer.agg-phase-strategy' = 'x';",
            "option 'table.optimizer.agg-phase-strategy' must be AUTO, ONE_PHASE or TWO_PHASE, got 'x'",
        ),
        (
            "SET 'table.exec.mini-batch.enabled' = 'yes';",
            "option 'table.exec.mini-batch.enabled' must be true or false, got 'yes'",
        ),
        (
            "SET 'table.exec.mini-batch.allow-latency' = 'soon';",
            "option 'table.exec.mini-batch.allow-latency' must be a positive duration such as '2 s', got 'soon'",
        ),
        (
            "SET 'table.exec.mini-batch.size' = '0';",
            "option 'table.exec.mini-batch.size' must be a positive number of rows or -1, got '0'",
        ),
        (
            "SET 'table.exec.mini-batch.enabled' = 'true';",
            "option 'table.exec.mini-batch.allow-latency' must be set to a positive duration such as '2 s' when 'table.exec.mini-batch.enabled' is true",
        ),
    ];
    for (set, expected) in cases {
        let err = plan_job(&format!("{set}\n{query}"), &config(1), &registry())
            .await
            .unwrap_err();
        assert_eq!(err.message, expected);
    }
}

#[tokio::test]
async fn a_sink_keyed_by_the_querys_key_takes_upserts_and_any_other_the_full_changelog() {
    let query = "INSERT INTO totals SELECT customer, COUNT(*) FROM orders GROUP BY customer;";
    let upsert = format!(
        "{SOURCE}CREATE TABLE totals (customer STRING, n BIGINT, PRIMARY KEY (customer) NOT ENFORCED) WITH ('connector' = 'print');\n{query}"
    );
    let explain = plan_job(&upsert, &config(2), &registry())
        .await
        .unwrap()
        .explain();
    assert!(
        explain.contains("DropUpdateBefore(upsertKey=[customer])"),
        "{explain}"
    );
    assert!(explain.contains("changelog=upsert"), "{explain}");
    // Keyed by another column: the changes are not upserts of that key.
    let other_key = upsert.replace("PRIMARY KEY (customer)", "PRIMARY KEY (n)");
    let explain = plan_job(&other_key, &config(2), &registry())
        .await
        .unwrap()
        .explain();
    assert!(!explain.contains("upsert"), "{explain}");
    // Debezium JSON writes before-images: it takes the retract changelog.
    let debezium = upsert.replace(
        "'connector' = 'print'",
        "'connector' = 'filesystem', 'path' = '/tmp/totals', 'format' = 'debezium-json'",
    );
    let explain = plan_job(&debezium, &config(2), &registry())
        .await
        .unwrap()
        .explain();
    assert!(!explain.contains("upsert"), "{explain}");
    assert!(explain.contains("changelog=retract"), "{explain}");
}

#[tokio::test]
async fn metadata_columns_are_checked_against_what_the_connector_offers() {
    let table = |columns: &str| {
        format!(
            "CREATE TABLE s (id BIGINT, {columns}) WITH ('connector' = 'filesystem', 'path' = '/tmp/in', 'format' = 'json');\n\
             CREATE TABLE o (id BIGINT, p STRING) WITH ('connector' = 'print');\n\
             INSERT INTO o SELECT id, p FROM s;"
        )
    };
    let graph = plan_job(
        &table("p STRING METADATA FROM 'file.path'"),
        &config(1),
        &registry(),
    )
    .await
    .unwrap();
    assert!(graph.explain().contains("Source: s"), "{}", graph.explain());
    let err = plan_job(
        &table("p STRING METADATA FROM 'file.pth'"),
        &config(1),
        &registry(),
    )
    .await
    .unwrap_err();
    assert!(
        err.message.contains("metadata column 'p': connector 'filesystem' offers no metadata 'file.pth' (did you mean 'file.path'?)"),
        "{err}"
    );
    let err = plan_job(
        &table("p BIGINT METADATA FROM 'file.path'"),
        &config(1),
        &registry(),
    )
    .await
    .unwrap_err();
    assert!(
        err.message
            .contains("metadata 'file.path' is STRING, the column is declared Int64"),
        "{err}"
    );
    let sink_metadata = "CREATE TABLE s (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '1');\n\
        CREATE TABLE o (id BIGINT, p STRING METADATA FROM 'file.path') WITH ('connector' = 'filesystem', 'path' = '/tmp/out', 'format' = 'json');\n\
        INSERT INTO o SELECT id FROM s;";
    let err = plan_job(sink_metadata, &config(1), &registry())
        .await
        .unwrap_err();
    assert!(
        err.message
            .contains("cannot write metadata 'file.path'; declare the column VIRTUAL"),
        "{err}"
    );
}

#[tokio::test]
async fn a_lookup_join_needs_a_processing_time_attribute_and_names_the_clause() {
    let script = |attribute: &str| {
        format!(
            "CREATE TABLE orders (id BIGINT, customer BIGINT, ts TIMESTAMP(3), proc_time AS PROCTIME(),\n\
               WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH ('connector' = 'datagen');\n\
             CREATE TABLE customers (id BIGINT, name STRING) WITH ('connector' = 'datagen');\n\
             CREATE TABLE out (id BIGINT, name STRING) WITH ('connector' = 'print');\n\
             INSERT INTO out SELECT o.id, c.name FROM orders AS o\n\
             JOIN customers FOR SYSTEM_TIME AS OF o.{attribute} AS c ON o.customer = c.id;"
        )
    };
    let err = plan_job(&script("ts"), &config(1), &registry())
        .await
        .unwrap_err();
    let location = err.location.expect("located");
    assert_eq!((location.line, location.column), (6, 16), "{err}");
    assert!(
        err.to_string()
            .contains("'o.ts' is an event-time attribute"),
        "{err}"
    );
    let err = plan_job(&script("customer"), &config(1), &registry())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("must name a processing-time attribute"),
        "{err}"
    );
    // With the processing-time attribute the join gets past the clause to
    // the table, which datagen cannot look up.
    let err = plan_job(&script("proc_time"), &config(1), &registry())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("'datagen' cannot be a lookup table"),
        "{err}"
    );
}
