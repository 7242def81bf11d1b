//! The filesystem sink: one in-progress file per subtask, renamed to its
//! final name when the input ends.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use rtdw_operators::row_kind::{RowKind, row_kind_at, split_row_kinds};
use rtdw_operators::{Result, Sink, StreamError, SubtaskContext};

use super::{Format, SinkConfig};
use crate::error::ConnectorError;

/// Timestamps as Flink's CSV and JSON formats write them.
const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f";

/// One subtask of a filesystem sink.
pub(crate) struct FileSink {
    format: Format,
    in_progress: PathBuf,
    final_path: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl FileSink {
    /// The sink of subtask `ctx.subtask_index`, writing under `config.path`.
    pub fn new(
        config: SinkConfig,
        _schema: SchemaRef,
        ctx: &SubtaskContext,
    ) -> Result<Self, ConnectorError> {
        std::fs::create_dir_all(&config.path).map_err(|e| ConnectorError::Io {
            table: config.table.clone(),
            message: format!("cannot create {}: {e}", config.path.display()),
        })?;
        let name = format!("part-{}-{}-0", ctx.job_id, ctx.subtask_index);
        Ok(FileSink {
            format: config.format,
            in_progress: config.path.join(format!(".{name}.inprogress")),
            final_path: config.path.join(name),
            writer: None,
        })
    }

    fn writer(&mut self) -> Result<&mut BufWriter<File>> {
        if self.writer.is_none() {
            let file = File::create(&self.in_progress).map_err(|e| {
                StreamError::io(format!("cannot create {}", self.in_progress.display()), e)
            })?;
            self.writer = Some(BufWriter::new(file));
        }
        self.writer
            .as_mut()
            .ok_or_else(|| StreamError::Failed("file sink writer missing".into()))
    }

    fn encode(&self, batch: &RecordBatch) -> Result<Vec<u8>> {
        let (data, kinds) = split_row_kinds(batch)?;
        let mut buffer = Vec::new();
        match self.format {
            Format::Csv { delimiter } => {
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(false)
                    .with_delimiter(delimiter)
                    .with_timestamp_format(TIMESTAMP_FORMAT.into())
                    .with_null(String::new())
                    .build(&mut buffer);
                writer.write(&data)?;
            }
            Format::Json => json_lines(&data, &mut buffer)?,
            Format::DebeziumJson => {
                let mut lines = Vec::new();
                json_lines(&data, &mut lines)?;
                for (i, line) in lines
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .enumerate()
                {
                    let kind = row_kind_at(kinds.as_ref(), i)?;
                    let (before, after, op): (&[u8], &[u8], &str) = match kind {
                        RowKind::Insert | RowKind::UpdateAfter => (b"null", line, "c"),
                        RowKind::UpdateBefore | RowKind::Delete => (line, b"null", "d"),
                    };
                    buffer.extend_from_slice(b"{\"before\":");
                    buffer.extend_from_slice(before);
                    buffer.extend_from_slice(b",\"after\":");
                    buffer.extend_from_slice(after);
                    buffer.extend_from_slice(format!(",\"op\":\"{op}\"}}\n").as_bytes());
                }
            }
        }
        Ok(buffer)
    }
}

/// Writes each row as one JSON object per line, NULLs included.
fn json_lines(data: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
    let mut writer = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow::json::writer::LineDelimited>(out);
    writer.write(data)?;
    writer.finish()?;
    Ok(())
}

#[async_trait::async_trait]
impl Sink for FileSink {
    async fn write_batch(&mut self, batch: RecordBatch) -> Result<()> {
        let bytes = self.encode(&batch)?;
        let path = self.in_progress.display().to_string();
        self.writer()?
            .write_all(&bytes)
            .map_err(|e| StreamError::io(format!("cannot write {path}"), e))
    }

    async fn finish(&mut self) -> Result<()> {
        let Some(mut writer) = self.writer.take() else {
            return Ok(());
        };
        writer
            .flush()
            .and_then(|_| writer.get_ref().sync_all())
            .map_err(|e| {
                StreamError::io(format!("cannot flush {}", self.in_progress.display()), e)
            })?;
        std::fs::rename(&self.in_progress, &self.final_path).map_err(|e| {
            StreamError::io(
                format!(
                    "cannot commit {} as {}",
                    self.in_progress.display(),
                    self.final_path.display()
                ),
                e,
            )
        })
    }
}
