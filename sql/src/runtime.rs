//! Instantiating a vertex's chain for one subtask.

use rtdw_connectors::{create_sink, create_source};
use rtdw_operators::aggregate::GroupAggregate;
use rtdw_operators::calc::Calc;
use rtdw_operators::{Operator, Sink, Source, StreamError, SubtaskContext};

use crate::graph::{OperatorNode, Vertex};

/// The runtime objects of one subtask: an optional source at the head, the
/// operators, and an optional sink at the tail.
pub struct SubtaskChain {
    /// Reads the outside world, for a source vertex.
    pub source: Option<Box<dyn Source>>,
    /// The chained operators, in order.
    pub operators: Vec<Box<dyn Operator>>,
    /// A name for each of `operators`: its position in the vertex's chain
    /// and its kind, e.g. `1-Calc`.
    pub operator_names: Vec<String>,
    /// Writes the outside world, for a sink vertex.
    pub sink: Option<Box<dyn Sink>>,
}

/// Builds the chain of `vertex` for the subtask `ctx` describes.
pub fn instantiate(vertex: &Vertex, ctx: &SubtaskContext) -> Result<SubtaskChain, StreamError> {
    let mut chain = SubtaskChain {
        source: None,
        operators: Vec::new(),
        operator_names: Vec::new(),
        sink: None,
    };
    let last = vertex.chain.len().saturating_sub(1);
    for (i, node) in vertex.chain.iter().enumerate() {
        match node {
            OperatorNode::Source { table } if i == 0 => {
                chain.source = Some(
                    create_source(table, ctx).map_err(|e| StreamError::Failed(e.to_string()))?,
                );
            }
            OperatorNode::Sink { table } if i == last => {
                chain.sink =
                    Some(create_sink(table, ctx).map_err(|e| StreamError::Failed(e.to_string()))?);
            }
            OperatorNode::Calc {
                predicate,
                projections,
                output_schema,
            } => {
                chain.operators.push(Box::new(Calc::new(
                    predicate.clone(),
                    projections.clone(),
                    output_schema.clone(),
                )));
                chain.operator_names.push(format!("{i}-{}", node.kind()));
            }
            OperatorNode::GroupAggregate {
                key_types,
                specs,
                output_schema,
                ..
            } => {
                chain.operators.push(Box::new(GroupAggregate::new(
                    key_types,
                    specs.clone(),
                    output_schema.clone(),
                )?));
                chain.operator_names.push(format!("{i}-{}", node.kind()));
            }
            other => {
                return Err(StreamError::Failed(format!(
                    "{} cannot stand at position {i} of vertex {}",
                    other.describe(),
                    vertex.id
                )));
            }
        }
    }
    Ok(chain)
}
