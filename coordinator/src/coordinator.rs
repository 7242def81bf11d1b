//! The coordinator's core: submissions, scheduling, deployment, task status,
//! cancellation and task-manager loss.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use prost::Message;
use rtdw_state::{CheckpointStorage, Metastore};

use rtdw_connector_core::ConnectorRegistry;
use rtdw_observability::traces::traced_request;
use rtdw_plan::codec;
use rtdw_proto::v1::task_service_client::TaskServiceClient;
use rtdw_proto::v1::{
    CancelJobTasksRequest, DeployTasksRequest, JobDetails, JobPlan, JobState, JobSummary,
    RestoreState, SubtaskLocation, TaskManagerDetails, TaskState, TaskStatusReport, TaskToDeploy,
};
use rtdw_proto::v1::{FailureClass, RegisterTaskManagerRequest, TaskManagerState};
use rtdw_sql::{JobConfig, plan_job};
use tonic::Status;
use tonic::transport::Channel;
use tracing::Instrument;

use crate::checkpoints::CompletedCheckpoint;
use crate::cluster::Cluster;
use crate::job::{Failure, JobEntry, is_terminal};
use crate::scheduler::assign_slots;
use crate::settings::JobSettings;
use crate::splits::from_proto;
use rtdw_operators::time::now_millis;

/// A client of one task manager's TaskService.
pub(crate) type TaskClient = TaskServiceClient<Channel>;

/// How long a cancelled job waits for its subtasks to confirm before it is
/// declared CANCELED anyway (their task manager may be gone).
const CANCEL_CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// Liveness settings.
#[derive(Debug, Clone, Copy)]
pub struct HeartbeatSettings {
    /// How often task managers heartbeat.
    pub interval: Duration,
    /// Silence after which a task manager is lost.
    pub timeout: Duration,
}

/// A job submission.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    /// The SQL script.
    pub sql: String,
    /// Job name override.
    pub name: Option<String>,
    /// Default parallelism override.
    pub parallelism: Option<u32>,
    /// Configuration overrides.
    pub config: BTreeMap<String, String>,
    /// A savepoint or retained checkpoint directory to start from.
    pub from_savepoint: Option<String>,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) cluster: Cluster,
    pub(crate) jobs: BTreeMap<String, JobEntry>,
}

/// Where the coordinator keeps what outlives it.
#[derive(Clone)]
pub struct Persistence {
    /// Local data directory (absolute); default checkpoints live in its
    /// `checkpoints` folder.
    pub data_dir: PathBuf,
    /// Jobs and checkpoint pointers.
    pub metastore: Arc<dyn Metastore>,
    /// Cluster-wide defaults of job options (checkpointing, restart
    /// strategy), below the script's `SET` statements.
    pub job_defaults: BTreeMap<String, String>,
}

/// The coordinator.
pub struct Coordinator {
    state: Mutex<State>,
    /// Liveness settings handed to task managers.
    pub heartbeat: HeartbeatSettings,
    pub(crate) persistence: Persistence,
    /// The connectors jobs are planned against.
    pub(crate) connectors: ConnectorRegistry,
}

/// What a job submitted from the savepoint at `location` restores.
async fn savepoint_restore(location: &str, max_parallelism: u32) -> Result<RestoreState, Status> {
    let location = location.trim_end_matches('/');
    let manifest = crate::failover::read_manifest(location)
        .await
        .map_err(|reason| {
            Status::invalid_argument(format!("cannot restore from {location}: {reason}"))
        })?;
    if manifest.max_parallelism != max_parallelism {
        return Err(Status::invalid_argument(format!(
            "cannot restore from {location}: it holds {} key groups, the job {max_parallelism} (pipeline.max-parallelism must stay the same)",
            manifest.max_parallelism
        )));
    }
    Ok(RestoreState {
        checkpoint_id: manifest.checkpoint_id,
        location: location.to_string(),
        subtasks: manifest.subtasks,
    })
}

