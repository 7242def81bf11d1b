//! Shipping plans: every operator and expression kind the planner produces
//! survives the protobuf the coordinator sends the task managers, and what
//! cannot be shipped is refused with its name.

use std::collections::BTreeSet;

use rtdw_connector_core::ConnectorRegistry;
use rtdw_plan::{JobGraph, codec};
use rtdw_sql::{JobConfig, plan_job};

/// Tables over every connector role and a metadata column, an event-time
/// attribute, and sinks of each changelog kind.
const TABLES: &str = "CREATE TABLE orders (id BIGINT, customer STRING, amount INT, note STRING, ts TIMESTAMP(3),\n\
    WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)\n\
  WITH ('connector' = 'filesystem', 'path' = '/tmp/orders', 'format' = 'csv');\n\
CREATE TABLE shipments (order_id BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)\n\
  WITH ('connector' = 'filesystem', 'path' = '/tmp/shipments', 'format' = 'csv');\n\
CREATE TABLE customers (name STRING, city STRING, file_name STRING METADATA FROM 'file.name' VIRTUAL)\n\
  WITH ('connector' = 'filesystem', 'path' = '/tmp/customers', 'format' = 'debezium-json');\n\
CREATE TABLE rows_out (a STRING, b DOUBLE, c INT, d INT, e BOOLEAN, f BOOLEAN, g BOOLEAN, h STRING, i STRING, j STRING, k STRING, l STRING, m STRING)\n\
  WITH ('connector' = 'blackhole');\n\
CREATE TABLE totals (customer STRING, n BIGINT, total BIGINT, low INT, high INT, mean INT, ids BIGINT, PRIMARY KEY (customer) NOT ENFORCED)\n\
  WITH ('connector' = 'print');\n\
CREATE TABLE changes (customer STRING, n BIGINT) WITH ('connector' = 'filesystem', 'path' = '/tmp/changes', 'format' = 'debezium-json');\n\
CREATE TABLE pairs (id BIGINT, city STRING) WITH ('connector' = 'filesystem', 'path' = '/tmp/pairs', 'format' = 'debezium-json');\n\
CREATE TABLE windows (customer STRING, window_start TIMESTAMP(3), window_end TIMESTAMP(3), n BIGINT) WITH ('connector' = 'blackhole');\n\
CREATE TABLE ids (id BIGINT) WITH ('connector' = 'blackhole');\n";

/// One query per operator family; together they use every expression kind
/// DataFusion's physical planner gives rtdw's Calcs and join conditions.
const QUERIES: [&str; 9] = [
    "INSERT INTO rows_out SELECT\n\
       CASE WHEN amount > 10 THEN 'big' ELSE 'small' END, CAST(amount AS DOUBLE), TRY_CAST(note AS INT), -amount,\n\
       NOT (amount IS NULL), customer LIKE 'a%', id IN (1, 2, 3), UPPER(customer), DATE_FORMAT(ts, 'yyyy-MM-dd'),\n\
       SUBSTRING(customer FROM 1 FOR 2), JSON_VALUE(note, '$.a'), COALESCE(note, 'none'), CONCAT(customer, '/', note)\n\
     FROM orders WHERE amount IS NOT NULL AND customer <> 'z' AND ts > TIMESTAMP '2024-01-01 00:00:00';",
    "INSERT INTO totals SELECT customer, COUNT(*), SUM(amount), MIN(amount), MAX(amount), AVG(amount), COUNT(DISTINCT id)\n\
     FROM orders GROUP BY customer;",
    "INSERT INTO changes SELECT customer, COUNT(*) FROM orders GROUP BY customer;",
    "INSERT INTO pairs SELECT o.id, c.city FROM orders o LEFT JOIN customers c\n\
     ON o.customer = c.name AND o.amount > CHAR_LENGTH(c.file_name);",
    "INSERT INTO ids SELECT o.id FROM orders o JOIN shipments s\n\
     ON o.id = s.order_id AND s.ts BETWEEN o.ts AND o.ts + INTERVAL '4' HOUR AND o.amount > 1;",
    "INSERT INTO pairs SELECT id, customer FROM (\n\
       SELECT *, ROW_NUMBER() OVER (PARTITION BY customer ORDER BY amount DESC NULLS LAST) AS rn FROM orders)\n\
     WHERE rn <= 3;",
    "INSERT INTO windows SELECT customer, window_start, window_end, COUNT(*)\n\
     FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '5' SECOND))\n\
     GROUP BY customer, window_start, window_end;",
    "INSERT INTO windows SELECT customer, window_start, window_end, COUNT(*)\n\
     FROM TABLE(HOP(TABLE orders, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '5' MINUTES))\n\
     GROUP BY customer, window_start, window_end;",
    "INSERT INTO windows SELECT customer, window_start, window_end, SUM(amount)\n\
     FROM TABLE(CUMULATE(TABLE orders, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '1' HOUR))\n\
     GROUP BY customer, window_start, window_end;",
];

