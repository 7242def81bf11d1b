//! Failover: a failed task or a lost task manager restarts the job from its
//! newest completed checkpoint, as its restart strategy allows: cancel every
//! subtask, wait the strategy's delay, wait for enough free slots, restore
//! and deploy the next attempt.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use rtdw_proto::v1::{CheckpointManifest, FailureClass, JobState, RestoreState};
use rtdw_state::CheckpointStorage;

use crate::checkpointing::delete_checkpoint;
use crate::checkpoints::CompletedCheckpoint;
use crate::coordinator::Coordinator;
use crate::job::Failure;
use crate::scheduler::assign_slots;
use rtdw_operators::time::now_millis;

/// How often a restarting job looks for free slots.
const SLOT_POLL: Duration = Duration::from_millis(200);

/// Name of a checkpoint's manifest in its directory.
pub const MANIFEST: &str = "_metadata";

/// Marks a deployment error caused by the checkpoint being restored.
const RESTORE_ERROR: &str = "restoring checkpoint";

impl Coordinator {
    /// Handles a failure of attempt `attempt` of a job: restarts it if the
    /// failure is transient and its strategy allows, else fails it.
    pub async fn job_failed(self: &Arc<Self>, job_id: &str, attempt: u32, failure: Failure) {
        let restart = {
            let mut state = self.lock();
            let Some(job) = state.jobs.get_mut(job_id) else {
                return;
            };
            if job.attempt != attempt || !matches!(job.state, JobState::Created | JobState::Running)
            {
                // Late news of an attempt already being replaced: it may name
                // the root cause of a failure first reported by a peer.
                if job.attempt == attempt {
                    job.record_failure(failure);
                }
                return;
            }
            let restart = match failure.class {
                // A restart would meet the same bad option, table or record.
                FailureClass::User => None,
                _ => job.restart.on_failure(Instant::now()),
            };
            match restart {
                None => None,
                Some(delay) => {
                    job.state = JobState::Restarting;
                    job.set_failure(failure.clone());
                    job.restarts += 1;
                    let aborted = job.checkpoints.restart(now_millis());
                    let slots = std::mem::take(&mut job.slots);
                    for task in job.tasks.values_mut() {
                        task.state = rtdw_proto::v1::TaskState::Canceled;
                    }
                    let clients = Self::clients(&state, job_id);
                    for tm in &slots {
                        state.cluster.adjust_used(tm, -1);
                    }
                    Some((delay, clients, aborted))
                }
            }
        };
        let Some((delay, clients, aborted)) = restart else {
            self.fail_job(job_id, failure).await;
            return;
        };
        let reason = &failure.reason;
        tracing::warn!(job = %job_id, attempt, %reason, delay_ms = delay.as_millis() as u64, "job failing over");
        Self::cancel_on(job_id, clients).await;
        if let Some(location) = aborted {
            delete_checkpoint(&location).await;
        }
        self.persist(job_id).await;
        let this = self.clone();
        let job_id = job_id.to_string();
        let span = tracing::info_span!("failover", job = %job_id, attempt, delay_ms = delay.as_millis() as u64);
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                tokio::time::sleep(delay).await;
                this.redeploy(job_id).await;
            },
            span,
        ));
    }

    /// A deployment failed: when restoring a checkpoint failed, that
    /// checkpoint is dropped so the restart falls back to an older one.
    pub(crate) async fn deployment_failed(
        self: &Arc<Self>,
        job_id: &str,
        attempt: u32,
        failure: Failure,
    ) {
        let reason = &failure.reason;
        let damaged = reason.contains(RESTORE_ERROR)
            && (reason.contains(" is corrupt") || reason.contains(" is missing"));
        if damaged {
            let mut state = self.lock();
            if let Some(job) = state.jobs.get_mut(job_id)
                && job.attempt == attempt
                && let Some(restore) = &job.restore
            {
                let (id, location) = (restore.checkpoint_id, restore.location.clone());
                tracing::error!(job = %job_id, checkpoint = id, %reason, "checkpoint cannot be restored; falling back to the previous one");
                job.checkpoints.discard(&location);
            }
        }
        self.job_failed(job_id, attempt, failure).await;
    }

    /// Places the next attempt once slots are free, loads the newest
    /// restorable checkpoint and deploys.
    /// Boxed: the deployment may fail over again, which leads back here.
    pub(crate) fn redeploy(
        self: Arc<Self>,
        job_id: String,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let job_id = job_id.as_str();
            loop {
                let placed = {
                    let mut state = self.lock();
                    let offers = state.cluster.offers();
                    let Some(job) = state.jobs.get_mut(job_id) else {
                        return;
                    };
                    if job.state != JobState::Restarting {
                        return;
                    }
                    match assign_slots(job.required_slots, &offers) {
                        Ok(slots) => {
                            job.place(slots.clone());
                            job.attempt += 1;
                            for tm in &slots {
                                state.cluster.adjust_used(tm, 1);
                            }
                            true
                        }
                        Err(_) => false,
                    }
                };
                if placed {
                    break;
                }
                tokio::time::sleep(SLOT_POLL).await;
            }
            let (retained, ever_restorable, attempt) = match self.lock().jobs.get(job_id) {
                Some(job) => (
                    job.checkpoints.retained(),
                    job.checkpoints.ever_restorable(),
                    job.attempt,
                ),
                None => return,
            };
            let restore = match self
                .newest_restorable(job_id, retained, ever_restorable)
                .await
            {
                Ok(restore) => restore,
                Err(reason) => {
                    self.fail_job(job_id, Failure::transient(reason)).await;
                    return;
                }
            };
            {
                let mut state = self.lock();
                let Some(job) = state.jobs.get_mut(job_id) else {
                    return;
                };
                match job.state {
                    JobState::Restarting if job.attempt == attempt => {
                        tracing::info!(job = %job_id, attempt, checkpoint = restore.as_ref().map(|r| r.checkpoint_id), "restarting");
                        job.restore = restore;
                        // As in Flink, the job runs again once its tasks are
                        // being deployed; a failed deployment fails over.
                        job.state = JobState::Running;
                    }
                    // Cancelled while the checkpoint was read: nothing runs.
                    JobState::Cancelling => {
                        Self::end(&mut state, job_id, JobState::Canceled);
                        return;
                    }
                    _ => return,
                }
            }
            self.persist(job_id).await;
            self.deploy(job_id).await;
        })
    }

    /// The newest retained checkpoint whose manifest reads; checkpoints that
    /// do not are dropped with the reason logged. `None` when the job has
    /// no checkpoint (it starts over); an error when it had some and none
    /// is readable.
    async fn newest_restorable(
        &self,
        job_id: &str,
        retained: Vec<CompletedCheckpoint>,
        ever_restorable: bool,
    ) -> Result<Option<RestoreState>, String> {
        if retained.is_empty() {
            // Starting over would emit again what earlier runs committed.
            return if ever_restorable {
                Err("no retained checkpoint is left to restore".into())
            } else {
                Ok(None)
            };
        }
        let mut reasons = Vec::new();
        for checkpoint in retained {
            match read_manifest(&checkpoint.location).await {
                Ok(manifest) => {
                    return Ok(Some(RestoreState {
                        checkpoint_id: manifest.checkpoint_id,
                        location: checkpoint.location,
                        subtasks: manifest.subtasks,
                    }));
                }
                Err(reason) => {
                    tracing::error!(job = %job_id, checkpoint = checkpoint.id, %reason, "checkpoint unreadable; trying the previous one");
                    if let Some(job) = self.lock().jobs.get_mut(job_id) {
                        job.checkpoints.discard(&checkpoint.location);
                    }
                    reasons.push(reason);
                }
            }
        }
        Err(format!(
            "no retained checkpoint can be restored: {}",
            reasons.join("; ")
        ))
    }
}

/// Reads and decodes the manifest of the checkpoint at `location`.
pub async fn read_manifest(location: &str) -> Result<CheckpointManifest, String> {
    let storage = CheckpointStorage::open(location).map_err(|e| e.to_string())?;
    let bytes = storage.get(MANIFEST).await.map_err(|e| e.to_string())?;
    CheckpointManifest::decode(bytes).map_err(|e| {
        format!(
            "checkpoint file {} is corrupt: {e}",
            storage.file_url(MANIFEST)
        )
    })
}
