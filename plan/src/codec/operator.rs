//! One operator of a chain in protobuf ([`PlanOperator`]).

use std::time::Duration;

use arrow::datatypes::{Schema, SchemaRef};
use rtdw_connector_core::{MetadataField, TableDescriptor};
use rtdw_operators::aggregate::{AggregateFunction, AggregateSpec, MiniBatch};
use rtdw_operators::join::JoinKind;
use rtdw_operators::rank::SortKey;
use rtdw_operators::window::WindowKind;
use rtdw_proto::v1::aggregate_spec::Function as ProtoFunction;
use rtdw_proto::v1::plan_operator::Node;
use rtdw_proto::v1::{self as proto, PlanOperator};

use super::arrow::{
    decode_schema, decode_type, decode_types, encode_schema, encode_type, encode_types,
};
use super::expr::{ExprDecoder, encode_expr, encode_optional_expr};
use crate::PlanError;
use crate::graph::OperatorNode;

/// The protobuf form of `node`, whose input has the columns `input` (none
/// for a source).
pub(super) fn encode(
    node: &OperatorNode,
    input: Option<&Schema>,
) -> Result<PlanOperator, PlanError> {
    let encoded = match node {
        OperatorNode::Source { table } => Node::Source(encode_table(table)?),
        OperatorNode::Sink { table } => Node::Sink(encode_table(table)?),
        OperatorNode::SinkWriter { table } => Node::SinkWriter(encode_table(table)?),
        OperatorNode::Committer { table } => Node::Committer(encode_table(table)?),
        OperatorNode::Calc {
            predicate,
            projections,
            output_schema,
        } => {
            let input = input.ok_or_else(|| {
                PlanError::unshippable(node.describe(), "a Calc without an input")
            })?;
            Node::Calc(proto::CalcNode {
                predicate: encode_optional_expr(predicate)?,
                projections: projections
                    .iter()
                    .map(encode_expr)
                    .collect::<Result<_, _>>()?,
                output_schema: encode_schema(output_schema)?,
                input_schema: encode_schema(input)?,
            })
        }
        OperatorNode::GroupAggregate {
            key_types,
            specs,
            output_schema,
            mini_batch,
            description,
        } => Node::GroupAggregate(proto::GroupAggregateNode {
            key_types: encode_types(key_types)?,
            specs: encode_specs(specs)?,
            output_schema: encode_schema(output_schema)?,
            mini_batch: mini_batch.as_ref().map(encode_mini_batch),
            description: description.clone(),
        }),
        OperatorNode::GlobalGroupAggregate {
            key_types,
            specs,
            output_schema,
            mini_batch,
            description,
        } => Node::GlobalGroupAggregate(proto::GroupAggregateNode {
            key_types: encode_types(key_types)?,
            specs: encode_specs(specs)?,
            output_schema: encode_schema(output_schema)?,
            mini_batch: Some(encode_mini_batch(mini_batch)),
            description: description.clone(),
        }),
        OperatorNode::LocalGroupAggregate {
            key_fields,
            specs,
            mini_batch,
            output_schema,
            description,
        } => Node::LocalGroupAggregate(proto::LocalGroupAggregateNode {
            key_schema: encode_schema(&Schema::new(key_fields.clone()))?,
            specs: encode_specs(specs)?,
            mini_batch: Some(encode_mini_batch(mini_batch)),
            output_schema: encode_schema(output_schema)?,
            description: description.clone(),
        }),
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
            description,
        } => Node::Join(proto::JoinNode {
            kind: encode_join_kind(*kind) as i32,
            left_schema: encode_schema(left_schema)?,
            right_schema: encode_schema(right_schema)?,
            left_keys: positions(left_keys),
            right_keys: positions(right_keys),
            filter: encode_optional_expr(filter)?,
            output_schema: encode_schema(output_schema)?,
            updating: *updating,
            state_ttl_ms: state_ttl.map(|ttl| ttl.as_millis() as u64),
            description: description.clone(),
        }),
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
            description,
        } => Node::IntervalJoin(proto::IntervalJoinNode {
            kind: encode_join_kind(*kind) as i32,
            left_schema: encode_schema(left_schema)?,
            right_schema: encode_schema(right_schema)?,
            left_keys: positions(left_keys),
            right_keys: positions(right_keys),
            left_time: *left_time as u32,
            right_time: *right_time as u32,
            lower_ms: *lower_ms,
            upper_ms: *upper_ms,
            filter: encode_optional_expr(filter)?,
            output_schema: encode_schema(output_schema)?,
            description: description.clone(),
        }),
        OperatorNode::LookupJoin {
            table,
            kind,
            input_schema,
            key_exprs,
            lookup_keys,
            table_filter,
            projection,
            filter,
            output_schema,
            description,
        } => Node::LookupJoin(proto::LookupJoinNode {
            table: Some(encode_table(table)?),
            kind: encode_join_kind(*kind) as i32,
            input_schema: encode_schema(input_schema)?,
            key_exprs: key_exprs
                .iter()
                .map(encode_expr)
                .collect::<Result<_, _>>()?,
            lookup_keys: lookup_keys.clone(),
            table_filter: encode_optional_expr(table_filter)?,
            projection: positions(projection),
            filter: encode_optional_expr(filter)?,
            output_schema: encode_schema(output_schema)?,
            description: description.clone(),
        }),
        OperatorNode::Rank {
            input_schema,
            partition_keys,
            order_by,
            limit,
            output_schema,
            description,
        } => Node::Rank(proto::RankNode {
            input_schema: encode_schema(input_schema)?,
            partition_keys: positions(partition_keys),
            order_by: order_by
                .iter()
                .map(|key| proto::SortKey {
                    column: key.column as u32,
                    descending: key.descending,
                    nulls_first: key.nulls_first,
                })
                .collect(),
            limit: *limit,
            output_schema: encode_schema(output_schema)?,
            description: description.clone(),
        }),
        OperatorNode::WindowAggregate {
            key_types,
            time_column,
            window,
            specs,
            output_schema,
            description,
        } => Node::WindowAggregate(proto::WindowAggregateNode {
            key_types: encode_types(key_types)?,
            time_column: *time_column as u32,
            window: Some(encode_window(*window)),
            specs: encode_specs(specs)?,
            output_schema: encode_schema(output_schema)?,
            description: description.clone(),
        }),
        OperatorNode::WatermarkAssigner {
            time_column,
            delay_ms,
            idle_timeout,
            schema,
            description,
        } => Node::WatermarkAssigner(proto::WatermarkAssignerNode {
            time_column: *time_column as u32,
            delay_ms: *delay_ms,
            idle_timeout_ms: idle_timeout.map(|timeout| timeout.as_millis() as u64),
            schema: encode_schema(schema)?,
            description: description.clone(),
        }),
        OperatorNode::DropUpdateBefore {
            schema,
            description,
        } => Node::DropUpdateBefore(proto::DropUpdateBeforeNode {
            schema: encode_schema(schema)?,
            description: description.clone(),
        }),
        OperatorNode::ChangelogNormalize {
            schema,
            key_columns,
            state_ttl,
            description,
        } => Node::ChangelogNormalize(proto::ChangelogNormalizeNode {
            schema: encode_schema(schema)?,
            key_columns: positions(key_columns),
            state_ttl_ms: state_ttl.map(|ttl| ttl.as_millis() as u64),
            description: description.clone(),
        }),
    };
    Ok(PlanOperator {
        node: Some(encoded),
    })
}

