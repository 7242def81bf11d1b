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
use crate::options::Options;
use crate::table::TableDescriptor;

/// The process's standard output, shared by its print subtasks.
static STDOUT: LazyLock<Mutex<tokio::io::Stdout>> =
    LazyLock::new(|| Mutex::new(tokio::io::stdout()));
/// The process's standard error, shared by its print subtasks.
static STDERR: LazyLock<Mutex<tokio::io::Stderr>> =
    LazyLock::new(|| Mutex::new(tokio::io::stderr()));

/// The validated options of a print table.
#[derive(Debug, Clone)]
pub(crate) struct PrintConfig {
    identifier: Option<String>,
    standard_error: bool,
}

impl PrintConfig {
    /// Validates a print table's options.
    pub fn parse(table: &TableDescriptor) -> Result<Self, ConnectorError> {
        let mut options = Options::sink(table);
        let identifier = options.get("print-identifier").map(str::to_string);
        let standard_error = options.flag("standard-error", false)?;
        options.finish()?;
        Ok(PrintConfig {
            identifier,
            standard_error,
        })
    }
}

/// One subtask of a print sink.
pub(crate) struct PrintSink {
    config: PrintConfig,
    prefix: String,
}

impl PrintSink {
    /// The sink of subtask `ctx.subtask_index`.
    pub fn new(config: PrintConfig, ctx: &SubtaskContext) -> Self {
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
pub(crate) fn format_rows(batch: &RecordBatch) -> Result<Vec<String>> {
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
