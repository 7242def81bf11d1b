//! Event-time windows: Flink's window table-valued functions
//! (`TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '5' MINUTES))`, HOP,
//! CUMULATE) and the window aggregation grouping by their `window_start`
//! and `window_end`.
//!
//! DataFusion has no window TVFs, so before planning each TVF call in a
//! query is rewritten into a subquery over its input that adds
//! `window_start`, `window_end` and `window_time` as calls of an opaque
//! marker function (`__rtdw_window(time, window id, part)`). The marker
//! keeps the optimizer from folding the columns away; the planner
//! recognizes a GROUP BY on them and plans a WindowAggregate, which assigns
//! the rows to windows itself. A marker anywhere else is refused: a window
//! TVF is only meaningful under a window aggregation here.

use std::ops::ControlFlow;

use datafusion::common::tree_node::TreeNode;
use datafusion::sql::sqlparser::ast::{
    DateTimeField, FunctionArg, FunctionArgExpr, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use rtdw_functions::WINDOW_MARKER;
use rtdw_operators::window::WindowKind;

use super::*;

/// The parts of a window a marker stands for, by its third argument.
const WINDOW_COLUMNS: [&str; 3] = ["window_start", "window_end", "window_time"];

/// A marker call: which window TVF and which of its columns.
fn marker_of(expr: &Expr) -> Option<(usize, usize)> {
    let Expr::ScalarFunction(call) = expr else {
        return None;
    };
    if call.func.name() != WINDOW_MARKER {
        return None;
    }
    let literal = |e: &Expr| match e {
        Expr::Literal(datafusion::scalar::ScalarValue::Int64(Some(v)), _) => {
            usize::try_from(*v).ok()
        }
        _ => None,
    };
    Some((literal(call.args.get(1)?)?, literal(call.args.get(2)?)?))
}

/// True when `expr` contains a marker call.
pub(super) fn contains_marker(expr: &Expr) -> bool {
    expr.exists(|e| Ok(marker_of(e).is_some())).unwrap_or(false)
}

/// Where a group-by column comes from: a window TVF's column, found by
/// following the column down through projections, aliases and filters.
fn window_column_of(plan: &LogicalPlan, column: &str) -> Option<(usize, usize)> {
    match plan {
        LogicalPlan::SubqueryAlias(alias) => window_column_of(&alias.input, column),
        LogicalPlan::Filter(filter) => window_column_of(&filter.input, column),
        LogicalPlan::Projection(projection) => {
            let expr = projected(projection, column)?;
            if let Some(found) = marker_of(expr) {
                return Some(found);
            }
            match expr {
                Expr::Column(c) => window_column_of(&projection.input, &c.name),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Milliseconds of an `INTERVAL 'n' unit` literal (SECOND, MINUTE, HOUR,
/// DAY, singular or plural; fractions of a second in milliseconds).
pub(super) fn interval_millis(expr: &ast::Expr) -> Result<i64, String> {
    let expected = || {
        format!(
            "expected an interval such as INTERVAL '5' SECOND or INTERVAL '1' HOUR, found {expr}"
        )
    };
    let ast::Expr::Interval(interval) = expr else {
        return Err(expected());
    };
    let text = match interval.value.as_ref() {
        ast::Expr::Value(value) => match &value.value {
            ast::Value::SingleQuotedString(s) | ast::Value::Number(s, _) => s.clone(),
            _ => return Err(expected()),
        },
        _ => return Err(expected()),
    };
    let unit_millis = match interval.leading_field {
        Some(DateTimeField::Millisecond | DateTimeField::Milliseconds) => 1.0,
        Some(DateTimeField::Second | DateTimeField::Seconds) => 1e3,
        Some(DateTimeField::Minute | DateTimeField::Minutes) => 60e3,
        Some(DateTimeField::Hour | DateTimeField::Hours) => 3_600e3,
        Some(DateTimeField::Day | DateTimeField::Days) => 86_400e3,
        _ => return Err(expected()),
    };
    let value: f64 = text.trim().parse().map_err(|_| expected())?;
    let millis = value * unit_millis;
    if !(millis.is_finite() && millis > 0.0) {
        return Err(format!("the interval {expr} must be positive"));
    }
    Ok(millis.round() as i64)
}

/// Rewrites the window TVF calls of a query (see the module doc), noting
/// each one's window in `windows`; its index is the marker's window id.
struct TvfRewriter<'a> {
    windows: &'a mut Vec<WindowKind>,
}

impl VisitorMut for TvfRewriter<'_> {
    type Break = SqlError;

    fn pre_visit_table_factor(
        &mut self,
        factor: &mut ast::TableFactor,
    ) -> ControlFlow<Self::Break> {
        let ast::TableFactor::TableFunction { expr, alias } = factor else {
            return ControlFlow::Continue(());
        };
        match self.rewrite(expr, alias.take()) {
            Ok(Some(derived)) => {
                *factor = derived;
                ControlFlow::Continue(())
            }
            Ok(None) => ControlFlow::Continue(()),
            Err(error) => ControlFlow::Break(error),
        }
    }
}

impl TvfRewriter<'_> {
    /// The subquery standing for one TVF call, or `None` if the call is not
    /// a window TVF.
    fn rewrite(
        &mut self,
        call: &ast::Expr,
        alias: Option<ast::TableAlias>,
    ) -> Result<Option<ast::TableFactor>, SqlError> {
        let ast::Expr::Function(function) = call else {
            return Ok(None);
        };
        let name = object_name_upper(&function.name);
        let at: Location = function
            .name
            .0
            .first()
            .and_then(|p| p.as_ident())
            .map(|i| i.span.start.into())
            .unwrap_or_default();
        let error = |message: String| SqlError::at(at, format!("{name}: {message}"));
        if !matches!(name.as_str(), "TUMBLE" | "HOP" | "CUMULATE") {
            return Err(error(
                "unknown table function; the window functions are TUMBLE, HOP and CUMULATE".into(),
            ));
        }
        let ast::FunctionArguments::List(list) = &function.args else {
            return Err(error("expected arguments".into()));
        };
        let args: Vec<&ast::Expr> = list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
                other => Err(error(format!("unsupported argument {other}"))),
            })
            .collect::<Result<_, _>>()?;
        let usage = match name.as_str() {
            "TUMBLE" => "TUMBLE(TABLE t, DESCRIPTOR(time), size)",
            "HOP" => "HOP(TABLE t, DESCRIPTOR(time), slide, size)",
            _ => "CUMULATE(TABLE t, DESCRIPTOR(time), step, max size)",
        };
        let expected = args.len() == if name == "TUMBLE" { 3 } else { 4 };
        let (Some(input), Some(descriptor), true) = (args.first(), args.get(1), expected) else {
            return Err(error(format!("expected {usage}")));
        };
        let input = match input {
            ast::Expr::Identifier(ident) => ast::ObjectName::from(vec![ident.clone()]),
            ast::Expr::CompoundIdentifier(parts) => ast::ObjectName::from(parts.clone()),
            _ => {
                return Err(error(format!(
                    "expected {usage}, with a table or view name"
                )));
            }
        };
        let time = descriptor_column(descriptor).ok_or_else(|| {
            error(format!(
                "expected {usage}, the time column as DESCRIPTOR(column)"
            ))
        })?;
        let millis = |i: usize| interval_millis(args[i]).map_err(&error);
        let kind = match name.as_str() {
            "TUMBLE" => WindowKind::Tumble {
                size_ms: millis(2)?,
                offset_ms: 0,
            },
            "HOP" => {
                let (slide_ms, size_ms) = (millis(2)?, millis(3)?);
                if size_ms % slide_ms != 0 {
                    return Err(error(
                        "the size must be a whole multiple of the slide".into(),
                    ));
                }
                WindowKind::Hop { size_ms, slide_ms }
            }
            _ => {
                let (step_ms, max_size_ms) = (millis(2)?, millis(3)?);
                if max_size_ms % step_ms != 0 {
                    return Err(error(
                        "the max size must be a whole multiple of the step".into(),
                    ));
                }
                WindowKind::Cumulate {
                    step_ms,
                    max_size_ms,
                }
            }
        };
        let id = self.windows.len();
        self.windows.push(kind);
        let time = ast::Expr::Identifier(time).to_string();
        let columns: Vec<String> = WINDOW_COLUMNS
            .iter()
            .enumerate()
            .map(|(part, column)| format!("{WINDOW_MARKER}({time}, {id}, {part}) AS {column}"))
            .collect();
        let text = format!("(SELECT *, {} FROM t)", columns.join(", "));
        let mut derived = Parser::new(&GenericDialect {})
            .try_with_sql(&text)
            .and_then(|mut p| p.parse_table_factor())
            .map_err(|e| SqlError::at(at, e.to_string()))?;
        if let ast::TableFactor::Derived {
            subquery,
            alias: derived_alias,
            ..
        } = &mut derived
        {
            *derived_alias = alias;
            if let ast::SetExpr::Select(select) = subquery.body.as_mut()
                && let Some(from) = select.from.first_mut()
                && let ast::TableFactor::Table { name, .. } = &mut from.relation
            {
                // The user's name, with its position for errors.
                *name = input;
            }
        }
        Ok(Some(derived))
    }
}

/// `DESCRIPTOR(column)`: the column.
fn descriptor_column(expr: &ast::Expr) -> Option<ast::Ident> {
    let ast::Expr::Function(function) = expr else {
        return None;
    };
    if object_name_upper(&function.name) != "DESCRIPTOR" {
        return None;
    }
    let ast::FunctionArguments::List(list) = &function.args else {
        return None;
    };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(ast::Expr::Identifier(ident)))] => {
            Some(ident.clone())
        }
        _ => None,
    }
}

