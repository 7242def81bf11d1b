//! A Paimon table as the dimension side of a lookup join (Paimon's Flink
//! lookup function): the table's latest snapshot held in memory, indexed
//! by the lookup keys, and read again when a newer snapshot appears,
//! looked for every `continuous.discovery-interval`. A primary-key table
//! is held merged by its merge engine, so each key has its current row.

use std::collections::HashMap;
use std::time::Instant;

use arrow::array::{ArrayRef, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use futures::TryStreamExt;
use paimon::Table;
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::lookup::{LookupRows, LookupTable};
use rtdw_operators::{Result, StreamError};

use crate::bridge;
use crate::options::{PaimonSettings, ScanSettings};
use crate::splits::full_plan;
use crate::table::{declared_columns, open_for_job, paimon_error};

/// The table's rows of one snapshot, by key.
struct Loaded {
    snapshot: i64,
    rows: RecordBatch,
    /// Row positions by encoded key.
    index: HashMap<Vec<u8>, Vec<u32>>,
}

/// One subtask's lookup table.
pub(crate) struct PaimonLookup {
    declared: TableDescriptor,
    settings: PaimonSettings,
    scan: ScanSettings,
    /// Positions of the lookup keys among the declared columns.
    key_columns: Vec<usize>,
    converter: RowConverter,
    table: Option<Table>,
    loaded: Option<Loaded>,
    /// When the latest snapshot was last looked for.
    checked: Option<Instant>,
}

impl PaimonLookup {
    /// The lookup table of `declared` by the columns `keys`; reads the
    /// table at the first lookup.
    pub fn new(
        declared: &TableDescriptor,
        keys: &[String],
    ) -> std::result::Result<Self, ConnectorError> {
        let settings = PaimonSettings::from_table(declared)?;
        let scan = ScanSettings::from_table(declared)?;
        let key_columns = keys
            .iter()
            .map(|key| {
                declared
                    .schema
                    .index_of(key)
                    .map_err(|_| ConnectorError::Unsupported {
                        table: declared.name.clone(),
                        reason: format!("the lookup key '{key}' is not a column"),
                    })
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let converter = RowConverter::new(
            key_columns
                .iter()
                .map(|&c| SortField::new(declared.schema.field(c).data_type().clone()))
                .collect(),
        )
        .map_err(|e| ConnectorError::Unsupported {
            table: declared.name.clone(),
            reason: format!("the lookup keys cannot be compared: {e}"),
        })?;
        Ok(PaimonLookup {
            declared: declared.clone(),
            settings,
            scan,
            key_columns,
            converter,
            table: None,
            loaded: None,
            checked: None,
        })
    }

    fn failed(&self, context: String, error: paimon::Error) -> StreamError {
        paimon_error(&self.declared.name, context, error).into()
    }

    /// Reads the latest snapshot again when one newer than the loaded one
    /// exists; looks at most once per discovery interval.
    async fn refresh(&mut self) -> Result<()> {
        if self
            .checked
            .is_some_and(|at| at.elapsed() < self.scan.discovery_interval)
        {
            return Ok(());
        }
        if self.table.is_none() {
            self.table = Some(open_for_job(&self.settings, &self.declared).await?);
        }
        let table = self.table.clone().expect("opened above");
        let latest = table.snapshot_manager().get_latest_snapshot_id().await;
        let latest = latest
            .map_err(|e| self.failed("cannot read the latest snapshot".into(), e))?
            .unwrap_or(0);
        self.checked = Some(Instant::now());
        if self.loaded.as_ref().is_some_and(|l| l.snapshot == latest) {
            return Ok(());
        }
        let rows = self.read(&table, latest).await?;
        let keys: Vec<ArrayRef> = self
            .key_columns
            .iter()
            .map(|&c| rows.column(c).clone())
            .collect();
        let encoded = self.converter.convert_columns(&keys)?;
        let mut index: HashMap<Vec<u8>, Vec<u32>> = HashMap::new();
        for row in 0..rows.num_rows() {
            index
                .entry(encoded.row(row).as_ref().to_vec())
                .or_default()
                .push(row as u32);
        }
        tracing::debug!(table = %self.declared.name, snapshot = latest, rows = rows.num_rows(), "loaded the lookup table");
        self.loaded = Some(Loaded {
            snapshot: latest,
            rows,
            index,
        });
        Ok(())
    }

    /// The table's rows at `snapshot` (none before the first), as declared.
    async fn read(&self, table: &Table, snapshot: i64) -> Result<RecordBatch> {
        let schema = self.declared.schema.clone();
        if snapshot == 0 {
            return Ok(RecordBatch::new_empty(schema));
        }
        let splits = full_plan(table, snapshot, &self.declared.name).await?;
        let read = table.new_read_builder();
        let stream = read
            .new_read()
            .and_then(|r| r.to_arrow(&splits))
            .map_err(|e| self.failed(format!("cannot read snapshot {snapshot}"), e))?;
        let batches: Vec<_> = stream
            .try_collect()
            .await
            .map_err(|e| self.failed(format!("cannot read snapshot {snapshot}"), e))?;
        let mut declared = Vec::with_capacity(batches.len());
        for batch in &batches {
            let batch = bridge::from_paimon(batch)
                .map_err(|e| StreamError::Failed(format!("table '{}': {e}", self.declared.name)))?;
            declared.push(RecordBatch::try_new(
                schema.clone(),
                declared_columns(&self.declared, &batch)?,
            )?);
        }
        Ok(concat_batches(&schema, &declared)?)
    }
}

#[async_trait::async_trait]
impl LookupTable for PaimonLookup {
    async fn lookup(&mut self, keys: &[ArrayRef]) -> Result<LookupRows> {
        self.refresh().await?;
        let loaded = self
            .loaded
            .as_ref()
            .ok_or_else(|| StreamError::Failed("the lookup table was not loaded".into()))?;
        let encoded = self.converter.convert_columns(keys)?;
        let mut key_of_row = Vec::new();
        let mut positions = Vec::new();
        for key in 0..encoded.num_rows() {
            if let Some(rows) = loaded.index.get(encoded.row(key).as_ref()) {
                key_of_row.extend(std::iter::repeat_n(key as u32, rows.len()));
                positions.extend_from_slice(rows);
            }
        }
        Ok(LookupRows {
            keys: UInt32Array::from(key_of_row),
            rows: take_record_batch(&loaded.rows, &UInt32Array::from(positions))?,
        })
    }
}
