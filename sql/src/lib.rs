//! Flink SQL scripts to rtdw job graphs.
//!
//! [`plan_job`] parses a script ([`script`]), plans its query with
//! DataFusion, derives each operator's changelog mode, and produces a
//! [`JobGraph`]: vertices of chained operators with a parallelism, joined by
//! forward, hash, rebalance or broadcast edges. Planning is deterministic,
//! so a task manager that plans the same script gets the same graph
//! ([`JobGraph::fingerprint`]) and instantiates its subtasks from it
//! ([`runtime`]).

pub mod error;
mod functions;
pub mod graph;
mod planner;
pub mod runtime;
pub mod script;
mod types;

pub use error::{Location, SqlError};
pub use graph::{Edge, JobGraph, OperatorNode, Partitioning, Vertex};
pub use planner::{JobConfig, plan_job};
