//! The job graph: what the coordinator schedules and every task manager
//! instantiates.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, FieldRef, SchemaRef};
use datafusion_physical_expr_common::physical_expr::PhysicalExpr;
use rtdw_connector_core::TableDescriptor;
use rtdw_operators::aggregate::{AggregateSpec, MiniBatch};
use rtdw_operators::join::JoinKind;
use rtdw_operators::rank::SortKey;
use rtdw_operators::window::WindowKind;

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
        /// Set when the input is processed in mini-batches.
        mini_batch: Option<MiniBatch>,
        /// Flink-style description, e.g. `GroupAggregate(groupBy=[k], select=[k, COUNT(*)])`.
        description: String,
    },
    /// The local half of a two-phase GROUP BY, before the exchange: folds
    /// each mini-batch into one row of partial aggregates per key.
    LocalGroupAggregate {
        /// The key columns, the input's leading ones.
        key_fields: Vec<FieldRef>,
        /// The aggregates.
        specs: Vec<AggregateSpec>,
        /// When it flushes.
        mini_batch: MiniBatch,
        /// Keys, record-count delta, then the partial states.
        output_schema: SchemaRef,
        /// Flink-style description, e.g.
        /// `LocalGroupAggregate(groupBy=[k], select=[k, COUNT(*) AS count1$0])`.
        description: String,
    },
    /// The global half of a two-phase GROUP BY, after the exchange: merges
    /// the partial aggregates into the changelog a GroupAggregate emits.
    GlobalGroupAggregate {
        /// Types of the key columns.
        key_types: Vec<DataType>,
        /// The aggregates.
        specs: Vec<AggregateSpec>,
        /// Keys then aggregates.
        output_schema: SchemaRef,
        /// When it flushes.
        mini_batch: MiniBatch,
        /// Flink-style description, e.g.
        /// `GlobalGroupAggregate(groupBy=[k], select=[k, COUNT(*)])`.
        description: String,
    },
    /// A regular join of input 0 (left) and input 1 (right), both
    /// hash-partitioned on their keys.
    Join {
        /// Inner, left, right or full.
        kind: JoinKind,
        /// The left input's columns.
        left_schema: SchemaRef,
        /// The right input's columns.
        right_schema: SchemaRef,
        /// Positions of the left keys.
        left_keys: Vec<usize>,
        /// Positions of the right keys, pairwise equal to the left ones.
        right_keys: Vec<usize>,
        /// The non-equality part of the condition, over left ++ right.
        filter: Option<Arc<dyn PhysicalExpr>>,
        /// Left columns then right columns.
        output_schema: SchemaRef,
        /// Emits a changelog (an outer join, or an updating input).
        updating: bool,
        /// `table.exec.state.ttl`.
        state_ttl: Option<Duration>,
        /// Flink-style description.
        description: String,
    },
    /// An event-time interval join of two insert-only inputs: pairs whose
    /// `right time - left time` lies in `lower_ms..=upper_ms`, state kept
    /// only until the watermark passes a row's interval.
    IntervalJoin {
        /// Inner, left, right or full.
        kind: JoinKind,
        /// The left input's columns.
        left_schema: SchemaRef,
        /// The right input's columns.
        right_schema: SchemaRef,
        /// Positions of the left keys.
        left_keys: Vec<usize>,
        /// Positions of the right keys.
        right_keys: Vec<usize>,
        /// Position of the left time column.
        left_time: usize,
        /// Position of the right time column.
        right_time: usize,
        /// Smallest `right time - left time`, in milliseconds.
        lower_ms: i64,
        /// Largest `right time - left time`, in milliseconds.
        upper_ms: i64,
        /// The rest of the condition, over left ++ right.
        filter: Option<Arc<dyn PhysicalExpr>>,
        /// Left columns then right columns.
        output_schema: SchemaRef,
        /// Flink-style description.
        description: String,
    },
    /// Deduplication and Top-N: the first `limit` rows per partition by
    /// the sort keys, with their row number as the last column.
    Rank {
        /// The input's columns.
        input_schema: SchemaRef,
        /// Positions of the partition keys.
        partition_keys: Vec<usize>,
        /// The sort keys.
        order_by: Vec<SortKey>,
        /// Rows kept per partition.
        limit: u64,
        /// The input's columns then the row number.
        output_schema: SchemaRef,
        /// Flink-style description.
        description: String,
    },
    /// Event-time window aggregation: keys, `window_start`, `window_end`,
    /// aggregates, emitted once per window when the watermark passes its
    /// end.
    WindowAggregate {
        /// Types of the leading key columns.
        key_types: Vec<DataType>,
        /// Position of the event-time column.
        time_column: usize,
        /// Tumbling, hopping or cumulating.
        window: WindowKind,
        /// The aggregates.
        specs: Vec<AggregateSpec>,
        /// Keys, window bounds, aggregates.
        output_schema: SchemaRef,
        /// Flink-style description.
        description: String,
    },
    /// Generates watermarks from a table's event-time column:
    /// `WATERMARK FOR column AS column - INTERVAL ...`.
    WatermarkAssigner {
        /// Position of the event-time column.
        time_column: usize,
        /// How far behind the largest time seen the watermark stays.
        delay_ms: i64,
        /// `table.exec.source.idle-timeout`: a source split that gave no
        /// rows for this long stops holding back the watermark.
        idle_timeout: Option<Duration>,
        /// The rows' columns (passed through).
        schema: SchemaRef,
        /// Flink-style description.
        description: String,
    },
    /// Turns the upserts of a source keyed by its primary key (no
    /// before-images, tombstones carrying only the key) into a full
    /// changelog from the last row of each key (Flink's
    /// `ChangelogNormalize`).
    ChangelogNormalize {
        /// The rows' columns.
        schema: SchemaRef,
        /// Positions of the key columns.
        key_columns: Vec<usize>,
        /// `table.exec.state.ttl`.
        state_ttl: Option<Duration>,
        /// Flink-style description, naming the key.
        description: String,
    },
    /// A lookup join: each row joined with the rows a lookup table holds
    /// for its key when it passes (`FOR SYSTEM_TIME AS OF` a processing
    /// time).
    LookupJoin {
        /// The table looked up.
        table: TableDescriptor,
        /// Inner or left.
        kind: JoinKind,
        /// The input's data columns.
        input_schema: SchemaRef,
        /// Each row's key, over the input, typed as `lookup_keys`.
        key_exprs: Vec<Arc<dyn PhysicalExpr>>,
        /// The table's columns the keys equal, pairwise.
        lookup_keys: Vec<String>,
        /// A condition on the table's rows alone, over its columns.
        table_filter: Option<Arc<dyn PhysicalExpr>>,
        /// The table's columns kept, in order.
        projection: Vec<usize>,
        /// The rest of the condition, over the input then the kept columns.
        filter: Option<Arc<dyn PhysicalExpr>>,
        /// The input's columns then the kept ones.
        output_schema: SchemaRef,
        /// Flink-style description.
        description: String,
    },
    /// Drops `-U` rows: the sink after it takes upserts by its primary key.
    DropUpdateBefore {
        /// The rows' columns (passed through).
        schema: SchemaRef,
        /// Flink-style description, naming the upsert key.
        description: String,
    },
    /// Writes a table.
    Sink {
        /// The table written.
        table: TableDescriptor,
    },
    /// Writes a table whose output of a checkpoint goes in as one commit
    /// (a Paimon snapshot): files as rows arrive, and at each barrier the
    /// committables that make them visible, sent to the table's committer.
    SinkWriter {
        /// The table written.
        table: TableDescriptor,
    },
    /// Commits what the writers of a table prepared for each checkpoint, as
    /// one commit, when the checkpoint completes; a single subtask.
    Committer {
        /// The table written.
        table: TableDescriptor,
    },
}

