//! Physical expressions in DataFusion's protobuf message
//! (`datafusion.PhysicalExprNode`), serialized to bytes.
//!
//! DataFusion's expressions encode and decode themselves
//! (`PhysicalExpr::try_to_proto`, `try_from_proto`); what lives here is the
//! dispatch DataFusion leaves to its `datafusion-proto` crate, which needs
//! the whole of DataFusion: the match from a node's kind to the expression
//! that decodes it, and scalar function calls, which travel by name and are
//! found again in [`ScalarFunctions`].

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use datafusion_common::config::ConfigOptions;
use datafusion_common::{DataFusionError, Result, not_impl_err};
use datafusion_physical_expr::ScalarFunctionExpr;
use datafusion_physical_expr::expressions::{
    BinaryExpr, CaseExpr, CastExpr, Column, InListExpr, IsNotNullExpr, IsNullExpr, LikeExpr,
    Literal, NegativeExpr, NotExpr, TryCastExpr, UnKnownColumn,
};
use datafusion_physical_expr_common::physical_expr::PhysicalExpr;
use datafusion_physical_expr_common::physical_expr::proto_decode::{
    PhysicalExprDecode, PhysicalExprDecodeCtx,
};
use datafusion_physical_expr_common::physical_expr::proto_encode::{
    PhysicalExprEncode, PhysicalExprEncodeCtx,
};
use datafusion_proto_models::datafusion_common::ArrowType;
use datafusion_proto_models::protobuf::physical_expr_node::ExprType;
use datafusion_proto_models::protobuf::{PhysicalExprNode, PhysicalScalarUdfNode};
use prost::Message;
use rtdw_functions::ScalarFunctions;

use crate::PlanError;

/// The bytes of `expr`, or an error naming the expression that has no
/// protobuf form.
pub(crate) fn encode_expr(expr: &Arc<dyn PhysicalExpr>) -> Result<Vec<u8>, PlanError> {
    let encoder = ExprEncoder {
        functions: ScalarFunctions::shared(),
    };
    encoder
        .encode(expr)
        .map(|node| node.encode_to_vec())
        .map_err(|e| PlanError::unshippable(format!("expression {expr}"), e))
}

/// The bytes of an optional expression: empty for none.
pub(crate) fn encode_optional_expr(
    expr: &Option<Arc<dyn PhysicalExpr>>,
) -> Result<Vec<u8>, PlanError> {
    expr.as_ref().map_or(Ok(Vec::new()), encode_expr)
}

/// Reads shipped expressions over the columns of one schema.
pub(crate) struct ExprDecoder<'a> {
    functions: &'a ScalarFunctions,
    config: Arc<ConfigOptions>,
}

impl<'a> ExprDecoder<'a> {
    /// A decoder finding called functions in `functions`.
    pub(crate) fn new(functions: &'a ScalarFunctions) -> Self {
        Self {
            functions,
            config: Arc::new(ConfigOptions::default()),
        }
    }

    /// The expression `bytes` hold, over `schema`; `what` names it in
    /// errors.
    pub(crate) fn expr(
        &self,
        bytes: &[u8],
        schema: &Schema,
        what: &str,
    ) -> Result<Arc<dyn PhysicalExpr>, PlanError> {
        let node = PhysicalExprNode::decode(bytes).map_err(|e| PlanError::invalid(what, e))?;
        self.decode(&node, schema)
            .map_err(|e| PlanError::invalid(what, e))
    }

    /// The expression `bytes` hold, `None` when empty.
    pub(crate) fn optional_expr(
        &self,
        bytes: &[u8],
        schema: &Schema,
        what: &str,
    ) -> Result<Option<Arc<dyn PhysicalExpr>>, PlanError> {
        if bytes.is_empty() {
            return Ok(None);
        }
        self.expr(bytes, schema, what).map(Some)
    }

