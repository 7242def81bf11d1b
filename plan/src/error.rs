//! Why a plan cannot be shipped or read back.

use thiserror::Error;

/// An error encoding a job graph for the task managers, or decoding one.
#[derive(Debug, Error)]
pub enum PlanError {
    /// Part of the plan has no protobuf form, so the job cannot be shipped
    /// to task managers. Raised at submission, before anything runs.
    #[error("cannot ship {what}: {reason}")]
    Unshippable {
        /// The operator, expression or type.
        what: String,
        /// Why.
        reason: String,
    },
    /// A shipped plan does not decode: it was written by another rtdw
    /// version, or is damaged.
    #[error("invalid shipped plan: {what}: {reason}")]
    Invalid {
        /// The operator, expression or type.
        what: String,
        /// Why.
        reason: String,
    },
}

impl PlanError {
    /// An [`PlanError::Unshippable`] for `what`.
    pub(crate) fn unshippable(what: impl Into<String>, reason: impl ToString) -> Self {
        PlanError::Unshippable {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    /// An [`PlanError::Invalid`] for `what`.
    pub(crate) fn invalid(what: impl Into<String>, reason: impl ToString) -> Self {
        PlanError::Invalid {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}
