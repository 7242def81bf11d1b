//! From planned operators to a job graph: an operator whose only input is a
//! forward edge from an operator of equal parallelism that feeds nothing
//! else is chained into that operator's vertex.

use super::*;

impl Planner {
    /// Chains forward edges between equal parallelism into vertices.
    pub(super) fn into_graph(self, name: String, max_parallelism: u32) -> JobGraph {
        let mut consumers = vec![0usize; self.nodes.len()];
        for node in &self.nodes {
            for (input, _) in &node.inputs {
                consumers[*input] += 1;
            }
        }
        let mut vertex_of = vec![0u32; self.nodes.len()];
        let mut vertices: Vec<Vertex> = Vec::new();
        let mut edges: Vec<Edge> = Vec::new();
        for (i, node) in self.nodes.into_iter().enumerate() {
            let chained = match node.inputs.as_slice() {
                [(m, Partitioning::Forward)] if consumers[*m] == 1 => {
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
            for (target_input, (m, partitioning)) in node.inputs.into_iter().enumerate() {
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
                    .map(OperatorNode::output_schema)
                    .unwrap_or_else(|| Arc::new(Schema::empty()));
                edges.push(Edge {
                    id: edges.len() as u32,
                    source,
                    target: id,
                    target_input: target_input as u32,
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
