//! Regular joins: both sides hash-partitioned on the equality keys into a
//! streaming join that keeps each side's rows and retracts results when
//! either side retracts.

use datafusion::common::JoinType;
use datafusion::logical_expr::Join;
use rtdw_operators::join::JoinKind;

use super::interval::interval_bounds;
use super::*;

impl Planner {
    /// Plans a join of two streams.
    pub(super) fn join(&mut self, join: &Join) -> Result<Stream, SqlError> {
        if let Some(lookup) = self.try_lookup_join(join)? {
            return Ok(lookup);
        }
        let kind = match join.join_type {
            JoinType::Inner => JoinKind::Inner,
            JoinType::Left => JoinKind::Left,
            JoinType::Right => JoinKind::Right,
            JoinType::Full => JoinKind::Full,
            other => {
                return Err(self.unsupported(format!(
                    "{other} joins (from IN, EXISTS or their negations) are not supported by this version of rtdw; write them as an INNER or LEFT JOIN"
                )));
            }
        };
        if join.on.is_empty() {
            return Err(self.unsupported(
                "a streaming join needs at least one equality between the two sides (ON a.k = b.k); a join without one would keep every row of both sides in one subtask",
            ));
        }
        let left = self.translate(&join.left)?;
        let right = self.translate(&join.right)?;
        let (left_keys, right_keys): (Vec<Expr>, Vec<Expr>) = join.on.iter().cloned().unzip();
        let left = self.key_columns(left, &left_keys, "left_key")?;
        let right = self.key_columns(right, &right_keys, "right_key")?;
        let joined_fields: Vec<(Option<TableReference>, Arc<Field>)> = left
            .stream
            .schema
            .iter()
            .chain(right.stream.schema.iter())
            .map(|(qualifier, field)| {
                (
                    qualifier.cloned(),
                    Arc::new(field.as_ref().clone().with_nullable(true)),
                )
            })
            .collect();
        let joined = DFSchema::new_with_metadata(joined_fields, Default::default())
            .map_err(|e| self.error(e))?;
        let output_schema = Arc::new(joined.as_arrow().clone());
        let append_only = left.stream.updated_by.is_none() && right.stream.updated_by.is_none();
        let interval = match &join.filter {
            Some(filter) if append_only => {
                interval_bounds(filter, &left.stream.schema, &right.stream.schema)
            }
            _ => None,
        };
        let residual = match &interval {
            Some(bounds) => bounds.rest.clone(),
            None => join.filter.clone(),
        };
        let filter = residual
            .as_ref()
            .map(|f| self.physical(f, &joined))
            .transpose()?;
        // An interval join emits outer rows only when their interval has
        // passed, so it never retracts; a regular outer join does.
        let updating = match interval {
            Some(_) => false,
            None => kind != JoinKind::Inner || !append_only,
        };
        let state_ttl = self.state_ttl();
        let description = format!(
            "{}(joinType=[{}], where=[{}], select=[{}])",
            if interval.is_some() {
                "IntervalJoin"
            } else {
                "Join"
            },
            join.join_type,
            join.on
                .iter()
                .map(|(l, r)| format!("{} = {}", unqualified(l), unqualified(r)))
                .chain(join.filter.iter().map(|f| f.to_string()))
                .collect::<Vec<_>>()
                .join(" AND "),
            joined
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let left_schema = self.nodes[left.stream.node].schema.clone();
        let right_schema = self.nodes[right.stream.node].schema.clone();
        let op = match interval {
            Some(bounds) => OperatorNode::IntervalJoin {
                kind,
                left_schema,
                right_schema,
                left_keys: left.keys.clone(),
                right_keys: right.keys.clone(),
                left_time: bounds.left_time,
                right_time: bounds.right_time,
                lower_ms: bounds.lower_ms,
                upper_ms: bounds.upper_ms,
                filter,
                output_schema: output_schema.clone(),
                description: description.clone(),
            },
            None => OperatorNode::Join {
                kind,
                left_schema,
                right_schema,
                left_keys: left.keys.clone(),
                right_keys: right.keys.clone(),
                filter,
                output_schema: output_schema.clone(),
                updating,
                state_ttl,
                description: description.clone(),
            },
        };
        let node = self.push(PlanNode {
            op,
            parallelism: self.parallelism,
            inputs: vec![
                (left.stream.node, Partitioning::Hash(left.keys)),
                (right.stream.node, Partitioning::Hash(right.keys)),
            ],
            schema: output_schema,
            updating,
        });
        let updated_by = if updating { Some(description) } else { None };
        let stream = Stream {
            node,
            schema: Arc::new(joined),
            updated_by,
            upsert_key: None,
        };
        if left.appended + right.appended == 0 {
            return Ok(stream);
        }
        // Drop the computed key columns again: the join's schema has the
        // two sides' own columns only.
        self.select(&stream, None, join.schema.clone())
    }

    /// `table.exec.state.ttl`: how long state of an idle key is kept (none
    /// when unset or 0, as in Flink).
    pub(super) fn state_ttl(&self) -> Option<std::time::Duration> {
        self.duration_option("table.exec.state.ttl")
            .filter(|t| !t.is_zero())
    }
}
