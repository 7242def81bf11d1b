//! rtdw's physical job plan, planner-free.
//!
//! The SQL planner (`rtdw-sql`) produces a [`JobGraph`] once, on the
//! coordinator at submission; [`codec::encode`] turns it into the protobuf
//! [`rtdw_proto::v1::PhysicalPlan`] the coordinator stores with the job and
//! ships to the task managers; a task manager reads it back with
//! [`codec::decode`] and builds each subtask's operators and connectors with
//! [`runtime::instantiate`]. Nothing here parses or plans SQL, so a task
//! manager links neither the planner nor DataFusion's `datafusion` crate:
//! only DataFusion's physical-expression crates, which evaluate the plan's
//! expressions, and the scalar functions of `rtdw-functions`.

pub mod codec;
mod error;
pub mod graph;
pub mod runtime;

pub use error::PlanError;
pub use graph::{Edge, JobGraph, OperatorNode, Partitioning, Vertex};
