//! Flink syntax DataFusion's SQL planner does not plan as Flink means it,
//! rewritten into plain function calls before planning:
//!
//! - `IF(c, a, b)` → `CASE WHEN c THEN a ELSE b END`, which evaluates only
//!   the branch taken;
//! - `SUBSTRING(s FROM i FOR n)`, `SUBSTRING(s, i, n)`, `SUBSTR(s, i, n)`
//!   → `substring(s, i, n)`, Flink's substring (DataFusion plans the
//!   special syntax with its own);
//! - `EXTRACT(unit FROM t)` → `extract('unit', t)`;
//! - `FLOOR(t TO unit)`, `CEIL(t TO unit)` → `time_floor('unit', t)`,
//!   `time_ceil('unit', t)`;
//! - `TIMESTAMPDIFF(unit, t1, t2)` → `timestampdiff('unit', t1, t2)`;
//! - `JSON_VALUE(j, p RETURNING type)` → `TRY_CAST(json_value(j, p) AS type)`.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion::sql::sqlparser::ast::{
    self, CaseWhen, CastKind, CeilFloorKind, DateTimeField, Expr, FunctionArg, FunctionArgExpr,
    FunctionArgumentClause, FunctionArgumentList, FunctionArguments, Ident, ObjectName, Spanned,
    Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::tokenizer::Span;

use crate::error::SqlError;
use rtdw_functions::Operation;

/// Rewrites the Flink syntax of a query, its subqueries included, into
/// calls DataFusion plans; errors point at the call.
pub(crate) fn rewrite_query(query: &mut ast::Query) -> Result<(), SqlError> {
    match query.visit(&mut Rewriter) {
        ControlFlow::Break(error) => Err(error),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Rewriter;

impl VisitorMut for Rewriter {
    type Break = SqlError;

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<SqlError> {
        match rewrite(expr) {
            Ok(Some(rewritten)) => *expr = rewritten,
            Ok(None) => {}
            Err(error) => return ControlFlow::Break(error),
        }
        ControlFlow::Continue(())
    }
}

/// The rewritten expression, or `None` to keep `expr`.
fn rewrite(expr: &Expr) -> Result<Option<Expr>, SqlError> {
    let span = expr.span();
    let error = |message: String| SqlError::at(span.start.into(), message);
    Ok(Some(match expr {
        Expr::Function(function) => {
            let name = match function.name.0.as_slice() {
                [part] => part.as_ident().map(|i| i.value.to_ascii_uppercase()),
                _ => None,
            };
            match name.as_deref() {
                Some("IF") => {
                    let [condition, then, otherwise] = arguments(function).map_err(|_| {
                        error(
                            "IF takes three arguments: IF(condition, true_value, false_value)"
                                .into(),
                        )
                    })?;
                    Expr::Case {
                        case_token: AttachedToken::empty(),
                        end_token: AttachedToken::empty(),
                        operand: None,
                        conditions: vec![CaseWhen {
                            condition,
                            result: then,
                        }],
                        else_result: Some(Box::new(otherwise)),
                    }
                }
                Some("TIMESTAMPDIFF") => {
                    let [unit, start, end] = arguments(function).map_err(|_| {
                        error("TIMESTAMPDIFF takes three arguments: TIMESTAMPDIFF(unit, timepoint1, timepoint2)".into())
                    })?;
                    let Expr::Identifier(unit) = unit else {
                        return Err(error(format!(
                            "TIMESTAMPDIFF's first argument is a time unit such as DAY, got {unit}"
                        )));
                    };
                    let unit = unit_literal(Operation::TimestampDiff, &unit.value, span)?;
                    call("timestampdiff", span, vec![unit, start, end])
                }
                Some("JSON_VALUE") => return Ok(json_value(function)),
                _ => return Ok(None),
            }
        }
        Expr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            let start = substring_from
                .as_deref()
                .cloned()
                .unwrap_or_else(|| Expr::value(Value::Number("1".into(), false)));
            let mut args = vec![expr.as_ref().clone(), start];
            args.extend(substring_for.as_deref().cloned());
            call("substring", span, args)
        }
        Expr::Extract { field, expr, .. } => {
            let unit = unit_literal(Operation::Extract, &field.to_string(), span)?;
            call("extract", span, vec![unit, expr.as_ref().clone()])
        }
        Expr::Floor {
            expr,
            field: CeilFloorKind::DateTimeField(field),
        } if *field != DateTimeField::NoDateTime => {
            let unit = unit_literal(Operation::Floor, &field.to_string(), span)?;
            call("time_floor", span, vec![unit, expr.as_ref().clone()])
        }
        Expr::Ceil {
            expr,
            field: CeilFloorKind::DateTimeField(field),
        } if *field != DateTimeField::NoDateTime => {
            let unit = unit_literal(Operation::Ceil, &field.to_string(), span)?;
            call("time_ceil", span, vec![unit, expr.as_ref().clone()])
        }
        _ => return Ok(None),
    }))
}

/// `JSON_VALUE(j, p RETURNING type)` as `TRY_CAST(json_value(j, p) AS
/// type)`; `None` when there is no RETURNING.
fn json_value(function: &ast::Function) -> Option<Expr> {
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    let mut returning = None;
    let mut clauses = Vec::new();
    for clause in &list.clauses {
        match clause {
            FunctionArgumentClause::JsonReturningClause(r) => returning = Some(r.data_type.clone()),
            other => clauses.push(other.clone()),
        }
    }
    let data_type = returning?;
    let mut inner = function.clone();
    inner.args = FunctionArguments::List(FunctionArgumentList {
        clauses,
        ..list.clone()
    });
    Some(Expr::Cast {
        kind: CastKind::TryCast,
        expr: Box::new(Expr::Function(inner)),
        data_type,
        array: false,
        format: None,
    })
}

/// The `N` positional arguments of a call, or `Err` for any other shape.
fn arguments<const N: usize>(function: &ast::Function) -> Result<[Expr; N], ()> {
    let FunctionArguments::List(list) = &function.args else {
        return Err(());
    };
    if list.args.len() != N || !list.clauses.is_empty() || list.duplicate_treatment.is_some() {
        return Err(());
    }
    let exprs: Vec<Expr> = list
        .args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e.clone()),
            _ => Err(()),
        })
        .collect::<Result<_, ()>>()?;
    exprs.try_into().map_err(|_| ())
}

