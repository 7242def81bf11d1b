//! What a writer subtask hands the committer for one bucket: Paimon's
//! commit message in its Java-compatible encoding, with the commit user
//! that prepared it. The user travels with the message because a restored
//! commit must be checked against the snapshots of the user that prepared
//! it (a job restored from a savepoint commits under a new one).

use paimon::table::{COMMIT_MESSAGE_SERIALIZER_VERSION, CommitMessage};

/// A malformed committable.
#[derive(Debug, thiserror::Error)]
pub enum CommittableError {
    /// The bytes hold no commit user.
    #[error("a Paimon committable has no commit user")]
    NoUser,
    /// Paimon could not encode or decode the message.
    #[error("a Paimon commit message cannot be encoded or decoded: {0}")]
    Message(#[from] paimon::Error),
}

/// Encodes `message` prepared by `user` (which holds no newline).
pub fn encode(user: &str, message: &CommitMessage) -> Result<Vec<u8>, CommittableError> {
    let body = message.serialize()?;
    let mut bytes = Vec::with_capacity(user.len() + 1 + body.len());
    bytes.extend_from_slice(user.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// The commit user and message of an encoded committable.
pub fn decode(bytes: &[u8]) -> Result<(String, CommitMessage), CommittableError> {
    let split = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(CommittableError::NoUser)?;
    let user = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let message =
        CommitMessage::deserialize(COMMIT_MESSAGE_SERIALIZER_VERSION, &bytes[split + 1..])?;
    Ok((user, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_committable_without_a_user_is_refused() {
        assert!(matches!(
            decode(b"no newline"),
            Err(CommittableError::NoUser)
        ));
        assert!(matches!(
            decode(b"user\n\x01"),
            Err(CommittableError::Message(_))
        ));
    }
}
