use arrow::datatypes::DataType;

use super::super::testing::{context, plan, row, types};
use super::super::testing::{timestamp, timestamp_ltz};

#[tokio::test]
async fn clock_functions_have_flink_types() {
    assert_eq!(
        types("SELECT NOW(), CURRENT_TIMESTAMP, PROCTIME(), LOCALTIMESTAMP, CURRENT_DATE").await,
        [
            timestamp_ltz(),
            timestamp_ltz(),
            timestamp_ltz(),
            timestamp(),
            DataType::Date32
        ]
    );
    let today = row("SELECT CAST(CURRENT_TIMESTAMP AS DATE) = CURRENT_DATE").await;
    assert_eq!(today, ["true"]);
}

#[tokio::test]
async fn the_clock_is_not_folded_into_a_constant() {
    let sql = "SELECT NOW() AS a, CURRENT_TIMESTAMP AS b, LOCALTIMESTAMP AS c, PROCTIME() AS d, CURRENT_DATE AS e, UNIX_TIMESTAMP() AS f";
    let plan = plan(sql).await.unwrap();
    let optimized = context().state().optimize(&plan).unwrap();
    let text = optimized.display_indent().to_string();
    for call in [
        "now()",
        "localtimestamp()",
        "proctime()",
        "current_date()",
        "unix_timestamp()",
    ] {
        assert!(text.contains(call), "{call} in {text}");
    }
}
