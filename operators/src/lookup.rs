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
    Ok(match mask.nulls() {
        Some(_) => arrow::compute::prep_null_mask_filter(mask),
        None => mask.clone(),
    })
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow::array::{Int8Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion_common::ScalarValue;
    use datafusion_expr_common::operator::Operator as BinaryOp;
    use datafusion_physical_expr::expressions::{BinaryExpr, Column, Literal};

    use super::*;
    use crate::join::tests::changes;
    use crate::row_kind::RowKind;

    /// An in-memory customers table (id, name, tier) looked up by id,
    /// recording the keys each lookup asked for.
    struct Customers {
        rows: BTreeMap<i64, Vec<(&'static str, &'static str)>>,
        asked: Arc<std::sync::Mutex<Vec<Vec<i64>>>>,
    }

    fn table_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("tier", DataType::Utf8, false),
        ]))
    }

    #[async_trait::async_trait]
    impl LookupTable for Customers {
        async fn lookup(&mut self, keys: &[ArrayRef]) -> Result<LookupRows> {
            let keys = keys[0].as_primitive::<arrow::datatypes::Int64Type>();
            self.asked
                .lock()
                .expect("the keys asked")
                .push(keys.values().to_vec());
            let (mut key_of_row, mut ids, mut names, mut tiers) = (vec![], vec![], vec![], vec![]);
            for (k, id) in keys.values().iter().enumerate() {
                for (name, tier) in self.rows.get(id).into_iter().flatten() {
                    key_of_row.push(k as u32);
                    ids.push(*id);
                    names.push(*name);
                    tiers.push(*tier);
                }
            }
            Ok(LookupRows {
                keys: UInt32Array::from(key_of_row),
                rows: RecordBatch::try_new(
                    table_schema(),
                    vec![
                        Arc::new(Int64Array::from(ids)),
                        Arc::new(StringArray::from(names)),
                        Arc::new(StringArray::from(tiers)),
                    ],
                )?,
            })
        }
    }

    /// A lookup join of orders (order_id, customer) with the customers,
    /// keeping name and tier, skipping banned customers, and matching
    /// only orders below 100.
    fn join(kind: JoinKind) -> (LookupJoin, Arc<std::sync::Mutex<Vec<Vec<i64>>>>) {
        let asked = Arc::default();
        let customers = Customers {
            rows: BTreeMap::from([
                (10, vec![("ann", "gold")]),
                (30, vec![("eve", "banned")]),
                (40, vec![("bob", "silver"), ("bob2", "gold")]),
            ]),
            asked: Arc::clone(&asked),
        };
        let output_schema = Arc::new(Schema::new(vec![
            Field::new("order_id", DataType::Int64, true),
            Field::new("customer", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("tier", DataType::Utf8, true),
        ]));
        let spec = LookupJoinSpec {
            kind,
            key_exprs: vec![Arc::new(Column::new("customer", 1))],
            table_filter: Some(Arc::new(BinaryExpr::new(
                Arc::new(Column::new("tier", 2)),
                BinaryOp::NotEq,
                Arc::new(Literal::new(ScalarValue::Utf8(Some("banned".into())))),
            ))),
            projection: vec![1, 2],
            filter: Some(Arc::new(BinaryExpr::new(
                Arc::new(Column::new("order_id", 0)),
                BinaryOp::Lt,
                Arc::new(Literal::new(ScalarValue::Int64(Some(100)))),
            ))),
            output_schema,
        };
        (LookupJoin::new(spec, Box::new(customers)).unwrap(), asked)
    }

    fn orders(rows: &[(RowKind, i64, Option<i64>)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("order_id", DataType::Int64, false),
            Field::new("customer", DataType::Int64, true),
        ]));
        let data = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.2))),
            ],
        )
        .unwrap();
        let kinds = Int8Array::from_iter_values(rows.iter().map(|r| r.0 as i8));
        with_row_kinds(&data, kinds).unwrap()
    }

    fn run(join: &mut LookupJoin, batch: RecordBatch) -> Vec<String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut out = Vec::new();
        let waiting = join
            .asynchronous()
            .expect("a lookup join runs asynchronously");
        runtime
            .block_on(waiting.process_batch_async(batch, &mut out))
            .unwrap();
        changes(&out)
    }

    fn input() -> RecordBatch {
        use RowKind::*;
        orders(&[
            (Insert, 1, Some(10)),
            (Insert, 2, Some(20)),
            (Delete, 3, Some(30)),
            (Insert, 4, None),
            (Insert, 5, Some(40)),
            (UpdateAfter, 200, Some(10)),
        ])
    }

    #[test]
    fn a_left_lookup_join_pads_rows_without_a_passing_match_and_keeps_row_kinds() {
        let (mut left, _) = join(JoinKind::Left);
        assert_eq!(
            run(&mut left, input()),
            [
                "+I 1,10,ann,gold",
                "+I 2,20,NULL,NULL",
                "-D 3,30,NULL,NULL",
                "+I 4,NULL,NULL,NULL",
                "+I 5,40,bob,silver",
                "+I 5,40,bob2,gold",
                "+U 200,10,NULL,NULL",
            ]
        );
    }

    #[test]
    fn an_inner_lookup_join_keeps_passing_matches_and_asks_each_key_once() {
        let (mut inner, asked) = join(JoinKind::Inner);
        assert_eq!(
            run(&mut inner, input()),
            [
                "+I 1,10,ann,gold",
                "+I 5,40,bob,silver",
                "+I 5,40,bob2,gold"
            ]
        );
        assert_eq!(
            *asked.lock().unwrap(),
            [vec![10, 20, 30, 40]],
            "distinct non-NULL keys, once"
        );
    }
}
