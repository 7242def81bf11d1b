//! Coordinator restart: the jobs that were running, read back from the
//! metadata store, resume from their newest completed checkpoint as soon as
//! enough task managers have registered again.

use std::sync::Arc;

use prost::Message;
use rtdw_plan::codec;
use rtdw_proto::v1::{CancelJobTasksRequest, CheckpointPointer, JobRecord, JobState};

use crate::checkpoints::CompletedCheckpoint;
use crate::coordinator::Coordinator;
use crate::job::{JobEntry, is_terminal};

impl Coordinator {
    /// Resumes every job the metadata store lists as not ended. A job that
    /// cannot be planned again is kept as FAILED with the reason.
    pub async fn resume_jobs(self: &Arc<Self>) -> Result<usize, rtdw_state::StateError> {
        let records = self.persistence.metastore.list("jobs/").await?;
        let mut resumed = 0;
        for (key, bytes) in records {
            let record = match JobRecord::decode(bytes.as_slice()) {
                Ok(record) => record,
                Err(error) => {
                    tracing::error!(%key, %error, "unreadable job record skipped");
                    continue;
                }
            };
            let state = JobState::try_from(record.state).unwrap_or(JobState::Unspecified);
            if is_terminal(state) {
                continue;
            }
            let pointer = self
                .persistence
                .metastore
                .get(&format!("checkpoints/{}", record.job_id))
                .await?
                .and_then(|bytes| CheckpointPointer::decode(bytes.as_slice()).ok());
            match self.adopt(&record, pointer).await {
                Ok(checkpointing) => {
                    resumed += 1;
                    let job_id = record.job_id.clone();
                    tokio::spawn(self.clone().redeploy(job_id.clone()));
                    tokio::spawn(self.clone().run_split_discovery(job_id.clone()));
                    if checkpointing {
                        tokio::spawn(self.clone().run_checkpoints(job_id));
                    }
                }
                Err(reason) => {
                    tracing::error!(job = %record.job_id, %reason, "job cannot be resumed");
                    self.persist_failed(record, reason).await;
                }
            }
        }
        Ok(resumed)
    }

    /// Rebuilds a job from its record as RESTARTING; returns whether it
    /// takes checkpoints.
    async fn adopt(
        &self,
        record: &JobRecord,
        pointer: Option<CheckpointPointer>,
    ) -> Result<bool, String> {
        let plan = record.plan.clone().ok_or("the record holds no plan")?;
        let physical = plan
            .physical
            .as_ref()
            .ok_or("the record holds no physical plan")?;
        let graph = codec::decode(physical).map_err(|e| e.to_string())?;
        let settings = self
            .job_settings(&graph.options)
            .map_err(|status| status.message().to_string())?;
        let checkpointing = settings.checkpoints.enabled();
        let mut job = JobEntry::new(
            record.job_id.clone(),
            &graph,
            plan,
            settings,
            Vec::new(),
            record.submit_time_ms,
        );
        job.state = JobState::Restarting;
        job.attempt = record.attempt + 1;
        job.restarts = record.restarts;
        job.failure = record.failure.clone();
        job.failure_class = record.failure_class();
        if let Some(pointer) = pointer {
            job.checkpoints.adopt(CompletedCheckpoint {
                id: pointer.checkpoint_id,
                location: pointer.location,
            });
        }
        tracing::info!(job = %record.job_id, checkpoint = job.checkpoints.latest().map(|c| c.id), "resuming job");
        self.lock().jobs.insert(record.job_id.clone(), job);
        Ok(checkpointing)
    }

    async fn persist_failed(&self, mut record: JobRecord, reason: String) {
        record.state = JobState::Failed as i32;
        record.failure = format!("cannot resume after a coordinator restart: {reason}");
        let key = format!("jobs/{}", record.job_id);
        if let Err(error) = self
            .persistence
            .metastore
            .put(&key, record.encode_to_vec())
            .await
        {
            tracing::error!(%key, %error, "cannot save the job in the metadata store");
        }
    }

    /// Tells a (re-)registered task manager to stop every job it does not
    /// run for this coordinator: leftovers of a run before a coordinator
    /// restart or before it was declared lost.
    pub(crate) async fn cancel_strays(&self, taskmanager_id: &str) {
        let (client, jobs) = {
            let state = self.lock();
            let Some(client) = state
                .cluster
                .get(taskmanager_id)
                .map(|tm| tm.client.clone())
            else {
                return;
            };
            // Attempts up to the current one: a later deployment here is ours.
            let jobs: Vec<(String, u32)> = state
                .jobs
                .values()
                .filter(|job| {
                    !job.tasks
                        .values()
                        .any(|t| t.taskmanager_id == taskmanager_id)
                })
                .map(|job| (job.id.clone(), job.attempt + 1))
                .collect();
            (client, jobs)
        };
        for (job_id, attempts_below) in jobs {
            let mut client = client.clone();
            let request = CancelJobTasksRequest {
                job_id: job_id.clone(),
                attempts_below,
            };
            if let Err(status) = client.cancel_job_tasks(request).await {
                tracing::debug!(job = %job_id, taskmanager = %taskmanager_id, %status, "stray cancel failed");
            }
        }
    }
}
