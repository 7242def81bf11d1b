//! `JSON_VALUE(json, path [RETURNING type])`. The SQL rewrite turns
//! `RETURNING type` into a `TRY_CAST` of the text, so a value that does not
//! convert is NULL, Flink's default `NULL ON ERROR`.

use std::sync::Arc;

use arrow::array::StringArray;
use arrow::datatypes::DataType;
use datafusion_common::{Result, plan_err};
use datafusion_expr::{ColumnarValue, ScalarUDF};
use serde_json::Value;

use super::args::{Call, Compiled, Function, Input, Kind, column, udf};

/// The JSON functions.
pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![udf(JsonValue)]
}

/// `JSON_VALUE(json, path)`: the scalar at `path` as a STRING; NULL when
/// the JSON is invalid, the path finds nothing, or it finds JSON null, an
/// object or an array.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonValue;

impl Function for JsonValue {
    fn name(&self) -> &'static str {
        "json_value"
    }

    fn display(&self) -> &'static str {
        "JSON_VALUE"
    }

    fn signatures(&self) -> &'static [&'static [Kind]] {
        &[&[Kind::String, Kind::String]]
    }

    fn return_type(&self, call: &Call<'_>) -> Result<DataType> {
        if let Some(Err(e)) = call.literal_str(1).map(parse_path) {
            return plan_err!("JSON_VALUE: {e}");
        }
        Ok(DataType::Utf8)
    }

    fn invoke(&self, input: &Input<'_>) -> Result<ColumnarValue> {
        let (documents, paths) = (input.strings(0)?, input.strings(1)?);
        let mut compiled = Compiled::default();
        let out: StringArray = input.map_rows(|row| {
            let path = compiled.get(paths.value(row), |p| parse_path(p).ok())?;
            json_value(documents.value(row), path)
        });
        column(out)
    }
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// `.name`, `['name']` or `["name"]`.
    Member(String),
    /// `[n]`.
    Element(usize),
}

/// Parses a basic SQL/JSON path: an optional `lax` or `strict` mode (both
/// give NULL when nothing is found), `$`, then members and array elements,
/// e.g. `$.a.b[0]` or `$.['a b']`.
fn parse_path(path: &str) -> std::result::Result<Vec<Step>, String> {
    let invalid = |why: &str| format!("invalid JSON path '{path}': {why}");
    let text = path.trim();
    let text = ["lax ", "strict "]
        .iter()
        .find_map(|mode| {
            text.get(..mode.len())
                .filter(|prefix| prefix.eq_ignore_ascii_case(mode))
                .map(|_| text[mode.len()..].trim_start())
        })
        .unwrap_or(text);
    let Some(mut rest) = text.strip_prefix('$') else {
        return Err(invalid("it must start with '$'"));
    };
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            if after.starts_with('[') {
                rest = after;
                continue;
            }
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = after[..end].trim();
            if name.is_empty() || name == "*" {
                return Err(invalid("expected a member name after '.'"));
            }
            steps.push(Step::Member(name.to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let (step, after) = bracket(after.trim_start()).ok_or_else(|| {
                invalid("expected a quoted member name or an array index in brackets")
            })?;
            steps.push(step);
            rest = after;
        } else {
            return Err(invalid("expected '.' or '['"));
        }
    }
    Ok(steps)
}

/// The inside of `[...]` and the text after `]`.
fn bracket(text: &str) -> Option<(Step, &str)> {
    let (step, after) = match text.chars().next()? {
        quote @ ('\'' | '"') => {
            let body = &text[1..];
            let end = body.find(quote)?;
            (Step::Member(body[..end].to_string()), &body[end + 1..])
        }
        _ => {
            let end = text.find(']')?;
            let index = text[..end].trim().parse().ok()?;
            (Step::Element(index), &text[end..])
        }
    };
    Some((step, after.trim_start().strip_prefix(']')?))
}

fn json_value(document: &str, path: &[Step]) -> Option<String> {
    let root: Value = serde_json::from_str(document).ok()?;
    let found = path.iter().try_fold(&root, |value, step| match step {
        Step::Member(name) => value.get(name.as_str()),
        Step::Element(index) => value.get(*index),
    })?;
    match found {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str) -> Step {
        Step::Member(name.into())
    }

    #[test]
    fn paths() {
        assert_eq!(parse_path("$"), Ok(vec![]));
        assert_eq!(
            parse_path("$.a.b[0]"),
            Ok(vec![member("a"), member("b"), Step::Element(0)])
        );
        assert_eq!(
            parse_path("strict $.['a b'][1]"),
            Ok(vec![member("a b"), Step::Element(1)])
        );
        assert_eq!(parse_path("lax $[\"a.b\"]"), Ok(vec![member("a.b")]));
        for bad in ["a.b", "$.", "$.a[x]", "$.a[-1]", "$['a'", "$.*", "$a"] {
            let err = parse_path(bad).unwrap_err();
            assert!(
                err.starts_with(&format!("invalid JSON path '{bad}'")),
                "{err}"
            );
        }
    }
}
