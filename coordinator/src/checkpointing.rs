//! The checkpoint coordinator's I/O: triggering checkpoints at the sources
//! every interval, collecting acknowledgements, writing the manifest and
//! then the metastore pointer, notifying completion, expiring checkpoints
//! that time out, and deleting what retention drops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use rtdw_observability::traces::{follow_trace_parent, trace_parent_of, traced_request};
use rtdw_proto::v1::{
    CheckpointAck, CheckpointDecline, CheckpointInfo, CheckpointManifest, CheckpointPointer,
    JobState, NotifyCheckpointCompleteRequest, TaskState, TriggerCheckpointRequest,
};
use rtdw_state::CheckpointStorage;
use tonic::Status;

use crate::checkpoints::{AckOutcome, CheckpointKind, CompletedCheckpoint};
use crate::coordinator::Coordinator;
use crate::failover::MANIFEST;
use crate::job::{Failure, is_terminal};
use rtdw_operators::time::now_millis;

/// Longest pause of the trigger loop, so timeouts are noticed promptly.
const TICK: Duration = Duration::from_millis(100);

impl Coordinator {
    /// Triggers a job's checkpoints every interval and expires those that
    /// time out, until the job ends.
    pub(crate) async fn run_checkpoints(self: Arc<Self>, job_id: String) {
        let mut last_trigger = Instant::now();
        loop {
            tokio::time::sleep(TICK).await;
            let (interval, timeout) = {
                let state = self.lock();
                let Some(job) = state.jobs.get(&job_id) else {
                    return;
                };
                if is_terminal(job.state) {
                    return;
                }
                let settings = &job.checkpoints.settings;
                (settings.interval.unwrap_or(Duration::MAX), settings.timeout)
            };
            self.expire_checkpoint(&job_id, timeout).await;
            if last_trigger.elapsed() >= interval && self.trigger_checkpoint(&job_id).await {
                last_trigger = Instant::now();
            }
        }
    }

    /// Fails the job's checkpoint in flight when it is older than `timeout`.
    async fn expire_checkpoint(self: &Arc<Self>, job_id: &str, timeout: Duration) {
        let now_ms = now_millis();
        let expired = {
            let state = self.lock();
            state
                .jobs
                .get(job_id)
                .and_then(|job| job.checkpoints.in_flight_since(now_ms))
                .filter(|(_, age)| *age > timeout)
        };
        if let Some((id, _)) = expired {
            let reason = format!(
                "checkpoint {id} expired after {} ms before every subtask acknowledged it",
                timeout.as_millis()
            );
            self.checkpoint_failed(job_id, id, reason).await;
        }
    }

    /// Starts a checkpoint when the job runs and may take one; true when it
    /// did.
    async fn trigger_checkpoint(self: &Arc<Self>, job_id: &str) -> bool {
        let (request, clients) = {
            let mut state = self.lock();
            let Some(job) = state.jobs.get_mut(job_id) else {
                return false;
            };
            let all_running = job.tasks.values().all(|t| t.state == TaskState::Running);
            if job.state != JobState::Running
                || !all_running
                || !job.checkpoints.may_trigger(Instant::now())
                || job.checkpoints.final_due(&job.task_keys())
            {
                return false;
            }
            let (id, location) = job.checkpoints.trigger(job.task_keys(), now_millis());
            let request = TriggerCheckpointRequest {
                job_id: job_id.to_string(),
                attempt: job.attempt,
                checkpoint_id: id,
                savepoint: false,
                location,
                stop: false,
                trace_parent: job.open_checkpoint_trace(id, "CHECKPOINT"),
            };
            (request, Self::clients(&state, job_id))
        };
        tracing::debug!(job = %job_id, checkpoint = request.checkpoint_id, "triggering checkpoint");
        for (tm, mut client) in clients {
            if let Err(status) = client
                .trigger_checkpoint(traced_request(request.clone()))
                .await
            {
                // Its sources would never send the barrier.
                let reason = format!(
                    "the trigger did not reach task manager {tm}: {}",
                    status.message()
                );
                self.checkpoint_failed(job_id, request.checkpoint_id, reason)
                    .await;
                break;
            }
        }
        true
    }

