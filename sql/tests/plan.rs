//! Planning: graph shape, chaining, changelog checks and error locations.

use rtdw_sql::{JobConfig, Partitioning, plan_job};

const SOURCE: &str = "CREATE TABLE orders (id BIGINT, customer STRING, amount INT)\n\
WITH ('connector' = 'datagen', 'number-of-rows' = '100', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '100');\n";

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
    let graph = plan_job(&sql, &config(2)).await.unwrap();
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
    let again = plan_job(&sql, &config(2)).await.unwrap();
    assert_eq!(graph.fingerprint(), again.fingerprint());
}

#[tokio::test]
async fn an_append_only_sink_rejects_an_updating_query_naming_the_producer() {
    let sql = format!(
        "{SOURCE}CREATE TABLE out (customer STRING, n BIGINT) WITH ('connector' = 'filesystem', 'path' = '/tmp/x', 'format' = 'csv');\n\
         INSERT INTO out SELECT customer, COUNT(*) FROM orders GROUP BY customer;"
    );
    let err = plan_job(&sql, &config(1)).await.unwrap_err();
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
    let err = plan_job(&sql, &config(1)).await.unwrap_err();
    let location = err.location.expect("located");
    assert_eq!((location.line, location.column), (5, 8), "{err}");
    assert!(err.to_string().contains("amout"), "{err}");
}

#[tokio::test]
async fn connector_option_errors_name_the_option() {
    let sql = "CREATE TABLE s (id BIGINT) WITH ('connector' = 'datagen', 'fields.id.kind' = 'seq');\n\
               CREATE TABLE o (id BIGINT) WITH ('connector' = 'nope');\n\
               INSERT INTO o SELECT id FROM s;";
    let err = plan_job(sql, &config(1)).await.unwrap_err();
    assert!(
        err.message
            .contains("option 'fields.id.kind' must be 'sequence' or 'random'"),
        "{err}"
    );
    let sql = sql.replace("'seq'", "'random'");
    let err = plan_job(&sql, &config(1)).await.unwrap_err();
    assert!(
        err.message
            .contains("could not find a sink connector 'nope'"),
        "{err}"
    );
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
    let graph = plan_job(&sql, &config(2)).await.unwrap();
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
    let err = plan_job(&sql, &config(1)).await.unwrap_err();
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
    let err = plan_job(&script("SPLIT_INDEX(amount, ',', 0)"), &config(1))
        .await
        .unwrap_err();
    assert!(
        err.message.starts_with("cannot call SPLIT_INDEX(INT, STRING, BIGINT); expected SPLIT_INDEX(STRING, STRING, INT) or SPLIT_INDEX(STRING, INT, INT)"),
        "{err}"
    );
    let err = plan_job(
        &script("CAST(TIMESTAMPDIFF(DAYS, LOCALTIMESTAMP, LOCALTIMESTAMP) AS STRING)"),
        &config(1),
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
