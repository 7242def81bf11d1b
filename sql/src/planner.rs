//! From a parsed script to a job graph: DataFusion plans and optimizes the
//! query; this module turns the optimized logical plan into streaming
//! operators, derives their changelog modes, checks the sink can take what
//! arrives, and chains operators into vertices.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::compute::can_cast_types;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ExprSchema;
use datafusion::common::{DFSchema, DFSchemaRef, DataFusionError, TableReference};
use datafusion::execution::context::SessionState;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::expr::AggregateFunction as AggregateCall;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan};
use datafusion::physical_expr::{PhysicalExpr, create_physical_expr};
use datafusion::prelude::SessionConfig;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast;
use rtdw_connectors::{TableDescriptor, validate_sink, validate_source};
use rtdw_operators::aggregate::{AggregateFunction, AggregateSpec, GroupAggregate};
use rtdw_operators::keys::DEFAULT_MAX_PARALLELISM;

use crate::error::{Location, SqlError};
use crate::graph::{Edge, JobGraph, OperatorNode, Partitioning, Vertex};
use crate::script::{Statement, parse_script};

/// Job-level settings, from the script's `SET` statements overridden by the
/// submission's options.
#[derive(Debug, Clone, Default)]
pub struct JobConfig {
    /// Default parallelism of the job's operators (`parallelism.default`).
    pub parallelism: Option<u32>,
    /// The job's name (`pipeline.name`).
    pub name: Option<String>,
    /// Every other option, by key.
    pub options: BTreeMap<String, String>,
}

/// Options that shape the plan, read from the merged configuration.
struct PlanSettings {
    parallelism: u32,
    max_parallelism: u32,
    name: Option<String>,
    /// The script's options overridden by the submitted ones.
    merged: BTreeMap<String, String>,
}

fn settings(
    script: &BTreeMap<String, String>,
    submitted: &JobConfig,
) -> Result<PlanSettings, SqlError> {
    let mut merged = script.clone();
    merged.extend(submitted.options.clone());
    let positive = |key: &str| -> Result<Option<u32>, SqlError> {
        merged
            .get(key)
            .map(|v| {
                positive_integer(v).ok_or_else(|| {
                    SqlError::script(format!(
                        "option '{key}' must be a positive integer, got '{v}'"
                    ))
                })
            })
            .transpose()
    };
    let parallelism = match submitted.parallelism {
        Some(p) if p > 0 => p,
        _ => positive("parallelism.default")?.unwrap_or(1),
    };
    let max_parallelism = positive("pipeline.max-parallelism")?.unwrap_or(DEFAULT_MAX_PARALLELISM);
    if parallelism > max_parallelism {
        return Err(SqlError::script(format!(
            "parallelism {parallelism} exceeds pipeline.max-parallelism {max_parallelism}"
        )));
    }
    Ok(PlanSettings {
        parallelism,
        max_parallelism,
        name: submitted
            .name
            .clone()
            .or_else(|| merged.get("pipeline.name").cloned()),
        merged,
    })
}

/// Plans a SQL script into a job graph.
pub async fn plan_job(sql: &str, config: &JobConfig) -> Result<JobGraph, SqlError> {
    let statements = parse_script(sql)?;
    let mut set_options = BTreeMap::new();
    let mut planner = Planner::new();
    let mut insert = None;
    for located in statements {
        let at = located.location;
        match located.statement {
            Statement::Set { key, value } => {
                set_options.insert(key, value);
            }
            Statement::CreateTable(table) => planner.create_table(table, at)?,
            Statement::CreateView { name, query } => planner.create_view(&name, query, at).await?,
            Statement::Insert { table, query } => {
                if insert.is_some() {
                    return Err(SqlError::at(
                        at,
                        "a job runs one INSERT INTO; several inserts in one job need EXECUTE STATEMENT SET, which this version does not support",
                    ));
                }
                insert = Some((table, query, at));
            }
        }
    }
    let (sink, query, at) = insert.ok_or_else(|| {
        SqlError::script("the script has no INSERT INTO statement, so there is no job to run")
    })?;
    let settings = settings(&set_options, config)?;
    planner.parallelism = settings.parallelism;
    planner.location = at;
    let plan = planner.logical_plan(query).await?;
    let stream = planner.translate(&plan)?;
    planner.sink(&sink, stream)?;
    let name = settings
        .name
        .unwrap_or_else(|| format!("insert-into_{sink}"));
    let mut graph = planner.into_graph(name, settings.max_parallelism);
    graph.options = settings.merged;
    Ok(graph)
}

