//! Calc: filter and project rows with DataFusion physical expressions
//! (Flink's `Calc` node). Row kinds pass through unchanged.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion_physical_expr_common::physical_expr::PhysicalExpr;

use crate::error::{Result, StreamError};
use crate::operator::Operator;
use crate::row_kind::{split_row_kinds, with_row_kinds};

/// Filters rows by an optional predicate, then computes the output columns.
pub struct Calc {
    predicate: Option<Arc<dyn PhysicalExpr>>,
    projections: Vec<Arc<dyn PhysicalExpr>>,
    output_schema: SchemaRef,
}

impl Calc {
    /// A Calc whose projections produce `output_schema`'s columns (data
    /// columns only; the row-kind column is carried over by the operator).
    pub fn new(
        predicate: Option<Arc<dyn PhysicalExpr>>,
        projections: Vec<Arc<dyn PhysicalExpr>>,
        output_schema: SchemaRef,
    ) -> Self {
        Calc {
            predicate,
            projections,
            output_schema,
        }
    }

    fn filter(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let Some(predicate) = &self.predicate else {
            return Ok(batch);
        };
        let mask = predicate.evaluate(&batch)?.into_array(batch.num_rows())?;
        let mask = mask
            .as_boolean_opt()
            .ok_or_else(|| StreamError::Failed("filter predicate is not BOOLEAN".into()))?;
        Ok(filter_record_batch(&batch, mask)?)
    }
}

impl Operator for Calc {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let batch = self.filter(batch)?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let columns = self
            .projections
            .iter()
            .map(|expr| expr.evaluate(&batch)?.into_array(batch.num_rows()))
            .collect::<std::result::Result<Vec<ArrayRef>, _>>()?;
        let data = RecordBatch::try_new(self.output_schema.clone(), columns)?;
        let (_, kinds) = split_row_kinds(&batch)?;
        out.push(match kinds {
            Some(kinds) => with_row_kinds(&data, kinds)?,
            None => data,
        });
        Ok(())
    }
}
