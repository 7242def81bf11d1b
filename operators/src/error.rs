//! The error type of everything that runs inside a subtask.

use arrow::error::ArrowError;
use datafusion_common::DataFusionError;

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
    /// An outside system or its configuration failed (a connector, a
    /// format): the class says whether a restart may help.
    #[error("{source}")]
    External {
        /// The user's to fix, or transient.
        class: ErrorClass,
        /// The underlying error, with its own causes.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Any other failure, described for the user.
    #[error("{0}")]
    Failed(String),
}

/// Whether a failure is the user's to fix or may pass by itself. User
/// errors (a bad option, a missing table, wrong credentials, a schema the
/// query cannot take, a malformed record under the `fail` policy) fail the
/// job without a restart, which would only fail again; transient ones (an
/// unreachable system, a timeout, anything not known to be the user's) go
/// through the restart strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The user must change the job, its options or the outside system.
    User,
    /// Retrying may succeed.
    Transient,
}

impl ErrorClass {
    /// `user` or `transient`, as `rtdw job status` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::User => "user",
            ErrorClass::Transient => "transient",
        }
    }
}

impl StreamError {
    /// The failure's class: see [`ErrorClass`].
    pub fn class(&self) -> ErrorClass {
        match self {
            StreamError::External { class, .. } => *class,
            StreamError::MalformedRecord(_) => ErrorClass::User,
            _ => ErrorClass::Transient,
        }
    }

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
