//! Deduplication and Top-N: `ROW_NUMBER() OVER (PARTITION BY ... ORDER BY
//! ...)` under a filter keeping the first N row numbers becomes Flink's Rank
//! operator, hash-partitioned on the partition keys. An `OVER` window in
//! any other shape has no bounded streaming meaning and is refused.

use datafusion::logical_expr::{BinaryExpr, Filter, Operator as BinaryOperator, Window};
use datafusion::scalar::ScalarValue;
use rtdw_operators::rank::SortKey;

use super::*;

/// A `ROW_NUMBER()` filter found above a window: which window, how many
/// rows per partition it keeps, and what of the filter remains.
pub(super) struct RankFilter {
    /// The address of the window node.
    window: usize,
    /// Rows kept per partition.
    limit: u64,
    /// The other conjuncts of the filter.
    rest: Option<Expr>,
}

impl Planner {
    /// Plans `filter` as a Top-N when it keeps the first N row numbers of a
    /// `ROW_NUMBER()` window below it (through projections and aliases).
    pub(super) fn try_rank(&mut self, filter: &Filter) -> Result<Option<Stream>, SqlError> {
        let Some(found) = rank_filter(filter) else {
            return Ok(None);
        };
        self.rank_limits.insert(found.window, found.limit);
        let ranked = self.translate(&filter.input)?;
        let Some(rest) = found.rest else {
            return Ok(Some(ranked));
        };
        let schema = ranked.schema.clone();
        self.select(&ranked, Some(&rest), schema).map(Some)
    }