    /// Applies a subtask's acknowledgement.
    pub async fn acknowledge_checkpoint(self: &Arc<Self>, ack: CheckpointAck) {
        let Some(state) = ack.state else {
            return;
        };
        let outcome = {
            let mut guard = self.lock();
            let Some(job) = guard.jobs.get_mut(&ack.job_id) else {
                return;
            };
            // A restarting job's subtasks are gone: their late news is void.
            // An end of input may come before the job counts as running (a
            // small bounded source can end while other subtasks still
            // deploy); dropping it would leave the job waiting for a
            // subtask that will never acknowledge a checkpoint again.
            let live = match job.state {
                JobState::Running => true,
                JobState::Created => ack.checkpoint_id == 0,
                _ => false,
            };
            if job.attempt != ack.attempt || !live {
                return;
            }
            if ack.checkpoint_id == 0 {
                let all = job.task_keys();
                job.checkpoints
                    .end_of_input(state, ack.last_checkpoint_id, &all, now_millis())
            } else {
                job.checkpoints
                    .acknowledge(ack.checkpoint_id, state, now_millis())
            }
        };
        if let AckOutcome::Complete(manifest, location) = outcome {
            tokio::spawn(self.clone().complete_checkpoint(manifest, location));
        }
    }

    /// Applies a subtask's decline: the checkpoint fails.
    pub async fn decline_checkpoint(self: &Arc<Self>, decline: CheckpointDecline) {
        {
            let mut state = self.lock();
            let Some(job) = state.jobs.get_mut(&decline.job_id) else {
                return;
            };
            if job.attempt != decline.attempt || job.state != JobState::Running {
                return;
            }
            job.checkpoints.note_decline(
                decline.checkpoint_id,
                (decline.vertex_id, decline.subtask),
                &decline.reason,
            );
        }
        let reason = format!(
            "subtask {} of vertex {} declined checkpoint {}: {}",
            decline.subtask, decline.vertex_id, decline.checkpoint_id, decline.reason
        );
        self.checkpoint_failed(&decline.job_id, decline.checkpoint_id, reason)
            .await;
    }

    /// Fails checkpoint `id`, deletes what it wrote, and fails the job over
    /// when that was one failure more than it tolerates.
    async fn checkpoint_failed(self: &Arc<Self>, job_id: &str, id: u64, reason: String) {
        let (failed, attempt) = {
            let mut state = self.lock();
            let Some(job) = state.jobs.get_mut(job_id) else {
                return;
            };
            (
                job.checkpoints.fail(id, reason.clone(), now_millis()),
                job.attempt,
            )
        };
        let Some((location, intolerable)) = failed else {
            return;
        };
        if let Some(job) = self.lock().jobs.get_mut(job_id) {
            job.checkpoint_spans.remove(&id);
        }
        tracing::warn!(job = %job_id, checkpoint = id, %reason, "checkpoint failed");
        delete_checkpoint(&location).await;
        if intolerable {
            let reason = format!("exceeded the tolerable failed checkpoints: {reason}");
            self.job_failed(job_id, attempt, Failure::transient(reason))
                .await;
        } else {
            self.start_final_if_due(job_id).await;
        }
    }