impl OperatorNode {
    /// The data columns the operator emits.
    pub fn output_schema(&self) -> SchemaRef {
        match self {
            OperatorNode::Source { table } => table.source_schema(),
            OperatorNode::Sink { table } | OperatorNode::Committer { table } => {
                table.schema.clone()
            }
            OperatorNode::SinkWriter { .. } => rtdw_connector_core::committer::committable_schema(),
            OperatorNode::Calc { output_schema, .. }
            | OperatorNode::GroupAggregate { output_schema, .. }
            | OperatorNode::LocalGroupAggregate { output_schema, .. }
            | OperatorNode::GlobalGroupAggregate { output_schema, .. }
            | OperatorNode::Join { output_schema, .. }
            | OperatorNode::IntervalJoin { output_schema, .. }
            | OperatorNode::LookupJoin { output_schema, .. }
            | OperatorNode::Rank { output_schema, .. }
            | OperatorNode::WindowAggregate { output_schema, .. }
            | OperatorNode::WatermarkAssigner {
                schema: output_schema,
                ..
            }
            | OperatorNode::DropUpdateBefore {
                schema: output_schema,
                ..
            }
            | OperatorNode::ChangelogNormalize {
                schema: output_schema,
                ..
            } => output_schema.clone(),
        }
    }