/// One streaming operator before chaining.
struct PlanNode {
    op: OperatorNode,
    parallelism: u32,
    input: Option<(usize, Partitioning)>,
    /// What the operator emits (data columns).
    schema: SchemaRef,
    updating: bool,
}

/// The tail of a stream being planned.
#[derive(Clone)]
struct Stream {
    node: usize,
    schema: DFSchemaRef,
    /// The operator that made the stream updating, for error messages.
    updated_by: Option<String>,
}

struct Planner {
    state: SessionState,
    tables: HashMap<String, TableDescriptor>,
    nodes: Vec<PlanNode>,
    parallelism: u32,
    location: Location,
}

fn session_state() -> SessionState {
    let mut config = SessionConfig::new();
    let sql = &mut config.options_mut().sql_parser;
    // Flink identifiers are case-sensitive; strings are plain UTF-8.
    sql.enable_ident_normalization = false;
    sql.collect_spans = true;
    sql.map_string_types_to_utf8view = false;
    crate::functions::register(
        SessionStateBuilder::new()
            .with_config(config)
            .with_default_features(),
    )
    .build()
}

impl Planner {
    fn new() -> Self {
        Planner {
            state: session_state(),
            tables: HashMap::new(),
            nodes: Vec::new(),
            parallelism: 1,
            location: Location::default(),
        }
    }

    /// A DataFusion error as a SQL error, at the span DataFusion found or
    /// else at the statement.
    fn error(&self, error: DataFusionError) -> SqlError {
        let location = error
            .diagnostic()
            .and_then(|d| d.span)
            .map(|s| Location {
                line: s.start.line,
                column: s.start.column,
            })
            .filter(|l| l.line > 0)
            .unwrap_or(self.location);
        let message = match error.find_root() {
            DataFusionError::Plan(m) => m.clone(),
            DataFusionError::SchemaError(e, _) => e.to_string(),
            root => root.to_string(),
        };
        SqlError::at(location, message)
    }

    fn unsupported(&self, what: impl Into<String>) -> SqlError {
        SqlError::at(self.location, what)
    }

    fn create_table(&mut self, table: TableDescriptor, at: Location) -> Result<(), SqlError> {
        if self.tables.contains_key(&table.name) {
            return Err(SqlError::at(
                at,
                format!("table '{}' already exists", table.name),
            ));
        }
        table
            .require_connector()
            .map_err(|e| SqlError::at(at, e.to_string()))?;
        self.state
            .schema_for_ref(TableReference::bare(table.name.as_str()))
            .and_then(|schema| {
                schema.register_table(
                    table.name.clone(),
                    Arc::new(datafusion::catalog::empty::EmptyTable::new(
                        table.schema.clone(),
                    )),
                )
            })
            .map_err(|e| SqlError::at(at, e.to_string()))?;
        self.tables.insert(table.name.clone(), table);
        Ok(())
    }

    async fn create_view(
        &mut self,
        name: &str,
        query: Box<ast::Query>,
        at: Location,
    ) -> Result<(), SqlError> {
        self.location = at;
        let plan = self.query_plan(query).await?;
        self.state
            .schema_for_ref(TableReference::bare(name))
            .and_then(|schema| {
                schema.register_table(
                    name.to_string(),
                    Arc::new(datafusion::catalog::view::ViewTable::new(plan, None)),
                )
            })
            .map_err(|e| SqlError::at(at, e.to_string()))?;
        Ok(())
    }