    /// Writes the manifest, then the metastore pointer, then tells every
    /// task manager the checkpoint completed; deletes what retention drops.
    /// Boxed: completing one checkpoint may start the final one.
    fn complete_checkpoint(
        self: Arc<Self>,
        manifest: CheckpointManifest,
        location: String,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        let root = self
            .lock()
            .jobs
            .get(&manifest.job_id)
            .and_then(|job| job.checkpoint_spans.get(&manifest.checkpoint_id).cloned());
        let span = tracing::info_span!(
            "complete_checkpoint",
            job = %manifest.job_id,
            checkpoint = manifest.checkpoint_id,
            kind = %manifest.kind
        );
        if let Some(root) = &root {
            follow_trace_parent(&span, &trace_parent_of(root));
        }
        let trace_parent = root.as_ref().map(trace_parent_of).unwrap_or_default();
        Box::pin(tracing::Instrument::instrument(
            async move {
                let job_id = manifest.job_id.clone();
                let id = manifest.checkpoint_id;
                let is_final = manifest.kind == CheckpointKind::Final.name();
                if let Err(reason) = write_manifest(&manifest, &location).await {
                    self.checkpoint_failed(&job_id, id, reason).await;
                    return;
                }
                // Aborted meanwhile (a failover): it must not become the
                // restore point.
                let current = self
                    .lock()
                    .jobs
                    .get(&job_id)
                    .is_some_and(|job| job.checkpoints.is_in_flight(id));
                if !current {
                    delete_checkpoint(&location).await;
                    return;
                }
                if let Err(reason) = self.write_pointer(&manifest, &location).await {
                    self.checkpoint_failed(&job_id, id, reason).await;
                    return;
                }
                let (dropped, attempt, clients) = {
                    let mut state = self.lock();
                    let Some(job) = state.jobs.get_mut(&job_id) else {
                        return;
                    };
                    let dropped = job.checkpoints.completed(id, Instant::now(), now_millis());
                    (dropped, job.attempt, Self::clients(&state, &job_id))
                };
                self.note_checkpointed_splits(&manifest);
                tracing::info!(job = %job_id, checkpoint = id, is_final, "checkpoint completed");
                let request = NotifyCheckpointCompleteRequest {
                    job_id: job_id.clone(),
                    attempt,
                    checkpoint_id: id,
                    is_final,
                    trace_parent,
                };
                for (tm, mut client) in clients {
                    if let Err(status) = client
                        .notify_checkpoint_complete(traced_request(request.clone()))
                        .await
                    {
                        tracing::warn!(job = %job_id, taskmanager = %tm, %status, "completion notice failed");
                    }
                }
                if let Some(job) = self.lock().jobs.get_mut(&job_id) {
                    // The checkpoint's trace ends with its completion.
                    job.checkpoint_spans.remove(&id);
                }
                for checkpoint in dropped {
                    delete_checkpoint(&checkpoint.location).await;
                }
                self.start_final_if_due(&job_id).await;
            },
            span,
        ))
    }

    /// Points the metastore at the checkpoint whose manifest was written.
    async fn write_pointer(
        &self,
        manifest: &CheckpointManifest,
        location: &str,
    ) -> Result<(), String> {
        let pointer = CheckpointPointer {
            checkpoint_id: manifest.checkpoint_id,
            location: location.to_string(),
        };
        self.persistence
            .metastore
            .put(
                &format!("checkpoints/{}", manifest.job_id),
                pointer.encode_to_vec(),
            )
            .await
            .map_err(|e| format!("cannot record the checkpoint in the metadata store: {e}"))
    }

    /// Takes the final checkpoint when every input ended and nothing else
    /// is in flight.
    async fn start_final_if_due(self: &Arc<Self>, job_id: &str) {
        let outcome = {
            let mut state = self.lock();
            let Some(job) = state.jobs.get_mut(job_id) else {
                return;
            };
            let all = job.task_keys();
            job.checkpoints.start_final(&all, now_millis())
        };
        if let AckOutcome::Complete(manifest, location) = outcome {
            tokio::spawn(self.clone().complete_checkpoint(manifest, location));
        }
    }

    /// A job's checkpoint history, newest first.
    pub fn checkpoints(&self, job_id: &str) -> Result<Vec<CheckpointInfo>, Status> {
        self.lock()
            .jobs
            .get(job_id)
            .map(|job| job.checkpoints.history())
            .ok_or_else(|| Status::not_found(format!("job {job_id} does not exist")))
    }

    /// A job's retained checkpoints, newest first.
    pub fn retained_checkpoints(&self, job_id: &str) -> Vec<CompletedCheckpoint> {
        self.lock()
            .jobs
            .get(job_id)
            .map(|job| job.checkpoints.retained())
            .unwrap_or_default()
    }
}

/// Writes the manifest into the checkpoint's directory.
async fn write_manifest(manifest: &CheckpointManifest, location: &str) -> Result<(), String> {
    let storage = CheckpointStorage::open(location).map_err(|e| e.to_string())?;
    storage
        .put(MANIFEST, manifest.encode_to_vec().into())
        .await
        .map_err(|e| format!("cannot write the manifest: {e}"))
}

/// Deletes a checkpoint's directory, logging a failure (it only costs space).
pub(crate) async fn delete_checkpoint(location: &str) {
    let result = match CheckpointStorage::open(location) {
        Ok(storage) => storage.delete_all().await,
        Err(e) => Err(e),
    };
    if let Err(error) = result {
        tracing::warn!(%location, %error, "cannot delete checkpoint files");
    }
}
