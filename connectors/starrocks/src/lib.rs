//! The `starrocks` sink connector, with the StarRocks Flink connector's
//! options and semantics: rows go into a StarRocks table through Stream
//! Load over HTTP.
//!
//! ```text
//!   batches --RowBuffer (csv | json, __op)--> body
//!      at-least-once: PUT /api/{db}/{table}/_stream_load   (FE --307--> BE)
//!      exactly-once:  /api/transaction/begin, load*, prepare (barrier),
//!                     commit (checkpoint complete) | rollback (restore)
//! ```
//!
//! - [`options`]: the table options, the Flink connector's keys and
//!   defaults.
//! - [`client`]: HTTP to the FEs of `load-url`, redirects to a BE followed
//!   with the credentials kept; [`loads`]: the Stream Load operations and
//!   StarRocks's answers ([`response`]) judged as it documents them.
//! - [`encoding`]: rows to bodies, `__op` for updates and deletes.
//! - [`at_least_once`] and [`exactly_once`]: the two sinks; [`label`]:
//!   the labels they load under.
//! - [`check`]: at submit time, the table and its columns are looked up
//!   through `jdbc-url` (the MySQL protocol).

mod at_least_once;
mod check;
mod client;
mod encoding;
mod error;
mod exactly_once;
mod label;
mod loads;
mod options;
mod response;

pub use error::StarRocksError;

use rtdw_connector_core::format::Formats;
use rtdw_connector_core::options::{ConnectorOption, Role};
use rtdw_connector_core::two_phase::TwoPhaseSink;
use rtdw_connector_core::{
    ConnectorError, ConnectorFactory, FormatSlot, Roles, SinkCapabilities, TableDescriptor,
};
use rtdw_operators::{Sink, SubtaskContext};

use crate::at_least_once::AtLeastOnceSink;
use crate::encoding::{RowBuffer, RowEncoder, RowFormat};
use crate::exactly_once::TransactionWriter;
use crate::label::{Labels, default_prefix};
use crate::loads::Loads;
use crate::options::{FORMAT, LoadFormat, Semantic, SinkOptions};

/// `sink.properties.format` read as a format name: its `json` is rtdw's
/// `json` format, whose encoder writes the objects.
static JSON_SLOT: FormatSlot = FormatSlot {
    option: &FORMAT,
    prefix: "",
};

/// The `starrocks` connector.
pub struct StarRocksFactory;

#[async_trait::async_trait]
impl ConnectorFactory for StarRocksFactory {
    fn name(&self) -> &'static str {
        "starrocks"
    }

    fn description(&self) -> &'static str {
        "Writes into a StarRocks table through Stream Load: at least once, or exactly once in Stream Load transactions; updates and deletes through '__op'."
    }

    fn roles(&self) -> Roles {
        Roles {
            source: false,
            sink: true,
            lookup: false,
        }
    }

    fn options(&self) -> &'static [ConnectorOption] {
        options::OPTIONS
    }

    fn changelog_modes(&self) -> &'static str {
        "sink: inserts, and with a primary-key table updates and deletes (+I/+U upsert, -D and, unless ignored, -U delete, through '__op')"
    }

    fn validate_sink(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
    ) -> Result<SinkCapabilities, ConnectorError> {
        let options = SinkOptions::of_table(table)?;
        row_format(table, &options, formats)?;
        Ok(SinkCapabilities {
            accepts_updates: true,
            accepts_upserts: true,
        })
    }

    async fn check_external(
        &self,
        table: &TableDescriptor,
        role: Role,
    ) -> Result<(), ConnectorError> {
        if role != Role::Sink {
            return Ok(());
        }
        check::check_table(table, &SinkOptions::of_table(table)?).await
    }

    fn create_sink(
        &self,
        table: &TableDescriptor,
        formats: &Formats,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn Sink>, ConnectorError> {
        let options = SinkOptions::of_table(table)?;
        let columns = table
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let encoder = RowEncoder::new(
            row_format(table, &options, formats)?,
            columns,
            options.ignore_update_before,
        );
        let rows = RowBuffer::new(
            encoder,
            &options.format,
            options.max_rows,
            options.max_bytes,
        );
        let loads = Loads::new(table, &options)?;
        let prefix = options
            .label_prefix
            .clone()
            .unwrap_or_else(|| default_prefix(&ctx.job_id));
        let labels = Labels::new(&prefix, &options.table, ctx.subtask_index);
        Ok(match options.semantic {
            Semantic::AtLeastOnce => Box::new(AtLeastOnceSink::new(
                loads,
                rows,
                labels,
                options.flush_interval,
            )),
            Semantic::ExactlyOnce => Box::new(TwoPhaseSink::new(
                TransactionWriter::new(loads, rows, labels, ctx.parallelism),
                ctx.subtask_index,
                ctx.parallelism,
            )),
        })
    }
}

/// How the table's rows are written: CSV with its separator, or JSON
/// objects by rtdw's `json` format.
fn row_format(
    table: &TableDescriptor,
    options: &SinkOptions,
    formats: &Formats,
) -> Result<RowFormat, ConnectorError> {
    Ok(match &options.format {
        LoadFormat::Csv {
            column_separator, ..
        } => RowFormat::Csv {
            separator: column_separator.clone(),
        },
        LoadFormat::Json => {
            // The option's value in any case names the `json` format.
            let mut named = table.clone();
            named.options.insert(FORMAT.key.into(), "json".into());
            let json = formats.resolve(&named, &JSON_SLOT)?;
            RowFormat::Json(json.factory.create_encoder(&table.schema, &json.options)?)
        }
    })
}