    /// A scalar function call, its function found by name.
    fn scalar_function(
        &self,
        call: &PhysicalScalarUdfNode,
        ctx: &PhysicalExprDecodeCtx<'_>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let Some(function) = self.functions.get(&call.name) else {
            return not_impl_err!("unknown scalar function '{}'", call.name);
        };
        let Some(return_type) = &call.return_type else {
            return not_impl_err!("call of '{}' without its return type", call.name);
        };
        let return_type =
            DataType::try_from(return_type).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let return_field = Field::new(&call.return_field_name, return_type, call.nullable);
        Ok(Arc::new(ScalarFunctionExpr::new(
            &call.name,
            function.clone(),
            ctx.decode_children_expressions(&call.args)?,
            Arc::new(return_field),
            self.config.clone(),
        )))
    }
}

impl PhysicalExprDecode for ExprDecoder<'_> {
    fn decode(&self, node: &PhysicalExprNode, schema: &Schema) -> Result<Arc<dyn PhysicalExpr>> {
        let ctx = PhysicalExprDecodeCtx::new(schema, self);
        match &node.expr_type {
            Some(ExprType::Column(_)) => Column::try_from_proto(node, &ctx),
            Some(ExprType::UnknownColumn(_)) => UnKnownColumn::try_from_proto(node, &ctx),
            Some(ExprType::Literal(_)) => Literal::try_from_proto(node, &ctx),
            Some(ExprType::BinaryExpr(_)) => BinaryExpr::try_from_proto(node, &ctx),
            Some(ExprType::IsNullExpr(_)) => IsNullExpr::try_from_proto(node, &ctx),
            Some(ExprType::IsNotNullExpr(_)) => IsNotNullExpr::try_from_proto(node, &ctx),
            Some(ExprType::NotExpr(_)) => NotExpr::try_from_proto(node, &ctx),
            Some(ExprType::Negative(_)) => NegativeExpr::try_from_proto(node, &ctx),
            Some(ExprType::Case(_)) => CaseExpr::try_from_proto(node, &ctx),
            Some(ExprType::Cast(_)) => CastExpr::try_from_proto(node, &ctx),
            Some(ExprType::TryCast(_)) => TryCastExpr::try_from_proto(node, &ctx),
            Some(ExprType::InList(_)) => InListExpr::try_from_proto(node, &ctx),
            Some(ExprType::LikeExpr(_)) => LikeExpr::try_from_proto(node, &ctx),
            Some(ExprType::ScalarUdf(call)) => self.scalar_function(call, &ctx),
            Some(other) => not_impl_err!("no task-manager form for {other:?}"),
            None => not_impl_err!("an expression node without its kind"),
        }
    }
}

/// Encodes expressions, calls of scalar functions by name.
struct ExprEncoder<'a> {
    functions: &'a ScalarFunctions,
}

impl ExprEncoder<'_> {
    /// A call by its function's name, which must reach the very function
    /// called: a function a task manager would not find by that name is
    /// refused here, at submission.
    fn scalar_function(&self, call: &ScalarFunctionExpr) -> Result<PhysicalExprNode> {
        let name = call.fun().name();
        match self.functions.get(name) {
            Some(found) if **found == *call.fun() => {}
            _ => return not_impl_err!("the function '{name}' cannot be found by name"),
        }
        let return_type = ArrowType::try_from(call.return_type())
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let ctx = PhysicalExprEncodeCtx::new(self);
        Ok(PhysicalExprNode {
            expr_id: None,
            expr_type: Some(ExprType::ScalarUdf(PhysicalScalarUdfNode {
                name: name.to_string(),
                args: ctx.encode_children_expressions(call.args())?,
                fun_definition: None,
                return_type: Some(return_type),
                nullable: call.nullable(),
                return_field_name: call.name().to_string(),
            })),
        })
    }
}

impl PhysicalExprEncode for ExprEncoder<'_> {
    fn encode(&self, expr: &Arc<dyn PhysicalExpr>) -> Result<PhysicalExprNode> {
        if let Some(call) = expr.downcast_ref::<ScalarFunctionExpr>() {
            return self.scalar_function(call);
        }
        match expr.try_to_proto(&PhysicalExprEncodeCtx::new(self))? {
            Some(node) => Ok(node),
            None => not_impl_err!("{expr} has no protobuf form"),
        }
    }
}
