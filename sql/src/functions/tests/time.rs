use arrow::datatypes::DataType;

use super::super::testing::timestamp;
use super::super::testing::{column, error, row, types};

#[tokio::test]
async fn date_format_takes_java_patterns() {
    assert_eq!(
        row("SELECT DATE_FORMAT(TIMESTAMP '2024-03-05 07:08:09.123', 'yyyy/MM/dd HH:mm:ss.SSS'), date_format(TIMESTAMP '2024-03-05 17:08:09', 'd MMM yy, h a')").await,
        ["2024/03/05 07:08:09.123", "5 Mar 24, 5 PM"]
    );
    assert_eq!(
        row("SELECT DATE_FORMAT(DATE '2024-03-05', 'EEE dd.MM.yyyy'), DATE_FORMAT('2024-03-05 07:08:09', 'HH''h''mm'), DATE_FORMAT('2024-03-05 07:08:09', 'HH''''mm'), DATE_FORMAT('2024-03-05', 'yyyy')").await,
        ["Tue 05.03.2024", "07h08", "07'08", "NULL"]
    );
    let sql = "SELECT DATE_FORMAT(t, f) FROM (VALUES (TIMESTAMP '2024-03-05 07:08:09', 'yyyy'), (NULL, 'yyyy'), (TIMESTAMP '2024-03-05 07:08:09', 'yyyy-ww')) AS v(t, f)";
    assert_eq!(column(sql).await, ["2024", "NULL", "NULL"]);
    let err = error("SELECT DATE_FORMAT(TIMESTAMP '2024-03-05 07:08:09', 'yyyy-ww')").await;
    assert!(
        err.contains("DATE_FORMAT: 'ww' in date-time pattern 'yyyy-ww' is not supported"),
        "{err}"
    );
    let err = error("SELECT DATE_FORMAT(1, 'yyyy')").await;
    assert!(err.contains("cannot call DATE_FORMAT(BIGINT, STRING); expected DATE_FORMAT(TIMESTAMP|DATE, STRING) or DATE_FORMAT(STRING, STRING)"), "{err}");
}

#[tokio::test]
async fn to_timestamp_and_to_date_parse_or_give_null() {
    assert_eq!(
        row("SELECT TO_TIMESTAMP('2024-03-05 07:08:09'), TO_TIMESTAMP('2024-03-05 07:08:09.123456'), TO_TIMESTAMP('2024-03-05'), TO_TIMESTAMP('05/03/2024 07:08', 'dd/MM/yyyy HH:mm')").await,
        ["2024-03-05 07:08:09", "2024-03-05 07:08:09.123", "2024-03-05 00:00:00", "2024-03-05 07:08:00"]
    );
    assert_eq!(
        row("SELECT TO_TIMESTAMP('yesterday'), TO_TIMESTAMP('2024-02-30 00:00:00'), TO_TIMESTAMP(NULL), TO_TIMESTAMP('2024-03-05 07:08:09', 'dd/MM/yyyy')").await,
        ["NULL", "NULL", "NULL", "2024-03-05 07:08:09"]
    );
    assert_eq!(
        types("SELECT TO_TIMESTAMP('2024-03-05 07:08:09')").await,
        [timestamp()]
    );
    assert_eq!(
        row("SELECT TO_DATE('2024-03-05'), TO_DATE('05.03.2024', 'dd.MM.yyyy'), TO_DATE('2024-13-01'), TO_DATE(NULL)").await,
        ["2024-03-05", "2024-03-05", "NULL", "NULL"]
    );
    assert_eq!(
        types("SELECT TO_DATE('2024-03-05')").await,
        [DataType::Date32]
    );
}

#[tokio::test]
async fn unix_time_in_seconds_and_back() {
    assert_eq!(
        row("SELECT FROM_UNIXTIME(44), FROM_UNIXTIME(86400, 'yyyy-MM-dd'), FROM_UNIXTIME(NULL)")
            .await,
        ["1970-01-01 00:00:44", "1970-01-02", "NULL"]
    );
    assert_eq!(
        row("SELECT UNIX_TIMESTAMP('1970-01-01 00:00:44'), UNIX_TIMESTAMP('1970-01-01 08:00:01.001 +0800', 'yyyy-MM-dd HH:mm:ss.SSS X'), UNIX_TIMESTAMP('1970-01-01 00:01:00.999')").await,
        ["44", "1", "60"]
    );
    assert_eq!(
        row("SELECT UNIX_TIMESTAMP('not a time'), UNIX_TIMESTAMP(NULL)").await,
        ["-9223372036854775808", "NULL"]
    );
    assert_eq!(
        row("SELECT FROM_UNIXTIME(UNIX_TIMESTAMP('2024-03-05 07:08:09'))").await,
        ["2024-03-05 07:08:09"]
    );
    // 2024-01-01 00:00:00 UTC
    let now: i64 = row("SELECT UNIX_TIMESTAMP()").await[0].parse().unwrap();
    assert!(now > 1_704_067_200, "{now}");
    assert_eq!(types("SELECT UNIX_TIMESTAMP()").await, [DataType::Int64]);
}
