use arrow::datatypes::DataType;

use super::super::testing::{column, error, row, types};

#[tokio::test]
async fn extract_gives_flink_fields_as_bigint() {
    // Flink's documented examples: 1994-09-27 is a Tuesday.
    let day = "DATE '1994-09-27'";
    let sql = format!(
        "SELECT EXTRACT(YEAR FROM {day}) AS y, EXTRACT(QUARTER FROM {day}) AS q, EXTRACT(MONTH FROM {day}) AS m, EXTRACT(WEEK FROM {day}) AS w, EXTRACT(DOY FROM {day}) AS doy, EXTRACT(DAY FROM {day}) AS d, EXTRACT(DOW FROM {day}) AS dow, EXTRACT(ISODOW FROM {day}) AS isodow"
    );
    assert_eq!(
        row(&sql).await,
        ["1994", "3", "9", "39", "270", "27", "3", "2"]
    );
    let t = "TIMESTAMP '1994-09-27 13:14:15.123456'";
    let sql = format!(
        "SELECT EXTRACT(HOUR FROM {t}) AS h, EXTRACT(MINUTE FROM {t}) AS mi, EXTRACT(SECOND FROM {t}) AS s, EXTRACT(MILLISECOND FROM {t}) AS ms, EXTRACT(MICROSECOND FROM {t}) AS us, EXTRACT(DECADE FROM {t}) AS dec, EXTRACT(CENTURY FROM {t}) AS c, EXTRACT(MILLENNIUM FROM {t}) AS mil"
    );
    assert_eq!(
        row(&sql).await,
        ["13", "14", "15", "123", "123456", "199", "20", "2"]
    );
    assert_eq!(
        row("SELECT EXTRACT(EPOCH FROM TIMESTAMP '1970-01-02 00:00:01'), EXTRACT(DAY FROM DATE '2006-06-05'), EXTRACT(ISOYEAR FROM DATE '2021-01-01')").await,
        ["86401", "5", "2020"]
    );
    assert_eq!(
        types("SELECT EXTRACT(YEAR FROM DATE '2006-06-05')").await,
        [DataType::Int64]
    );
    let sql = "SELECT EXTRACT(MONTH FROM t) FROM (VALUES (TIMESTAMP '2024-03-05 00:00:00'), (NULL)) AS v(t)";
    assert_eq!(column(sql).await, ["3", "NULL"]);
    let err = error("SELECT EXTRACT(HOUR FROM DATE '2006-06-05')").await;
    assert!(
        err.contains("EXTRACT(HOUR FROM <DATE>): a DATE has no time of day"),
        "{err}"
    );
    let err = error("SELECT EXTRACT(TIMEZONE FROM TIMESTAMP '2006-06-05 00:00:00')").await;
    assert!(
        err.contains("EXTRACT does not support the time unit TIMEZONE; supported: MILLENNIUM"),
        "{err}"
    );
}

#[tokio::test]
async fn floor_and_ceil_round_to_the_unit() {
    let t = "TIMESTAMP '2024-03-05 07:08:09.5'";
    let sql = format!(
        "SELECT FLOOR({t} TO SECOND) AS s, FLOOR({t} TO MINUTE) AS mi, FLOOR({t} TO HOUR) AS h, FLOOR({t} TO DAY) AS d, FLOOR({t} TO WEEK) AS w, FLOOR({t} TO MONTH) AS m, FLOOR({t} TO QUARTER) AS q, FLOOR({t} TO YEAR) AS y"
    );
    assert_eq!(
        row(&sql).await,
        [
            "2024-03-05 07:08:09",
            "2024-03-05 07:08:00",
            "2024-03-05 07:00:00",
            "2024-03-05 00:00:00",
            "2024-03-03 00:00:00",
            "2024-03-01 00:00:00",
            "2024-01-01 00:00:00",
            "2024-01-01 00:00:00",
        ]
    );
    let sql = format!(
        "SELECT CEIL({t} TO SECOND) AS s, CEIL({t} TO MINUTE) AS mi, CEIL({t} TO HOUR) AS h, CEIL({t} TO DAY) AS d, CEIL({t} TO WEEK) AS w, CEIL({t} TO MONTH) AS m, CEIL({t} TO QUARTER) AS q, CEIL({t} TO YEAR) AS y"
    );
    assert_eq!(
        row(&sql).await,
        [
            "2024-03-05 07:08:10",
            "2024-03-05 07:09:00",
            "2024-03-05 08:00:00",
            "2024-03-06 00:00:00",
            "2024-03-10 00:00:00",
            "2024-04-01 00:00:00",
            "2024-04-01 00:00:00",
            "2025-01-01 00:00:00",
        ]
    );
    assert_eq!(
        row("SELECT CEIL(TIMESTAMP '2024-03-01 00:00:00' TO MONTH) AS a, FLOOR(DATE '2024-03-05' TO MONTH) AS b, CEIL(DATE '2024-03-05' TO YEAR) AS c").await,
        ["2024-03-01 00:00:00", "2024-03-01", "2025-01-01"]
    );
    assert_eq!(
        types("SELECT FLOOR(DATE '2024-03-05' TO MONTH)").await,
        [DataType::Date32]
    );
    let sql =
        "SELECT FLOOR(t TO HOUR) FROM (VALUES (TIMESTAMP '2024-03-05 07:08:09'), (NULL)) AS v(t)";
    assert_eq!(column(sql).await, ["2024-03-05 07:00:00", "NULL"]);
    let err = error("SELECT FLOOR(TIMESTAMP '2024-03-05 07:08:09' TO DOW)").await;
    assert!(
        err.contains("FLOOR does not support the time unit DOW"),
        "{err}"
    );
}