/// One running job's checkpoint and restart figures, for metrics.
#[derive(Debug, Clone)]
pub struct JobCheckpointStats {
    /// The job.
    pub job_id: String,
    /// Its checkpoint interval, when it takes checkpoints.
    pub interval: Option<Duration>,
    /// Its checkpoint counts and newest completion.
    pub totals: crate::checkpoints::CheckpointTotals,
    /// Its restarts.
    pub restarts: u32,
}

/// Job counts by state, task managers and slots, for metrics.
#[derive(Debug, Clone, Default)]
pub struct ClusterStats {
    /// Jobs by state name.
    pub jobs_by_state: BTreeMap<String, usize>,
    /// Live task managers.
    pub taskmanagers: usize,
    /// Slots of live task managers.
    pub slots_total: u64,
    /// Free slots of live task managers.
    pub slots_free: u64,
}

impl Coordinator {
    /// A coordinator with no task managers and no jobs.
    pub fn new(
        heartbeat: HeartbeatSettings,
        persistence: Persistence,
        connectors: ConnectorRegistry,
    ) -> Arc<Self> {
        Arc::new(Coordinator {
            state: Mutex::new(State::default()),
            heartbeat,
            persistence,
            connectors,
        })
    }

    /// Where checkpoints go when a job does not say.
    fn default_checkpoint_dir(&self) -> String {
        format!(
            "file://{}",
            self.persistence.data_dir.join("checkpoints").display()
        )
    }

    /// A job's settings from its options over the cluster's defaults.
    pub(crate) fn job_settings(
        &self,
        options: &BTreeMap<String, String>,
    ) -> Result<JobSettings, Status> {
        let mut merged = self.persistence.job_defaults.clone();
        merged.extend(options.clone());
        let settings = JobSettings::from_options(&merged, &self.default_checkpoint_dir())
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        if settings.checkpoints.enabled() {
            CheckpointStorage::open(&settings.checkpoints.dir).map_err(|e| {
                Status::invalid_argument(format!("option 'state.checkpoints.dir': {e}"))
            })?;
        }
        Ok(settings)
    }