/// Two-phase aggregation, which adds the local and global aggregates.
const MINI_BATCH: &str = "SET 'table.exec.mini-batch.enabled' = 'true';\n\
SET 'table.exec.mini-batch.allow-latency' = '2 s';\n\
SET 'table.exec.mini-batch.size' = '5000';\n\
SET 'table.exec.state.ttl' = '1 h';\n";

async fn plan(script: &str) -> JobGraph {
    let config = JobConfig {
        parallelism: Some(2),
        ..JobConfig::default()
    };
    plan_job(script, &config, &ConnectorRegistry::builtin())
        .await
        .unwrap_or_else(|e| panic!("{script}\n{e}"))
}

/// The graph a task manager reads back from what the coordinator ships.
fn shipped(graph: &JobGraph) -> JobGraph {
    let plan = codec::encode(graph).unwrap_or_else(|e| panic!("{}\n{e}", graph.explain()));
    codec::decode(&plan).unwrap_or_else(|e| panic!("{}\n{e}", graph.explain()))
}

#[tokio::test]
async fn every_operator_and_expression_kind_survives_shipping() {
    let mut scripts: Vec<String> = QUERIES.iter().map(|q| format!("{TABLES}{q}")).collect();
    scripts.push(format!("{MINI_BATCH}{TABLES}{}", QUERIES[2]));
    scripts.push(format!("{MINI_BATCH}{TABLES}{}", QUERIES[3]));
    let mut kinds = BTreeSet::new();
    for script in &scripts {
        let graph = plan(script).await;
        let again = shipped(&graph);
        // Debug prints every field of every node: schemas with their
        // metadata, expression trees, function names and return types.
        assert_eq!(format!("{again:#?}"), format!("{graph:#?}"), "{script}");
        assert_eq!(again.explain(), graph.explain());
        kinds.extend(
            graph
                .vertices
                .iter()
                .flat_map(|v| &v.chain)
                .map(|op| op.kind()),
        );
    }
    let every_kind = [
        "Source",
        "Calc",
        "GroupAggregate",
        "LocalGroupAggregate",
        "GlobalGroupAggregate",
        "Join",
        "IntervalJoin",
        "Rank",
        "WindowAggregate",
        "WatermarkAssigner",
        "DropUpdateBefore",
        "Sink",
    ];
    assert_eq!(kinds, BTreeSet::from(every_kind));
}

#[tokio::test]
async fn a_damaged_plan_is_refused_naming_the_part() {
    let graph = plan(&format!("{TABLES}{}", QUERIES[0])).await;
    let mut plan = codec::encode(&graph).unwrap();
    let calc = plan.vertices[0]
        .chain
        .iter_mut()
        .find_map(|op| match &mut op.node {
            Some(rtdw_proto::v1::plan_operator::Node::Calc(calc)) => Some(calc),
            _ => None,
        })
        .expect("a Calc after the source");
    calc.projections[0] = vec![0xff, 0xff, 0xff];
    let error = codec::decode(&plan).unwrap_err().to_string();
    assert!(
        error.starts_with("invalid shipped plan: Calc projection in vertex 0:"),
        "{error}"
    );

    let mut plan = codec::encode(&graph).unwrap();
    plan.edges.push(rtdw_proto::v1::PlanEdge {
        id: 9,
        source: 0,
        target: 7,
        ..Default::default()
    });
    let error = codec::decode(&plan).unwrap_err().to_string();
    assert_eq!(error, "invalid shipped plan: edge 9: no vertex 7");
}