/// The operator `node` describes, its expressions read by `exprs`.
pub(super) fn decode(
    node: &PlanOperator,
    exprs: &ExprDecoder<'_>,
) -> Result<OperatorNode, PlanError> {
    let Some(node) = &node.node else {
        return Err(PlanError::invalid("operator", "no operator kind"));
    };
    Ok(match node {
        Node::Source(table) => OperatorNode::Source {
            table: decode_table(table)?,
        },
        Node::Sink(table) => OperatorNode::Sink {
            table: decode_table(table)?,
        },
        Node::SinkWriter(table) => OperatorNode::SinkWriter {
            table: decode_table(table)?,
        },
        Node::Committer(table) => OperatorNode::Committer {
            table: decode_table(table)?,
        },
        Node::Calc(calc) => {
            let input = decode_schema(&calc.input_schema, "Calc input")?;
            OperatorNode::Calc {
                predicate: exprs.optional_expr(&calc.predicate, &input, "Calc predicate")?,
                projections: calc
                    .projections
                    .iter()
                    .map(|p| exprs.expr(p, &input, "Calc projection"))
                    .collect::<Result<_, _>>()?,
                output_schema: decode_schema(&calc.output_schema, "Calc output")?,
            }
        }
        Node::GroupAggregate(aggregate) => OperatorNode::GroupAggregate {
            key_types: decode_types(&aggregate.key_types, &aggregate.description)?,
            specs: decode_specs(&aggregate.specs, &aggregate.description)?,
            output_schema: decode_schema(&aggregate.output_schema, &aggregate.description)?,
            mini_batch: aggregate.mini_batch.as_ref().map(decode_mini_batch),
            description: aggregate.description.clone(),
        },
        Node::GlobalGroupAggregate(aggregate) => OperatorNode::GlobalGroupAggregate {
            key_types: decode_types(&aggregate.key_types, &aggregate.description)?,
            specs: decode_specs(&aggregate.specs, &aggregate.description)?,
            output_schema: decode_schema(&aggregate.output_schema, &aggregate.description)?,
            mini_batch: required_mini_batch(&aggregate.mini_batch, &aggregate.description)?,
            description: aggregate.description.clone(),
        },
        Node::LocalGroupAggregate(aggregate) => OperatorNode::LocalGroupAggregate {
            key_fields: decode_schema(&aggregate.key_schema, &aggregate.description)?
                .fields()
                .to_vec(),
            specs: decode_specs(&aggregate.specs, &aggregate.description)?,
            mini_batch: required_mini_batch(&aggregate.mini_batch, &aggregate.description)?,
            output_schema: decode_schema(&aggregate.output_schema, &aggregate.description)?,
            description: aggregate.description.clone(),
        },
        Node::Join(join) => {
            let what = &join.description;
            let left_schema = decode_schema(&join.left_schema, what)?;
            let right_schema = decode_schema(&join.right_schema, what)?;
            let both = joined(&left_schema, &right_schema);
            OperatorNode::Join {
                kind: decode_join_kind(join.kind(), what)?,
                left_keys: indexes(&join.left_keys),
                right_keys: indexes(&join.right_keys),
                filter: exprs.optional_expr(&join.filter, &both, what)?,
                output_schema: decode_schema(&join.output_schema, what)?,
                updating: join.updating,
                state_ttl: join.state_ttl_ms.map(Duration::from_millis),
                description: join.description.clone(),
                left_schema,
                right_schema,
            }
        }
        Node::IntervalJoin(join) => {
            let what = &join.description;
            let left_schema = decode_schema(&join.left_schema, what)?;
            let right_schema = decode_schema(&join.right_schema, what)?;
            let both = joined(&left_schema, &right_schema);
            OperatorNode::IntervalJoin {
                kind: decode_join_kind(join.kind(), what)?,
                left_keys: indexes(&join.left_keys),
                right_keys: indexes(&join.right_keys),
                left_time: join.left_time as usize,
                right_time: join.right_time as usize,
                lower_ms: join.lower_ms,
                upper_ms: join.upper_ms,
                filter: exprs.optional_expr(&join.filter, &both, what)?,
                output_schema: decode_schema(&join.output_schema, what)?,
                description: join.description.clone(),
                left_schema,
                right_schema,
            }
        }
        Node::LookupJoin(join) => {
            let what = &join.description;
            let table = decode_table(
                join.table
                    .as_ref()
                    .ok_or_else(|| PlanError::invalid(what, "the lookup join names no table"))?,
            )?;
            let input_schema = decode_schema(&join.input_schema, what)?;
            let output_schema = decode_schema(&join.output_schema, what)?;
            OperatorNode::LookupJoin {
                kind: decode_join_kind(join.kind(), what)?,
                key_exprs: join
                    .key_exprs
                    .iter()
                    .map(|e| exprs.expr(e, &input_schema, what))
                    .collect::<Result<_, _>>()?,
                lookup_keys: join.lookup_keys.clone(),
                table_filter: exprs.optional_expr(&join.table_filter, &table.schema, what)?,
                projection: indexes(&join.projection),
                filter: exprs.optional_expr(&join.filter, &output_schema, what)?,
                description: join.description.clone(),
                table,
                input_schema,
                output_schema,
            }
        }
        Node::Rank(rank) => OperatorNode::Rank {
            input_schema: decode_schema(&rank.input_schema, &rank.description)?,
            partition_keys: indexes(&rank.partition_keys),
            order_by: rank
                .order_by
                .iter()
                .map(|key| SortKey {
                    column: key.column as usize,
                    descending: key.descending,
                    nulls_first: key.nulls_first,
                })
                .collect(),
            limit: rank.limit,
            output_schema: decode_schema(&rank.output_schema, &rank.description)?,
            description: rank.description.clone(),
        },
        Node::WindowAggregate(window) => OperatorNode::WindowAggregate {
            key_types: decode_types(&window.key_types, &window.description)?,
            time_column: window.time_column as usize,
            window: decode_window(window.window.as_ref(), &window.description)?,
            specs: decode_specs(&window.specs, &window.description)?,
            output_schema: decode_schema(&window.output_schema, &window.description)?,
            description: window.description.clone(),
        },
        Node::WatermarkAssigner(watermark) => OperatorNode::WatermarkAssigner {
            time_column: watermark.time_column as usize,
            delay_ms: watermark.delay_ms,
            idle_timeout: watermark.idle_timeout_ms.map(Duration::from_millis),
            schema: decode_schema(&watermark.schema, &watermark.description)?,
            description: watermark.description.clone(),
        },
        Node::DropUpdateBefore(drop) => OperatorNode::DropUpdateBefore {
            schema: decode_schema(&drop.schema, &drop.description)?,
            description: drop.description.clone(),
        },
        Node::ChangelogNormalize(normalize) => OperatorNode::ChangelogNormalize {
            schema: decode_schema(&normalize.schema, &normalize.description)?,
            key_columns: indexes(&normalize.key_columns),
            state_ttl: normalize.state_ttl_ms.map(Duration::from_millis),
            description: normalize.description.clone(),
        },
    })
}