    /// Saves the job's record in the metadata store.
    pub(crate) async fn persist(&self, job_id: &str) {
        let Some(record) = self.lock().jobs.get(job_id).map(JobEntry::record) else {
            return;
        };
        if let Err(error) = self
            .persistence
            .metastore
            .put(&format!("jobs/{job_id}"), record.encode_to_vec())
            .await
        {
            tracing::error!(job = %job_id, %error, "cannot save the job in the metadata store");
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a task manager.
    pub fn register_taskmanager(
        self: &Arc<Self>,
        request: &RegisterTaskManagerRequest,
    ) -> Result<(), Status> {
        if request.taskmanager_id.is_empty() || request.slots == 0 {
            return Err(Status::invalid_argument(
                "a task manager needs an id and at least one slot",
            ));
        }
        let generation = self
            .lock()
            .cluster
            .register(request)
            .map_err(Status::invalid_argument)?;
        if let Some(client) = self
            .lock()
            .cluster
            .get(&request.taskmanager_id)
            .map(|tm| tm.client.clone())
        {
            tokio::spawn(self.clone().watch_taskmanager(
                request.taskmanager_id.clone(),
                generation,
                client,
            ));
        }
        let this = self.clone();
        let id = request.taskmanager_id.clone();
        tokio::spawn(async move { this.cancel_strays(&id).await });
        tracing::info!(
            taskmanager = %request.taskmanager_id,
            data_addr = %request.data_addr,
            http_addr = %request.http_addr,
            slots = request.slots,
            "task manager registered"
        );
        Ok(())
    }

    /// Records a heartbeat; false tells the task manager to register again.
    pub fn heartbeat(&self, id: &str) -> bool {
        self.lock().cluster.heartbeat(id)
    }

    /// Every task manager.
    pub fn taskmanagers(&self) -> Vec<TaskManagerDetails> {
        self.lock().cluster.details()
    }

    /// Every job's summary.
    pub fn jobs(&self) -> Vec<JobSummary> {
        self.lock().jobs.values().map(JobEntry::summary).collect()
    }

    /// One job's details.
    pub fn job(&self, id: &str) -> Result<JobDetails, Status> {
        let state = self.lock();
        state
            .jobs
            .get(id)
            .map(|job| job.details(&state.cluster))
            .ok_or_else(|| Status::not_found(format!("job {id} does not exist")))
    }

    /// Checkpoint and restart figures of the jobs not ended.
    pub fn checkpoint_stats(&self) -> Vec<JobCheckpointStats> {
        self.lock()
            .jobs
            .values()
            .filter(|job| !is_terminal(job.state))
            .map(|job| JobCheckpointStats {
                job_id: job.id.clone(),
                interval: job.checkpoints.settings.interval,
                totals: job.checkpoints.totals(),
                restarts: job.restarts,
            })
            .collect()
    }

    /// Counts for the metrics endpoint.
    pub fn stats(&self) -> ClusterStats {
        let state = self.lock();
        let mut stats = ClusterStats::default();
        for job in state.jobs.values() {
            *stats
                .jobs_by_state
                .entry(rtdw_proto::job_state_name(job.state as i32).to_string())
                .or_default() += 1;
        }
        stats.taskmanagers = state.cluster.alive_count();
        stats.slots_free = state
            .cluster
            .offers()
            .iter()
            .map(|o| u64::from(o.free))
            .sum();
        stats.slots_total = state.cluster.alive_slots();
        stats
    }

    /// Plans, schedules and deploys a job; returns its id. A job whose
    /// deployment fails is kept, FAILED, with the reason.
    pub async fn submit(self: &Arc<Self>, submission: Submission) -> Result<String, Status> {
        let config = JobConfig {
            parallelism: submission.parallelism,
            name: submission.name.clone(),
            options: submission.config.clone(),
        };
        let graph = plan_job(&submission.sql, &config, &self.connectors)
            .instrument(tracing::info_span!("plan"))
            .await
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let physical =
            codec::encode(&graph).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let settings = self.job_settings(&graph.options)?;
        let checkpointing = settings.checkpoints.enabled();
        let restore = match &submission.from_savepoint {
            Some(location) => Some(savepoint_restore(location, graph.max_parallelism).await?),
            None => None,
        };
        let id = uuid::Uuid::new_v4().simple().to_string();
        let plan = JobPlan {
            sql: submission.sql,
            config: submission.config.into_iter().collect(),
            default_parallelism: submission.parallelism.unwrap_or(0),
            physical: Some(physical),
        };
        {
            let _schedule = tracing::info_span!("schedule", job = %id).entered();
            let mut state = self.lock();
            let slots = assign_slots(graph.required_slots(), &state.cluster.offers())
                .map_err(|e| Status::resource_exhausted(e.to_string()))?;
            for tm in &slots {
                state.cluster.adjust_used(tm, 1);
            }
            let mut job = JobEntry::new(id.clone(), &graph, plan, settings, slots, now_millis());
            if let Some(restore) = restore {
                job.checkpoints.restore_from(CompletedCheckpoint {
                    id: restore.checkpoint_id,
                    location: restore.location.clone(),
                });
                job.restore = Some(restore);
            }
            state.jobs.insert(id.clone(), job);
        }
        tracing::info!(job = %id, name = %graph.name, vertices = graph.vertices.len(), checkpointing, "job submitted");
        self.persist(&id).await;
        self.deploy(&id)
            .instrument(tracing::info_span!("deploy", job = %id))
            .await;
        if checkpointing {
            tokio::spawn(self.clone().run_checkpoints(id.clone()));
        }
        tokio::spawn(self.clone().run_split_discovery(id.clone()));
        Ok(id)
    }

    /// Sends every task manager its subtasks of the job, split-based
    /// sources with their splits.
    pub(crate) async fn deploy(self: &Arc<Self>, job_id: &str) {
        let mut splits = match self.assign_splits(job_id).await {
            Ok(splits) => splits,
            Err(failure) => {
                let attempt = self.lock().jobs.get(job_id).map(|j| j.attempt).unwrap_or(0);
                self.deployment_failed(job_id, attempt, failure).await;
                return;
            }
        };
        let requests = {
            let mut state = self.lock();
            let State { cluster, jobs } = &mut *state;
            let Some(job) = jobs.get_mut(job_id) else {
                return;
            };
            let mut locations = Vec::new();
            let mut by_tm: HashMap<String, Vec<TaskToDeploy>> = HashMap::new();
            for (&(vertex_id, subtask), task) in &mut job.tasks {
                task.state = TaskState::Deploying;
                let data_addr = cluster
                    .get(&task.taskmanager_id)
                    .map(|tm| tm.data_addr.clone())
                    .unwrap_or_default();
                locations.push(SubtaskLocation {
                    vertex_id,
                    subtask,
                    taskmanager_id: task.taskmanager_id.clone(),
                    data_addr,
                });
                let assigned = splits
                    .by_subtask
                    .remove(&(vertex_id, subtask))
                    .unwrap_or_default();
                task.splits = assigned.iter().map(from_proto).collect();
                by_tm
                    .entry(task.taskmanager_id.clone())
                    .or_default()
                    .push(TaskToDeploy {
                        vertex_id,
                        subtask,
                        split_based: splits.vertices.contains(&vertex_id),
                        splits: assigned,
                    });
            }
            by_tm
                .into_iter()
                .filter_map(|(tm, tasks)| {
                    let client = cluster.get(&tm)?.client.clone();
                    let request = DeployTasksRequest {
                        job_id: job.id.clone(),
                        job_name: job.name.clone(),
                        plan: job.plan.physical.clone(),
                        tasks,
                        locations: locations.clone(),
                        attempt: job.attempt,
                        restore: job.restore.clone(),
                        checkpointing: job.checkpoints.enabled(),
                    };
                    Some((tm, client, request))
                })
                .collect::<Vec<_>>()
        };
        let attempt = self.lock().jobs.get(job_id).map(|j| j.attempt).unwrap_or(0);
        let calls = requests.into_iter().map(|(tm, mut client, request)| {
            let span = tracing::info_span!("deploy_tasks", taskmanager = %tm);
            async move {
                client
                    .deploy_tasks(traced_request(request))
                    .await
                    .map_err(|status| {
                        let reason = format!(
                            "deployment on task manager {tm} failed: {}",
                            status.message()
                        );
                        // Task managers answer a user error (a bad option, an
                        // unreadable path) as an invalid argument.
                        match status.code() {
                            tonic::Code::InvalidArgument => Failure::user(reason),
                            _ => Failure::transient(reason),
                        }
                    })
            }
            .instrument(span)
        });
        let results = futures::future::join_all(calls).await;
        if let Some(Err(reason)) = results.into_iter().find(Result::is_err) {
            self.deployment_failed(job_id, attempt, reason).await;
            return;
        }
        let mut state = self.lock();
        if let Some(job) = state.jobs.get_mut(job_id)
            && job.attempt == attempt
            && matches!(job.state, JobState::Created | JobState::Restarting)
        {
            job.state = JobState::Running;
            tracing::info!(job = %job_id, attempt, "job running");
        }
    }

    /// Applies a task state report.
    pub async fn report_task_status(self: &Arc<Self>, report: TaskStatusReport) {
        let task_state = TaskState::try_from(report.state).unwrap_or(TaskState::Unspecified);
        let failure = {
            let mut state = self.lock();
            let Some(job) = state.jobs.get_mut(&report.job_id) else {
                return;
            };
            if report.attempt != job.attempt {
                return;
            }
            let Some(task) = job.tasks.get_mut(&(report.vertex_id, report.subtask)) else {
                return;
            };
            if task.taskmanager_id != report.taskmanager_id {
                return;
            }
            task.state = task_state;
            task.failure = report.failure.clone();
            match task_state {
                TaskState::Failed => {
                    let vertex = job.vertices.iter().find(|v| v.id == report.vertex_id);
                    Some(format!(
                        "{} ({}/{}) on task manager {} failed: {}",
                        vertex.map(|v| v.name.as_str()).unwrap_or("?"),
                        report.subtask + 1,
                        vertex.map(|v| v.parallelism).unwrap_or(0),
                        report.taskmanager_id,
                        report.failure
                    ))
                }
                _ => {
                    let finished = job.tasks.values().all(|t| t.state == TaskState::Finished);
                    if finished && matches!(job.state, JobState::Running | JobState::Created) {
                        Self::end(&mut state, &report.job_id, JobState::Finished);
                    } else if job.state == JobState::Cancelling && job.all_tasks_ended() {
                        Self::end(&mut state, &report.job_id, JobState::Canceled);
                    }
                    None
                }
            }
        };
        if let Some(reason) = failure {
            let class = match FailureClass::try_from(report.failure_class) {
                Ok(FailureClass::User) => FailureClass::User,
                _ => FailureClass::Transient,
            };
            let failure = Failure {
                reason,
                caused_by_peer: report.caused_by_peer,
                class,
            };
            self.job_failed(&report.job_id, report.attempt, failure)
                .await;
        } else {
            self.persist_if_ended(&report.job_id).await;
        }
    }

    /// Saves the job's record when it reached a terminal state.
    async fn persist_if_ended(&self, job_id: &str) {
        let ended = self
            .lock()
            .jobs
            .get(job_id)
            .is_some_and(|j| is_terminal(j.state));
        if ended {
            self.persist(job_id).await;
        }
    }

    /// Moves a job to a terminal state and frees its slots.
    pub(crate) fn end(state: &mut State, job_id: &str, final_state: JobState) {
        let State { cluster, jobs } = state;
        let Some(job) = jobs.get_mut(job_id) else {
            return;
        };
        if is_terminal(job.state) {
            return;
        }
        job.state = final_state;
        job.end_time_ms = now_millis();
        for tm in &job.slots {
            cluster.adjust_used(tm, -1);
        }
        tracing::info!(job = %job_id, state = final_state.as_str_name(), failure = %job.failure, "job ended");
    }

    /// Fails a job: cancels its subtasks everywhere, then FAILED. A failure
    /// caused by a peer stopping gives way to a root cause reported later.
    pub async fn fail_job(self: &Arc<Self>, job_id: &str, failure: Failure) {
        let clients = {
            let mut state = self.lock();
            let Some(job) = state.jobs.get_mut(job_id) else {
                return;
            };
            if !job.record_failure(failure) {
                return;
            }
            tracing::warn!(job = %job_id, reason = %job.failure, "job failing");
            Self::clients(&state, job_id)
        };
        Self::cancel_on(job_id, clients).await;
        Self::end(&mut self.lock(), job_id, JobState::Failed);
        self.persist(job_id).await;
    }

    pub(crate) fn clients(state: &State, job_id: &str) -> Vec<(String, TaskClient)> {
        let Some(job) = state.jobs.get(job_id) else {
            return Vec::new();
        };
        job.taskmanagers()
            .into_iter()
            .filter_map(|tm| {
                let entry = state.cluster.get(&tm)?;
                (entry.state == TaskManagerState::Alive).then(|| (tm, entry.client.clone()))
            })
            .collect()
    }

    pub(crate) async fn cancel_on(job_id: &str, clients: Vec<(String, TaskClient)>) {
        let calls = clients.into_iter().map(|(tm, mut client)| async move {
            let request = CancelJobTasksRequest {
                job_id: job_id.to_string(),
                attempts_below: 0,
            };
            if let Err(status) = client.cancel_job_tasks(traced_request(request)).await {
                tracing::warn!(job = %job_id, taskmanager = %tm, %status, "cancel request failed");
            }
        });
        futures::future::join_all(calls).await;
    }

    /// Cancels a job and returns the state it is in afterwards.
    pub async fn cancel(self: &Arc<Self>, job_id: &str) -> Result<JobState, Status> {
        let clients = {
            let mut state = self.lock();
            let job = state
                .jobs
                .get_mut(job_id)
                .ok_or_else(|| Status::not_found(format!("job {job_id} does not exist")))?;
            if is_terminal(job.state) || job.state == JobState::Cancelling {
                return Ok(job.state);
            }
            job.state = JobState::Cancelling;
            if job.all_tasks_ended() {
                // Restarting between attempts: nothing runs.
                Self::end(&mut state, job_id, JobState::Canceled);
            }
            Self::clients(&state, job_id)
        };
        tracing::info!(job = %job_id, "cancelling");
        Self::cancel_on(job_id, clients).await;
        let this = self.clone();
        let id = job_id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(CANCEL_CONFIRM_TIMEOUT).await;
            Self::end(&mut this.lock(), &id, JobState::Canceled);
            this.persist(&id).await;
        });
        let state = self.lock();
        Ok(state
            .jobs
            .get(job_id)
            .map(|j| j.state)
            .unwrap_or(JobState::Cancelling))
    }