fn object_name_upper(name: &ast::ObjectName) -> String {
    crate::script::object_name(name).to_ascii_uppercase()
}

impl Planner {
    /// Rewrites the window TVF calls of a query before DataFusion plans it.
    pub(super) fn rewrite_window_tvfs(&mut self, query: &mut ast::Query) -> Result<(), SqlError> {
        let mut rewriter = TvfRewriter {
            windows: &mut self.windows,
        };
        match query.visit(&mut rewriter) {
            ControlFlow::Break(error) => Err(error),
            ControlFlow::Continue(()) => Ok(()),
        }
    }

    /// Plans a GROUP BY on a window TVF's `window_start` and `window_end` as
    /// a window aggregation; `None` when the aggregate groups no window.
    pub(super) fn try_window_aggregate(
        &mut self,
        aggregate: &datafusion::logical_expr::Aggregate,
    ) -> Result<Option<Stream>, SqlError> {
        let mut window_parts: Vec<Option<(usize, usize)>> = Vec::new();
        for expr in &aggregate.group_expr {
            window_parts.push(match expr {
                Expr::Column(c) => window_column_of(&aggregate.input, &c.name),
                other => marker_of(other),
            });
        }
        let Some(&(id, _)) = window_parts.iter().flatten().next() else {
            return Ok(None);
        };
        let part = |p: usize| window_parts.iter().position(|w| *w == Some((id, p)));
        let (Some(start), Some(_)) = (part(0), part(1)) else {
            return Err(self.unsupported(
                "a window aggregation groups by both window_start and window_end of its window TVF",
            ));
        };
        if window_parts
            .iter()
            .flatten()
            .any(|&(other, p)| other != id || p == 2)
        {
            return Err(self.unsupported(
                "a window aggregation groups by window_start and window_end of one window TVF (not window_time)",
            ));
        }
        let kind = self.windows[id];
        // Translate the input with the markers evaluated: they return the
        // row's time, which the window operator assigns to windows.
        self.markers_allowed = true;
        let input = self.translate(&aggregate.input);
        self.markers_allowed = false;
        let input = input?;
        let keys: Vec<Expr> = aggregate
            .group_expr
            .iter()
            .enumerate()
            .filter(|(i, _)| window_parts[*i].is_none())
            .map(|(_, e)| e.clone())
            .collect();
        let plan = self.aggregate_inputs(aggregate, &input, &keys)?;
        let time_column = plan.pre_exprs.len();
        let mut pre_exprs = plan.pre_exprs.clone();
        pre_exprs.push(aggregate.group_expr[start].clone());
        let pre = self.pre_aggregate_calc(&input, &pre_exprs, keys.len())?;
        let pre_types = self.nodes[pre.node].schema.clone();
        let time_type = pre_types.field(time_column).data_type().clone();
        let key_types: Vec<DataType> = (0..keys.len())
            .map(|i| pre_types.field(i).data_type().clone())
            .collect();
        // The operator emits keys, window_start, window_end, aggregates.
        let mut fields: Vec<Field> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| Field::new(unqualified(k), key_types[i].clone(), true))
            .collect();
        fields.push(Field::new("window_start", time_type.clone(), true));
        fields.push(Field::new("window_end", time_type, true));
        let key_count = aggregate.group_expr.len();
        for (i, _) in plan.specs.iter().enumerate() {
            fields.push(
                aggregate
                    .schema
                    .field(key_count + i)
                    .as_ref()
                    .clone()
                    .with_nullable(true),
            );
        }
        let output_schema = Arc::new(Schema::new(fields));
        let description = format!(
            "WindowAggregate(groupBy=[{}], window=[{}], select=[{}])",
            keys.iter().map(unqualified).collect::<Vec<_>>().join(", "),
            describe_window(&kind),
            plan.selects.join(", ")
        );
        let node = self.push(PlanNode {
            op: OperatorNode::WindowAggregate {
                key_types,
                time_column,
                window: kind,
                specs: plan.specs,
                output_schema: output_schema.clone(),
                description: description.clone(),
            },
            parallelism: if keys.is_empty() { 1 } else { self.parallelism },
            inputs: vec![(pre.node, Partitioning::Hash((0..keys.len()).collect()))],
            schema: output_schema.clone(),
            updating: false,
        });
        // Put the columns in the order the GROUP BY listed them.
        let emitted =
            DFSchema::try_from(output_schema.as_ref().clone()).map_err(|e| self.error(e))?;
        let stream = Stream {
            node,
            schema: Arc::new(emitted),
            updated_by: None,
            upsert_key: None,
        };
        let columns = stream.schema.columns();
        let mut next_key = 0;
        let mut exprs = Vec::new();
        for parts in &window_parts {
            let position = match parts {
                Some((_, 0)) => keys.len(),
                Some(_) => keys.len() + 1,
                None => {
                    next_key += 1;
                    next_key - 1
                }
            };
            exprs.push(Expr::Column(columns[position].clone()));
        }
        exprs.extend(columns[keys.len() + 2..].iter().cloned().map(Expr::Column));
        self.calc(&stream, None, &exprs, aggregate.schema.clone())
            .map(Some)
    }
}

/// `TUMBLE(size=5000 ms)`, ...
fn describe_window(kind: &WindowKind) -> String {
    match kind {
        WindowKind::Tumble { size_ms, .. } => format!("TUMBLE(size=[{size_ms} ms])"),
        WindowKind::Hop { size_ms, slide_ms } => {
            format!("HOP(slide=[{slide_ms} ms], size=[{size_ms} ms])")
        }
        WindowKind::Cumulate {
            step_ms,
            max_size_ms,
        } => format!("CUMULATE(step=[{step_ms} ms], max_size=[{max_size_ms} ms])"),
    }
}
