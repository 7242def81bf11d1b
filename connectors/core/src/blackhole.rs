//! `blackhole`: swallows every row; for benchmarks.

use arrow::record_batch::RecordBatch;
use rtdw_operators::{Result, Sink, SubtaskContext};

use crate::error::ConnectorError;
use crate::factory::{ConnectorFactory, Roles, SinkCapabilities};
use crate::format::Formats;
use crate::options::ConnectorOption;
use crate::table::TableDescriptor;

/// The `blackhole` connector.
pub(crate) struct BlackholeFactory;

impl ConnectorFactory for BlackholeFactory {
    fn name(&self) -> &'static str {
        "blackhole"
    }

    fn description(&self) -> &'static str {
        "Discards every row; for benchmarks and testing."
    }

    fn roles(&self) -> Roles {
        Roles {
            sink: true,
            ..Roles::default()
        }
    }

    fn options(&self) -> &'static [ConnectorOption] {
        &[]
    }

    fn changelog_modes(&self) -> &'static str {
        "sink: takes inserts, updates and deletes (upserts too)"
    }

    fn validate_sink(
        &self,
        _table: &TableDescriptor,
        _formats: &Formats,
    ) -> Result<SinkCapabilities, ConnectorError> {
        Ok(SinkCapabilities {
            accepts_updates: true,
            accepts_upserts: true,
        })
    }

    fn create_sink(
        &self,
        _table: &TableDescriptor,
        _formats: &Formats,
        _ctx: &SubtaskContext,
    ) -> Result<Box<dyn Sink>, ConnectorError> {
        Ok(Box::new(BlackholeSink))
    }
}

/// A sink that discards everything.
struct BlackholeSink;

#[async_trait::async_trait]
impl Sink for BlackholeSink {
    async fn write_batch(&mut self, _batch: RecordBatch) -> Result<()> {
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
