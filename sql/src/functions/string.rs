//! String functions whose Flink semantics differ from DataFusion's
//! functions of the same name, or that DataFusion lacks.
//!
//! Positions and lengths count characters (Unicode scalar values).

use std::sync::Arc;

use arrow::array::StringArray;
use arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};
use regex::{NoExpand, Regex};

use super::args::{Call, Compiled, Function, Input, Kind, column, udf};

/// The string functions defined here.
pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        udf(Concat),
        udf(Substring),
        udf(RegexpReplace),
        udf(RegexpExtract),
        udf(SplitIndex),
    ]
}

/// `CONCAT(s1, s2, ...)`: NULL if any argument is NULL (DataFusion's
/// `concat` skips NULLs).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Concat;

impl Function for Concat {
    fn name(&self) -> &'static str {
        "concat"
    }

    fn display(&self) -> &'static str {
        "CONCAT"
    }

    fn signatures(&self) -> &'static [&'static [Kind]] {
        &[&[Kind::String]]
    }

    fn variadic(&self) -> bool {
        true
    }

    fn return_type(&self, _call: &Call<'_>) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke(&self, input: &Input<'_>) -> Result<ColumnarValue> {
        let parts = (0..input.arrays.len())
            .map(|i| input.strings(i))
            .collect::<Result<Vec<_>>>()?;
        let out: StringArray =
            input.map_rows(|row| Some(parts.iter().map(|p| p.value(row)).collect::<String>()));
        column(out)
    }
}

/// `SUBSTRING(s FROM start [FOR length])`, `SUBSTRING(s, start [, length])`
/// and `SUBSTR`: 1-based; a start of 0 is 1, a negative start counts from
/// the end; a negative length is NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Substring;

impl Function for Substring {
    fn name(&self) -> &'static str {
        "substring"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["substr"]
    }

    fn display(&self) -> &'static str {
        "SUBSTRING"
    }

    fn signatures(&self) -> &'static [&'static [Kind]] {
        &[
            &[Kind::String, Kind::Integer],
            &[Kind::String, Kind::Integer, Kind::Integer],
        ]
    }

    fn return_type(&self, _call: &Call<'_>) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke(&self, input: &Input<'_>) -> Result<ColumnarValue> {
        let strings = input.strings(0)?;
        let starts = input.integers(1)?;
        let lengths = input
            .signature
            .get(2)
            .map(|_| input.integers(2))
            .transpose()?;
        let out: StringArray = input.map_rows(|row| {
            substring(
                strings.value(row),
                starts.value(row),
                lengths.map_or(i64::MAX, |l| l.value(row)),
            )
        });
        column(out)
    }
}

fn substring(s: &str, start: i64, length: i64) -> Option<String> {
    if length < 0 {
        return None;
    }
    let count = i64::try_from(s.chars().count()).ok()?;
    let from = match start {
        0 => 0,
        p if p > 0 => p - 1,
        p => count + p,
    };
    if !(0..count).contains(&from) {
        return Some(String::new());
    }
    let take = length.min(count - from);
    Some(
        s.chars()
            .skip(usize::try_from(from).ok()?)
            .take(usize::try_from(take).ok()?)
            .collect(),
    )
}

/// A regular expression given as a literal must compile when the query is
/// planned (Flink's regular expressions are Java's; look-around and
/// back-references are not supported here); one given by a column that
/// does not compile makes the row NULL, as in Flink.
fn check_regex(call: &Call<'_>, i: usize, function: &str) -> Result<()> {
    match call.literal_str(i).map(Regex::new) {
        Some(Err(e)) => plan_err!("{function}: invalid regular expression: {e}"),
        _ => Ok(()),
    }
}

/// `REGEXP_REPLACE(s, regex, replacement)`: replaces every match; the
/// replacement is literal text (Flink quotes it).
#[derive(Debug, PartialEq, Eq, Hash)]
struct RegexpReplace;

