//! What travels on a channel between two subtasks.

use arrow::record_batch::RecordBatch;

/// One element of a stream, delivered in order on each channel.
#[derive(Debug, Clone)]
pub enum Element {
    /// Rows; a trailing `_row_kind` column marks updates and deletes.
    Batch(RecordBatch),
    /// Event time has reached this many milliseconds since the epoch.
    Watermark(i64),
    /// A checkpoint barrier: everything before it belongs to the checkpoint.
    Barrier(Barrier),
    /// The sender has had no rows for the job's idle timeout
    /// (`table.exec.source.idle-timeout`): until it sends rows or a
    /// watermark again, its channel does not hold back the watermark of
    /// the subtasks it feeds (Flink's idle watermark status).
    Idle,
    /// The sender will send nothing more on this channel.
    EndOfInput,
}

/// A checkpoint (or savepoint) barrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Barrier {
    /// The checkpoint this barrier belongs to.
    pub checkpoint_id: u64,
    /// True for a savepoint, false for a periodic checkpoint.
    pub savepoint: bool,
    /// Storage URL of the checkpoint's directory, where every subtask the
    /// barrier passes writes its state files.
    pub location: std::sync::Arc<str>,
    /// W3C `traceparent` of the checkpoint's trace (empty without traces),
    /// so each subtask's checkpoint spans join it.
    pub trace_parent: std::sync::Arc<str>,
}