fn encode_table(table: &TableDescriptor) -> Result<proto::TableNode, PlanError> {
    Ok(proto::TableNode {
        name: table.name.clone(),
        schema: encode_schema(&table.schema)?,
        options: table.options.clone().into_iter().collect(),
        primary_key: table.primary_key.clone(),
        partition_keys: table.partition_keys.clone(),
        metadata: table
            .metadata
            .iter()
            .map(|field| {
                Ok(proto::MetadataColumn {
                    column: field.column.clone(),
                    key: field.key.clone(),
                    data_type: encode_type(&field.data_type)?,
                    is_virtual: field.is_virtual,
                })
            })
            .collect::<Result<_, PlanError>>()?,
    })
}

fn decode_table(table: &proto::TableNode) -> Result<TableDescriptor, PlanError> {
    let what = format!("table '{}'", table.name);
    Ok(TableDescriptor {
        name: table.name.clone(),
        schema: decode_schema(&table.schema, &what)?,
        options: table
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        primary_key: table.primary_key.clone(),
        partition_keys: table.partition_keys.clone(),
        metadata: table
            .metadata
            .iter()
            .map(|field| {
                Ok(MetadataField {
                    column: field.column.clone(),
                    key: field.key.clone(),
                    data_type: decode_type(&field.data_type, &what)?,
                    is_virtual: field.is_virtual,
                })
            })
            .collect::<Result<_, PlanError>>()?,
    })
}

