//! What can go wrong talking to StarRocks, each with whether a retry may
//! help.

use rtdw_operators::ErrorClass;

/// A Stream Load request that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum StarRocksError {
    /// No connection, or the request broke off.
    #[error("cannot reach {url}: {source}")]
    Unreachable {
        /// The address tried.
        url: String,
        /// What the HTTP client saw.
        #[source]
        source: reqwest::Error,
    },
    /// The credentials were refused.
    #[error(
        "{url} refused user '{user}' (HTTP {code}: {body}): check the options 'username' and 'password'"
    )]
    Refused {
        /// The address.
        url: String,
        /// `username`.
        user: String,
        /// 401 or 403.
        code: u16,
        /// What it said.
        body: String,
    },
    /// An HTTP error without a Stream Load answer.
    #[error("{url} answered HTTP {code}: {body}")]
    Http {
        /// The address.
        url: String,
        /// The status code.
        code: u16,
        /// The body, cut short.
        body: String,
    },
    /// An answer that is not a Stream Load answer.
    #[error("{url} answered {body:?}, which is not a Stream Load answer: {source}")]
    Malformed {
        /// The address.
        url: String,
        /// The body, cut short.
        body: String,
        /// Why it did not parse.
        #[source]
        source: serde_json::Error,
    },
    /// Redirects that do not end at a BE.
    #[error("{url}: more than {hops} redirects")]
    Redirects {
        /// Where the last one pointed.
        url: String,
        /// How many were followed.
        hops: usize,
    },
    /// StarRocks answered with a failure status.
    #[error("{operation} of label '{label}' failed with status '{status}': {message}{details}")]
    Rejected {
        /// `stream load`, `begin`, `load`, `prepare`, `commit`, `rollback`.
        operation: &'static str,
        /// The label.
        label: String,
        /// `Status`.
        status: String,
        /// `Message`.
        message: String,
        /// Filtered rows and the start of the error log, when StarRocks
        /// gave an `ErrorURL`; else empty.
        details: String,
        /// Whether a retry may help: not for rows StarRocks filtered out.
        class: ErrorClass,
    },
    /// A label another load holds.
    #[error(
        "label '{label}' is held by a load that is {existing}: another job, or an earlier run of this one, uses the same labels; give this job a 'sink.label-prefix' of its own"
    )]
    LabelTaken {
        /// The label.
        label: String,
        /// The state of the load holding it.
        existing: String,
    },
}

impl StarRocksError {
    /// Whether the user must change something or a retry may succeed.
    pub fn class(&self) -> ErrorClass {
        match self {
            StarRocksError::Refused { .. } | StarRocksError::LabelTaken { .. } => ErrorClass::User,
            StarRocksError::Rejected { class, .. } => *class,
            _ => ErrorClass::Transient,
        }
    }
}
