//! `print`: writes every row to the task manager's standard output (or
//! standard error), as Flink's print connector does: `+I[1, abc]`, prefixed
//! with `<subtask>> ` when the sink runs in parallel and with
//! `<print-identifier>:` when one is set.

use std::sync::LazyLock;

use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use rtdw_operators::row_kind::{row_kind_at, split_row_kinds};
use rtdw_operators::{Result, Sink, StreamError, SubtaskContext};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use crate::error::ConnectorError;
use crate::factory::{ConnectorFactory, Roles, SinkCapabilities};
use crate::format::Formats;
use crate::options::{ConnectorOption, OptionType, TableOptions};
use crate::table::TableDescriptor;

/// The process's standard output, shared by its print subtasks.
static STDOUT: LazyLock<Mutex<tokio::io::Stdout>> =
    LazyLock::new(|| Mutex::new(tokio::io::stdout()));
/// The process's standard error, shared by its print subtasks.
static STDERR: LazyLock<Mutex<tokio::io::Stderr>> =
    LazyLock::new(|| Mutex::new(tokio::io::stderr()));

/// Flink's `print-identifier`.
const PRINT_IDENTIFIER: ConnectorOption = ConnectorOption::new(
    "print-identifier",
    OptionType::String,
    "A prefix for every printed line, to tell sinks apart.",
);

/// Flink's `standard-error`.
const STANDARD_ERROR: ConnectorOption = ConnectorOption::new(
    "standard-error",
    OptionType::Boolean,
    "Print to standard error instead of standard output.",
)
.default_value("false");

/// The `print` connector.
pub(crate) struct PrintFactory;

impl ConnectorFactory for PrintFactory {
    fn name(&self) -> &'static str {
        "print"
    }

    fn description(&self) -> &'static str {
        "Prints every change to the task manager's standard output, as Flink prints them: +I[1, abc]."
    }

    fn roles(&self) -> Roles {
        Roles {
            sink: true,
            ..Roles::default()
        }
    }

    fn options(&self) -> &'static [ConnectorOption] {
        &[PRINT_IDENTIFIER, STANDARD_ERROR]
    }

    fn changelog_modes(&self) -> &'static str {
        "sink: takes inserts, updates and deletes (upserts too)"
    }

    fn validate_sink(
        &self,
        table: &TableDescriptor,
        _formats: &Formats,
    ) -> Result<SinkCapabilities, ConnectorError> {
        PrintConfig::parse(table)?;
        Ok(SinkCapabilities {
            accepts_updates: true,
            accepts_upserts: true,
        })
    }

    fn create_sink(
        &self,
        table: &TableDescriptor,
        _formats: &Formats,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn Sink>, ConnectorError> {
        Ok(Box::new(PrintSink::new(PrintConfig::parse(table)?, ctx)))
    }
}

/// The validated options of a print table.
#[derive(Debug, Clone)]
struct PrintConfig {
    identifier: Option<String>,
    standard_error: bool,
}

impl PrintConfig {
    fn parse(table: &TableDescriptor) -> Result<Self, ConnectorError> {
        let options = TableOptions::new(table);
        Ok(PrintConfig {
            identifier: options.string(&PRINT_IDENTIFIER).map(str::to_string),
            standard_error: options.boolean(&STANDARD_ERROR)?,
        })
    }
}

/// One subtask of a print sink.
struct PrintSink {
    config: PrintConfig,
    prefix: String,
}

impl PrintSink {
    /// The sink of subtask `ctx.subtask_index`.
    fn new(config: PrintConfig, ctx: &SubtaskContext) -> Self {
        let subtask = (ctx.parallelism > 1).then(|| format!("{}> ", ctx.subtask_index + 1));
        let prefix = match (&config.identifier, subtask) {
            (Some(id), Some(s)) => format!("{id}:{s}"),
            (Some(id), None) => format!("{id}> "),
            (None, Some(s)) => s,
            (None, None) => String::new(),
        };
        PrintSink { config, prefix }
    }
}

/// Renders each row as Flink prints it: `+I[v1, v2, ...]`.
fn format_rows(batch: &RecordBatch) -> Result<Vec<String>> {
    let (data, kinds) = split_row_kinds(batch)?;
    let options = FormatOptions::default().with_null("null");
    let formatters = data
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut lines = Vec::with_capacity(data.num_rows());
    for row in 0..data.num_rows() {
        let values: Vec<String> = formatters
            .iter()
            .map(|f| f.value(row).to_string())
            .collect();
        let kind = row_kind_at(kinds.as_ref(), row)?;
        lines.push(format!("{}[{}]", kind.short_string(), values.join(", ")));
    }
    Ok(lines)
}

#[async_trait::async_trait]
impl Sink for PrintSink {
    async fn write_batch(&mut self, batch: RecordBatch) -> Result<()> {
        let mut text = String::new();
        for line in format_rows(&batch)? {
            text.push_str(&self.prefix);
            text.push_str(&line);
            text.push('\n');
        }
        // Asynchronous writes: a reader that does not keep up slows the job
        // down (backpressure) instead of blocking a worker thread. The lock
        // keeps the lines of concurrent subtasks whole.
        let written = if self.config.standard_error {
            STDERR.lock().await.write_all(text.as_bytes()).await
        } else {
            STDOUT.lock().await.write_all(text.as_bytes()).await
        };
        written.map_err(|e| StreamError::io("print sink", e))
    }

    async fn finish(&mut self) -> Result<()> {
        let flushed = if self.config.standard_error {
            STDERR.lock().await.flush().await
        } else {
            STDOUT.lock().await.flush().await
        };
        flushed.map_err(|e| StreamError::io("print sink", e))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int8Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use rtdw_operators::row_kind::with_row_kinds;

    use super::*;

    #[test]
    fn rows_print_as_flink_prints_them() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let data = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None])),
                Arc::new(StringArray::from(vec![Some("x"), None])),
            ],
        )
        .unwrap();
        assert_eq!(format_rows(&data).unwrap(), ["+I[1, x]", "+I[null, null]"]);
        let changes = with_row_kinds(&data, Int8Array::from(vec![1, 3])).unwrap();
        assert_eq!(
            format_rows(&changes).unwrap(),
            ["-U[1, x]", "-D[null, null]"]
        );
    }
}
