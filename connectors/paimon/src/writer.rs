//! One writer subtask of a Paimon sink: rows go to the `paimon` crate's
//! table writer, which routes them to partitions and buckets and writes
//! data files; at each barrier the files written since the last one become
//! commit messages for the committer.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int8Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use paimon::table::TableWrite;
use rtdw_connector_core::TableDescriptor;
use rtdw_connector_core::committer::CommittableWriter;
use rtdw_operators::row_kind::{RowKind, split_row_kinds};
use rtdw_operators::{Result, StreamError};

use crate::options::PaimonSettings;
use crate::table::{arrow_schema, open_for_job, paimon_error};
use crate::{bridge, committable};

/// The trailing column of a primary-key table's input: each row's kind,
/// in Paimon's encoding (Flink's: 0 `+I`, 1 `-U`, 2 `+U`, 3 `-D`).
const VALUE_KIND: &str = paimon::spec::VALUE_KIND_FIELD_NAME;

/// The writer of one sink subtask.
pub struct PaimonWriter {
    declared: TableDescriptor,
    settings: PaimonSettings,
    commit_user: String,
    /// Opened at the first row, so that a restored committer's commits are
    /// in before the table is read for sequence numbers.
    open: Option<OpenWriter>,
}

/// The table's writer and what the input is cast to.
struct OpenWriter {
    write: TableWrite,
    /// The table's columns in rtdw's Arrow, `_VALUE_KIND` last for a
    /// primary-key table.
    target: SchemaRef,
    primary_key: bool,
}

impl PaimonWriter {
    /// The writer of `declared`, committing as `commit_user`.
    pub fn new(declared: TableDescriptor, settings: PaimonSettings, commit_user: String) -> Self {
        PaimonWriter {
            declared,
            settings,
            commit_user,
            open: None,
        }
    }

    fn failed(&self, context: &str, error: paimon::Error) -> StreamError {
        paimon_error(&self.declared.name, context, error).into()
    }

    async fn open(&mut self) -> Result<&mut OpenWriter> {
        if self.open.is_none() {
            let table = open_for_job(&self.settings, &self.declared).await?;
            let primary_key = !table.schema().primary_keys().is_empty();
            let columns = arrow_schema(&table, &self.declared.name)?;
            let mut fields: Vec<Field> = columns
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            if primary_key {
                fields.push(Field::new(VALUE_KIND, DataType::Int8, false));
            }
            let write = table
                .new_write_builder()
                .with_commit_user(self.commit_user.clone())
                .and_then(|builder| builder.new_write())
                .map_err(|e| self.failed("cannot open a writer", e))?;
            self.open = Some(OpenWriter {
                write,
                target: Arc::new(Schema::new(fields)),
                primary_key,
            });
        }
        Ok(self.open.as_mut().expect("opened above"))
    }
}

impl OpenWriter {
    /// The input batch as the table's writer takes it: columns cast to
    /// the table's types, the row kinds as `_VALUE_KIND`.
    fn conform(&self, batch: &RecordBatch, table: &str) -> Result<RecordBatch> {
        let (data, kinds) = split_row_kinds(batch)?;
        let width = self.target.fields().len() - usize::from(self.primary_key);
        if data.num_columns() != width {
            return Err(StreamError::Failed(format!(
                "table '{table}': rows have {} columns, the Paimon table {width}",
                data.num_columns()
            )));
        }
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.target.fields().len());
        for (column, field) in data.columns().iter().zip(self.target.fields()) {
            columns.push(arrow::compute::cast(column, field.data_type())?);
        }
        match (self.primary_key, kinds) {
            (true, Some(kinds)) => columns.push(Arc::new(kinds)),
            (true, None) => columns.push(Arc::new(Int8Array::from(vec![
                RowKind::Insert as i8;
                data.num_rows()
            ]))),
            (false, Some(kinds)) => {
                if kinds.values().iter().any(|&k| k != RowKind::Insert as i8) {
                    return Err(StreamError::Failed(format!(
                        "table '{table}': an append-only Paimon table (no primary key) received updates or deletes"
                    )));
                }
            }
            (false, None) => {}
        }
        RecordBatch::try_new(self.target.clone(), columns).map_err(|e| {
            StreamError::Failed(format!(
                "table '{table}': rows do not fit the Paimon table (a primary-key column may be NULL): {e}"
            ))
        })
    }
}

#[async_trait::async_trait]
impl CommittableWriter for PaimonWriter {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let table = self.declared.name.clone();
        let open = self.open().await?;
        let conformed = open.conform(batch, &table)?;
        let crossed = bridge::to_paimon(&conformed)
            .map_err(|e| StreamError::Failed(format!("table '{table}': {e}")))?;
        let result = open.write.write_arrow_batch(&crossed).await;
        result.map_err(|e| self.failed("cannot write rows", e))
    }

    async fn prepare_commit(&mut self, _checkpoint_id: u64) -> Result<Vec<Vec<u8>>> {
        let Some(open) = self.open.as_mut() else {
            return Ok(Vec::new());
        };
        let prepared = open.write.prepare_commit().await;
        let messages = prepared.map_err(|e| self.failed("cannot flush data files", e))?;
        messages
            .iter()
            .map(|message| {
                committable::encode(&self.commit_user, message).map_err(|e| {
                    StreamError::Failed(format!("table '{}': {e}", self.declared.name))
                })
            })
            .collect()
    }
}
