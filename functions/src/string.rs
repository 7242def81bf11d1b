//! String functions whose Flink semantics differ from DataFusion's
//! functions of the same name, or that DataFusion lacks.
//!
//! Positions and lengths count characters (Unicode scalar values).

use std::sync::Arc;

use arrow::array::StringArray;
use arrow::datatypes::DataType;
use datafusion_common::{Result, plan_err};
use datafusion_expr::{ColumnarValue, ScalarUDF};
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
