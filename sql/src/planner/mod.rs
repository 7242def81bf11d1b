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
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, Projection};
use datafusion::physical_expr::{PhysicalExpr, create_physical_expr};
use datafusion::prelude::SessionConfig;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast;
use rtdw_connector_core::options::Role;
use rtdw_connector_core::{ConnectorRegistry, TableDescriptor};
use rtdw_operators::aggregate::{AggregateFunction, AggregateSpec, GroupAggregate};
use rtdw_operators::keys::DEFAULT_MAX_PARALLELISM;
use rtdw_operators::window::WindowKind;

mod aggregate;
mod catalogs;
mod chaining;
mod interval;
mod join;
mod lookup;
mod mini_batch;
mod rank;
mod sink;
mod tables;
mod window;

use mini_batch::AggregationMode;

use crate::error::{Location, SqlError};
use crate::script::{Insert, Located, LookupClause, Statement, TableDefinition, parse_script};
use rtdw_plan::{Edge, JobGraph, OperatorNode, Partitioning, Vertex};

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

/// Job options holding durations, checked when the job is planned.
const DURATION_OPTIONS: &[&str] = &["table.exec.state.ttl", "table.exec.source.idle-timeout"];

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
    for key in DURATION_OPTIONS {
        if let Some(value) = merged.get(*key)
            && rtdw_operators::time::parse_duration(value).is_none()
        {
            return Err(SqlError::script(format!(
                "option '{key}' must be a duration such as '5 s' or '10 min', got '{value}'"
            )));
        }
    }
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

/// Plans a SQL script into a job graph, checking every table against the
/// connectors of `connectors`.
pub async fn plan_job(
    sql: &str,
    config: &JobConfig,
    connectors: &ConnectorRegistry,
) -> Result<JobGraph, SqlError> {
    let script = parse_script(sql)?;
    let statements = script.statements;
    let mut set_options = BTreeMap::new();
    let mut planner = Planner::new(connectors.clone());
    planner.lookups = script.lookups;
    planner.hints = script.hints;
    // Each insert with the statement it is in, for error messages.
    let mut inserts: Vec<(Located<Insert>, String)> = Vec::new();
    for (index, located) in statements.into_iter().enumerate() {
        let at = located.location;
        let statement = format!("statement {} ({})", index + 1, located.statement.describe());
        let named = |e: SqlError| e.in_statement(|| statement.clone());
        match located.statement {
            Statement::Set { key, value } => {
                set_options.insert(key, value);
            }
            Statement::CreateTable(table) => {
                planner.location = at;
                planner
                    .create_catalog_table(table, at)
                    .await
                    .map_err(named)?
            }
            Statement::CreateCatalog { name, options } => {
                planner.location = at;
                planner.create_catalog(&name, &options).map_err(named)?
            }
            Statement::CreateDatabase {
                name,
                if_not_exists,
            } => {
                planner.location = at;
                planner
                    .create_database(&name, if_not_exists)
                    .await
                    .map_err(named)?
            }
            Statement::UseCatalog(name) => {
                planner.location = at;
                planner.use_catalog(&name).map_err(named)?
            }
            Statement::UseDatabase(name) => {
                planner.location = at;
                planner.use_database(&name).await.map_err(named)?
            }
            Statement::CreateView { name, query } => {
                planner.create_view(&name, query, at).await.map_err(named)?
            }
            Statement::Insert(insert) => {
                ensure_one_job(&inserts, at).map_err(named)?;
                let statement = statement.clone();
                inserts.push((
                    Located {
                        statement: insert,
                        location: at,
                    },
                    statement,
                ));
            }
            Statement::StatementSet(set) => {
                ensure_one_job(&inserts, at).map_err(named)?;
                inserts = set
                    .into_iter()
                    .map(|insert| {
                        let described = format!(
                            "statement {} (INSERT INTO {} of the statement set)",
                            index + 1,
                            insert.statement.table
                        );
                        (insert, described)
                    })
                    .collect();
            }
        }
    }
    if inserts.is_empty() {
        return Err(SqlError::script(
            "the script has no INSERT INTO statement, so there is no job to run",
        ));
    }
    let settings = settings(&set_options, config)?;
    planner.parallelism = settings.parallelism;
    planner.aggregation = AggregationMode::from_options(&settings.merged)?;
    planner.options = settings.merged.clone();
    let mut sinks = Vec::new();
    for (insert, statement) in inserts {
        planner.location = insert.location;
        let Insert { table, query } = insert.statement;
        let planned_before = planner.nodes.len();
        planner
            .plan_insert(&table, query)
            .await
            .map_err(|e| e.in_statement(|| statement.clone()))?;
        planner
            .check_external_tables(planned_before)
            .await
            .map_err(|e| e.in_statement(|| statement))?;
        sinks.push(table);
    }
    let name = settings
        .name
        .unwrap_or_else(|| format!("insert-into_{}", sinks.join(",")));
    let mut graph = planner.into_graph(name, settings.max_parallelism);
    graph.options = settings.merged;
    Ok(graph)
}

