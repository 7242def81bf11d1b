//! Lookup joins (Flink's processing-time temporal joins with a lookup
//! table): `JOIN dim FOR SYSTEM_TIME AS OF o.proc_time AS d ON o.k = d.id`.
//! The parser's token rewrite names such a table `dim$lookup0` (one name
//! per clause, [`LookupClause`]); a join whose right side scans one becomes
//! a `LookupJoin` chained after the stream, querying the table by the
//! equality keys as each batch passes. The lookup happens at processing
//! time, so the clause's attribute must be one (`PROCTIME()`); an
//! event-time attribute (Flink's join of a versioned table) is refused.

use datafusion::common::JoinType;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Join, TableScan};
use rtdw_operators::join::JoinKind;

use super::*;
use crate::script::{Column, LookupClause};

/// The lookup table's side of a join: its scan and the conditions on its
/// rows alone.
struct LookupSide<'a> {
    scan: &'a TableScan,
    /// Conditions between the scan and the join (and pushed into the
    /// scan), columns unqualified.
    filters: Vec<Expr>,
}

impl<'a> LookupSide<'a> {
    /// The lookup side of a join's right input, if it scans a lookup table
    /// through aliases, column selections and filters only.
    fn of(plan: &'a LogicalPlan, lookups: &[LookupClause]) -> Option<LookupSide<'a>> {
        let mut filters = Vec::new();
        let mut plan = plan;
        loop {
            match plan {
                LogicalPlan::SubqueryAlias(alias) => plan = &alias.input,
                LogicalPlan::Projection(projection)
                    if projection.expr.iter().all(|e| matches!(e, Expr::Column(_))) =>
                {
                    plan = &projection.input
                }
                LogicalPlan::Filter(filter) => {
                    filters.push(unqualified_columns(&filter.predicate));
                    plan = &filter.input;
                }
                LogicalPlan::TableScan(scan)
                    if lookups.iter().any(|c| c.scanned == scan.table_name.table()) =>
                {
                    filters.extend(scan.filters.iter().map(unqualified_columns));
                    return Some(LookupSide { scan, filters });
                }
                _ => return None,
            }
        }
    }
}

/// `expr` with every column reference stripped of its qualifier.
fn unqualified_columns(expr: &Expr) -> Expr {
    expr.clone()
        .transform(|e| {
            Ok(match e {
                Expr::Column(column) => Transformed::yes(Expr::Column(
                    datafusion::common::Column::new_unqualified(column.name),
                )),
                other => Transformed::no(other),
            })
        })
        .map(|t| t.data)
        .unwrap_or_else(|_| expr.clone())
}

impl Planner {
    /// The lookup-join clause a scan stands for, if any.
    pub(super) fn lookup_clause(&self, scan: &TableScan) -> Option<&LookupClause> {
        self.lookups
            .iter()
            .find(|clause| clause.scanned == scan.table_name.table())
    }

    /// Checks that the clause's attribute is a processing-time attribute
    /// (`PROCTIME()`) of a table `stream` reads: an event-time one asks for
    /// a join with a versioned table, which rtdw does not run.
    fn check_time_attribute(
        &self,
        clause: &LookupClause,
        stream: &LogicalPlan,
    ) -> Result<(), SqlError> {
        let attribute = clause
            .attribute
            .last()
            .map(String::as_str)
            .unwrap_or_default();
        let mut read = Vec::new();
        stream
            .apply(|plan| {
                if let LogicalPlan::TableScan(scan) = plan {
                    read.push(scan.table_name.table().to_string());
                }
                Ok(TreeNodeRecursion::Continue)
            })
            .map_err(|e| self.error(e))?;
        let definitions = read
            .iter()
            .filter_map(|name| self.tables.get(name))
            .map(|table| &table.definition);
        let mut event_time = false;
        for definition in definitions {
            let processing_time = definition.columns.iter().any(|column| {
                matches!(column, Column::Computed { name, expr, .. }
                    if name == attribute && expr.to_string().eq_ignore_ascii_case("PROCTIME()"))
            });
            if processing_time {
                return Ok(());
            }
            event_time |= definition
                .watermark
                .as_ref()
                .is_some_and(|w| w.column == attribute);
        }
        let written = clause.attribute.join(".");
        let message = if event_time {
            format!(
                "'{written}' is an event-time attribute: a join of '{}' FOR SYSTEM_TIME AS OF event time (a versioned table) is not supported; rtdw looks tables up at processing time: declare a column 'proc_time AS PROCTIME()' on the stream and use FOR SYSTEM_TIME AS OF it",
                clause.table
            )
        } else {
            format!(
                "FOR SYSTEM_TIME AS OF '{written}' must name a processing-time attribute of the stream (a column declared 'name AS PROCTIME()')"
            )
        };
        Err(SqlError::at(clause.location, message))
    }

