use arrow::datatypes::DataType;

use super::super::testing::{error, row, types};

#[tokio::test]
async fn round_keeps_the_type_and_rounds_half_up() {
    assert_eq!(
        row("SELECT ROUND(CAST(2.675 AS DOUBLE), 2) AS a, ROUND(CAST(-2.5 AS DOUBLE)) AS b, ROUND(CAST(1.2345 AS DECIMAL(10, 4)), 2) AS c, ROUND(CAST(-1.235 AS DECIMAL(10, 3)), 2) AS d, ROUND(CAST(15 AS INT), -1) AS e, ROUND(1250, -2) AS f, ROUND(CAST(NULL AS DOUBLE), 1) AS g").await,
        ["2.68", "-3.0", "1.23", "-1.24", "20", "1300", "NULL"]
    );
    assert_eq!(
        types("SELECT ROUND(CAST(1.2345 AS DECIMAL(10, 4)), 2) AS a, ROUND(CAST(15 AS INT), -1) AS b, ROUND(CAST(1 AS FLOAT), 1) AS c").await,
        [DataType::Decimal128(9, 2), DataType::Int32, DataType::Float32]
    );
    let err =
        error("SELECT ROUND(CAST(d AS DECIMAL(5, 2)), n) FROM (VALUES (1.5, 1)) AS t(d, n)").await;
    assert!(
        err.contains("ROUND of a DECIMAL needs the number of decimal places as a literal"),
        "{err}"
    );
    let err = error("SELECT ROUND('1.5')").await;
    assert!(
        err.contains("cannot call ROUND(STRING); expected ROUND(NUMERIC) or ROUND(NUMERIC, INT)"),
        "{err}"
    );
}

#[tokio::test]
async fn abs_is_datafusions() {
    assert_eq!(
        row("SELECT ABS(-1.5) AS a, ABS(CAST(-1.50 AS DECIMAL(5, 2))) AS b, ABS(CAST(-3 AS INT)) AS c, ABS(CAST(NULL AS INT)) AS d").await,
        ["1.5", "1.50", "3", "NULL"]
    );
    assert_eq!(
        types("SELECT ABS(CAST(-1.50 AS DECIMAL(5, 2)))").await,
        [DataType::Decimal128(5, 2)]
    );
}