    /// Declares silent task managers lost and fails the jobs that ran on them.
    pub async fn check_heartbeats(self: &Arc<Self>) {
        let lost = self.lock().cluster.expire(self.heartbeat.timeout);
        for tm in lost {
            tracing::warn!(taskmanager = %tm, timeout_ms = self.heartbeat.timeout.as_millis() as u64, "task manager lost");
            let reason = format!(
                "task manager {tm} was lost (no heartbeat for {} ms)",
                self.heartbeat.timeout.as_millis()
            );
            self.fail_jobs_on(&tm, &reason).await;
        }
    }

    /// Fails (over) every running job with a subtask on task manager `tm`.
    pub(crate) async fn fail_jobs_on(self: &Arc<Self>, tm: &str, reason: &str) {
        let affected: Vec<(String, u32)> = self
            .lock()
            .jobs
            .values()
            .filter(|job| {
                !is_terminal(job.state) && job.tasks.values().any(|t| t.taskmanager_id == tm)
            })
            .map(|job| (job.id.clone(), job.attempt))
            .collect();
        for (job, attempt) in affected {
            self.job_failed(&job, attempt, Failure::transient(reason))
                .await;
        }
    }

    /// Holds a stream open to a task manager; when it breaks (the process
    /// died, its host went away) the task manager is lost at once.
    async fn watch_taskmanager(
        self: Arc<Self>,
        id: String,
        generation: u64,
        mut client: TaskClient,
    ) {
        let mut stream = loop {
            match client.watch(rtdw_proto::v1::WatchRequest {}).await {
                Ok(response) => break response.into_inner(),
                Err(status) => {
                    tracing::debug!(taskmanager = %id, %status, "watch not established yet");
                    tokio::time::sleep(self.heartbeat.interval).await;
                    let current = self.lock().cluster.get(&id).map(|tm| tm.generation);
                    if current != Some(generation) {
                        return;
                    }
                }
            }
        };
        while let Ok(Some(_)) = stream.message().await {}
        if self.lock().cluster.mark_lost(&id, generation) {
            tracing::warn!(taskmanager = %id, "task manager disconnected");
            let reason = format!(
                "task manager {id} disconnected (its process ended or its host is unreachable)"
            );
            self.fail_jobs_on(&id, &reason).await;
        }
    }

    /// Runs [`Coordinator::check_heartbeats`] every heartbeat interval.
    pub async fn monitor_heartbeats(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.heartbeat.interval).await;
            self.check_heartbeats().await;
        }
    }
}