/// A script is one job: one INSERT INTO, or one statement set of several.
fn ensure_one_job(earlier: &[(Located<Insert>, String)], at: Location) -> Result<(), SqlError> {
    match earlier.first() {
        None => Ok(()),
        Some((first, _)) => Err(SqlError::at(
            at,
            format!(
                "a script is one job, and it already has the INSERT INTO {} at line {}; put several inserts in one EXECUTE STATEMENT SET BEGIN ... END",
                first.statement.table, first.location.line
            ),
        )),
    }
}

/// One streaming operator before chaining.
struct PlanNode {
    op: OperatorNode,
    parallelism: u32,
    /// The nodes it reads, by input index, and how each is partitioned.
    inputs: Vec<(usize, Partitioning)>,
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
    /// For a changelog, the columns identifying the row each change is
    /// about (Flink's upsert key): a sink whose primary key is these
    /// columns can take upserts.
    upsert_key: Option<Vec<usize>>,
}

/// A stream with the positions of its key columns.
struct KeyedStream {
    stream: Stream,
    /// Where each key is.
    keys: Vec<usize>,
    /// How many key columns were appended to compute keys that are
    /// expressions: they are the stream's last columns.
    appended: usize,
}

struct Planner {
    state: SessionState,
    /// The connectors tables are checked against.
    connectors: ConnectorRegistry,
    tables: HashMap<String, tables::PlannedTable>,
    /// Per table read, its source with computed columns and watermark:
    /// every query of a statement set reading the table shares it.
    scans: HashMap<String, Stream>,
    nodes: Vec<PlanNode>,
    parallelism: u32,
    /// Rows kept per partition by the Top-N filter above each
    /// `ROW_NUMBER()` window, by the window node's address.
    rank_limits: HashMap<usize, u64>,
    /// The window of each window TVF call, by the id its markers carry.
    windows: Vec<WindowKind>,
    /// Window markers may be evaluated: set while a window aggregation's
    /// input is translated.
    markers_allowed: bool,
    /// The job's merged options (state TTL, ...).
    options: BTreeMap<String, String>,
    /// How GROUP BYs run (mini-batch, phases), from the options.
    aggregation: AggregationMode,
    location: Location,
    /// The script's lookup-join clauses.
    lookups: Vec<LookupClause>,
    /// The script's `/*+ OPTIONS(...) */` table hints.
    hints: Vec<crate::hints::OptionsHint>,
    /// The catalogs the script created, by name.
    catalogs: HashMap<String, Arc<dyn rtdw_connector_core::catalog::Catalog>>,
    /// Where unqualified table names point (`USE CATALOG`, `USE`).
    current_catalog: String,
    current_database: String,
}

fn session_state() -> SessionState {
    let mut config = SessionConfig::new()
        .with_default_catalog_and_schema(catalogs::DEFAULT_CATALOG, catalogs::DEFAULT_DATABASE);
    let sql = &mut config.options_mut().sql_parser;
    // Flink identifiers are case-sensitive; strings are plain UTF-8.
    sql.enable_ident_normalization = false;
    sql.collect_spans = true;
    sql.map_string_types_to_utf8view = false;
    // COUNT(DISTINCT x) is kept as one aggregate with a per-group value
    // multiset, not rewritten into two GROUP BYs (an extra shuffle and a
    // second changelog stage for the same result).
    let rules = datafusion::optimizer::Optimizer::new()
        .rules
        .into_iter()
        .filter(|rule| rule.name() != "single_distinct_aggregation_to_group_by")
        .collect();
    crate::functions::register(
        SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_optimizer_rules(rules),
    )
    .build()
}

