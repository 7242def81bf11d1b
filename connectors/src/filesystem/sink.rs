//! The filesystem sink, two-phase: rows go to a hidden in-progress file; at
//! a checkpoint barrier the file is closed and becomes a hidden pending file;
//! when the checkpoint completes, pending files are renamed to their visible
//! names. Readers skip hidden files, so they never see a partial or an
//! uncommitted result. Without checkpoints, the end of input commits.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use rtdw_operators::row_kind::{RowKind, row_kind_at, split_row_kinds};
use rtdw_operators::{Result, Sink, StreamError, SubtaskContext};

use super::{Format, SinkConfig};
use crate::error::ConnectorError;

/// Timestamps as Flink's CSV and JSON formats write them.
const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f";

/// A closed file waiting for its checkpoint to complete.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Pending {
    /// The checkpoint whose barrier closed it.
    checkpoint_id: u64,
    /// Its hidden name while pending.
    pending: PathBuf,
    /// Its visible name once committed.
    committed: PathBuf,
}

/// What a restore needs: the files to commit and where numbering goes on.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct SinkState {
    /// The sequence number of the next file.
    next_sequence: u64,
    /// Files closed and not yet committed.
    pending: Vec<Pending>,
}

/// One subtask of a filesystem sink. Files are named
/// `part-<job>-<sequence>-<subtask>`: the sequence goes on from the restored
/// checkpoint's, so in name order a key's changes come in the order they
/// were made, also across restarts and rescaling.
pub(crate) struct FileSink {
    format: Format,
    dir: PathBuf,
    /// `part-<job>-`: the start of every file of the job.
    job_prefix: String,
    /// The sequence number of the next file.
    sequence: u64,
    writer: Option<(BufWriter<File>, PathBuf)>,
    pending: Vec<Pending>,
    subtask: u32,
    parallelism: u32,
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
        Ok(FileSink {
            format: config.format,
            dir: config.path,
            job_prefix: format!("part-{}-", ctx.job_id),
            sequence: 0,
            writer: None,
            pending: Vec::new(),
            subtask: ctx.subtask_index,
            parallelism: ctx.parallelism.max(1),
        })
    }

    fn file_name(&self) -> String {
        format!("{}{:010}-{}", self.job_prefix, self.sequence, self.subtask)
    }

    /// Closes the in-progress file, if any, as pending for `checkpoint_id`.
    fn close_file(&mut self, checkpoint_id: u64) -> Result<()> {
        let Some((mut writer, in_progress)) = self.writer.take() else {
            return Ok(());
        };
        writer
            .flush()
            .and_then(|_| writer.get_ref().sync_all())
            .map_err(|e| StreamError::io(format!("cannot flush {}", in_progress.display()), e))?;
        let name = self.file_name();
        self.sequence += 1;
        let pending = self.dir.join(format!(".{name}.pending"));
        rename(&in_progress, &pending)?;
        self.pending.push(Pending {
            checkpoint_id,
            pending,
            committed: self.dir.join(name),
        });
        Ok(())
    }

    /// Deletes the hidden files of the subtasks this one takes over that no
    /// restored pre-commit lists: what earlier runs wrote after their last
    /// completed checkpoint.
    fn discard_uncommitted(&self, keep: &[Pending]) -> Result<()> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| StreamError::io(format!("cannot list {}", self.dir.display()), e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(rest) = name
                .strip_prefix('.')
                .and_then(|n| n.strip_prefix(&self.job_prefix))
            else {
                continue;
            };
            let owner = rest
                .split('.')
                .next()
                .and_then(|stem| stem.rsplit('-').next())
                .and_then(|s| s.parse::<u32>().ok());
            let ours = owner.is_some_and(|s| s % self.parallelism == self.subtask);
            let uncommitted = name.ends_with(".inprogress") || name.ends_with(".pending");
            if ours && uncommitted && !keep.iter().any(|p| p.pending == entry.path()) {
                std::fs::remove_file(entry.path()).map_err(|e| {
                    StreamError::io(format!("cannot discard {}", entry.path().display()), e)
                })?;
                tracing::info!(file = %entry.path().display(), "discarded a file written after the restored checkpoint");
            }
        }
        Ok(())
    }
}

/// Makes a pending file visible; one already visible stays as it is, so
/// committing twice (after a restore) is harmless.
fn commit(pending: &Pending) -> Result<()> {
    if pending.committed.exists() && !pending.pending.exists() {
        return Ok(());
    }
    rename(&pending.pending, &pending.committed)
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| {
        StreamError::io(
            format!("cannot rename {} to {}", from.display(), to.display()),
            e,
        )
    })
}

impl FileSink {
    fn writer(&mut self) -> Result<&mut BufWriter<File>> {
        if self.writer.is_none() {
            let path = self.dir.join(format!(".{}.inprogress", self.file_name()));
            let file = File::create(&path)
                .map_err(|e| StreamError::io(format!("cannot create {}", path.display()), e))?;
            self.writer = Some((BufWriter::new(file), path));
        }
        self.writer
            .as_mut()
            .map(|(writer, _)| writer)
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
        self.writer()?.write_all(&bytes).map_err(|e| {
            StreamError::io(
                format!("cannot write a file under {}", self.dir.display()),
                e,
            )
        })
    }

    async fn finish(&mut self) -> Result<()> {
        self.pre_commit(u64::MAX).await?;
        self.commit(u64::MAX).await
    }

    async fn pre_commit(&mut self, checkpoint_id: u64) -> Result<String> {
        self.close_file(checkpoint_id)?;
        let state = SinkState {
            next_sequence: self.sequence,
            pending: self.pending.clone(),
        };
        serde_json::to_string(&state)
            .map_err(|e| StreamError::Failed(format!("cannot encode the pending files: {e}")))
    }

    async fn commit(&mut self, checkpoint_id: u64) -> Result<()> {
        let (due, later): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.checkpoint_id <= checkpoint_id);
        self.pending = later;
        for pending in &due {
            commit(pending)?;
        }
        Ok(())
    }

    async fn restore(&mut self, pre_commits: Vec<String>) -> Result<()> {
        let mut restored = Vec::new();
        for state in pre_commits.iter().filter(|s| !s.is_empty()) {
            let state: SinkState = serde_json::from_str(state).map_err(|e| {
                StreamError::Failed(format!("file sink state '{state}' is malformed: {e}"))
            })?;
            self.sequence = self.sequence.max(state.next_sequence);
            restored.extend(state.pending);
        }
        self.discard_uncommitted(&restored)?;
        for pending in &restored {
            commit(pending)?;
        }
        Ok(())
    }
}
