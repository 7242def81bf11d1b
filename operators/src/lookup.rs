//! The lookup join (Flink's processing-time temporal join with a lookup
//! table, `JOIN dim FOR SYSTEM_TIME AS OF o.proc_time AS d ON ...`): every
//! row of the stream is joined with the rows the dimension table holds for
//! its key at the moment it passes. The table is not state of the job: it
//! is queried ([`LookupTable`]), once per batch for the batch's distinct
//! keys, which is what keeps a slow database from serializing the stream.
//! Row kinds pass through: each output row carries its input row's kind.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, UInt32Array, new_null_array};
use arrow::compute::{filter_record_batch, take};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use datafusion_physical_expr_common::physical_expr::PhysicalExpr;

use crate::error::{Result, StreamError};
use crate::join::JoinKind;
use crate::join::output::gather;
use crate::operator::{AsyncOperator, Operator};
use crate::row_kind::{split_row_kinds, with_row_kinds};

/// What a lookup found: rows of the table and, for each, the key it
/// matches.
#[derive(Debug, Clone)]
pub struct LookupRows {
    /// For each of `rows`, the index of the key (in the lookup's key
    /// columns) it matches.
    pub keys: UInt32Array,
    /// The matching rows: every column of the table.
    pub rows: RecordBatch,
}

/// The dimension side of a lookup join: a table queried by key (a
/// database table through the `jdbc` connector).
#[async_trait::async_trait]
pub trait LookupTable: Send {
    /// The rows whose lookup-key columns equal each key. `keys` holds one
    /// array per lookup-key column (in the join's key order, typed as the
    /// table's columns) and one row per key, distinct and without NULLs.
    async fn lookup(&mut self, keys: &[ArrayRef]) -> Result<LookupRows>;
}

/// What the plan says about a lookup join.
pub struct LookupJoinSpec {
    /// Inner (matched rows only) or left (unmatched rows padded with
    /// NULLs).
    pub kind: JoinKind,
    /// The key of each input row, over the input's data columns, typed as
    /// the table's key columns.
    pub key_exprs: Vec<Arc<dyn PhysicalExpr>>,
    /// A condition on the table's rows alone (over its columns), applied
    /// before joining: a row failing it does not match.
    pub table_filter: Option<Arc<dyn PhysicalExpr>>,
    /// The table's columns the output keeps, in order.
    pub projection: Vec<usize>,
    /// The rest of the join condition, over the input's data columns then
    /// the kept ones.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// The output's data columns: the input's, then the kept ones.
    pub output_schema: SchemaRef,
}

/// The lookup join operator.
pub struct LookupJoin {
    spec: LookupJoinSpec,
    table: Box<dyn LookupTable>,
}

impl LookupJoin {
    /// A lookup join querying `table`.
    pub fn new(spec: LookupJoinSpec, table: Box<dyn LookupTable>) -> Result<Self> {
        if !matches!(spec.kind, JoinKind::Inner | JoinKind::Left) {
            return Err(StreamError::Failed(format!(
                "a lookup join is an inner or a left join, not {:?}",
                spec.kind
            )));
        }
        Ok(LookupJoin { spec, table })
    }

    /// The rows `table_filter` accepts.
    fn accepted(&self, found: LookupRows) -> Result<LookupRows> {
        let Some(filter) = &self.spec.table_filter else {
            return Ok(found);
        };
        let mask = boolean_mask(filter, &found.rows)?;
        let keys = arrow::compute::filter(&found.keys, &mask)?;
        Ok(LookupRows {
            keys: keys.as_primitive().clone(),
            rows: filter_record_batch(&found.rows, &mask)?,
        })
    }
}

/// The distinct non-NULL keys of a batch: for each row its key's index
/// (`None` for a key with a NULL, which matches nothing), and the keys.
fn distinct_keys(keys: &[ArrayRef]) -> Result<(Vec<Option<u32>>, Vec<ArrayRef>)> {
    let rows = keys.first().map_or(0, |k| k.len());
    let converter = RowConverter::new(
        keys.iter()
            .map(|k| SortField::new(k.data_type().clone()))
            .collect(),
    )?;
    let encoded = converter.convert_columns(keys)?;
    let mut index = HashMap::new();
    let mut firsts: Vec<u32> = Vec::new();
    let mut key_of_row = Vec::with_capacity(rows);
    for row in 0..rows {
        if keys.iter().any(|k| k.is_null(row)) {
            key_of_row.push(None);
            continue;
        }
        let next = firsts.len() as u32;
        let at = *index.entry(encoded.row(row)).or_insert_with(|| {
            firsts.push(row as u32);
            next
        });
        key_of_row.push(Some(at));
    }
    let firsts = UInt32Array::from(firsts);
    let distinct = keys
        .iter()
        .map(|k| take(k.as_ref(), &firsts, None))
        .collect::<std::result::Result<_, _>>()?;
    Ok((key_of_row, distinct))
}

