use super::super::testing::{column, error, row};

#[tokio::test]
async fn json_value_extracts_scalars() {
    assert_eq!(
        row(r#"SELECT JSON_VALUE('{"a": true}', '$.a') AS a, JSON_VALUE('{"a": {"b": [1, 2.5, "x"]}}', '$.a.b[1]') AS b, JSON_VALUE('{"a": {"b": [1, 2.5, "x"]}}', 'lax $.a.b[2]') AS c, JSON_VALUE('{"contains blank": "right"}', 'strict $.[''contains blank'']') AS d"#).await,
        ["true", "2.5", "x", "right"]
    );
    assert_eq!(
        row(r#"SELECT JSON_VALUE('{"a": 1}', '$.b') AS a, JSON_VALUE('{"a": [1]}', '$.a') AS b, JSON_VALUE('{"a": null}', '$.a') AS c, JSON_VALUE('not json', '$.a') AS d, JSON_VALUE(NULL, '$.a') AS e"#).await,
        ["NULL", "NULL", "NULL", "NULL", "NULL"]
    );
    let sql = r#"SELECT JSON_VALUE(j, '$.id') FROM (VALUES ('{"id": 7}'), (NULL), ('{}')) AS t(j)"#;
    assert_eq!(column(sql).await, ["7", "NULL", "NULL"]);
}

#[tokio::test]
async fn returning_converts_or_gives_null() {
    assert_eq!(
        row(r#"SELECT JSON_VALUE('{"a": true}', '$.a' RETURNING BOOLEAN) AS a, JSON_VALUE('{"a.b": [0.998,0.996]}', '$.["a.b"][0]' RETURNING DOUBLE) AS b, JSON_VALUE('{"n": "42"}', '$.n' RETURNING INT) + 1 AS c, JSON_VALUE('{"n": "x"}', '$.n' RETURNING INT) AS d"#).await,
        ["true", "0.998", "43", "NULL"]
    );
    let err = error("SELECT JSON_VALUE('{}', 'a.b')").await;
    assert!(
        err.contains("JSON_VALUE: invalid JSON path 'a.b': it must start with '$'"),
        "{err}"
    );
}