    /// The operator's kind: `Source`, `Calc`, `GroupAggregate`, ..., `Sink`.
    pub fn kind(&self) -> &'static str {
        match self {
            OperatorNode::Source { .. } => "Source",
            OperatorNode::Calc { .. } => "Calc",
            OperatorNode::GroupAggregate { .. } => "GroupAggregate",
            OperatorNode::LocalGroupAggregate { .. } => "LocalGroupAggregate",
            OperatorNode::GlobalGroupAggregate { .. } => "GlobalGroupAggregate",
            OperatorNode::Join { .. } => "Join",
            OperatorNode::IntervalJoin { .. } => "IntervalJoin",
            OperatorNode::LookupJoin { .. } => "LookupJoin",
            OperatorNode::Rank { .. } => "Rank",
            OperatorNode::WindowAggregate { .. } => "WindowAggregate",
            OperatorNode::WatermarkAssigner { .. } => "WatermarkAssigner",
            OperatorNode::DropUpdateBefore { .. } => "DropUpdateBefore",
            OperatorNode::ChangelogNormalize { .. } => "ChangelogNormalize",
            OperatorNode::Sink { .. } => "Sink",
            OperatorNode::SinkWriter { .. } => "SinkWriter",
            OperatorNode::Committer { .. } => "Committer",
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
            OperatorNode::GroupAggregate { description, .. }
            | OperatorNode::LocalGroupAggregate { description, .. }
            | OperatorNode::GlobalGroupAggregate { description, .. }
            | OperatorNode::Join { description, .. }
            | OperatorNode::IntervalJoin { description, .. }
            | OperatorNode::LookupJoin { description, .. }
            | OperatorNode::Rank { description, .. }
            | OperatorNode::WindowAggregate { description, .. }
            | OperatorNode::WatermarkAssigner { description, .. }
            | OperatorNode::DropUpdateBefore { description, .. }
            | OperatorNode::ChangelogNormalize { description, .. } => description.clone(),
            OperatorNode::Sink { table } => format!("Sink: {}", table.name),
            OperatorNode::SinkWriter { table } => format!("Writer: {}", table.name),
            OperatorNode::Committer { table } => format!("Global Committer: {}", table.name),
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

impl Vertex {
    /// What the vertex emits: `insert-only`, `retract` (every change with
    /// its before-image) or `upsert` (new row contents by key, for a sink
    /// keyed by its primary key).
    pub fn changelog_mode(&self) -> &'static str {
        let upserts = self
            .chain
            .iter()
            .any(|op| matches!(op, OperatorNode::DropUpdateBefore { .. }));
        match (self.updating, upserts) {
            (false, _) => "insert-only",
            (true, true) => "upsert",
            (true, false) => "retract",
        }
    }
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
            let mode = v.changelog_mode();
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
            let mode = self.vertices[e.source as usize].changelog_mode();
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
}