/// The mask a boolean expression gives over a batch (NULL counts as
/// false).
fn boolean_mask(
    expr: &Arc<dyn PhysicalExpr>,
    batch: &RecordBatch,
) -> Result<arrow::array::BooleanArray> {
    let values = expr.evaluate(batch)?.into_array(batch.num_rows())?;
    let mask = values
        .as_boolean_opt()
        .ok_or_else(|| StreamError::Failed("a lookup join condition is not BOOLEAN".into()))?;
    Ok(arrow::compute::prep_null_mask_filter(mask))
}

impl Operator for LookupJoin {
    fn asynchronous(&mut self) -> Option<&mut dyn AsyncOperator> {
        Some(self)
    }

    fn process_batch(
        &mut self,
        _input: usize,
        _batch: RecordBatch,
        _out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        Err(StreamError::Failed(
            "a lookup join waits on its table: the runtime must run it asynchronously".into(),
        ))
    }
}

#[async_trait::async_trait]
impl AsyncOperator for LookupJoin {
    async fn process_batch_async(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let (data, kinds) = split_row_kinds(&batch)?;
        if data.num_rows() == 0 {
            return Ok(());
        }
        let keys = self
            .spec
            .key_exprs
            .iter()
            .map(|e| Ok(e.evaluate(&data)?.into_array(data.num_rows())?))
            .collect::<Result<Vec<_>>>()?;
        let (key_of_row, distinct) = distinct_keys(&keys)?;
        let found = if distinct.first().is_some_and(|k| !k.is_empty()) {
            let found = self.table.lookup(&distinct).await?;
            self.accepted(found)?
        } else {
            LookupRows {
                keys: UInt32Array::from(Vec::<u32>::new()),
                rows: RecordBatch::new_empty(Arc::new(arrow::datatypes::Schema::empty())),
            }
        };
        let distinct_count = distinct.first().map_or(0, |k| k.len());
        let mut matches: Vec<Vec<u32>> = vec![Vec::new(); distinct_count];
        for (row, key) in found.keys.values().iter().enumerate() {
            let slot = matches.get_mut(*key as usize).ok_or_else(|| {
                StreamError::Failed(format!("a lookup returned a row of unknown key {key}"))
            })?;
            slot.push(row as u32);
        }
        // Candidate pairs, grouped by input row in order.
        let mut left = Vec::new();
        let mut right = Vec::new();
        for (row, key) in key_of_row.iter().enumerate() {
            for &found_row in key.map_or(&[][..], |k| &matches[k as usize]) {
                left.push(row as u32);
                right.push(found_row);
            }
        }
        let kept: Vec<ArrayRef> = if found.rows.num_columns() == 0 {
            self.spec.output_schema.fields()[data.num_columns()..]
                .iter()
                .map(|f| new_null_array(f.data_type(), 0))
                .collect()
        } else {
            self.spec
                .projection
                .iter()
                .map(|&c| found.rows.column(c).clone())
                .collect()
        };
        let pairs = |left: &UInt32Array, right: &UInt32Array| -> Result<RecordBatch> {
            let mut columns = gather(data.columns(), left)?;
            columns.extend(gather(&kept, right)?);
            Ok(RecordBatch::try_new(
                self.spec.output_schema.clone(),
                columns,
            )?)
        };
        let candidates = pairs(
            &UInt32Array::from(left.clone()),
            &UInt32Array::from(right.clone()),
        )?;
        let passed = match &self.spec.filter {
            Some(filter) => Some(boolean_mask(filter, &candidates)?),
            None => None,
        };
        // The output: each input row's passing pairs, or (left join) the
        // row padded with NULLs when none passes.
        let mut out_left = Vec::new();
        let mut out_right: Vec<Option<u32>> = Vec::new();
        let mut pair = 0;
        for row in 0..data.num_rows() as u32 {
            let mut joined = false;
            while pair < left.len() && left[pair] == row {
                if passed.as_ref().is_none_or(|p| p.value(pair)) {
                    out_left.push(row);
                    out_right.push(Some(right[pair]));
                    joined = true;
                }
                pair += 1;
            }
            if !joined && self.spec.kind == JoinKind::Left {
                out_left.push(row);
                out_right.push(None);
            }
        }
        if out_left.is_empty() {
            return Ok(());
        }
        let out_left = UInt32Array::from(out_left);
        let joined = pairs(&out_left, &UInt32Array::from(out_right))?;
        out.push(match kinds {
            Some(kinds) => {
                let kinds = take(&kinds, &out_left, None)?;
                with_row_kinds(&joined, kinds.as_primitive().clone())?
            }
            None => joined,
        });
        Ok(())
    }
}