impl Function for RegexpReplace {
    fn name(&self) -> &'static str {
        "regexp_replace"
    }

    fn display(&self) -> &'static str {
        "REGEXP_REPLACE"
    }

    fn signatures(&self) -> &'static [&'static [Kind]] {
        &[&[Kind::String, Kind::String, Kind::String]]
    }

    fn return_type(&self, call: &Call<'_>) -> Result<DataType> {
        check_regex(call, 1, self.display())?;
        Ok(DataType::Utf8)
    }

    fn invoke(&self, input: &Input<'_>) -> Result<ColumnarValue> {
        let (strings, patterns, replacements) =
            (input.strings(0)?, input.strings(1)?, input.strings(2)?);
        let mut regexes = Compiled::default();
        let out: StringArray = input.map_rows(|row| {
            let regex = regexes.get(patterns.value(row), |p| Regex::new(p).ok())?;
            let replacement = NoExpand(replacements.value(row));
            Some(
                regex
                    .replace_all(strings.value(row), replacement)
                    .into_owned(),
            )
        });
        column(out)
    }
}

/// `REGEXP_EXTRACT(s, regex [, group])`: the group (default 0, the whole
/// match) of the first match; NULL when nothing matches or the group does
/// not exist or did not take part.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RegexpExtract;

impl Function for RegexpExtract {
    fn name(&self) -> &'static str {
        "regexp_extract"
    }

    fn display(&self) -> &'static str {
        "REGEXP_EXTRACT"
    }

    fn signatures(&self) -> &'static [&'static [Kind]] {
        &[
            &[Kind::String, Kind::String],
            &[Kind::String, Kind::String, Kind::Integer],
        ]
    }

    fn return_type(&self, call: &Call<'_>) -> Result<DataType> {
        check_regex(call, 1, self.display())?;
        Ok(DataType::Utf8)
    }

    fn invoke(&self, input: &Input<'_>) -> Result<ColumnarValue> {
        let (strings, patterns) = (input.strings(0)?, input.strings(1)?);
        let groups = input
            .signature
            .get(2)
            .map(|_| input.integers(2))
            .transpose()?;
        let mut regexes = Compiled::default();
        let out: StringArray = input.map_rows(|row| {
            let regex = regexes.get(patterns.value(row), |p| Regex::new(p).ok())?;
            let group = usize::try_from(groups.map_or(0, |g| g.value(row))).ok()?;
            let captures = regex.captures(strings.value(row))?;
            Some(captures.get(group)?.as_str().to_string())
        });
        column(out)
    }
}

/// `SPLIT_INDEX(s, separator, index)`: the `index`-th (0-based) piece of
/// `s` split at every `separator`; NULL when out of range. The separator
/// can also be a character code from 1 to 255; an empty one splits at
/// whitespace.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SplitIndex;

impl Function for SplitIndex {
    fn name(&self) -> &'static str {
        "split_index"
    }

    fn display(&self) -> &'static str {
        "SPLIT_INDEX"
    }

    fn signatures(&self) -> &'static [&'static [Kind]] {
        &[
            &[Kind::String, Kind::String, Kind::Integer],
            &[Kind::String, Kind::Integer, Kind::Integer],
        ]
    }

    fn return_type(&self, _call: &Call<'_>) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke(&self, input: &Input<'_>) -> Result<ColumnarValue> {
        let (strings, indexes) = (input.strings(0)?, input.integers(2)?);
        let out: StringArray = if input.signature[1] == Kind::Integer {
            let codes = input.integers(1)?;
            input.map_rows(|row| {
                let code = u8::try_from(codes.value(row)).ok().filter(|c| *c > 0)?;
                let separator = char::from(code).to_string();
                split_index(strings.value(row), &separator, indexes.value(row))
            })
        } else {
            let separators = input.strings(1)?;
            input.map_rows(|row| {
                split_index(
                    strings.value(row),
                    separators.value(row),
                    indexes.value(row),
                )
            })
        };
        column(out)
    }
}

fn split_index(s: &str, separator: &str, index: i64) -> Option<String> {
    let index = usize::try_from(index).ok()?;
    if s.is_empty() {
        return None;
    }
    let piece = if separator.is_empty() {
        s.split(char::is_whitespace).nth(index)
    } else {
        s.split(separator).nth(index)
    };
    piece.map(str::to_string)
}

#[cfg(test)]
mod tests {
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
            row("SELECT CONCAT_WS('~', 'AA', NULL, 'BB', '', 'CC'), CONCAT_WS(NULL, 'a', 'b')")
                .await,
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
}
