//! The filesystem source: splits the files under `path` over the subtasks
//! and decodes them in chunks of lines.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use rtdw_operators::{ErrorClass, Result, Source, StreamError, SubtaskContext};
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};
use xxhash_rust::xxh3::xxh3_64;

use super::is_hidden;
use crate::error::ConnectorError;
use crate::format::{DecodePolicy, MALFORMED, RecordDecoder};
use crate::table::TableDescriptor;

/// Lines decoded into one batch.
const LINES_PER_BATCH: usize = 8192;

/// One subtask of a filesystem source.
pub(super) struct FileSource {
    decoder: Box<dyn RecordDecoder>,
    policy: DecodePolicy,
    files: VecDeque<PathBuf>,
    current: Option<OpenFile>,
    /// Files read to their end, for the position.
    done: Vec<PathBuf>,
    /// Where to continue in a file when it is opened (after a restore):
    /// byte offset and line number.
    resume: Option<(PathBuf, u64, u64)>,
}

/// How far a filesystem source subtask has read.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Position {
    /// Files read to their end.
    done: Vec<PathBuf>,
    /// The file being read, with the byte offset and line number after the
    /// last line returned.
    current: Option<(PathBuf, u64, u64)>,
}

struct OpenFile {
    path: PathBuf,
    reader: BufReader<tokio::fs::File>,
    line_number: u64,
    byte_offset: u64,
}

/// A line with where it starts.
struct Line {
    text: String,
    number: u64,
    offset: u64,
}

/// Every visible file under `path`, sorted, or `path` itself when it is a file.
fn list_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if is_hidden(&entry.file_name().to_string_lossy()) {
                continue;
            }
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

impl FileSource {
    /// The source of subtask `ctx.subtask_index` of `table`: the files
    /// under `path` whose path hashes to it, decoded by `decoder`.
    pub fn new(
        table: &TableDescriptor,
        path: PathBuf,
        decoder: Box<dyn RecordDecoder>,
        policy: DecodePolicy,
        ctx: &SubtaskContext,
    ) -> Result<Self, ConnectorError> {
        let files = list_files(&path).map_err(|e| {
            ConnectorError::external(
                &table.name,
                format!("cannot list {}", path.display()),
                ErrorClass::User,
                e,
            )
        })?;
        // By a hash of the path, not its place in the listing: a file added
        // or removed between runs moves no other file to another subtask,
        // so restored positions still describe what each subtask reads.
        let parallelism = u64::from(ctx.parallelism.max(1));
        let files = files
            .into_iter()
            .filter(|f| {
                xxh3_64(f.to_string_lossy().as_bytes()) % parallelism
                    == u64::from(ctx.subtask_index)
            })
            .collect();
        Ok(FileSource {
            decoder,
            policy,
            files,
            current: None,
            done: Vec::new(),
            resume: None,
        })
    }

    /// Decodes a chunk of lines of `path`; a malformed line is named by
    /// file, line number and byte offset.
    fn decode_chunk(&mut self, path: &Path, lines: &[Line]) -> Result<Option<RecordBatch>> {
        let records: Vec<&[u8]> = lines.iter().map(|l| l.text.as_bytes()).collect();
        let position = |i: usize| {
            let line = &lines[i];
            format!(
                "{} at line {} (byte offset {})",
                path.display(),
                line.number,
                line.offset
            )
        };
        self.policy
            .decode(self.decoder.as_mut(), &records, &position)
    }

    async fn next_lines(&mut self) -> Result<Option<(PathBuf, Vec<Line>)>> {
        loop {
            if self.current.is_none() {
                let Some(path) = self.files.pop_front() else {
                    return Ok(None);
                };
                let mut file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| StreamError::io(format!("cannot open {}", path.display()), e))?;
                let (byte_offset, line_number) = match self.resume.take() {
                    Some((resume, offset, line)) if resume == path => (offset, line),
                    _ => (0, 0),
                };
                file.seek(std::io::SeekFrom::Start(byte_offset))
                    .await
                    .map_err(|e| {
                        StreamError::io(format!("cannot seek in {}", path.display()), e)
                    })?;
                self.current = Some(OpenFile {
                    path,
                    reader: BufReader::new(file),
                    line_number,
                    byte_offset,
                });
            }
            let Some(open) = self.current.as_mut() else {
                continue;
            };
            let mut lines = Vec::new();
            while lines.len() < LINES_PER_BATCH {
                let mut text = String::new();
                // Bytes as read, line ending included, so the position
                // stays exact for `\r\n` files too.
                let read = open.reader.read_line(&mut text).await.map_err(|e| {
                    StreamError::io(format!("cannot read {}", open.path.display()), e)
                })?;
                if read == 0 {
                    break;
                }
                let text = text.trim_end_matches(['\n', '\r']).to_string();
                open.line_number += 1;
                let offset = open.byte_offset;
                open.byte_offset += read as u64;
                if !text.trim().is_empty() {
                    lines.push(Line {
                        text,
                        number: open.line_number,
                        offset,
                    });
                }
            }
            let path = open.path.clone();
            if lines.len() < LINES_PER_BATCH {
                self.done.push(path.clone());
                self.current = None;
            }
            if !lines.is_empty() {
                return Ok(Some((path, lines)));
            }
        }
    }
}

#[async_trait::async_trait]
impl Source for FileSource {
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        while let Some((path, lines)) = self.next_lines().await? {
            if let Some(batch) = self.decode_chunk(&path, &lines)?
                && batch.num_rows() > 0
            {
                return Ok(Some(batch));
            }
        }
        Ok(None)
    }

    fn snapshot_position(&self) -> Result<String> {
        let position = Position {
            done: self.done.clone(),
            current: self
                .current
                .as_ref()
                .map(|open| (open.path.clone(), open.byte_offset, open.line_number)),
        };
        serde_json::to_string(&position).map_err(|e| {
            StreamError::Failed(format!("cannot encode the file source position: {e}"))
        })
    }

    fn records_dropped(&self) -> Vec<(&'static str, u64)> {
        vec![(MALFORMED, self.policy.dropped().total())]
    }

    fn restore_position(&mut self, position: &str) -> Result<()> {
        let position: Position = serde_json::from_str(position).map_err(|e| {
            StreamError::Failed(format!(
                "file source position '{position}' is malformed: {e}"
            ))
        })?;
        self.files.retain(|f| !position.done.contains(f));
        if let Some((path, offset, line)) = position.current {
            self.files.retain(|f| *f != path);
            self.files.push_front(path.clone());
            self.resume = Some((path, offset, line));
        }
        self.done = position.done;
        Ok(())
    }
}