#[tokio::test]
async fn timestampdiff_counts_whole_units() {
    assert_eq!(
        row("SELECT TIMESTAMPDIFF(DAY, TIMESTAMP '2003-01-02 10:00:00', TIMESTAMP '2003-01-03 10:00:00') AS a, TIMESTAMPDIFF(DAY, TIMESTAMP '2003-01-02 10:00:00', TIMESTAMP '2003-01-03 09:59:59') AS b, TIMESTAMPDIFF(HOUR, TIMESTAMP '2003-01-03 10:00:00', TIMESTAMP '2003-01-02 09:00:00') AS c, TIMESTAMPDIFF(MINUTE, TIMESTAMP '2003-01-02 10:00:00', TIMESTAMP '2003-01-02 10:01:59') AS d, TIMESTAMPDIFF(SECOND, TIMESTAMP '2003-01-02 10:00:00', TIMESTAMP '2003-01-02 10:01:59') AS e").await,
        ["1", "0", "-25", "1", "119"]
    );
    assert_eq!(
        row("SELECT TIMESTAMPDIFF(MONTH, TIMESTAMP '2024-01-31 10:00:00', TIMESTAMP '2024-02-29 10:00:00') AS a, TIMESTAMPDIFF(MONTH, TIMESTAMP '2024-01-31 10:00:00', TIMESTAMP '2024-02-29 09:00:00') AS b, TIMESTAMPDIFF(YEAR, DATE '2020-02-29', DATE '2021-02-28') AS c, TIMESTAMPDIFF(QUARTER, DATE '2024-01-15', DATE '2023-07-15') AS d, TIMESTAMPDIFF(WEEK, DATE '2024-01-01', DATE '2024-01-15') AS e").await,
        ["1", "0", "1", "-2", "2"]
    );
    assert_eq!(
        types("SELECT TIMESTAMPDIFF(DAY, DATE '2024-01-01', TIMESTAMP '2024-01-02 00:00:00')")
            .await,
        [DataType::Int32]
    );
    let err = error("SELECT TIMESTAMPDIFF(FORTNIGHT, DATE '2024-01-01', DATE '2024-01-02')").await;
    assert!(
        err.contains("TIMESTAMPDIFF does not support the time unit FORTNIGHT; supported: YEAR, QUARTER, MONTH, WEEK, DAY, HOUR, MINUTE, SECOND"),
        "{err}"
    );
    let err = error("SELECT TIMESTAMPDIFF('DAY', DATE '2024-01-01', DATE '2024-01-02')").await;
    assert!(
        err.contains("TIMESTAMPDIFF's first argument is a time unit such as DAY"),
        "{err}"
    );
    let err = error("SELECT TIMESTAMPDIFF(DAY, 'x', DATE '2024-01-02')").await;
    assert!(
        err.contains("cannot call TIMESTAMPDIFF(STRING, STRING, DATE)"),
        "{err}"
    );
}
