//! The filesystem sink's writer, two-phase ([`TwoPhaseWriter`]): rows go
//! to a hidden in-progress file; at a checkpoint barrier the file is closed
//! and becomes a hidden pending file; when the checkpoint completes,
//! pending files are renamed to their visible names. Readers skip hidden
//! files, so they never see a partial or an uncommitted result. Without
//! checkpoints, the end of input commits.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use rtdw_operators::{ErrorClass, Result, StreamError, SubtaskContext};

use crate::error::ConnectorError;
use crate::format::RecordEncoder;
use crate::table::TableDescriptor;
use crate::two_phase::{CommitOutcome, TwoPhaseWriter};

/// A closed file waiting for its checkpoint to complete.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct PendingFile {
    /// Its hidden name while pending.
    pending: PathBuf,
    /// Its visible name once committed.
    committed: PathBuf,
}

/// What a restore needs besides the pending files: where numbering goes on.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct WriterState {
    /// The sequence number of the next file.
    next_sequence: u64,
}

/// One subtask's file writer. Files are named
/// `part-<sequence>-<job>-<subtask>`: the sequence is at least the id of
/// the checkpoint that commits the file and goes on from the restored
/// checkpoint's, so in name order a key's changes come in the order they
/// were made, also when they came through different subtasks (a CDC
/// source's snapshot chunk, then its binlog), across restarts, rescaling,
/// and a job resubmitted from a savepoint.
pub(super) struct FileWriter {
    encoder: Box<dyn RecordEncoder>,
    dir: PathBuf,
    /// The job, as it appears in file names.
    job_id: String,
    /// The sequence number of the next file.
    sequence: u64,
    writer: Option<(BufWriter<File>, PathBuf)>,
    subtask: u32,
    parallelism: u32,
}

impl FileWriter {
    /// The writer of subtask `ctx.subtask_index` of `table`, writing
    /// records of `encoder` under `dir`, one per line.
    pub fn new(
        table: &TableDescriptor,
        dir: PathBuf,
        encoder: Box<dyn RecordEncoder>,
        ctx: &SubtaskContext,
    ) -> Result<Self, ConnectorError> {
        std::fs::create_dir_all(&dir).map_err(|e| {
            ConnectorError::external(
                &table.name,
                format!("cannot create {}", dir.display()),
                ErrorClass::User,
                e,
            )
        })?;
        Ok(FileWriter {
            encoder,
            dir,
            job_id: ctx.job_id.clone(),
            sequence: 0,
            writer: None,
            subtask: ctx.subtask_index,
            parallelism: ctx.parallelism.max(1),
        })
    }

    fn file_name(&self) -> String {
        format!(
            "part-{:010}-{}-{}",
            self.sequence, self.job_id, self.subtask
        )
    }

    /// Closes the in-progress file, if any, as a pending file.
    fn close_file(&mut self) -> Result<Option<PendingFile>> {
        let Some((mut writer, in_progress)) = self.writer.take() else {
            return Ok(None);
        };
        writer
            .flush()
            .and_then(|_| writer.get_ref().sync_all())
            .map_err(|e| StreamError::io(format!("cannot flush {}", in_progress.display()), e))?;
        let name = self.file_name();
        self.sequence += 1;
        let pending = self.dir.join(format!(".{name}.pending"));
        rename(&in_progress, &pending)?;
        Ok(Some(PendingFile {
            pending,
            committed: self.dir.join(name),
        }))
    }

