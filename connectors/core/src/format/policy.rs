//! The error policy for malformed records: fail naming the record's
//! position, or skip it, count it and log it with its position.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::record_batch::RecordBatch;
use rtdw_operators::{Result, StreamError};

use super::RecordDecoder;
use crate::options::{ConnectorOption, OptionType};

/// Flink's `<format>.ignore-parse-errors`, declared by every format that
/// decodes.
pub(super) const IGNORE_PARSE_ERRORS: ConnectorOption = ConnectorOption::new(
    "ignore-parse-errors",
    OptionType::Boolean,
    "Skip malformed records (counted in rtdw_records_dropped_total and logged with their position) instead of failing.",
)
.default_value("false")
.source_only();

/// The reason label of records dropped because they could not be decoded.
pub const MALFORMED: &str = "malformed";

/// A count of dropped records shared between a source and the runtime that
/// exports it.
#[derive(Debug, Clone, Default)]
pub struct DroppedRecords(Arc<AtomicU64>);

impl DroppedRecords {
    /// Records dropped so far.
    pub fn total(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add_one(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// How one table's source treats malformed records.
#[derive(Debug, Clone)]
pub struct DecodePolicy {
    table: String,
    format: &'static str,
    ignore_parse_errors: bool,
    dropped: DroppedRecords,
}

impl DecodePolicy {
    /// The policy of `table` for its `format`: skip malformed records when
    /// `ignore_parse_errors`, else fail on the first.
    pub fn new(table: &str, format: &'static str, ignore_parse_errors: bool) -> Self {
        DecodePolicy {
            table: table.to_string(),
            format,
            ignore_parse_errors,
            dropped: DroppedRecords::default(),
        }
    }

    /// The count of records this policy dropped.
    pub fn dropped(&self) -> &DroppedRecords {
        &self.dropped
    }

    /// Decodes `records` into one batch; `position(i)` says where record
    /// `i` came from (file and line, or topic, partition and offset). When
    /// some record is malformed, decodes them one by one to find it, and
    /// fails naming its position or skips it, as the policy says.
    pub fn decode(
        &self,
        decoder: &mut dyn RecordDecoder,
        records: &[&[u8]],
        position: &dyn Fn(usize) -> String,
    ) -> Result<Option<RecordBatch>> {
        if let Ok(batch) = decoder.decode(records) {
            return Ok(batch);
        }
        Ok(self
            .decode_each(decoder, records, position)?
            .map(|(batch, _)| batch))
    }

    /// Decodes `records` one by one into one batch, with the index of the
    /// record each row came from: a record may give no row (skipped, or an
    /// event without data) or several (an update's before and after
    /// images), and per-record values such as a Kafka offset follow their
    /// rows. Malformed records are handled as [`DecodePolicy::decode`] does.
    pub fn decode_each(
        &self,
        decoder: &mut dyn RecordDecoder,
        records: &[&[u8]],
        position: &dyn Fn(usize) -> String,
    ) -> Result<Option<(RecordBatch, Vec<usize>)>> {
        let mut good = Vec::new();
        let mut sources = Vec::new();
        for (index, record) in records.iter().enumerate() {
            match decoder.decode(&[record]) {
                Ok(Some(batch)) => {
                    sources.extend(std::iter::repeat_n(index, batch.num_rows()));
                    good.push(batch);
                }
                Ok(None) => {}
                Err(e) => {
                    let message = format!(
                        "malformed {} record of table '{}' in {}: {e}",
                        self.format,
                        self.table,
                        position(index)
                    );
                    if !self.ignore_parse_errors {
                        return Err(StreamError::MalformedRecord(message));
                    }
                    let total = self.dropped.add_one();
                    tracing::warn!(table = %self.table, dropped_total = total, "{message}; skipped");
                }
            }
        }
        if good.is_empty() {
            return Ok(None);
        }
        let batch = arrow::compute::concat_batches(decoder.schema(), &good)?;
        Ok(Some((batch, sources)))
    }
}