impl Planner {
    fn new(connectors: ConnectorRegistry) -> Self {
        Planner {
            state: session_state(),
            connectors,
            tables: HashMap::new(),
            scans: HashMap::new(),
            rank_limits: HashMap::new(),
            windows: Vec::new(),
            markers_allowed: false,
            nodes: Vec::new(),
            options: BTreeMap::new(),
            aggregation: AggregationMode::default(),
            parallelism: 1,
            location: Location::default(),
            lookups: Vec::new(),
            hints: Vec::new(),
            catalogs: HashMap::new(),
            current_catalog: catalogs::DEFAULT_CATALOG.to_string(),
            current_database: catalogs::DEFAULT_DATABASE.to_string(),
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

    /// Checks the tables of the nodes planned from `first` on against
    /// their outside systems (reachable, credentials, table and columns),
    /// so a wrong URL or a missing table fails the submission.
    async fn check_external_tables(&self, first: usize) -> Result<(), SqlError> {
        for node in &self.nodes[first..] {
            let (table, role) = match &node.op {
                OperatorNode::Source { table } => (table, Role::Source),
                OperatorNode::Sink { table } | OperatorNode::Committer { table } => {
                    (table, Role::Sink)
                }
                OperatorNode::LookupJoin { table, .. } => (table, Role::Lookup),
                _ => continue,
            };
            self.connectors
                .check_external(table, role)
                .await
                .map_err(|e| self.unsupported(e.to_string()))?;
        }
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

    async fn query_plan(&mut self, mut query: Box<ast::Query>) -> Result<LogicalPlan, SqlError> {
        self.rewrite_window_tvfs(&mut query)?;
        crate::functions::rewrite_query(&mut query)?;
        let statement = DfStatement::Statement(Box::new(ast::Statement::Query(query)));
        let references = self
            .state
            .resolve_table_references(&statement)
            .map_err(|e| self.error(e))?;
        for reference in &references {
            match self
                .hints
                .iter()
                .find(|h| h.scanned == reference.table())
                .cloned()
            {
                Some(hint) => self.declare_hinted(&hint).await?,
                None => self.load_catalog_table(reference).await?,
            }
        }
        self.state
            .statement_to_plan(statement)
            .await
            .map_err(|e| self.error(e))
    }

    async fn logical_plan(&mut self, query: Box<ast::Query>) -> Result<LogicalPlan, SqlError> {
        let plan = self.query_plan(query).await?;
        self.state.optimize(&plan).map_err(|e| self.error(e))
    }

    /// A duration option of the job (checked by [`settings`]), if set.
    fn duration_option(&self, key: &str) -> Option<std::time::Duration> {
        self.options
            .get(key)
            .and_then(|v| rtdw_operators::time::parse_duration(v))
    }

    /// Plans one `INSERT INTO table query` into the job.
    async fn plan_insert(&mut self, table: &str, query: Box<ast::Query>) -> Result<(), SqlError> {
        let target = TableReference::parse_str(table);
        self.load_catalog_table(&target).await?;
        let plan = self.logical_plan(query).await?;
        let stream = self.translate(&plan)?;
        self.sink(&self.table_key(&target), stream)
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

    /// Adds a Calc passing on the columns of `output`, taken from `input` by
    /// name, of the rows `predicate` accepts (all rows without one).
    fn select(
        &mut self,
        input: &Stream,
        predicate: Option<&Expr>,
        output: DFSchemaRef,
    ) -> Result<Stream, SqlError> {
        self.calc(input, predicate, &column_exprs(&output), output)
    }

    /// Adds a Calc computing `exprs` (named after `output`) from `input`.
    fn calc(
        &mut self,
        input: &Stream,
        predicate: Option<&Expr>,
        exprs: &[Expr],
        output: DFSchemaRef,
    ) -> Result<Stream, SqlError> {
        if !self.markers_allowed && exprs.iter().chain(predicate).any(window::contains_marker) {
            return Err(self.unsupported(
                "window_start, window_end and window_time of a window TVF are only available to a window aggregation (GROUP BY window_start, window_end)",
            ));
        }
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
            inputs: vec![(input.node, Partitioning::Forward)],
            schema: output_schema.clone(),
            op: OperatorNode::Calc {
                predicate,
                projections,
                output_schema,
            },
        };
        // The upsert key survives when every key column is projected as is.
        let upsert_key = input.upsert_key.as_ref().and_then(|key| {
            key.iter()
                .map(|&k| {
                    exprs.iter().position(|e| {
                        matches!(e, Expr::Column(c) if input.schema.index_of_column(c).ok() == Some(k))
                    })
                })
                .collect::<Option<Vec<usize>>>()
        });
        Ok(Stream {
            node: self.push(node),
            schema: output,
            updated_by: input.updated_by.clone(),
            upsert_key,
        })
    }

    /// Locates the columns holding `keys` (partitioning or sort keys) in a
    /// stream; keys that are expressions rather than plain columns (a
    /// cast, a function) are computed by a Calc appending them, named
    /// `$<prefix><i>`.
    fn key_columns(
        &mut self,
        stream: Stream,
        keys: &[Expr],
        prefix: &str,
    ) -> Result<KeyedStream, SqlError> {
        let position = |key: &Expr| match key {
            Expr::Column(column) => stream.schema.index_of_column(column).ok(),
            _ => None,
        };
        if let Some(positions) = keys.iter().map(position).collect::<Option<Vec<usize>>>() {
            return Ok(KeyedStream {
                stream,
                keys: positions,
                appended: 0,
            });
        }
        let width = stream.schema.fields().len();
        let mut exprs = column_exprs(&stream.schema);
        let mut fields: Vec<(Option<TableReference>, Arc<Field>)> = stream
            .schema
            .iter()
            .map(|(q, f)| (q.cloned(), f.clone()))
            .collect();
        for (i, key) in keys.iter().enumerate() {
            let data_type = key.get_type(&stream.schema).map_err(|e| self.error(e))?;
            fields.push((
                None,
                Arc::new(Field::new(format!("${prefix}{i}"), data_type, true)),
            ));
            exprs.push(key.clone());
        }
        let schema =
            DFSchema::new_with_metadata(fields, Default::default()).map_err(|e| self.error(e))?;
        let stream = self.calc(&stream, None, &exprs, Arc::new(schema))?;
        Ok(KeyedStream {
            stream,
            keys: (width..width + keys.len()).collect(),
            appended: keys.len(),
        })
    }

    fn translate(&mut self, plan: &LogicalPlan) -> Result<Stream, SqlError> {
        match plan {
            LogicalPlan::TableScan(scan) => self.scan(scan),
            LogicalPlan::Projection(projection) => {
                let input = self.translate(&projection.input)?;
                self.calc(&input, None, &projection.expr, projection.schema.clone())
            }
            LogicalPlan::Filter(filter) => {
                if let Some(ranked) = self.try_rank(filter)? {
                    return Ok(ranked);
                }
                let input = self.translate(&filter.input)?;
                let schema = input.schema.clone();
                self.select(&input, Some(&filter.predicate), schema)
            }
            LogicalPlan::SubqueryAlias(alias) => {
                let input = self.translate(&alias.input)?;
                Ok(Stream {
                    schema: alias.schema.clone(),
                    ..input
                })
            }
            LogicalPlan::Aggregate(aggregate) => self.aggregate(aggregate),
            LogicalPlan::Join(join) => self.join(join),
            LogicalPlan::Window(window) => self.window(window),
            other => Err(self.unsupported(format!(
                "{} is not supported in streaming queries by this version of rtdw",
                describe_plan(other)
            ))),
        }
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

/// Each column of `schema`, as an expression.
fn column_exprs(schema: &DFSchema) -> Vec<Expr> {
    schema.columns().into_iter().map(Expr::Column).collect()
}

/// The expression `projection` computes its output column `column` with,
/// without its alias; `None` when it has no such column.
fn projected<'a>(projection: &'a Projection, column: &str) -> Option<&'a Expr> {
    let index = projection
        .schema
        .fields()
        .iter()
        .position(|f| f.name() == column)?;
    match projection.expr.get(index)? {
        Expr::Alias(alias) => Some(alias.expr.as_ref()),
        other => Some(other),
    }
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
