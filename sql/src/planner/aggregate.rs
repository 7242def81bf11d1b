//! GROUP BY: a Calc computing keys and arguments, a hash exchange on the
//! keys, and the streaming GroupAggregate; or, in two phases, a
//! LocalGroupAggregate before the exchange and a GlobalGroupAggregate after
//! it ([`super::mini_batch`]).

use arrow::datatypes::FieldRef;
use rtdw_operators::aggregate::{LocalGroupAggregate, MiniBatch};

use super::*;

/// What an aggregation computes before and in its operator.
pub(super) struct AggregateInputs {
    /// The Calc before the exchange: keys, then the aggregates' arguments.
    pub(super) pre_exprs: Vec<Expr>,
    /// One accumulator spec per aggregate, reading `pre_exprs` columns.
    pub(super) specs: Vec<AggregateSpec>,
    /// Each aggregate as written, e.g. `SUM(amount)`.
    pub(super) selects: Vec<String>,
}

/// A GROUP BY whose keys and arguments are computed, ready for its
/// aggregate operators.
struct GroupBy {
    /// The Calc computing keys then arguments.
    pre: usize,
    /// The keys as written.
    keys: Vec<String>,
    /// The aggregates as written.
    selects: Vec<String>,
    key_types: Vec<DataType>,
    specs: Vec<AggregateSpec>,
    /// Keys then aggregates.
    output_schema: SchemaRef,
}

