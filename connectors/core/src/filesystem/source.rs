//! The filesystem source, split-based: each file is a split, assigned to a
//! subtask by the coordinator; a subtask reads its files in chunks of lines
//! and decodes them through the table's format. A split's state is the
//! byte offset and line number after the last line returned, so a restored
//! (or reassigned) file continues at the next line.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use rtdw_operators::{Result, Source, SourceSplit, StreamError};
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};

use super::is_hidden;
use crate::error::ConnectorError;
use crate::format::{DecodePolicy, MALFORMED, RecordDecoder};
use crate::metadata::{append_metadata, with_metadata_fields};
use crate::split::encode_splits;
use crate::table::TableDescriptor;

/// Lines decoded into one batch.
const LINES_PER_BATCH: usize = 8192;

/// How long a continuous source that has read everything waits before it
/// returns an empty batch (so checkpoints and new splits get through).
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// How far a file has been read: byte offset and line number after the
/// last line returned.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
struct FilePosition {
    offset: u64,
    line: u64,
}

/// A file to read, from a position.
#[derive(Debug, Clone)]
struct FileSplit {
    path: PathBuf,
    position: FilePosition,
}

impl FileSplit {
    fn from_split(split: &SourceSplit) -> Result<Self> {
        let position = if split.state.is_empty() {
            FilePosition::default()
        } else {
            serde_json::from_str(&split.state).map_err(|e| {
                StreamError::Failed(format!(
                    "the position '{}' of file {} is malformed: {e}",
                    split.state, split.id
                ))
            })?
        };
        Ok(FileSplit {
            path: PathBuf::from(&split.id),
            position,
        })
    }

    fn to_split(&self) -> SourceSplit {
        SourceSplit {
            id: self.path.to_string_lossy().into_owned(),
            state: serde_json::to_string(&self.position).unwrap_or_default(),
            finished: false,
        }
    }
}

/// A metadata column a file source appends to its rows.
#[derive(Debug, Clone, Copy)]
enum FileMetadata {
    Path,
    Name,
    Size,
    ModificationTime,
}

impl FileMetadata {
    /// The value of metadata key `key`, one of the keys the factory
    /// declares.
    fn from_key(key: &str) -> Option<Self> {
        Some(match key {
            "file.path" => FileMetadata::Path,
            "file.name" => FileMetadata::Name,
            "file.size" => FileMetadata::Size,
            "file.modification-time" => FileMetadata::ModificationTime,
            _ => return None,
        })
    }

    /// The value for every row of a chunk of `path`.
    fn column(self, path: &Path, rows: usize) -> Result<ArrayRef> {
        let stat = || {
            std::fs::metadata(path)
                .map_err(|e| StreamError::io(format!("cannot stat {}", path.display()), e))
        };
        Ok(match self {
            FileMetadata::Path => Arc::new(StringArray::from(vec![
                path.to_string_lossy()
                    .into_owned();
                rows
            ])),
            FileMetadata::Name => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Arc::new(StringArray::from(vec![name; rows]))
            }
            FileMetadata::Size => Arc::new(Int64Array::from(vec![stat()?.len() as i64; rows])),
            FileMetadata::ModificationTime => {
                let modified = stat()?
                    .modified()
                    .map_err(|e| StreamError::io(format!("cannot stat {}", path.display()), e))?;
                let millis = modified
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                Arc::new(TimestampMillisecondArray::from(vec![millis; rows]).with_timezone("UTC"))
            }
        })
    }
}

/// One subtask of a filesystem source.
pub(super) struct FileSource {
    decoder: Box<dyn RecordDecoder>,
    policy: DecodePolicy,
    /// Metadata columns appended after the data columns, in order.
    metadata: Vec<FileMetadata>,
    /// The batches' schema with the metadata columns, when there are any.
    schema: SchemaRef,
    /// Files to read, in the order assigned; the first may be partly read.
    pending: VecDeque<FileSplit>,
    current: Option<OpenFile>,
    /// Files read to their end, by split id.
    finished: Vec<String>,
    /// Keep waiting for new files (`source.monitor-interval`) instead of
    /// ending when the assigned ones are read.
    continuous: bool,
}

struct OpenFile {
    split: FileSplit,
    reader: BufReader<tokio::fs::File>,
}

