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