/// A unit as the string literal the calendar functions take, checked.
fn unit_literal(operation: Operation, name: &str, span: Span) -> Result<Expr, SqlError> {
    let unit = operation
        .unit(name)
        .map_err(|message| SqlError::at(span.start.into(), message))?;
    Ok(Expr::value(Value::SingleQuotedString(unit.name().into())))
}

/// A call of the function `name` with positional arguments.
fn call(name: &str, span: Span, args: Vec<Expr>) -> Expr {
    Expr::Function(ast::Function {
        name: ObjectName::from(vec![Ident::with_span(span, name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{column, error, row};

    #[tokio::test]
    async fn if_evaluates_only_the_branch_taken() {
        assert_eq!(
            row("SELECT IF(5 > 3, 5, 3) AS a, IF(NULL, 'a', 'b') AS b, if(1 = 2, 'a', NULL) AS c")
                .await,
            ["5", "b", "NULL"]
        );
        let sql = "SELECT IF(x = 0, 0, 10 / x) FROM (VALUES (0), (5)) AS t(x)";
        assert_eq!(column(sql).await, ["0", "2"]);
        let err = error("SELECT IF(true, 1)").await;
        assert!(err.contains("IF takes three arguments"), "{err}");
    }

    #[tokio::test]
    async fn coalesce_is_datafusions() {
        assert_eq!(
            row("SELECT COALESCE(NULL, 'default') AS a, COALESCE(NULL, NULL) AS b").await,
            ["default", "NULL"]
        );
        let sql = "SELECT COALESCE(f0, f1, 'default') FROM (VALUES ('a', 'b'), (NULL, 'b'), (NULL, NULL)) AS t(f0, f1)";
        assert_eq!(column(sql).await, ["a", "b", "default"]);
    }

    #[tokio::test]
    async fn subqueries_are_rewritten_and_names_are_case_insensitive() {
        let sql = "SELECT x FROM (SELECT IF(true, Substring('abc', 2), SUBSTRING('abc' FROM 1)) AS x) AS t WHERE x IN (SELECT upper(LOWER('bc')) UNION SELECT 'bc')";
        assert_eq!(column(sql).await, ["bc"]);
    }
}
