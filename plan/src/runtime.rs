//! Instantiating a vertex's chain for one subtask.

use rtdw_connector_core::ConnectorRegistry;
use rtdw_operators::aggregate::{GroupAggregate, LocalGroupAggregate};
use rtdw_operators::calc::Calc;
use rtdw_operators::join::{IntervalJoin, StreamingJoin};
use rtdw_operators::lookup::{LookupJoin, LookupJoinSpec};
use rtdw_operators::normalize::ChangelogNormalize;
use rtdw_operators::rank::Rank;
use rtdw_operators::upsert::DropUpdateBefore;
use rtdw_operators::watermark::WatermarkAssigner;
use rtdw_operators::window::WindowAggregate;
use rtdw_operators::{Operator, Sink, Source, SplitView, StreamError, SubtaskContext};

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
    /// The table the source reads, for metrics.
    pub source_table: Option<String>,
}

impl SubtaskChain {
    /// Tells the operators what the source reads by splits: the splits it
    /// reads, when they differ from `known` (which is updated), and the
    /// split of the batch about to be pushed.
    pub fn tell_splits(&mut self, view: SplitView<'_>, known: &mut Vec<String>) {
        if view.reading != known.as_slice() {
            known.clear();
            known.extend(view.reading.iter().cloned());
            for operator in &mut self.operators {
                operator.source_splits(known);
            }
        }
        if let Some(split) = view.last_batch {
            for operator in &mut self.operators {
                operator.next_batch_split(split);
            }
        }
    }
}

/// Builds the chain of `vertex` for the subtask `ctx` describes, its
/// source and sink through `connectors`.
pub fn instantiate(
    vertex: &Vertex,
    ctx: &SubtaskContext,
    connectors: &ConnectorRegistry,
) -> Result<SubtaskChain, StreamError> {
    let mut chain = SubtaskChain {
        source: None,
        operators: Vec::new(),
        operator_names: Vec::new(),
        sink: None,
        source_table: None,
    };
    let last = vertex.chain.len().saturating_sub(1);
    for (i, node) in vertex.chain.iter().enumerate() {
        match node {
            OperatorNode::Source { table } if i == 0 => {
                chain.source = Some(connectors.create_source(table, ctx)?);
                chain.source_table = Some(table.name.clone());
            }
            OperatorNode::Sink { table } if i == last => {
                chain.sink = Some(connectors.create_sink(table, ctx)?);
            }
            OperatorNode::Committer { table } if i == last => {
                chain.sink = Some(connectors.create_committer(table, ctx)?);
            }
            OperatorNode::SinkWriter { table } => {
                chain
                    .operators
                    .push(connectors.create_sink_writer(table, ctx)?);
                chain.operator_names.push(format!("{i}-{}", node.kind()));
            }
            OperatorNode::LookupJoin {
                table,
                kind,
                key_exprs,
                lookup_keys,
                table_filter,
                projection,
                filter,
                output_schema,
                ..
            } => {
                let spec = LookupJoinSpec {
                    kind: *kind,
                    key_exprs: key_exprs.clone(),
                    table_filter: table_filter.clone(),
                    projection: projection.clone(),
                    filter: filter.clone(),
                    output_schema: output_schema.clone(),
                };
                let lookup = connectors.create_lookup(table, lookup_keys, ctx)?;
                chain
                    .operators
                    .push(Box::new(LookupJoin::new(spec, lookup)?));
                chain.operator_names.push(format!("{i}-{}", node.kind()));
            }
            OperatorNode::Source { .. }
            | OperatorNode::Sink { .. }
            | OperatorNode::Committer { .. } => {
                return Err(StreamError::Failed(format!(
                    "{} cannot stand at position {i} of vertex {}",
                    node.describe(),
                    vertex.id
                )));
            }
            operator => {
                chain.operators.push(operator_for(operator)?);
                chain.operator_names.push(format!("{i}-{}", node.kind()));
            }
        }
    }
    Ok(chain)
}

