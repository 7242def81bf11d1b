//! Consumed records to rows: values decoded by the value format, key
//! columns the value lacks decoded by the key format, metadata columns
//! appended; for `upsert-kafka`, every record is an upsert (`+I`) or, without
//! a value, a tombstone (`-D` carrying only the key columns).
//!
//! Malformed records follow the format's error policy, named by topic,
//! partition and offset; a record whose key is malformed and skipped is
//! dropped whole, as in Flink.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int8Array};
use arrow::compute::interleave;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use rtdw_connector_core::format::{DecodePolicy, RecordDecoder};
use rtdw_connector_core::metadata::{append_metadata, with_metadata_fields};
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::Result;
use rtdw_operators::row_kind::{RowKind, changelog_schema};

use crate::layout::RecordLayout;
use crate::record::{Record, RecordMetadata};

/// How one source decodes its records.
pub(crate) struct RecordDecoding {
    decoder: Box<dyn RecordDecoder>,
    policy: DecodePolicy,
    /// Reads the key columns, when rows need some from the key.
    key: Option<KeyReader>,
    metadata: Vec<RecordMetadata>,
    /// Records are upserts and tombstones by key.
    upserts: bool,
    /// The rows with their metadata columns: the table's columns, its
    /// metadata columns, and the row-kind column of a changelog format.
    rows_schema: SchemaRef,
    /// The batches' schema: `rows_schema`, and for upserts the row-kind
    /// column after it.
    schema: SchemaRef,
}

impl RecordDecoding {
    /// Decoding of `table`'s records: values by `decoder` under `policy`,
    /// key columns the value lacks by `key`. With `upserts`, `key` must be
    /// given (tombstones carry only the key).
    pub(crate) fn new(
        table: &TableDescriptor,
        decoder: Box<dyn RecordDecoder>,
        policy: DecodePolicy,
        key: Option<KeyReader>,
        upserts: bool,
    ) -> Result<Self, ConnectorError> {
        let rows = key.as_ref().map_or(decoder.schema(), KeyReader::row_schema);
        let rows_schema = with_metadata_fields(rows, &table.metadata);
        Ok(RecordDecoding {
            schema: if upserts {
                changelog_schema(&rows_schema)
            } else {
                rows_schema.clone()
            },
            rows_schema,
            metadata: RecordMetadata::of_table(table)?,
            decoder,
            policy,
            key,
            upserts,
        })
    }

    /// The schema of the batches [`RecordDecoding::decode`] returns.
    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Whether rows need the records' headers.
    pub(crate) fn reads_headers(&self) -> bool {
        self.metadata
            .iter()
            .any(|m| matches!(m, RecordMetadata::Headers))
    }

    /// Records the policy dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.policy.dropped().total()
    }

    /// Decodes records into a batch of [`RecordDecoding::schema`];
    /// `None` when they hold no rows.
    pub(crate) fn decode(&mut self, records: &[Record]) -> Result<Option<RecordBatch>> {
        if self.upserts {
            return self.decode_upserts(records);
        }
        // Tombstones carry no row.
        let values: Vec<&Record> = records.iter().filter(|r| r.payload.is_some()).collect();
        if self.key.is_none() && self.metadata.is_empty() {
            let payloads: Vec<&[u8]> = values.iter().map(|r| payload(r)).collect();
            let position = |i: usize| values[i].position();
            return self
                .policy
                .decode(self.decoder.as_mut(), &payloads, &position);
        }
        let (values, keys) = match self.key.as_mut() {
            Some(key) => {
                let (kept, keys, key_rows) = key.decode(values)?;
                (kept, Some((keys, key_rows)))
            }
            None => (values, None),
        };
        let Some((batch, sources)) = decode_values(self.decoder.as_mut(), &self.policy, &values)?
        else {
            return Ok(None);
        };
        let batch = match (&self.key, keys) {
            (Some(key), Some((keys, key_rows))) => {
                let key_of_row: Vec<Option<u32>> = sources.iter().map(|&s| key_rows[s]).collect();
                key.layout
                    .assemble(&key.row_schema, &batch, &keys, &key_of_row)?
            }
            _ => batch,
        };
        let owners: Vec<&Record> = sources.iter().map(|&i| values[i]).collect();
        self.with_metadata(batch, &owners).map(Some)
    }

    /// `batch` with the metadata columns of `owners` (the record of each
    /// row) appended.
    fn with_metadata(&self, batch: RecordBatch, owners: &[&Record]) -> Result<RecordBatch> {
        if self.metadata.is_empty() {
            return Ok(batch);
        }
        let columns = self
            .metadata
            .iter()
            .map(|m| m.column(owners))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        append_metadata(&self.rows_schema, batch, columns)
    }

    /// Upserts and tombstones, in record order: each record with a value
    /// is `+I` of its row, each without one `-D` of its key columns (the
    /// others NULL).
    fn decode_upserts(&mut self, records: &[Record]) -> Result<Option<RecordBatch>> {
        let Some(key) = self.key.as_mut() else {
            return Err(rtdw_operators::StreamError::Failed(
                "an upsert source decodes without a key reader".into(),
            ));
        };
        let (kept, keys, key_rows) = key.decode(records.iter().collect())?;
        let (values, tombstones): (Vec<usize>, Vec<usize>) =
            (0..kept.len()).partition(|&i| kept[i].payload.is_some());
        let value_records: Vec<&Record> = values.iter().map(|&i| kept[i]).collect();
        let decoded = decode_values(self.decoder.as_mut(), &self.policy, &value_records)?;
        // The value rows, assembled with their keys, and the tombstones.
        let upserted = match &decoded {
            Some((batch, sources)) => {
                let key_of_row: Vec<Option<u32>> =
                    sources.iter().map(|&s| key_rows[values[s]]).collect();
                key.layout
                    .assemble(&key.row_schema, batch, &keys, &key_of_row)?
            }
            None => RecordBatch::new_empty(key.row_schema.clone()),
        };
        let tombstone_keys: Vec<Option<u32>> = tombstones.iter().map(|&i| key_rows[i]).collect();
        let deleted = key
            .layout
            .key_only_rows(&key.row_schema, &keys, &tombstone_keys)?;
        // Back into record order: kept record i gives its value's rows or
        // its tombstone.
        let mut order: Vec<(usize, usize)> = Vec::with_capacity(kept.len());
        let mut owners: Vec<&Record> = Vec::with_capacity(kept.len());
        let mut kinds: Vec<i8> = Vec::with_capacity(kept.len());
        let sources = decoded.as_ref().map_or(&[][..], |(_, s)| s.as_slice());
        let (mut next_value_row, mut next_tombstone) = (0, 0);
        for (i, record) in kept.iter().enumerate() {
            if record.payload.is_none() {
                order.push((1, next_tombstone));
                next_tombstone += 1;
                owners.push(record);
                kinds.push(RowKind::Delete as i8);
                continue;
            }
            while sources.get(next_value_row).is_some_and(|&s| values[s] == i) {
                order.push((0, next_value_row));
                next_value_row += 1;
                owners.push(record);
                kinds.push(RowKind::Insert as i8);
            }
        }
        if order.is_empty() {
            return Ok(None);
        }
        let columns = (0..upserted.num_columns())
            .map(|c| {
                interleave(
                    &[upserted.column(c).as_ref(), deleted.column(c).as_ref()],
                    &order,
                )
            })
            .collect::<std::result::Result<Vec<ArrayRef>, _>>()?;
        let rows = RecordBatch::try_new(upserted.schema(), columns)?;
        let mut columns = self.with_metadata(rows, &owners)?.columns().to_vec();
        columns.push(Arc::new(Int8Array::from(kinds)));
        Ok(Some(RecordBatch::try_new(self.schema.clone(), columns)?))
    }
}

