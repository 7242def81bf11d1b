//! Flink SQL scripts to rtdw job graphs.
//!
//! [`plan_job`] parses a script ([`script`]), plans its query with
//! DataFusion, derives each operator's changelog mode, and produces a
//! [`rtdw_plan::JobGraph`]: vertices of chained operators with a
//! parallelism, joined by forward, hash, rebalance or broadcast edges. The
//! coordinator plans once, at submission, and ships the graph to the task
//! managers in protobuf (`rtdw_plan::codec`); they never plan SQL.

pub mod error;
mod functions;
pub mod hints;
mod planner;
pub mod script;
mod types;

pub use error::{Location, SqlError};
pub use planner::{JobConfig, plan_job};

/// Flink's built-in catalog, where a script's own tables live.
pub const DEFAULT_CATALOG: &str = "default_catalog";

/// The database of Flink's built-in catalog.
pub const DEFAULT_DATABASE: &str = "default_database";