    /// Deletes, among the files of the subtasks this one takes over, what
    /// was written after the restored checkpoint: hidden files its
    /// pre-commits do not list, and files committed with a sequence number
    /// at or past the one it recorded (a restore that fell back past a
    /// completed checkpoint rolls those back, so nothing is duplicated).
    fn discard_after(&self, keep: &[PendingFile], next_sequence: &HashMap<u32, u64>) -> Result<()> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| StreamError::io(format!("cannot list {}", self.dir.display()), e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(file) = PartFile::parse(&name) else {
                continue;
            };
            if file.job != self.job_id || file.subtask % self.parallelism != self.subtask {
                continue;
            }
            let discard = if file.committed {
                next_sequence
                    .get(&file.subtask)
                    .is_some_and(|next| file.sequence >= *next)
            } else {
                !keep.iter().any(|p| p.pending == entry.path())
            };
            if discard {
                std::fs::remove_file(entry.path()).map_err(|e| {
                    StreamError::io(format!("cannot discard {}", entry.path().display()), e)
                })?;
                tracing::info!(file = %entry.path().display(), committed = file.committed, "discarded a file written after the restored checkpoint");
            }
        }
        Ok(())
    }

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

    /// The batch's rows as lines of the format.
    fn encode(&mut self, batch: &RecordBatch) -> Result<Vec<u8>> {
        let mut records = Vec::with_capacity(batch.num_rows());
        self.encoder.encode(batch, &mut records).map_err(|e| {
            StreamError::Failed(format!(
                "cannot encode rows for {}: {e}",
                self.dir.display()
            ))
        })?;
        let mut bytes = Vec::with_capacity(records.iter().map(|r| r.len() + 1).sum());
        for record in records {
            bytes.extend_from_slice(&record);
            bytes.push(b'\n');
        }
        Ok(bytes)
    }
}

/// What a sink file's name says: `part-<sequence>-<job>-<subtask>`, hidden
/// with a leading `.` and a `.inprogress` or `.pending` suffix until
/// committed.
struct PartFile<'a> {
    sequence: u64,
    job: &'a str,
    subtask: u32,
    committed: bool,
}

impl<'a> PartFile<'a> {
    fn parse(name: &'a str) -> Option<Self> {
        let (stem, committed) = match name.strip_prefix('.') {
            Some(hidden) => {
                let stem = hidden
                    .strip_suffix(".inprogress")
                    .or_else(|| hidden.strip_suffix(".pending"))?;
                (stem, false)
            }
            None => (name, true),
        };
        let mut parts = stem.strip_prefix("part-")?.split('-');
        let sequence = parts.next()?.parse().ok()?;
        let job = parts.next()?;
        let subtask = parts.next()?.parse().ok()?;
        Some(PartFile {
            sequence,
            job,
            subtask,
            committed,
        })
    }
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| {
        StreamError::io(
            format!("cannot rename {} to {}", from.display(), to.display()),
            e,
        )
    })
}

#[async_trait::async_trait]
impl TwoPhaseWriter for FileWriter {
    type Committable = PendingFile;
    type State = WriterState;

    async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        let bytes = self.encode(&batch)?;
        self.writer()?.write_all(&bytes).map_err(|e| {
            StreamError::io(
                format!("cannot write a file under {}", self.dir.display()),
                e,
            )
        })
    }

    async fn prepare_commit(&mut self, checkpoint_id: u64) -> Result<Vec<PendingFile>> {
        if checkpoint_id != rtdw_operators::END_OF_INPUT {
            // Numbered at least by their checkpoint, files of every subtask
            // sort in the order they were committed.
            self.sequence = self.sequence.max(checkpoint_id);
        }
        Ok(self.close_file()?.into_iter().collect())
    }

    fn snapshot_state(&self) -> WriterState {
        WriterState {
            next_sequence: self.sequence,
        }
    }

    /// Makes a pending file visible; one already visible stays as it is.
    async fn commit(&mut self, file: &PendingFile) -> Result<CommitOutcome> {
        if file.committed.exists() && !file.pending.exists() {
            return Ok(CommitOutcome::AlreadyCommitted);
        }
        rename(&file.pending, &file.committed)?;
        Ok(CommitOutcome::Committed)
    }

    async fn restore(
        &mut self,
        states: Vec<(u32, WriterState)>,
        restored: &[PendingFile],
    ) -> Result<()> {
        let mut next_sequence = HashMap::new();
        for (subtask, state) in states {
            // Numbering goes on after every subtask's files, so a key that
            // moves to this subtask (rescaling) keeps its changes in order.
            self.sequence = self.sequence.max(state.next_sequence);
            if subtask % self.parallelism == self.subtask {
                next_sequence.insert(subtask, state.next_sequence);
            }
        }
        self.discard_after(restored, &next_sequence)
    }
}