fn encode_specs(specs: &[AggregateSpec]) -> Result<Vec<proto::AggregateSpec>, PlanError> {
    specs
        .iter()
        .map(|spec| {
            let function = match spec.function {
                AggregateFunction::CountStar => ProtoFunction::CountStar,
                AggregateFunction::Count => ProtoFunction::Count,
                AggregateFunction::CountDistinct => ProtoFunction::CountDistinct,
                AggregateFunction::Sum => ProtoFunction::Sum,
                AggregateFunction::Avg => ProtoFunction::Avg,
                AggregateFunction::Min => ProtoFunction::Min,
                AggregateFunction::Max => ProtoFunction::Max,
            };
            Ok(proto::AggregateSpec {
                function: function as i32,
                input_column: spec.input_column.map(|c| c as u32),
                input_type: encode_type(&spec.input_type)?,
                output_type: encode_type(&spec.output_type)?,
                input_retracts: spec.input_retracts,
            })
        })
        .collect()
}

fn decode_specs(
    specs: &[proto::AggregateSpec],
    what: &str,
) -> Result<Vec<AggregateSpec>, PlanError> {
    specs
        .iter()
        .map(|spec| {
            let function = match spec.function() {
                ProtoFunction::CountStar => AggregateFunction::CountStar,
                ProtoFunction::Count => AggregateFunction::Count,
                ProtoFunction::CountDistinct => AggregateFunction::CountDistinct,
                ProtoFunction::Sum => AggregateFunction::Sum,
                ProtoFunction::Avg => AggregateFunction::Avg,
                ProtoFunction::Min => AggregateFunction::Min,
                ProtoFunction::Max => AggregateFunction::Max,
                ProtoFunction::Unspecified => {
                    return Err(PlanError::invalid(
                        what,
                        "an aggregate without its function",
                    ));
                }
            };
            Ok(AggregateSpec {
                function,
                input_column: spec.input_column.map(|c| c as usize),
                input_type: decode_type(&spec.input_type, what)?,
                output_type: decode_type(&spec.output_type, what)?,
                input_retracts: spec.input_retracts,
            })
        })
        .collect()
}