    /// Plans a window node: a `ROW_NUMBER()` whose filter [`Planner::try_rank`]
    /// found becomes a Rank; anything else is refused.
    pub(super) fn window(&mut self, window: &Window) -> Result<Stream, SqlError> {
        let address = window as *const Window as usize;
        let Some(limit) = self.rank_limits.get(&address).copied() else {
            return Err(self.unsupported(
                "OVER windows are supported as ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...) filtered to the first N rows (WHERE rn <= N or rn = 1): deduplication and Top-N",
            ));
        };
        let [Expr::WindowFunction(function)] = window.window_expr.as_slice() else {
            return Err(self.unsupported("a Top-N takes exactly one ROW_NUMBER() column"));
        };
        let input = self.translate(&window.input)?;
        let params = &function.params;
        if params.order_by.is_empty() {
            return Err(self.unsupported(
                "ROW_NUMBER() needs ORDER BY: it decides which rows of a partition are kept",
            ));
        }
        let width = input.schema.fields().len();
        let partition = self.key_columns(input, &params.partition_by, "partition")?;
        let sort_exprs: Vec<Expr> = params.order_by.iter().map(|s| s.expr.clone()).collect();
        let sorted = self.key_columns(partition.stream, &sort_exprs, "order")?;
        let order_by: Vec<SortKey> = params
            .order_by
            .iter()
            .zip(&sorted.keys)
            .map(|(sort, &column)| SortKey {
                column,
                descending: !sort.asc,
                nulls_first: sort.nulls_first,
            })
            .collect();
        let input_node = sorted.stream.node;
        let input_schema = self.nodes[input_node].schema.clone();
        let mut fields: Vec<Field> = input_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        // ROW_NUMBER() is a BIGINT in Flink (DataFusion types it unsigned).
        let rank_field = Arc::new(Field::new(
            window.schema.field(width).name(),
            DataType::Int64,
            true,
        ));
        fields.push(rank_field.as_ref().clone());
        let output_schema = Arc::new(Schema::new(fields));
        let describe =
            |exprs: &[Expr]| exprs.iter().map(unqualified).collect::<Vec<_>>().join(", ");
        let description = format!(
            "Rank(rankType=[ROW_NUMBER], rankRange=[rankStart=1, rankEnd={limit}], partitionBy=[{}], orderBy=[{}])",
            describe(&params.partition_by),
            params
                .order_by
                .iter()
                .map(|s| format!(
                    "{} {}",
                    unqualified(&s.expr),
                    if s.asc { "ASC" } else { "DESC" }
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let partition_keys = partition.keys.clone();
        let node = self.push(PlanNode {
            op: OperatorNode::Rank {
                input_schema,
                partition_keys: partition_keys.clone(),
                order_by,
                limit,
                output_schema: output_schema.clone(),
                description: description.clone(),
            },
            parallelism: if partition_keys.is_empty() {
                1
            } else {
                self.parallelism
            },
            inputs: vec![(input_node, Partitioning::Hash(partition_keys))],
            schema: output_schema,
            updating: true,
        });
        // Appended key columns sit between the input's columns and the row
        // number: project them away, as the window's schema has none.
        let mut qualified: Vec<(Option<TableReference>, Arc<Field>)> = sorted
            .stream
            .schema
            .iter()
            .map(|(q, f)| (q.cloned(), f.clone()))
            .collect();
        qualified.push((None, rank_field.clone()));
        let schema = DFSchema::new_with_metadata(qualified, Default::default())
            .map_err(|e| self.error(e))?;
        let stream = Stream {
            node,
            schema: Arc::new(schema),
            updated_by: Some(description),
            // Deduplication keeps one row per partition key.
            upsert_key: (limit == 1 && partition.appended == 0).then(|| partition.keys.clone()),
        };
        let ranked: Vec<(Option<TableReference>, Arc<Field>)> = window
            .schema
            .iter()
            .take(width)
            .map(|(q, f)| (q.cloned(), f.clone()))
            .chain([(None, rank_field)])
            .collect();
        let ranked = Arc::new(
            DFSchema::new_with_metadata(ranked, Default::default()).map_err(|e| self.error(e))?,
        );
        if partition.appended + sorted.appended == 0 {
            return Ok(Stream {
                schema: ranked,
                ..stream
            });
        }
        let mut exprs = column_exprs(&stream.schema);
        exprs.drain(width..exprs.len() - 1);
        self.calc(&stream, None, &exprs, ranked)
    }
}

/// Finds, below `filter`, the `ROW_NUMBER()` window its predicate limits.
fn rank_filter(filter: &Filter) -> Option<RankFilter> {
    let conjuncts = datafusion::logical_expr::utils::split_conjunction(&filter.predicate);
    for (i, conjunct) in conjuncts.iter().enumerate() {
        let Some((column, limit)) = row_number_limit(conjunct) else {
            continue;
        };
        let Some(window) = window_of(&filter.input, &column) else {
            continue;
        };
        let rest = conjuncts
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, e)| (*e).clone())
            .reduce(Expr::and);
        return Some(RankFilter {
            window,
            limit,
            rest,
        });
    }
    None
}

/// `rn <= N`, `rn < N`, `rn = 1` (and mirrored): the column and N.
fn row_number_limit(expr: &Expr) -> Option<(String, u64)> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return None;
    };
    let literal = |e: &Expr| match e {
        Expr::Literal(value, _) => match value {
            ScalarValue::Int64(Some(n)) => Some(*n),
            ScalarValue::Int32(Some(n)) => Some(i64::from(*n)),
            ScalarValue::UInt64(Some(n)) => i64::try_from(*n).ok(),
            _ => None,
        },
        Expr::Cast(cast) => match cast.expr.as_ref() {
            Expr::Literal(ScalarValue::Int64(Some(n)), _) => Some(*n),
            Expr::Literal(ScalarValue::Int32(Some(n)), _) => Some(i64::from(*n)),
            _ => None,
        },
        _ => None,
    };
    let (column, op, n) = match (left.as_ref(), right.as_ref()) {
        (Expr::Column(c), other) => (c, *op, literal(other)?),
        (other, Expr::Column(c)) => (c, op.swap()?, literal(other)?),
        _ => return None,
    };
    let limit = match op {
        BinaryOperator::LtEq => n,
        BinaryOperator::Lt => n - 1,
        BinaryOperator::Eq if n == 1 => 1,
        _ => return None,
    };
    u64::try_from(limit)
        .ok()
        .filter(|l| *l > 0)
        .map(|l| (column.name.clone(), l))
}

/// The window node below `plan`, through projections and aliases, whose
/// `ROW_NUMBER()` column the name `column` refers to.
fn window_of(plan: &LogicalPlan, column: &str) -> Option<usize> {
    match plan {
        LogicalPlan::SubqueryAlias(alias) => window_of(&alias.input, column),
        LogicalPlan::Projection(projection) => match projected(projection, column)? {
            Expr::Column(source) => window_of(&projection.input, &source.name),
            _ => None,
        },
        LogicalPlan::Window(window) => {
            let [Expr::WindowFunction(function)] = window.window_expr.as_slice() else {
                return None;
            };
            let is_row_number = function.fun.name().eq_ignore_ascii_case("row_number");
            let named = window
                .schema
                .fields()
                .last()
                .is_some_and(|f| f.name() == column);
            (is_row_number && named).then_some(window as *const Window as usize)
        }
        _ => None,
    }
}