    /// The lookup join of `join`, when its right side is a lookup table;
    /// `None` for a regular join.
    pub(super) fn try_lookup_join(&mut self, join: &Join) -> Result<Option<Stream>, SqlError> {
        if LookupSide::of(&join.left, &self.lookups).is_some() {
            return Err(self.unsupported(
                "the table of FOR SYSTEM_TIME AS OF must be the right side of its JOIN (stream JOIN dim FOR SYSTEM_TIME AS OF stream.proc_time)",
            ));
        }
        let Some(side) = LookupSide::of(&join.right, &self.lookups) else {
            return Ok(None);
        };
        let clause = self.lookup_clause(side.scan).cloned().ok_or_else(|| {
            self.unsupported("a lookup join lost its FOR SYSTEM_TIME AS OF clause")
        })?;
        self.check_time_attribute(&clause, &join.left)?;
        let name = clause.table.clone();
        let kind = match join.join_type {
            JoinType::Inner => JoinKind::Inner,
            JoinType::Left => JoinKind::Left,
            other => {
                return Err(self.unsupported(format!(
                    "a lookup join (FOR SYSTEM_TIME AS OF) of '{name}' is an INNER or LEFT JOIN, not {other}"
                )));
            }
        };
        let table = self
            .tables
            .get(&name)
            .map(|t| t.descriptor().clone())
            .ok_or_else(|| self.unsupported(format!("table '{name}' is not declared")))?;
        let table_schema =
            DFSchema::try_from(table.schema.as_ref().clone()).map_err(|e| self.error(e))?;
        let column_of = |expr: &Expr| match unqualified_columns(expr) {
            Expr::Column(column) => table.schema.index_of(&column.name).ok(),
            _ => None,
        };
        let left = self.translate(&join.left)?;
        let mut key_exprs = Vec::new();
        let mut lookup_keys = Vec::new();
        for (left_key, right_key) in &join.on {
            let Some(column) = column_of(right_key) else {
                return Err(self.unsupported(format!(
                    "a lookup join of '{name}' needs equalities between the stream and columns of '{name}' (ON o.k = d.id); '{right_key}' is not a column of '{name}'"
                )));
            };
            let field = table.schema.field(column);
            let key = Expr::Cast(datafusion::logical_expr::Cast::new(
                Box::new(left_key.clone()),
                field.data_type().clone(),
            ));
            key_exprs.push(self.physical(&key, &left.schema)?);
            lookup_keys.push(field.name().clone());
        }
        if lookup_keys.is_empty() {
            return Err(self.unsupported(format!(
                "a lookup join of '{name}' needs at least one equality between the stream and a column of '{name}' (ON o.k = d.id)"
            )));
        }
        self.connectors
            .validate_lookup(&table, &lookup_keys)
            .map_err(|e| self.unsupported(e.to_string()))?;
        let table_filter = datafusion::logical_expr::utils::conjunction(side.filters)
            .map(|f| self.physical(&f, &table_schema))
            .transpose()?;
        let projection = join
            .right
            .schema()
            .fields()
            .iter()
            .map(|f| {
                table.schema.index_of(f.name()).map_err(|_| {
                    self.unsupported(format!(
                        "a lookup join of '{name}' reads only its columns; '{}' is not one",
                        f.name()
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output_schema = Arc::new(join.schema.as_arrow().clone());
        let filter = join
            .filter
            .as_ref()
            .map(|f| self.physical(f, &join.schema))
            .transpose()?;
        let description = format!(
            "LookupJoin(table=[{name}], joinType=[{}], lookup=[{}], select=[{}])",
            join.join_type,
            join.on
                .iter()
                .map(|(l, r)| format!("{}={}", unqualified(r), unqualified(l)))
                .collect::<Vec<_>>()
                .join(", "),
            join.schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let upstream = &self.nodes[left.node];
        let node = PlanNode {
            parallelism: upstream.parallelism,
            updating: upstream.updating,
            inputs: vec![(left.node, Partitioning::Forward)],
            schema: output_schema.clone(),
            op: OperatorNode::LookupJoin {
                table,
                kind,
                input_schema: upstream.schema.clone(),
                key_exprs,
                lookup_keys,
                table_filter,
                projection,
                filter,
                output_schema,
                description,
            },
        };
        Ok(Some(Stream {
            node: self.push(node),
            schema: join.schema.clone(),
            updated_by: left.updated_by,
            upsert_key: None,
        }))
    }
}
