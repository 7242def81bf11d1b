use super::super::testing::{column, error, row};

#[tokio::test]
async fn concat_is_null_if_any_argument_is() {
    assert_eq!(
        row("SELECT CONCAT('AA', 'BB', 'CC'), CONCAT('a', NULL, 'b')").await,
        ["AABBCC", "NULL"]
    );
    let sql = "SELECT CONCAT(s, '!') FROM (VALUES ('a'), (NULL), ('')) AS t(s)";
    assert_eq!(column(sql).await, ["a!", "NULL", "!"]);
    let err = error("SELECT CONCAT()").await;
    assert!(
        err.contains("cannot call CONCAT(); expected CONCAT(STRING, ...)"),
        "{err}"
    );
    let err = error("SELECT CONCAT('a', 1)").await;
    assert!(err.contains("cannot call CONCAT(STRING, BIGINT)"), "{err}");
}

#[tokio::test]
async fn datafusion_string_functions_that_match_flink() {
    assert_eq!(
        row("SELECT CONCAT_WS('~', 'AA', NULL, 'BB', '', 'CC'), CONCAT_WS(NULL, 'a', 'b')").await,
        ["AA~BB~~CC", "NULL"]
    );
    assert_eq!(
        row("SELECT UPPER('Flink'), lower('Flink'), Upper(NULL)").await,
        ["FLINK", "flink", "NULL"]
    );
    assert_eq!(
        row("SELECT TRIM('  a  '), TRIM(BOTH 'x' FROM 'xxaxx'), TRIM(LEADING 'x' FROM 'xxaxx'), TRIM(TRAILING 'x' FROM 'xxaxx')").await,
        ["a", "a", "axx", "xxa"]
    );
    assert_eq!(
        row("SELECT REPLACE('hello world', 'world', 'flink'), REPLACE('ababab', 'abab', 'z'), REPLACE(NULL, 'a', 'b')").await,
        ["hello flink", "zab", "NULL"]
    );
    assert_eq!(
        row("SELECT CHAR_LENGTH('héllo'), CHARACTER_LENGTH(''), CHAR_LENGTH(NULL)").await,
        ["5", "0", "NULL"]
    );
    // RFC 1321's test suite: MD5("a").
    assert_eq!(
        row("SELECT MD5('a'), MD5(NULL)").await,
        ["0cc175b9c0f1b6a831c399e269772661", "NULL"]
    );
}

#[tokio::test]
async fn substring_is_one_based_and_counts_negative_starts_from_the_end() {
    assert_eq!(
        row("SELECT SUBSTRING('Hello' FROM 2 FOR 3) AS a, SUBSTRING('Hello' FROM 2) AS b, SUBSTRING('Hello', 2, 3) AS c, SUBSTR('Hello', 2) AS d").await,
        ["ell", "ello", "ell", "ello"]
    );
    assert_eq!(
        row("SELECT SUBSTRING('Hello', 0, 2), SUBSTRING('Hello', -3), SUBSTRING('Hello', -3, 2), SUBSTRING('Hello', -10, 3)").await,
        ["He", "llo", "ll", ""]
    );
    assert_eq!(
        row("SELECT SUBSTRING('Hello', 10), SUBSTRING('Hello', 2, -1), SUBSTRING('héllo', 2, 2), SUBSTRING(NULL, 1, 2)").await,
        ["", "NULL", "él", "NULL"]
    );
    let sql = "SELECT SUBSTRING(s FROM i FOR 2) FROM (VALUES ('abcd', 2), (NULL, 1), ('abcd', NULL)) AS t(s, i)";
    assert_eq!(column(sql).await, ["bc", "NULL", "NULL"]);
}

#[tokio::test]
async fn regexp_replace_replaces_every_match_with_literal_text() {
    assert_eq!(
        row("SELECT REGEXP_REPLACE('foobar', 'oo|ar', ''), REGEXP_REPLACE('a1b22', '[0-9]+', '$0'), REGEXP_REPLACE(NULL, 'a', 'b')").await,
        ["fb", "a$0b$0", "NULL"]
    );
    let err = error("SELECT REGEXP_REPLACE('a', '(', 'b')").await;
    assert!(
        err.contains("REGEXP_REPLACE: invalid regular expression"),
        "{err}"
    );
    let sql = "SELECT REGEXP_REPLACE('abc', p, '-') FROM (VALUES ('b'), ('(')) AS t(p)";
    assert_eq!(column(sql).await, ["a-c", "NULL"]);
}

#[tokio::test]
async fn regexp_extract_takes_group_zero_by_default() {
    assert_eq!(
        row("SELECT REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 2), REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 1), REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)')").await,
        ["bar", "the", "foothebar"]
    );
    assert_eq!(
        row("SELECT REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 3), REGEXP_EXTRACT('foo', 'x(y)?'), REGEXP_EXTRACT('foo', 'f(x)?', 1), REGEXP_EXTRACT(NULL, 'a')").await,
        ["NULL", "NULL", "NULL", "NULL"]
    );
}

#[tokio::test]
async fn split_index_is_zero_based_and_null_out_of_range() {
    assert_eq!(
        row("SELECT SPLIT_INDEX('a,b,c', ',', 1), SPLIT_INDEX('Jack,John,Mary', ',', 2), SPLIT_INDEX('a,,c', ',', 1), SPLIT_INDEX('a::b', '::', 1)").await,
        ["b", "Mary", "", "b"]
    );
    assert_eq!(
        row("SELECT SPLIT_INDEX('a,b,c', ',', 3), SPLIT_INDEX('a,b,c', ',', -1), SPLIT_INDEX('', ',', 0), SPLIT_INDEX('a,b', NULL, 0)").await,
        ["NULL", "NULL", "NULL", "NULL"]
    );
    // 44 is the code of ','.
    assert_eq!(
        row("SELECT SPLIT_INDEX('a,b', 44, 1), SPLIT_INDEX('a,b', 0, 1)").await,
        ["b", "NULL"]
    );
    let sql = "SELECT SPLIT_INDEX(s, ',', 1) FROM (VALUES ('a,b'), (NULL), ('x')) AS t(s)";
    assert_eq!(column(sql).await, ["b", "NULL", "NULL"]);
    let err = error("SELECT SPLIT_INDEX(1, ',', 0)").await;
    assert!(
        err.contains("cannot call SPLIT_INDEX(BIGINT, STRING, BIGINT); expected SPLIT_INDEX(STRING, STRING, INT) or SPLIT_INDEX(STRING, INT, INT)"),
        "{err}"
    );
}