/// The runtime operator of a planned node between source and sink.
fn operator_for(node: &OperatorNode) -> Result<Box<dyn Operator>, StreamError> {
    Ok(match node {
        OperatorNode::Calc {
            predicate,
            projections,
            output_schema,
        } => Box::new(Calc::new(
            predicate.clone(),
            projections.clone(),
            output_schema.clone(),
        )),
        OperatorNode::GroupAggregate {
            key_types,
            specs,
            output_schema,
            mini_batch,
            ..
        } => {
            let aggregate = GroupAggregate::new(key_types, specs.clone(), output_schema.clone())?;
            Box::new(match mini_batch {
                Some(mini_batch) => aggregate.with_mini_batch(*mini_batch),
                None => aggregate,
            })
        }
        OperatorNode::LocalGroupAggregate {
            key_fields,
            specs,
            mini_batch,
            ..
        } => Box::new(LocalGroupAggregate::new(
            key_fields,
            specs.clone(),
            *mini_batch,
        )?),
        OperatorNode::GlobalGroupAggregate {
            key_types,
            specs,
            output_schema,
            mini_batch,
            ..
        } => Box::new(
            GroupAggregate::new_global(key_types, specs.clone(), output_schema.clone())?
                .with_mini_batch(*mini_batch),
        ),
        OperatorNode::Join {
            kind,
            left_schema,
            right_schema,
            left_keys,
            right_keys,
            filter,
            output_schema,
            updating,
            state_ttl,
            ..
        } => Box::new(StreamingJoin::new(
            *kind,
            left_schema.clone(),
            right_schema.clone(),
            left_keys.clone(),
            right_keys.clone(),
            filter.clone(),
            output_schema.clone(),
            *updating,
            *state_ttl,
        )?),
        OperatorNode::IntervalJoin {
            kind,
            left_schema,
            right_schema,
            left_keys,
            right_keys,
            left_time,
            right_time,
            lower_ms,
            upper_ms,
            filter,
            output_schema,
            ..
        } => Box::new(IntervalJoin::new(
            *kind,
            left_schema.clone(),
            right_schema.clone(),
            left_keys.clone(),
            right_keys.clone(),
            *left_time,
            *right_time,
            // The operator bounds right time by [left time - lower, left
            // time + upper].
            -*lower_ms,
            *upper_ms,
            filter.clone(),
            output_schema.clone(),
        )?),
        OperatorNode::Rank {
            input_schema,
            partition_keys,
            order_by,
            limit,
            output_schema,
            ..
        } => Box::new(Rank::new(
            input_schema.clone(),
            partition_keys.clone(),
            order_by.clone(),
            *limit,
            true,
            output_schema.clone(),
        )?),
        OperatorNode::WindowAggregate {
            key_types,
            time_column,
            window,
            specs,
            output_schema,
            ..
        } => Box::new(WindowAggregate::new(
            key_types,
            *time_column,
            *window,
            specs.clone(),
            output_schema.clone(),
        )?),
        OperatorNode::DropUpdateBefore { .. } => Box::new(DropUpdateBefore),
        OperatorNode::ChangelogNormalize {
            schema,
            key_columns,
            state_ttl,
            ..
        } => Box::new(ChangelogNormalize::new(
            schema.clone(),
            key_columns.clone(),
            *state_ttl,
        )?),
        OperatorNode::WatermarkAssigner {
            time_column,
            delay_ms,
            idle_timeout,
            ..
        } => Box::new(
            WatermarkAssigner::new(*time_column, *delay_ms).with_idle_timeout(*idle_timeout),
        ),
        OperatorNode::Source { .. }
        | OperatorNode::Sink { .. }
        | OperatorNode::SinkWriter { .. }
        | OperatorNode::Committer { .. }
        | OperatorNode::LookupJoin { .. } => {
            return Err(StreamError::Failed(format!(
                "{} is not an operator of its own: it needs a connector",
                node.describe()
            )));
        }
    })
}
