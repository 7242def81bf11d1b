//! The committer of a Paimon sink: the commit messages of every writer for
//! one checkpoint become one snapshot, with the checkpoint id as its commit
//! identifier, so a commit repeated after a restore is recognised and
//! skipped (Paimon's `filterAndCommit`).

use std::collections::BTreeMap;

use paimon::Table;
use paimon::table::CommitMessage;
use rtdw_connector_core::TableDescriptor;
use rtdw_connector_core::committer::GlobalCommitter;
use rtdw_connector_core::two_phase::CommitOutcome;
use rtdw_operators::{Result, StreamError};

use crate::committable;
use crate::options::PaimonSettings;
use crate::table::{open_for_job, paimon_error};

/// The committer of one Paimon sink.
pub struct PaimonCommitter {
    declared: TableDescriptor,
    settings: PaimonSettings,
    table: Option<Table>,
}

impl PaimonCommitter {
    /// The committer of `declared`.
    pub fn new(declared: TableDescriptor, settings: PaimonSettings) -> Self {
        PaimonCommitter {
            declared,
            settings,
            table: None,
        }
    }

    async fn table(&mut self) -> Result<Table> {
        if self.table.is_none() {
            self.table = Some(open_for_job(&self.settings, &self.declared).await?);
        }
        Ok(self.table.clone().expect("opened above"))
    }

    fn failed(&self, context: String, error: paimon::Error) -> StreamError {
        paimon_error(&self.declared.name, context, error).into()
    }
}

/// The commit identifier of a checkpoint: its id, and the largest one for
/// the end of the input (Paimon's batch identifier).
fn commit_identifier(checkpoint_id: u64) -> i64 {
    i64::try_from(checkpoint_id).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl GlobalCommitter for PaimonCommitter {
    async fn commit(
        &mut self,
        checkpoint_id: u64,
        committables: Vec<Vec<u8>>,
    ) -> Result<CommitOutcome> {
        let mut by_user: BTreeMap<String, Vec<CommitMessage>> = BTreeMap::new();
        for bytes in &committables {
            let (user, message) = committable::decode(bytes)
                .map_err(|e| StreamError::Failed(format!("table '{}': {e}", self.declared.name)))?;
            by_user.entry(user).or_default().push(message);
        }
        let table = self.table().await?;
        let identifier = commit_identifier(checkpoint_id);
        let mut outcome = CommitOutcome::AlreadyCommitted;
        for (user, messages) in by_user {
            let commit = table
                .new_write_builder()
                .with_commit_user(user.clone())
                .map_err(|e| self.failed(format!("commit user '{user}' is not valid"), e))?
                .new_commit();
            let committed = commit
                .filter_and_commit(vec![(identifier, messages)])
                .await
                .map_err(|e| {
                    self.failed(
                        format!(
                            "cannot commit checkpoint {checkpoint_id} to '{}'",
                            self.settings.path
                        ),
                        e,
                    )
                })?;
            if committed > 0 {
                outcome = CommitOutcome::Committed;
                tracing::debug!(table = %self.declared.name, checkpoint_id, %user, "committed a Paimon snapshot");
            }
        }
        Ok(outcome)
    }

    async fn restored(&mut self, recommitted: usize) -> Result<()> {
        let table = self.table().await?;
        if recommitted > 0 && !table.schema().primary_keys().is_empty() {
            // Writers of a primary-key table number their rows after the
            // table's latest snapshot when they open; they may have opened
            // before these commits went in. Paimon's Flink sink fails here
            // too, so the restarted job's writers see them.
            return Err(StreamError::Failed(format!(
                "table '{}': {recommitted} checkpoint(s) restored and committed to the Paimon table; restarting so its writers continue after them",
                self.declared.name
            )));
        }
        Ok(())
    }
}