fn encode_mini_batch(mini_batch: &MiniBatch) -> proto::MiniBatch {
    proto::MiniBatch {
        allow_latency_ms: mini_batch.allow_latency.as_millis() as u64,
        size: mini_batch.size.map(|size| size as u64),
    }
}

fn decode_mini_batch(mini_batch: &proto::MiniBatch) -> MiniBatch {
    MiniBatch {
        allow_latency: Duration::from_millis(mini_batch.allow_latency_ms),
        size: mini_batch.size.map(|size| size as usize),
    }
}

fn required_mini_batch(
    mini_batch: &Option<proto::MiniBatch>,
    what: &str,
) -> Result<MiniBatch, PlanError> {
    mini_batch
        .as_ref()
        .map(decode_mini_batch)
        .ok_or_else(|| PlanError::invalid(what, "no mini-batch settings"))
}

fn encode_join_kind(kind: JoinKind) -> proto::JoinKind {
    match kind {
        JoinKind::Inner => proto::JoinKind::Inner,
        JoinKind::Left => proto::JoinKind::Left,
        JoinKind::Right => proto::JoinKind::Right,
        JoinKind::Full => proto::JoinKind::Full,
    }
}

fn decode_join_kind(kind: proto::JoinKind, what: &str) -> Result<JoinKind, PlanError> {
    Ok(match kind {
        proto::JoinKind::Inner => JoinKind::Inner,
        proto::JoinKind::Left => JoinKind::Left,
        proto::JoinKind::Right => JoinKind::Right,
        proto::JoinKind::Full => JoinKind::Full,
        proto::JoinKind::Unspecified => {
            return Err(PlanError::invalid(what, "a join without its kind"));
        }
    })
}

fn encode_window(window: WindowKind) -> proto::WindowKind {
    use proto::window_kind::{Cumulate, Hop, Kind, Tumble};
    let kind = match window {
        WindowKind::Tumble { size_ms, offset_ms } => Kind::Tumble(Tumble { size_ms, offset_ms }),
        WindowKind::Hop { size_ms, slide_ms } => Kind::Hop(Hop { size_ms, slide_ms }),
        WindowKind::Cumulate {
            step_ms,
            max_size_ms,
        } => Kind::Cumulate(Cumulate {
            step_ms,
            max_size_ms,
        }),
    };
    proto::WindowKind { kind: Some(kind) }
}

fn decode_window(window: Option<&proto::WindowKind>, what: &str) -> Result<WindowKind, PlanError> {
    use proto::window_kind::Kind;
    Ok(match window.and_then(|w| w.kind.as_ref()) {
        Some(Kind::Tumble(tumble)) => WindowKind::Tumble {
            size_ms: tumble.size_ms,
            offset_ms: tumble.offset_ms,
        },
        Some(Kind::Hop(hop)) => WindowKind::Hop {
            size_ms: hop.size_ms,
            slide_ms: hop.slide_ms,
        },
        Some(Kind::Cumulate(cumulate)) => WindowKind::Cumulate {
            step_ms: cumulate.step_ms,
            max_size_ms: cumulate.max_size_ms,
        },
        None => {
            return Err(PlanError::invalid(
                what,
                "a window aggregate without its window",
            ));
        }
    })
}

/// Column positions as protobuf numbers.
fn positions(columns: &[usize]) -> Vec<u32> {
    columns.iter().map(|&c| c as u32).collect()
}

/// Protobuf numbers as column positions.
fn indexes(columns: &[u32]) -> Vec<usize> {
    columns.iter().map(|&c| c as usize).collect()
}

/// The columns a join condition sees: the left input's, then the right's.
fn joined(left: &SchemaRef, right: &SchemaRef) -> Schema {
    let fields: Vec<_> = left
        .fields()
        .iter()
        .chain(right.fields().iter())
        .cloned()
        .collect();
    Schema::new(fields)
}
