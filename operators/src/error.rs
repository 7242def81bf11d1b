//! The error type of everything that runs inside a subtask.

use arrow::error::ArrowError;
use datafusion::error::DataFusionError;

/// An error raised while a subtask processes its stream. It fails the task;
/// the message is what the user sees in `rtdw job status`.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// An Arrow kernel failed (type mismatch, overflow, ...).
    #[error("arrow error: {0}")]
    Arrow(#[from] ArrowError),
    /// A DataFusion expression failed to evaluate.
    #[error("expression error: {0}")]
    DataFusion(#[from] DataFusionError),
    /// Reading or writing outside data failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file or endpoint.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An input record could not be decoded and the error policy says to fail.
    #[error("{0}")]
    MalformedRecord(String),
    /// A subtask this one exchanges data with stopped or became unreachable.
    /// Not a root cause: the peer (or its task manager's loss) is reported on
    /// its own.
    #[error("{0}")]
    PeerGone(String),
    /// Any other failure, described for the user.
    #[error("{0}")]
    Failed(String),
}

impl StreamError {
    /// An I/O error with a description of what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StreamError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result of stream processing.
pub type Result<T, E = StreamError> = std::result::Result<T, E>;
