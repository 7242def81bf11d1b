//! Savepoints: taken on request through the checkpoint path with kind
//! SAVEPOINT into their own directory, optionally stopping the job (its
//! sources end after the barrier, so it drains, commits and finishes);
//! listed, disposed of, and restored from at submission.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rtdw_proto::v1::{
    CheckpointStatus, JobState, SavepointInfo, TaskState, TriggerCheckpointRequest,
};
use rtdw_state::CheckpointStorage;
use tonic::Status;

use crate::coordinator::Coordinator;
use crate::failover::read_manifest;
use rtdw_operators::time::now_millis;

/// How often a savepoint request checks on its checkpoint.
const POLL: Duration = Duration::from_millis(50);

/// A started savepoint's trigger and the task managers to send it to.
type SavepointStart = (
    TriggerCheckpointRequest,
    Vec<(String, crate::coordinator::TaskClient)>,
);

/// What to take when a job is asked to save or stop.
#[derive(Debug, Clone, Default)]
pub struct SavepointRequest {
    /// Target directory; default: the job's `state.savepoints.dir`.
    pub dir: Option<String>,
    /// End the sources after the barrier: the job drains and finishes.
    pub stop: bool,
    /// With `stop`: a plain checkpoint instead of a savepoint.
    pub without_savepoint: bool,
}

impl Coordinator {
    /// Takes a savepoint (or, to stop without one, a checkpoint) and waits
    /// until it completed; returns its id and directory.
    pub async fn savepoint(
        self: &Arc<Self>,
        job_id: &str,
        request: SavepointRequest,
    ) -> Result<(u64, String), Status> {
        let timeout = self.savepoint_timeout(job_id)?;
        let started = Instant::now();
        let (trigger, clients) = loop {
            if let Some(ready) = self.try_start_savepoint(job_id, &request)? {
                break ready;
            }
            if started.elapsed() > timeout {
                return Err(Status::deadline_exceeded(format!(
                    "job {job_id} did not get ready for a savepoint within {} ms",
                    timeout.as_millis()
                )));
            }
            tokio::time::sleep(POLL).await;
        };
        let id = trigger.checkpoint_id;
        tracing::info!(job = %job_id, checkpoint = id, stop = request.stop, location = %trigger.location, "savepoint triggered");
        for (tm, mut client) in clients {
            if let Err(status) = client.trigger_checkpoint(trigger.clone()).await {
                tracing::warn!(job = %job_id, taskmanager = %tm, %status, "savepoint trigger failed");
            }
        }
        loop {
            let status = self
                .lock()
                .jobs
                .get(job_id)
                .and_then(|job| job.checkpoints.status(id));
            match status {
                Some((CheckpointStatus::Completed, _)) => return Ok((id, trigger.location)),
                Some((CheckpointStatus::Failed, failure)) => {
                    return Err(Status::aborted(format!("savepoint {id} failed: {failure}")));
                }
                _ if started.elapsed() > timeout + timeout => {
                    return Err(Status::deadline_exceeded(format!(
                        "savepoint {id} did not complete"
                    )));
                }
                _ => tokio::time::sleep(POLL).await,
            }
        }
    }

    fn savepoint_timeout(&self, job_id: &str) -> Result<Duration, Status> {
        let state = self.lock();
        let job = state
            .jobs
            .get(job_id)
            .ok_or_else(|| Status::not_found(format!("job {job_id} does not exist")))?;
        if !job.checkpoints.enabled() {
            return Err(Status::failed_precondition(
                "savepoints and stop need checkpoints: set 'execution.checkpointing.interval'",
            ));
        }
        Ok(job.checkpoints.settings.timeout)
    }

    /// Starts the savepoint when the job can take it now (running, nothing
    /// in flight); `None` to try again shortly.
    fn try_start_savepoint(
        &self,
        job_id: &str,
        request: &SavepointRequest,
    ) -> Result<Option<SavepointStart>, Status> {
        let mut state = self.lock();
        let job = state
            .jobs
            .get_mut(job_id)
            .ok_or_else(|| Status::not_found(format!("job {job_id} does not exist")))?;
        if !matches!(
            job.state,
            JobState::Running | JobState::Restarting | JobState::Created
        ) {
            return Err(Status::failed_precondition(format!(
                "job {job_id} is {}, not RUNNING",
                rtdw_proto::job_state_name(job.state as i32)
            )));
        }
        let all_running = job.tasks.values().all(|t| t.state == TaskState::Running);
        if job.state != JobState::Running
            || !all_running
            || !job.checkpoints.may_trigger_savepoint()
        {
            return Ok(None);
        }
        let expected = job.task_keys();
        let (checkpoint_id, location, savepoint) = if request.stop && request.without_savepoint {
            let (id, location) = job.checkpoints.trigger(expected, now_millis());
            (id, location, false)
        } else {
            let dir = request
                .dir
                .clone()
                .or_else(|| job.checkpoints.settings.savepoints_dir.clone())
                .ok_or_else(|| {
                    Status::failed_precondition(
                        "no savepoint directory: pass --dir or set 'state.savepoints.dir'",
                    )
                })?;
            CheckpointStorage::open(&dir).map_err(|e| Status::invalid_argument(e.to_string()))?;
            let (id, location) = job
                .checkpoints
                .trigger_savepoint(&dir, expected, now_millis());
            (id, location, true)
        };
        let trigger = TriggerCheckpointRequest {
            job_id: job_id.to_string(),
            attempt: job.attempt,
            checkpoint_id,
            savepoint,
            location,
            stop: request.stop,
            trace_parent: job.open_checkpoint_trace(
                checkpoint_id,
                if savepoint { "SAVEPOINT" } else { "CHECKPOINT" },
            ),
        };
        Ok(Some((trigger, Self::clients(&state, job_id))))
    }

    /// A job's retained savepoints, newest first.
    pub fn savepoints(&self, job_id: &str) -> Result<Vec<SavepointInfo>, Status> {
        let state = self.lock();
        let job = state
            .jobs
            .get(job_id)
            .ok_or_else(|| Status::not_found(format!("job {job_id} does not exist")))?;
        let history = job.checkpoints.history();
        Ok(job
            .checkpoints
            .savepoints()
            .into_iter()
            .map(|s| SavepointInfo {
                complete_time_ms: history
                    .iter()
                    .find(|c| c.id == s.id)
                    .map(|c| c.trigger_time_ms + c.duration_ms)
                    .unwrap_or(0),
                checkpoint_id: s.id,
                location: s.location,
            })
            .collect())
    }

    /// Deletes the savepoint at `location`.
    pub async fn dispose_savepoint(&self, location: &str) -> Result<(), Status> {
        read_manifest(location)
            .await
            .map_err(|reason| Status::not_found(format!("no savepoint at {location}: {reason}")))?;
        let storage = CheckpointStorage::open(location)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        storage
            .delete_all()
            .await
            .map_err(|e| Status::internal(format!("cannot delete {location}: {e}")))?;
        for job in self.lock().jobs.values_mut() {
            job.checkpoints.discard(location);
        }
        tracing::info!(%location, "savepoint disposed");
        Ok(())
    }
}