impl GroupBy {
    /// `groupBy=[k], select=[k, <aggregates>]` of a description.
    fn describe(&self, aggregates: &[String]) -> String {
        format!(
            "groupBy=[{}], select=[{}]",
            self.keys.join(", "),
            self.keys
                .iter()
                .chain(aggregates)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// A global aggregate (no keys) runs as one subtask, as in Flink.
    fn parallelism(&self, default: u32) -> u32 {
        if self.keys.is_empty() { 1 } else { default }
    }

    /// The exchange before the (global) aggregate: on the leading keys.
    fn exchange(&self) -> Partitioning {
        Partitioning::Hash((0..self.keys.len()).collect())
    }
}

impl Planner {
    /// Plans a GROUP BY: a window aggregate when it groups by a window
    /// TVF's bounds, else a group aggregate in one or two phases as the
    /// options say.
    pub(super) fn aggregate(
        &mut self,
        aggregate: &datafusion::logical_expr::Aggregate,
    ) -> Result<Stream, SqlError> {
        if aggregate
            .group_expr
            .iter()
            .any(|e| matches!(e, Expr::GroupingSet(_)))
        {
            return Err(self.unsupported(
                "GROUPING SETS, CUBE and ROLLUP are not supported by this version of rtdw",
            ));
        }
        if let Some(windowed) = self.try_window_aggregate(aggregate)? {
            return Ok(windowed);
        }
        let input = self.translate(&aggregate.input)?;
        let key_count = aggregate.group_expr.len();
        let plan = self.aggregate_inputs(aggregate, &input, &aggregate.group_expr)?;
        let pre = self.pre_aggregate_calc(&input, &plan.pre_exprs, key_count)?;
        let specs = plan.specs;
        let selects = plan.selects;
        let pre_types = self.nodes[pre.node].schema.clone();
        let key_types: Vec<DataType> = (0..key_count)
            .map(|i| pre_types.field(i).data_type().clone())
            .collect();
        let mut out_fields: Vec<Field> = Vec::new();
        for (i, field) in aggregate.schema.fields().iter().enumerate() {
            let data_type = if i < key_count {
                key_types[i].clone()
            } else {
                field.data_type().clone()
            };
            out_fields.push(Field::new(field.name(), data_type, true));
        }
        let output_schema = Arc::new(Schema::new(out_fields));
        GroupAggregate::new(&key_types, specs.clone(), output_schema.clone())
            .map_err(|e| self.unsupported(e.to_string()))?;
        let group_by = GroupBy {
            pre: pre.node,
            keys: aggregate.group_expr.iter().map(unqualified).collect(),
            selects,
            key_types,
            specs,
            output_schema,
        };
        let (node, description) = match self.aggregation.two_phase(&group_by.specs) {
            Some(mini_batch) => self.two_phase_aggregate(group_by, mini_batch)?,
            None => {
                let mini_batch = self.aggregation.mini_batch;
                self.one_phase_aggregate(group_by, mini_batch)
            }
        };
        Ok(Stream {
            node,
            schema: aggregate.schema.clone(),
            updated_by: Some(description),
            upsert_key: Some((0..key_count).collect()),
        })
    }

    /// Hash exchange, then one GroupAggregate. Returns its node and
    /// description.
    fn one_phase_aggregate(
        &mut self,
        group_by: GroupBy,
        mini_batch: Option<MiniBatch>,
    ) -> (usize, String) {
        let description = format!("GroupAggregate({})", group_by.describe(&group_by.selects));
        let node = self.push(PlanNode {
            parallelism: group_by.parallelism(self.parallelism),
            inputs: vec![(group_by.pre, group_by.exchange())],
            schema: group_by.output_schema.clone(),
            updating: true,
            op: OperatorNode::GroupAggregate {
                key_types: group_by.key_types,
                specs: group_by.specs,
                output_schema: group_by.output_schema,
                mini_batch,
                description: description.clone(),
            },
        });
        (node, description)
    }

    /// A LocalGroupAggregate chained after the Calc, a hash exchange on its
    /// keys, and a GlobalGroupAggregate merging its partial aggregates.
    /// Returns the global's node and description.
    fn two_phase_aggregate(
        &mut self,
        group_by: GroupBy,
        mini_batch: MiniBatch,
    ) -> Result<(usize, String), SqlError> {
        let pre = &self.nodes[group_by.pre];
        let pre_parallelism = pre.parallelism;
        let key_fields: Vec<FieldRef> = pre.schema.fields()[..group_by.keys.len()].to_vec();
        let local = LocalGroupAggregate::new(&key_fields, group_by.specs.clone(), mini_batch)
            .map_err(|e| self.unsupported(e.to_string()))?;
        let partials: Vec<String> = group_by
            .selects
            .iter()
            .zip(local.partial_fields())
            .map(|(select, fields)| match fields {
                [one] => format!("{select} AS {}", one.name()),
                many => {
                    let names: Vec<&str> = many.iter().map(|f| f.name().as_str()).collect();
                    format!("{select} AS ({})", names.join(", "))
                }
            })
            .collect();
        let local_schema = local.output_schema();
        let local_node = self.push(PlanNode {
            parallelism: pre_parallelism,
            inputs: vec![(group_by.pre, Partitioning::Forward)],
            schema: local_schema.clone(),
            updating: false,
            op: OperatorNode::LocalGroupAggregate {
                key_fields,
                specs: group_by.specs.clone(),
                mini_batch,
                output_schema: local_schema,
                description: format!("LocalGroupAggregate({})", group_by.describe(&partials)),
            },
        });
        GroupAggregate::new_global(
            &group_by.key_types,
            group_by.specs.clone(),
            group_by.output_schema.clone(),
        )
        .map_err(|e| self.unsupported(e.to_string()))?;
        let description = format!(
            "GlobalGroupAggregate({})",
            group_by.describe(&group_by.selects)
        );
        let node = self.push(PlanNode {
            parallelism: group_by.parallelism(self.parallelism),
            inputs: vec![(local_node, group_by.exchange())],
            schema: group_by.output_schema.clone(),
            updating: true,
            op: OperatorNode::GlobalGroupAggregate {
                key_types: group_by.key_types,
                specs: group_by.specs,
                output_schema: group_by.output_schema,
                mini_batch,
                description: description.clone(),
            },
        });
        Ok((node, description))
    }

    /// The keys and aggregate arguments an aggregation computes first, and
    /// its accumulator specs.
    pub(super) fn aggregate_inputs(
        &self,
        aggregate: &datafusion::logical_expr::Aggregate,
        input: &Stream,
        keys: &[Expr],
    ) -> Result<AggregateInputs, SqlError> {
        let group_count = aggregate.group_expr.len();
        let mut pre_exprs: Vec<Expr> = keys.to_vec();
        let mut specs = Vec::new();
        let mut selects = Vec::new();
        for (i, expr) in aggregate.aggr_expr.iter().enumerate() {
            let (spec, argument) = self.aggregate_spec(
                expr,
                input,
                aggregate.schema.field(group_count + i).data_type(),
            )?;
            selects.push(describe_aggregate(&spec, argument.as_ref()));
            let spec = match argument {
                Some(arg) => {
                    pre_exprs.push(arg);
                    AggregateSpec {
                        input_column: Some(pre_exprs.len() - 1),
                        ..spec
                    }
                }
                None => spec,
            };
            specs.push(spec);
        }
        Ok(AggregateInputs {
            pre_exprs,
            specs,
            selects,
        })
    }

    /// The Calc before an aggregation's exchange: its first `key_count`
    /// columns are named after the keys, the others `$arg<i>`.
    pub(super) fn pre_aggregate_calc(
        &mut self,
        input: &Stream,
        pre_exprs: &[Expr],
        key_count: usize,
    ) -> Result<Stream, SqlError> {
        let pre_fields: Vec<Field> = pre_exprs
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let name = if i < key_count {
                    unqualified(e)
                } else {
                    format!("$arg{}", i - key_count)
                };
                e.get_type(&input.schema)
                    .map(|t| Field::new(name, t, true))
                    .map_err(|e| self.error(e))
            })
            .collect::<Result<_, _>>()?;
        let pre_schema = DFSchema::try_from(Schema::new(pre_fields)).map_err(|e| self.error(e))?;
        self.calc(input, None, pre_exprs, Arc::new(pre_schema))
    }

