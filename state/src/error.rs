//! Errors of checkpoint storage and the metadata store.

/// What went wrong reading or writing checkpoint data or metadata.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A storage or metastore URL that cannot be used.
    #[error("invalid {what} '{url}': {reason}")]
    InvalidUrl {
        /// Which setting it was, e.g. `state.checkpoints.dir`.
        what: &'static str,
        /// The URL given.
        url: String,
        /// What was expected.
        reason: String,
    },
    /// Object storage failed.
    #[error("checkpoint storage: {0}")]
    Storage(#[from] object_store::Error),
    /// A checkpoint file is missing.
    #[error("checkpoint file {path} is missing")]
    Missing {
        /// The file's URL.
        path: String,
    },
    /// A checkpoint file does not hold what its checksum or format says.
    #[error("checkpoint file {path} is corrupt: {reason}")]
    Corrupt {
        /// The file's URL.
        path: String,
        /// What did not match.
        reason: String,
    },
    /// Arrow could not encode state.
    #[error("state encoding: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The local metadata directory failed.
    #[error("metadata store {path}: {source}")]
    LocalIo {
        /// The file or directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// etcd failed.
    #[error("etcd metadata store: {0}")]
    Etcd(#[from] etcd_client::Error),
}

/// Results of this crate.
pub type Result<T, E = StateError> = std::result::Result<T, E>;
