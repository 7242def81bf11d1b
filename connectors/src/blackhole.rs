//! `blackhole`: swallows every row; for benchmarks.

use arrow::record_batch::RecordBatch;
use rtdw_operators::{Result, Sink};

use crate::error::ConnectorError;
use crate::options::Options;
use crate::table::TableDescriptor;

/// Checks that a blackhole table has no options besides `connector`.
pub(crate) fn parse(table: &TableDescriptor) -> Result<(), ConnectorError> {
    Options::sink(table).finish()
}

/// A sink that discards everything.
pub(crate) struct BlackholeSink;

#[async_trait::async_trait]
impl Sink for BlackholeSink {
    async fn write_batch(&mut self, _batch: RecordBatch) -> Result<()> {
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
