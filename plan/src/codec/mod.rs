//! The job graph in protobuf ([`PhysicalPlan`]): encoded once by the
//! coordinator at submission, stored with the job, and decoded by each
//! task manager at deployment.

mod arrow;
mod expr;
mod operator;

use std::collections::BTreeMap;

use rtdw_functions::ScalarFunctions;
use rtdw_proto::v1::partitioning::Kind as PartitioningKind;
use rtdw_proto::v1::{self as proto, PhysicalPlan};

use self::arrow::{decode_schema, encode_schema};
use self::expr::ExprDecoder;
use crate::PlanError;
use crate::graph::{Edge, JobGraph, Partitioning, Vertex};

/// The protobuf form of `graph`, or an error naming the part that has
/// none (the job then cannot run on task managers).
pub fn encode(graph: &JobGraph) -> Result<PhysicalPlan, PlanError> {
    Ok(PhysicalPlan {
        name: graph.name.clone(),
        vertices: graph
            .vertices
            .iter()
            .map(|vertex| encode_vertex(graph, vertex))
            .collect::<Result<_, _>>()?,
        edges: graph
            .edges
            .iter()
            .map(encode_edge)
            .collect::<Result<_, _>>()?,
        max_parallelism: graph.max_parallelism,
        options: graph.options.clone().into_iter().collect(),
    })
}

/// The job graph a shipped plan describes, its function calls bound to the
/// functions of this process.
pub fn decode(plan: &PhysicalPlan) -> Result<JobGraph, PlanError> {
    let exprs = ExprDecoder::new(ScalarFunctions::shared());
    let vertices = plan
        .vertices
        .iter()
        .map(|vertex| decode_vertex(vertex, &exprs))
        .collect::<Result<Vec<_>, _>>()?;
    for (position, vertex) in vertices.iter().enumerate() {
        if vertex.id as usize != position {
            return Err(PlanError::invalid(
                format!("vertex {}", vertex.id),
                format!("found at position {position}"),
            ));
        }
    }
    let edges = plan
        .edges
        .iter()
        .map(|edge| decode_edge(edge, vertices.len()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(JobGraph {
        name: plan.name.clone(),
        vertices,
        edges,
        max_parallelism: plan.max_parallelism,
        options: plan
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    })
}

fn encode_vertex(graph: &JobGraph, vertex: &Vertex) -> Result<proto::PlanVertex, PlanError> {
    let mut chain = Vec::with_capacity(vertex.chain.len());
    for (position, node) in vertex.chain.iter().enumerate() {
        let input = match position {
            0 => graph
                .inputs(vertex.id)
                .first()
                .map(|edge| edge.schema.clone()),
            _ => Some(vertex.chain[position - 1].output_schema()),
        };
        chain.push(operator::encode(node, input.as_deref()).map_err(|e| in_vertex(vertex.id, e))?);
    }
    Ok(proto::PlanVertex {
        id: vertex.id,
        name: vertex.name.clone(),
        parallelism: vertex.parallelism,
        chain,
        updating: vertex.updating,
    })
}

fn decode_vertex(vertex: &proto::PlanVertex, exprs: &ExprDecoder<'_>) -> Result<Vertex, PlanError> {
    Ok(Vertex {
        id: vertex.id,
        name: vertex.name.clone(),
        parallelism: vertex.parallelism,
        chain: vertex
            .chain
            .iter()
            .map(|node| operator::decode(node, exprs))
            .collect::<Result<_, _>>()
            .map_err(|e| in_vertex(vertex.id, e))?,
        updating: vertex.updating,
    })
}

/// `error`, said of vertex `id`.
fn in_vertex(id: u32, error: PlanError) -> PlanError {
    match error {
        PlanError::Unshippable { what, reason } => PlanError::Unshippable {
            what: format!("{what} in vertex {id}"),
            reason,
        },
        PlanError::Invalid { what, reason } => PlanError::Invalid {
            what: format!("{what} in vertex {id}"),
            reason,
        },
    }
}

fn encode_edge(edge: &Edge) -> Result<proto::PlanEdge, PlanError> {
    let (kind, hash_keys) = match &edge.partitioning {
        Partitioning::Forward => (PartitioningKind::Forward, Vec::new()),
        Partitioning::Hash(keys) => (
            PartitioningKind::Hash,
            keys.iter().map(|&k| k as u32).collect(),
        ),
        Partitioning::Rebalance => (PartitioningKind::Rebalance, Vec::new()),
        Partitioning::Broadcast => (PartitioningKind::Broadcast, Vec::new()),
    };
    Ok(proto::PlanEdge {
        id: edge.id,
        source: edge.source,
        target: edge.target,
        target_input: edge.target_input,
        partitioning: Some(proto::Partitioning {
            kind: kind as i32,
            hash_keys,
        }),
        schema: encode_schema(&edge.schema)?,
    })
}

fn decode_edge(edge: &proto::PlanEdge, vertices: usize) -> Result<Edge, PlanError> {
    let what = format!("edge {}", edge.id);
    for end in [edge.source, edge.target] {
        if end as usize >= vertices {
            return Err(PlanError::invalid(&what, format!("no vertex {end}")));
        }
    }
    let partitioning = edge
        .partitioning
        .as_ref()
        .ok_or_else(|| PlanError::invalid(&what, "no partitioning"))?;
    let partitioning = match partitioning.kind() {
        PartitioningKind::Forward => Partitioning::Forward,
        PartitioningKind::Hash => {
            Partitioning::Hash(partitioning.hash_keys.iter().map(|&k| k as usize).collect())
        }
        PartitioningKind::Rebalance => Partitioning::Rebalance,
        PartitioningKind::Broadcast => Partitioning::Broadcast,
        PartitioningKind::Unspecified => {
            return Err(PlanError::invalid(&what, "unspecified partitioning"));
        }
    };
    let schema = decode_schema(&edge.schema, &what)?;
    if let Partitioning::Hash(keys) = &partitioning
        && let Some(key) = keys.iter().find(|&&k| k >= schema.fields().len())
    {
        return Err(PlanError::invalid(
            &what,
            format!("no column {key} to hash"),
        ));
    }
    Ok(Edge {
        id: edge.id,
        source: edge.source,
        target: edge.target,
        target_input: edge.target_input,
        partitioning,
        schema,
    })
}