/// A line with where it starts.
struct Line {
    text: String,
    number: u64,
    offset: u64,
}

/// Every visible file under `path`, sorted, or `path` itself when it is a file.
pub(super) fn list_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
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
    /// A subtask that reads the files it is given through `add_splits`,
    /// decoded by `decoder`, with `table`'s metadata columns after the
    /// data columns; `continuous` keeps it waiting for more.
    pub fn new(
        table: &TableDescriptor,
        decoder: Box<dyn RecordDecoder>,
        policy: DecodePolicy,
        continuous: bool,
    ) -> Result<Self, ConnectorError> {
        let schema = with_metadata_fields(decoder.schema(), &table.metadata);
        let metadata = table
            .metadata
            .iter()
            .map(|m| {
                FileMetadata::from_key(&m.key).ok_or_else(|| ConnectorError::InvalidMetadata {
                    table: table.name.clone(),
                    column: m.column.clone(),
                    reason: format!("the filesystem source offers no metadata '{}'", m.key),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FileSource {
            decoder,
            policy,
            metadata,
            schema,
            pending: VecDeque::new(),
            current: None,
            finished: Vec::new(),
            continuous,
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
        let decoded = self
            .policy
            .decode(self.decoder.as_mut(), &records, &position)?;
        match decoded {
            Some(batch) if !self.metadata.is_empty() => {
                let values = self
                    .metadata
                    .iter()
                    .map(|m| m.column(path, batch.num_rows()))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Some(append_metadata(&self.schema, batch, values)?))
            }
            other => Ok(other),
        }
    }

    async fn next_lines(&mut self) -> Result<Option<(PathBuf, Vec<Line>)>> {
        loop {
            if self.current.is_none() {
                let Some(split) = self.pending.pop_front() else {
                    return Ok(None);
                };
                let path = &split.path;
                let mut file = tokio::fs::File::open(path)
                    .await
                    .map_err(|e| StreamError::io(format!("cannot open {}", path.display()), e))?;
                file.seek(std::io::SeekFrom::Start(split.position.offset))
                    .await
                    .map_err(|e| {
                        StreamError::io(format!("cannot seek in {}", path.display()), e)
                    })?;
                self.current = Some(OpenFile {
                    split,
                    reader: BufReader::new(file),
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
                    StreamError::io(format!("cannot read {}", open.split.path.display()), e)
                })?;
                if read == 0 {
                    break;
                }
                let text = text.trim_end_matches(['\n', '\r']).to_string();
                let position = &mut open.split.position;
                position.line += 1;
                let offset = position.offset;
                position.offset += read as u64;
                if !text.trim().is_empty() {
                    lines.push(Line {
                        text,
                        number: position.line,
                        offset,
                    });
                }
            }
            let path = open.split.path.clone();
            if lines.len() < LINES_PER_BATCH {
                self.finished.push(path.to_string_lossy().into_owned());
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
        if !self.continuous {
            return Ok(None);
        }
        tokio::time::sleep(IDLE_WAIT).await;
        Ok(Some(RecordBatch::new_empty(self.schema.clone())))
    }

    fn snapshot_position(&self) -> Result<String> {
        let finished = self.finished.iter().map(|id| SourceSplit {
            id: id.clone(),
            state: String::new(),
            finished: true,
        });
        let unfinished = self
            .current
            .iter()
            .map(|open| &open.split)
            .chain(&self.pending)
            .map(FileSplit::to_split);
        let splits: Vec<SourceSplit> = finished.chain(unfinished).collect();
        encode_splits(&splits).map_err(|e| {
            StreamError::Failed(format!("cannot encode the file source's splits: {e}"))
        })
    }

    fn restore_position(&mut self, _position: &str) -> Result<()> {
        Err(StreamError::Failed(
            "the filesystem source restores through its splits".into(),
        ))
    }

    fn add_splits(&mut self, splits: Vec<SourceSplit>) -> Result<()> {
        for split in splits {
            if split.finished {
                self.finished.push(split.id);
            } else {
                self.pending.push_back(FileSplit::from_split(&split)?);
            }
        }
        Ok(())
    }

    fn records_dropped(&self) -> Vec<(&'static str, u64)> {
        vec![(MALFORMED, self.policy.dropped().total())]
    }
}