/// The values of `records` decoded by `decoder` under `policy`, with the
/// record each row came from.
fn decode_values(
    decoder: &mut dyn RecordDecoder,
    policy: &DecodePolicy,
    records: &[&Record],
) -> Result<Option<(RecordBatch, Vec<usize>)>> {
    let payloads: Vec<&[u8]> = records.iter().map(|r| payload(r)).collect();
    let position = |i: usize| records[i].position();
    policy.decode_each(decoder, &payloads, &position)
}

/// A record's value bytes (empty for a tombstone, which callers leave out).
fn payload(record: &Record) -> &[u8] {
    record.payload.as_deref().unwrap_or_default()
}

/// Reads the key columns of a table whose value does not hold them all
/// (`value.fields-include` = `EXCEPT_KEY`), or of an upsert table.
pub(crate) struct KeyReader {
    layout: RecordLayout,
    decoder: Box<dyn RecordDecoder>,
    policy: DecodePolicy,
    /// The rows the layout assembles: the table's columns, then the
    /// value's row-kind column, if any.
    row_schema: SchemaRef,
}

impl KeyReader {
    /// A reader of keys decoded by `decoder` under `policy`, assembled
    /// with values of `value_schema` as `layout` says.
    pub(crate) fn new(
        layout: RecordLayout,
        decoder: Box<dyn RecordDecoder>,
        policy: DecodePolicy,
        value_schema: &SchemaRef,
    ) -> Self {
        let row_schema = layout.row_schema(value_schema, decoder.schema());
        KeyReader {
            layout,
            decoder,
            policy,
            row_schema,
        }
    }

    /// The rows the reader assembles.
    pub(crate) fn row_schema(&self) -> &SchemaRef {
        &self.row_schema
    }

    /// Decodes the keys of `records`: the records kept (one whose key is
    /// malformed and skipped is dropped whole, as Flink does), the key
    /// rows, and for each kept record the row of its key (`None`: it has
    /// no key).
    #[allow(clippy::type_complexity)]
    fn decode<'r>(
        &mut self,
        records: Vec<&'r Record>,
    ) -> Result<(Vec<&'r Record>, RecordBatch, Vec<Option<u32>>)> {
        let keyed: Vec<&Record> = records
            .iter()
            .copied()
            .filter(|r| r.key.is_some())
            .collect();
        let keys: Vec<&[u8]> = keyed
            .iter()
            .map(|r| r.key.as_deref().unwrap_or_default())
            .collect();
        let position = |i: usize| format!("{} (key)", keyed[i].position());
        let (batch, sources) = self
            .policy
            .decode_each(self.decoder.as_mut(), &keys, &position)?
            .unwrap_or_else(|| {
                (
                    RecordBatch::new_empty(self.decoder.schema().clone()),
                    Vec::new(),
                )
            });
        let mut row_of_keyed: Vec<Option<u32>> = vec![None; keyed.len()];
        for (row, &source) in sources.iter().enumerate() {
            row_of_keyed[source].get_or_insert(row as u32);
        }
        let mut kept = Vec::with_capacity(records.len());
        let mut key_rows = Vec::with_capacity(records.len());
        let mut keyed_rows = row_of_keyed.into_iter();
        for record in records {
            if record.key.is_none() {
                kept.push(record);
                key_rows.push(None);
            } else if let Some(Some(row)) = keyed_rows.next() {
                kept.push(record);
                key_rows.push(Some(row));
            }
        }
        Ok((kept, batch, key_rows))
    }
}
