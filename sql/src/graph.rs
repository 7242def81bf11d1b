//! The job graph: what the coordinator schedules and every task manager
//! instantiates.

use std::fmt::Write;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use datafusion::physical_expr::PhysicalExpr;
use rtdw_connectors::TableDescriptor;
use rtdw_operators::aggregate::AggregateSpec;

/// How records travel along an edge from the upstream subtasks to the
/// downstream ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Partitioning {
    /// Subtask i to subtask i (equal parallelism).
    Forward,
    /// By the hash of these columns' values, through key groups.
    Hash(Vec<usize>),
    /// Round-robin over all downstream subtasks.
    Rebalance,
    /// Every record to every downstream subtask.
    Broadcast,
}

/// One operator of a vertex's chain.
#[derive(Debug, Clone)]
pub enum OperatorNode {
    /// Reads a table.
    Source {
        /// The table read.
        table: TableDescriptor,
    },
    /// Filters and projects.
    Calc {
        /// Rows failing this are dropped.
        predicate: Option<Arc<dyn PhysicalExpr>>,
        /// The output columns.
        projections: Vec<Arc<dyn PhysicalExpr>>,
        /// Their schema.
        output_schema: SchemaRef,
    },
    /// Streaming GROUP BY over the leading key columns.
    GroupAggregate {
        /// Types of the key columns.
        key_types: Vec<DataType>,
        /// The aggregates.
        specs: Vec<AggregateSpec>,
        /// Keys then aggregates.
        output_schema: SchemaRef,
        /// Flink-style description, e.g. `GroupAggregate(groupBy=[k], select=[k, COUNT(*)])`.
        description: String,
    },
    /// Writes a table.
    Sink {
        /// The table written.
        table: TableDescriptor,
    },
}

impl OperatorNode {
    /// The operator's kind: `Source`, `Calc`, `GroupAggregate` or `Sink`.
    pub fn kind(&self) -> &'static str {
        match self {
            OperatorNode::Source { .. } => "Source",
            OperatorNode::Calc { .. } => "Calc",
            OperatorNode::GroupAggregate { .. } => "GroupAggregate",
            OperatorNode::Sink { .. } => "Sink",
        }
    }

    /// A short description for vertex names and plans.
    pub fn describe(&self) -> String {
        match self {
            OperatorNode::Source { table } => format!("Source: {}", table.name),
            OperatorNode::Calc {
                predicate,
                projections,
                ..
            } => {
                let select: Vec<String> = projections.iter().map(|p| p.to_string()).collect();
                match predicate {
                    Some(p) => format!("Calc(select=[{}], where=[{p}])", select.join(", ")),
                    None => format!("Calc(select=[{}])", select.join(", ")),
                }
            }
            OperatorNode::GroupAggregate { description, .. } => description.clone(),
            OperatorNode::Sink { table } => format!("Sink: {}", table.name),
        }
    }
}

/// A set of chained operators run by one actor per subtask.
#[derive(Debug, Clone)]
pub struct Vertex {
    /// Id, unique in the graph; vertices are numbered from the sources.
    pub id: u32,
    /// The chain, e.g. "Source: orders -> Calc(...)".
    pub name: String,
    /// Number of subtasks.
    pub parallelism: u32,
    /// The operators, in order. A source can only come first, a sink last.
    pub chain: Vec<OperatorNode>,
    /// Does the last operator emit updates and deletes (not only inserts)?
    pub updating: bool,
}

/// A data connection between two vertices.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Id, unique in the graph.
    pub id: u32,
    /// Upstream vertex.
    pub source: u32,
    /// Downstream vertex.
    pub target: u32,
    /// Which input of the downstream vertex this edge feeds.
    pub target_input: u32,
    /// How records are distributed.
    pub partitioning: Partitioning,
    /// The schema of what flows, for naming hash keys.
    pub schema: SchemaRef,
}

impl Edge {
    /// `FORWARD`, `HASH[k1, k2]`, `REBALANCE` or `BROADCAST`.
    pub fn describe(&self) -> String {
        match &self.partitioning {
            Partitioning::Forward => "FORWARD".into(),
            Partitioning::Hash(keys) if keys.is_empty() => "GLOBAL".into(),
            Partitioning::Hash(keys) => {
                let names: Vec<&str> = keys
                    .iter()
                    .map(|&k| self.schema.field(k).name().as_str())
                    .collect();
                format!("HASH[{}]", names.join(", "))
            }
            Partitioning::Rebalance => "REBALANCE".into(),
            Partitioning::Broadcast => "BROADCAST".into(),
        }
    }
}

/// A planned job.
#[derive(Debug, Clone)]
pub struct JobGraph {
    /// The job's name.
    pub name: String,
    /// Vertices, by id (`vertices[i].id == i`).
    pub vertices: Vec<Vertex>,
    /// Edges, by id.
    pub edges: Vec<Edge>,
    /// Number of key groups.
    pub max_parallelism: u32,
    /// The job's options: its `SET` statements overridden by those given at
    /// submission (checkpointing, restart strategy, ...).
    pub options: std::collections::BTreeMap<String, String>,
}

impl JobGraph {
    /// The edges into a vertex, ordered by input.
    pub fn inputs(&self, vertex: u32) -> Vec<&Edge> {
        let mut edges: Vec<&Edge> = self.edges.iter().filter(|e| e.target == vertex).collect();
        edges.sort_by_key(|e| e.target_input);
        edges
    }

    /// The edges out of a vertex.
    pub fn outputs(&self, vertex: u32) -> Vec<&Edge> {
        self.edges.iter().filter(|e| e.source == vertex).collect()
    }

    /// The slots the job needs: with slot sharing, one subtask of every
    /// vertex fits in a slot, so the highest parallelism.
    pub fn required_slots(&self) -> u32 {
        self.vertices
            .iter()
            .map(|v| v.parallelism)
            .max()
            .unwrap_or(0)
    }

    /// A readable plan: vertices with their chains and parallelism, edges
    /// with their partitioning and changelog mode.
    pub fn explain(&self) -> String {
        let mut text = String::new();
        for v in &self.vertices {
            let mode = if v.updating { "retract" } else { "insert-only" };
            let _ = writeln!(
                text,
                "Vertex {} [parallelism={}, changelog={mode}]",
                v.id, v.parallelism
            );
            for op in &v.chain {
                let _ = writeln!(text, "  {}", op.describe());
            }
        }
        for e in &self.edges {
            let mode = if self.vertices[e.source as usize].updating {
                "retract"
            } else {
                "insert-only"
            };
            let _ = writeln!(
                text,
                "Edge {}: vertex {} -> vertex {} [{}, {mode}]",
                e.id,
                e.source,
                e.target,
                e.describe()
            );
        }
        text
    }

    /// A digest of the plan, equal for equal plans, so a task manager can
    /// check that it derived the graph the coordinator scheduled.
    pub fn fingerprint(&self) -> u64 {
        let mut hasher = std::hash::DefaultHasher::new();
        self.explain().hash(&mut hasher);
        for v in &self.vertices {
            for op in &v.chain {
                if let OperatorNode::Source { table } | OperatorNode::Sink { table } = op {
                    table.options.hash(&mut hasher);
                }
            }
        }
        hasher.finish()
    }
}