    async fn query_plan(&self, mut query: Box<ast::Query>) -> Result<LogicalPlan, SqlError> {
        crate::functions::rewrite_query(&mut query)?;
        let statement = DfStatement::Statement(Box::new(ast::Statement::Query(query)));
        self.state
            .statement_to_plan(statement)
            .await
            .map_err(|e| self.error(e))
    }

    async fn logical_plan(&self, query: Box<ast::Query>) -> Result<LogicalPlan, SqlError> {
        let plan = self.query_plan(query).await?;
        self.state.optimize(&plan).map_err(|e| self.error(e))
    }

    fn push(&mut self, node: PlanNode) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn physical(&self, expr: &Expr, schema: &DFSchema) -> Result<Arc<dyn PhysicalExpr>, SqlError> {
        create_physical_expr(
            expr,
            schema,
            self.state.execution_props(),
            &PhysicalPlanningContext::default(),
        )
        .map_err(|e| self.error(e))
    }

    /// Adds a Calc computing `exprs` (named after `output`) from `input`.
    fn calc(
        &mut self,
        input: &Stream,
        predicate: Option<&Expr>,
        exprs: &[Expr],
        output: DFSchemaRef,
    ) -> Result<Stream, SqlError> {
        let predicate = predicate
            .map(|p| self.physical(p, &input.schema))
            .transpose()?;
        let projections = exprs
            .iter()
            .map(|e| self.physical(e, &input.schema))
            .collect::<Result<Vec<_>, _>>()?;
        let fields = projections
            .iter()
            .zip(output.fields())
            .map(|(p, f)| {
                p.data_type(input.schema.as_arrow())
                    .map(|t| Field::new(f.name(), t, true))
                    .map_err(|e| self.error(e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output_schema = Arc::new(Schema::new(fields));
        let upstream = &self.nodes[input.node];
        let node = PlanNode {
            parallelism: upstream.parallelism,
            updating: upstream.updating,
            input: Some((input.node, Partitioning::Forward)),
            schema: output_schema.clone(),
            op: OperatorNode::Calc {
                predicate,
                projections,
                output_schema,
            },
        };
        Ok(Stream {
            node: self.push(node),
            schema: output,
            updated_by: input.updated_by.clone(),
        })
    }

    fn translate(&mut self, plan: &LogicalPlan) -> Result<Stream, SqlError> {
        match plan {
            LogicalPlan::TableScan(scan) => {
                let name = scan.table_name.table();
                let table =
                    self.tables.get(name).cloned().ok_or_else(|| {
                        self.unsupported(format!("table '{name}' is not declared"))
                    })?;
                validate_source(&table).map_err(|e| self.unsupported(e.to_string()))?;
                let parallelism = parallelism_option(&table, "source.parallelism")
                    .map_err(|m| self.unsupported(m))?
                    .unwrap_or(self.parallelism);
                let node = self.push(PlanNode {
                    schema: table.schema.clone(),
                    op: OperatorNode::Source {
                        table: table.clone(),
                    },
                    parallelism,
                    input: None,
                    updating: false,
                });
                let full =
                    DFSchema::try_from_qualified_schema(scan.table_name.clone(), &table.schema)
                        .map_err(|e| self.error(e))?;
                let stream = Stream {
                    node,
                    schema: Arc::new(full),
                    updated_by: None,
                };
                let filter = datafusion::logical_expr::utils::conjunction(scan.filters.clone());
                if scan.projection.is_none() && filter.is_none() {
                    return Ok(stream);
                }
                let exprs: Vec<Expr> = scan
                    .projected_schema
                    .columns()
                    .into_iter()
                    .map(Expr::Column)
                    .collect();
                self.calc(
                    &stream,
                    filter.as_ref(),
                    &exprs,
                    scan.projected_schema.clone(),
                )
            }
            LogicalPlan::Projection(projection) => {
                let input = self.translate(&projection.input)?;
                self.calc(&input, None, &projection.expr, projection.schema.clone())
            }
            LogicalPlan::Filter(filter) => {
                let input = self.translate(&filter.input)?;
                let exprs: Vec<Expr> = input
                    .schema
                    .columns()
                    .into_iter()
                    .map(Expr::Column)
                    .collect();
                let schema = input.schema.clone();
                self.calc(&input, Some(&filter.predicate), &exprs, schema)
            }
            LogicalPlan::SubqueryAlias(alias) => {
                let input = self.translate(&alias.input)?;
                Ok(Stream {
                    schema: alias.schema.clone(),
                    ..input
                })
            }
            LogicalPlan::Aggregate(aggregate) => self.aggregate(aggregate),
            other => Err(self.unsupported(format!(
                "{} is not supported in streaming queries by this version of rtdw",
                describe_plan(other)
            ))),
        }
    }

    fn aggregate(
        &mut self,
        aggregate: &datafusion::logical_expr::Aggregate,
    ) -> Result<Stream, SqlError> {
        let input = self.translate(&aggregate.input)?;
        if aggregate
            .group_expr
            .iter()
            .any(|e| matches!(e, Expr::GroupingSet(_)))
        {
            return Err(self.unsupported(
                "GROUPING SETS, CUBE and ROLLUP are not supported by this version of rtdw",
            ));
        }
        let key_count = aggregate.group_expr.len();
        let mut pre_exprs: Vec<Expr> = aggregate.group_expr.clone();
        let mut specs = Vec::new();
        let mut selects = Vec::new();
        for (i, expr) in aggregate.aggr_expr.iter().enumerate() {
            let (spec, argument) = self.aggregate_spec(
                expr,
                &input,
                aggregate.schema.field(key_count + i).data_type(),
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
        // The Calc before the exchange computes keys, then arguments.
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
        let pre_schema =
            DFSchema::try_from(Schema::new(pre_fields.clone())).map_err(|e| self.error(e))?;
        let pre = self.calc(&input, None, &pre_exprs, Arc::new(pre_schema))?;
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
        let keys: Vec<String> = aggregate.group_expr.iter().map(unqualified).collect();
        let description = format!(
            "GroupAggregate(groupBy=[{}], select=[{}])",
            keys.join(", "),
            keys.iter()
                .chain(&selects)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
        // A global aggregate (no keys) runs as one subtask, as in Flink.
        let parallelism = if key_count == 0 { 1 } else { self.parallelism };
        let node = self.push(PlanNode {
            op: OperatorNode::GroupAggregate {
                key_types,
                specs,
                output_schema: output_schema.clone(),
                description: description.clone(),
            },
            parallelism,
            input: Some((pre.node, Partitioning::Hash((0..key_count).collect()))),
            schema: output_schema,
            updating: true,
        });
        Ok(Stream {
            node,
            schema: aggregate.schema.clone(),
            updated_by: Some(description),
        })
    }

    /// The accumulator spec of one aggregate call and the argument it reads.
    fn aggregate_spec(
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
        if params.distinct {
            return Err(self.unsupported(format!(
                "{name}(DISTINCT ...) is not supported by this version of rtdw"
            )));
        }
        if params.filter.is_some() || !params.order_by.is_empty() {
            return Err(self.unsupported(format!(
                "{name} with FILTER or ORDER BY is not supported by this version of rtdw"
            )));
        }
        let function = match name.as_str() {
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
        if matches!(function, AggregateFunction::Min | AggregateFunction::Max)
            && input.updated_by.is_some()
        {
            return Err(self.unsupported(format!(
                "{name} over an updating input (produced by {}) is not supported by this version of rtdw",
                input.updated_by.as_deref().unwrap_or_default()
            )));
        }
        let [arg] = params.args.as_slice() else {
            return Err(self.unsupported(format!("{name} takes exactly one argument")));
        };
        let count_star = function == AggregateFunction::Count
            && matches!(arg, Expr::Literal(value, _) if !value.is_null());
        if count_star {
            let spec = AggregateSpec {
                function: AggregateFunction::CountStar,
                input_column: None,
                input_type: DataType::Int64,
                output_type: output_type.clone(),
            };
            return Ok((spec, None));
        }
        let input_type = arg.get_type(&input.schema).map_err(|e| self.error(e))?;
        let spec = AggregateSpec {
            function,
            input_column: None,
            input_type,
            output_type: output_type.clone(),
        };
        Ok((spec, Some(arg.clone())))
    }

    fn sink(&mut self, name: &str, stream: Stream) -> Result<(), SqlError> {
        let table = self
            .tables
            .get(name)
            .cloned()
            .ok_or_else(|| self.unsupported(format!("table '{name}' is not declared")))?;
        let capabilities = validate_sink(&table).map_err(|e| self.unsupported(e.to_string()))?;
        if let Some(producer) = &stream.updated_by
            && !capabilities.accepts_updates
        {
            return Err(self.unsupported(format!(
                "Table sink '{name}' doesn't support consuming update changes which is produced by node {producer}"
            )));
        }
        let query_schema = stream.schema.clone();
        let query_fields = query_schema.fields();
        let sink_fields = table.schema.fields();
        let mismatch = || {
            let render = |fields: Vec<(String, DataType)>| {
                fields
                    .iter()
                    .map(|(n, t)| format!("{n}: {t}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            self.unsupported(format!(
                "Column types of query result and sink for '{name}' do not match. Query schema: [{}] Sink schema: [{}]",
                render(query_fields.iter().map(|f| (f.name().clone(), f.data_type().clone())).collect()),
                render(sink_fields.iter().map(|f| (f.name().clone(), f.data_type().clone())).collect()),
            ))
        };
        if query_fields.len() != sink_fields.len() {
            return Err(mismatch());
        }
        // Sinks write by position under their own column names: rename,
        // and cast where the types differ.
        let mut stream = stream;
        let conforms = query_fields
            .iter()
            .zip(sink_fields)
            .all(|(q, s)| q.name() == s.name() && q.data_type() == s.data_type());
        if !conforms {
            let mut exprs = Vec::new();
            for (column, target) in stream.schema.columns().into_iter().zip(sink_fields) {
                let source_type = stream
                    .schema
                    .field_from_column(&column)
                    .map_err(|e| self.error(e))?
                    .data_type()
                    .clone();
                let expr = Expr::Column(column);
                if source_type == *target.data_type() {
                    exprs.push(expr);
                } else if can_cast_types(&source_type, target.data_type()) {
                    exprs.push(Expr::Cast(datafusion::logical_expr::Cast::new(
                        Box::new(expr),
                        target.data_type().clone(),
                    )));
                } else {
                    return Err(mismatch());
                }
            }
            let sink_schema =
                DFSchema::try_from(table.schema.as_ref().clone()).map_err(|e| self.error(e))?;
            stream = self.calc(&stream, None, &exprs, Arc::new(sink_schema))?;
        }
        let upstream = &self.nodes[stream.node];
        let requested =
            parallelism_option(&table, "sink.parallelism").map_err(|m| self.unsupported(m))?;
        let parallelism = requested.unwrap_or(upstream.parallelism);
        if parallelism != upstream.parallelism && upstream.updating {
            return Err(self.unsupported(format!(
                "sink.parallelism {parallelism} of '{name}' differs from its changelog input's parallelism {}; updates of one key must stay in order, so leave sink.parallelism unset",
                upstream.parallelism
            )));
        }
        let partitioning = if parallelism == upstream.parallelism {
            Partitioning::Forward
        } else {
            Partitioning::Rebalance
        };
        let node = PlanNode {
            schema: upstream.schema.clone(),
            updating: upstream.updating,
            op: OperatorNode::Sink { table },
            parallelism,
            input: Some((stream.node, partitioning)),
        };
        self.push(node);
        Ok(())
    }

    /// Chains forward edges between equal parallelism into vertices.
    fn into_graph(self, name: String, max_parallelism: u32) -> JobGraph {
        let mut consumers = vec![0usize; self.nodes.len()];
        for node in &self.nodes {
            if let Some((input, _)) = &node.input {
                consumers[*input] += 1;
            }
        }
        let mut vertex_of = vec![0u32; self.nodes.len()];
        let mut vertices: Vec<Vertex> = Vec::new();
        let mut edges: Vec<Edge> = Vec::new();
        for (i, node) in self.nodes.into_iter().enumerate() {
            let chained = match &node.input {
                Some((m, Partitioning::Forward)) if consumers[*m] == 1 => {
                    let v = vertex_of[*m] as usize;
                    (vertices[v].parallelism == node.parallelism).then_some(v)
                }
                _ => None,
            };
            if let Some(v) = chained {
                vertex_of[i] = v as u32;
                let vertex = &mut vertices[v];
                vertex.chain.push(node.op);
                vertex.updating = node.updating;
                continue;
            }
            let id = vertices.len() as u32;
            vertex_of[i] = id;
            if let Some((m, partitioning)) = node.input {
                let source = vertex_of[m];
                let partitioning = match partitioning {
                    Partitioning::Forward
                        if vertices[source as usize].parallelism != node.parallelism =>
                    {
                        Partitioning::Rebalance
                    }
                    other => other,
                };
                let schema = vertices[source as usize]
                    .chain
                    .last()
                    .map(output_schema)
                    .unwrap_or_else(|| Arc::new(Schema::empty()));
                edges.push(Edge {
                    id: edges.len() as u32,
                    source,
                    target: id,
                    target_input: 0,
                    partitioning,
                    schema,
                });
            }
            vertices.push(Vertex {
                id,
                name: String::new(),
                parallelism: node.parallelism,
                chain: vec![node.op],
                updating: node.updating,
            });
        }
        for vertex in &mut vertices {
            vertex.name = vertex
                .chain
                .iter()
                .map(OperatorNode::describe)
                .collect::<Vec<_>>()
                .join(" -> ");
        }
        JobGraph {
            name,
            vertices,
            edges,
            max_parallelism,
            options: BTreeMap::new(),
        }
    }
}

/// The data columns an operator emits.
fn output_schema(op: &OperatorNode) -> SchemaRef {
    match op {
        OperatorNode::Source { table } | OperatorNode::Sink { table } => table.schema.clone(),
        OperatorNode::Calc { output_schema, .. }
        | OperatorNode::GroupAggregate { output_schema, .. } => output_schema.clone(),
    }
}

fn parallelism_option(table: &TableDescriptor, key: &str) -> Result<Option<u32>, String> {
    table
        .options
        .get(key)
        .map(|v| {
            positive_integer(v).ok_or_else(|| {
                format!(
                    "table '{}': option '{key}' must be a positive integer, got '{v}'",
                    table.name
                )
            })
        })
        .transpose()
}

/// A positive integer option value.
fn positive_integer(value: &str) -> Option<u32> {
    value.trim().parse::<u32>().ok().filter(|p| *p > 0)
}

/// An expression as the user wrote it, columns without their table.
fn unqualified(expr: &Expr) -> String {
    match expr {
        Expr::Column(column) => column.name.clone(),
        other => other.to_string(),
    }
}

/// `COUNT(*)`, `SUM(amount)`, ...
fn describe_aggregate(spec: &AggregateSpec, argument: Option<&Expr>) -> String {
    let name = match spec.function {
        AggregateFunction::CountStar | AggregateFunction::Count => "COUNT",
        AggregateFunction::Sum => "SUM",
        AggregateFunction::Avg => "AVG",
        AggregateFunction::Min => "MIN",
        AggregateFunction::Max => "MAX",
    };
    format!(
        "{name}({})",
        argument.map(unqualified).unwrap_or_else(|| "*".into())
    )
}

/// Names a plan node the way a user wrote it.
fn describe_plan(plan: &LogicalPlan) -> String {
    match plan {
        LogicalPlan::Sort(_) => "ORDER BY".into(),
        LogicalPlan::Limit(_) => "LIMIT".into(),
        LogicalPlan::Join(_) => "JOIN".into(),
        LogicalPlan::Union(_) => "UNION".into(),
        LogicalPlan::Window(_) => "OVER (window function)".into(),
        LogicalPlan::Values(_) => "VALUES".into(),
        LogicalPlan::EmptyRelation(_) => "SELECT without FROM".into(),
        other => other.display().to_string(),
    }
}