    /// The accumulator spec of one aggregate call and the argument it reads.
    pub(super) fn aggregate_spec(
        &self,
        expr: &Expr,
        input: &Stream,
        output_type: &DataType,
    ) -> Result<(AggregateSpec, Option<Expr>), SqlError> {
        let call = match expr {
            Expr::AggregateFunction(call) => call,
            Expr::Alias(alias) => match alias.expr.as_ref() {
                Expr::AggregateFunction(call) => call,
                other => {
                    return Err(
                        self.unsupported(format!("unsupported aggregate expression {other}"))
                    );
                }
            },
            other => {
                return Err(self.unsupported(format!("unsupported aggregate expression {other}")));
            }
        };
        let AggregateCall { func, params } = call;
        let name = func.name().to_ascii_uppercase();
        if params.filter.is_some() || !params.order_by.is_empty() {
            return Err(self.unsupported(format!(
                "{name} with FILTER or ORDER BY is not supported by this version of rtdw"
            )));
        }
        let function = match name.as_str() {
            "COUNT" if params.distinct => AggregateFunction::CountDistinct,
            "COUNT" => AggregateFunction::Count,
            "SUM" => AggregateFunction::Sum,
            "AVG" => AggregateFunction::Avg,
            "MIN" => AggregateFunction::Min,
            "MAX" => AggregateFunction::Max,
            _ => {
                return Err(self.unsupported(format!(
                    "aggregate function {name} is not supported by this version of rtdw; supported: COUNT, SUM, AVG, MIN, MAX"
                )));
            }
        };
        // MIN and MAX of distinct values are MIN and MAX.
        if params.distinct && matches!(function, AggregateFunction::Sum | AggregateFunction::Avg) {
            return Err(self.unsupported(format!(
                "{name}(DISTINCT ...) is not supported by this version of rtdw; COUNT(DISTINCT ...), MIN and MAX are"
            )));
        }
        let [arg] = params.args.as_slice() else {
            return Err(self.unsupported(format!("{name} takes exactly one argument")));
        };
        let input_retracts = input.updated_by.is_some();
        let count_star = function == AggregateFunction::Count
            && matches!(arg, Expr::Literal(value, _) if !value.is_null());
        if count_star {
            let spec = AggregateSpec {
                function: AggregateFunction::CountStar,
                input_column: None,
                input_type: DataType::Int64,
                output_type: output_type.clone(),
                input_retracts,
            };
            return Ok((spec, None));
        }
        let input_type = arg.get_type(&input.schema).map_err(|e| self.error(e))?;
        let spec = AggregateSpec {
            function,
            input_column: None,
            input_type,
            output_type: output_type.clone(),
            input_retracts,
        };
        Ok((spec, Some(arg.clone())))
    }
}

/// `COUNT(*)`, `SUM(amount)`, ...
fn describe_aggregate(spec: &AggregateSpec, argument: Option<&Expr>) -> String {
    let name = match spec.function {
        AggregateFunction::CountStar | AggregateFunction::Count => "COUNT",
        AggregateFunction::CountDistinct => "COUNT",
        AggregateFunction::Sum => "SUM",
        AggregateFunction::Avg => "AVG",
        AggregateFunction::Min => "MIN",
        AggregateFunction::Max => "MAX",
    };
    let argument = argument.map(unqualified).unwrap_or_else(|| "*".into());
    match spec.function {
        AggregateFunction::CountDistinct => format!("COUNT(DISTINCT {argument})"),
        _ => format!("{name}({argument})"),
    }
}
