//! Supervision: one job actor per job on a task manager, supervising one
//! actor per subtask. A subtask's error or panic becomes a supervision event
//! that the job actor reports to the coordinator.
//!
//! Data never passes through actor mailboxes: a subtask actor runs its loop
//! in a task of its own over bounded channels; mailboxes carry only the
//! loop's outcome and cancellation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use rtdw_proto::v1::TaskState;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use rtdw_operators::{ErrorClass, StreamError};

use crate::metrics::{RETENTION_AFTER_END, SubtaskLabels, TaskMetrics};
use crate::status::{StatusReporter, SubtaskId};
use crate::subtask::{Control, Outcome, SubtaskRuntime, run};

/// Stop reason of a subtask actor whose input ended.
const FINISHED: &str = "FINISHED";
/// Stop reason of a cancelled subtask actor.
const CANCELED: &str = "CANCELED";

/// Messages to a subtask actor.
pub enum SubtaskMsg {
    /// The run loop ended.
    Completed(Result<Outcome, TaskFailure>),
}

/// Why a subtask's run loop failed; the error its actor fails with.
#[derive(Debug, Clone)]
pub struct TaskFailure {
    /// What the user reads.
    pub message: String,
    /// The failure follows from a peer subtask stopping (not a root cause).
    pub caused_by_peer: bool,
    /// The user's to fix, or transient.
    pub class: ErrorClass,
}

impl std::fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TaskFailure {}

impl From<StreamError> for TaskFailure {
    fn from(error: StreamError) -> Self {
        TaskFailure {
            caused_by_peer: matches!(error, StreamError::PeerGone(_)),
            class: error.class(),
            message: error.to_string(),
        }
    }
}

/// The actor of one subtask.
pub struct SubtaskActor;

/// A subtask actor's state: the token that stops its run loop.
pub struct SubtaskState {
    cancel: CancellationToken,
}

impl Actor for SubtaskActor {
    type Msg = SubtaskMsg;
    type State = SubtaskState;
    type Arguments = SubtaskRuntime;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        runtime: SubtaskRuntime,
    ) -> Result<Self::State, ActorProcessingErr> {
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(runtime, cancel.clone()));
        tokio::spawn(async move {
            let outcome = match task.await {
                Ok(result) => result.map_err(TaskFailure::from),
                Err(join) => Err(TaskFailure {
                    message: panic_message(join),
                    caused_by_peer: false,
                    class: ErrorClass::Transient,
                }),
            };
            // The actor may already be stopped (cancelled); then nobody listens.
            let _ = myself.cast(SubtaskMsg::Completed(outcome));
        });
        Ok(SubtaskState { cancel })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        _state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SubtaskMsg::Completed(Ok(Outcome::Finished)) => myself.stop(Some(FINISHED.into())),
            SubtaskMsg::Completed(Ok(Outcome::Canceled)) => myself.stop(Some(CANCELED.into())),
            SubtaskMsg::Completed(Err(failure)) => return Err(Box::new(failure)),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.cancel.cancel();
        Ok(())
    }
}

fn panic_message(join: tokio::task::JoinError) -> String {
    if join.is_cancelled() {
        return "subtask task was cancelled".into();
    }
    let payload = join.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("subtask panicked: {text}")
}

/// Messages to a job actor.
pub enum JobMsg {
    /// Stop every subtask of the job.
    Cancel,
}

/// A job deployed on this task manager.
#[derive(Clone)]
pub struct JobHandle {
    /// The deployment attempt running.
    pub attempt: u32,
    /// Its supervising actor.
    pub actor: ActorRef<JobMsg>,
    /// Control channels of its subtasks, by (vertex, subtask).
    pub controls: HashMap<(u32, u32), mpsc::UnboundedSender<Control>>,
    /// Its source subtasks here.
    pub sources: Vec<(u32, u32)>,
}

impl JobHandle {
    /// Sends `control` to the listed subtasks (that are still running).
    pub fn send(&self, subtasks: &[(u32, u32)], control: &Control) {
        for key in subtasks {
            if let Some(sender) = self.controls.get(key) {
                let _ = sender.send(control.clone());
            }
        }
    }

    /// Every subtask of the job here.
    pub fn subtasks(&self) -> Vec<(u32, u32)> {
        self.controls.keys().copied().collect()
    }
}

/// The jobs running on a task manager, by id.
pub type JobTable = Arc<Mutex<HashMap<String, JobHandle>>>;

/// What a job actor starts with.
pub struct JobArgs {
    /// The job.
    pub job_id: String,
    /// The deployment attempt.
    pub attempt: u32,
    /// Its subtasks on this task manager.
    pub subtasks: Vec<SubtaskRuntime>,
    /// Where to report.
    pub reporter: StatusReporter,
    /// The task manager's job table, from which the actor removes itself.
    pub jobs: JobTable,
    /// The task manager's metrics, from which the job's are removed some
    /// time after it ends here.
    pub metrics: Arc<TaskMetrics>,
}

/// The supervisor of a job's subtasks on one task manager.
pub struct JobActor;

/// A job actor's state.
pub struct JobState {
    job_id: String,
    attempt: u32,
    reporter: StatusReporter,
    jobs: JobTable,
    metrics: Arc<TaskMetrics>,
    labels: Vec<SubtaskLabels>,
    subtasks: HashMap<ActorId, (u32, u32)>,
}

impl Actor for JobActor {
    type Msg = JobMsg;
    type State = JobState;
    type Arguments = JobArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: JobArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut subtasks = HashMap::new();
        let mut labels = Vec::new();
        for runtime in args.subtasks {
            let (vertex, subtask) = (runtime.ctx.vertex_id, runtime.ctx.subtask_index);
            labels.push(SubtaskLabels::new(&args.job_id, vertex, subtask));
            let (actor, _) =
                Actor::spawn_linked(None, SubtaskActor, runtime, myself.get_cell()).await?;
            subtasks.insert(actor.get_id(), (vertex, subtask));
            let id = SubtaskId {
                job_id: args.job_id.clone(),
                attempt: args.attempt,
                vertex_id: vertex,
                subtask,
            };
            args.reporter.report(&id, TaskState::Running, None);
        }
        Ok(JobState {
            job_id: args.job_id,
            attempt: args.attempt,
            reporter: args.reporter,
            jobs: args.jobs,
            metrics: args.metrics,
            labels,
            subtasks,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        _state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            JobMsg::Cancel => {
                for child in myself.get_children() {
                    child.stop(Some(CANCELED.into()));
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, task_state, failure) = match event {
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let task_state = match reason.as_deref() {
                    Some(FINISHED) => TaskState::Finished,
                    _ => TaskState::Canceled,
                };
                (cell, task_state, None)
            }
            SupervisionEvent::ActorFailed(cell, error) => {
                let failure = match error.downcast_ref::<TaskFailure>() {
                    Some(failure) => failure.clone(),
                    None => TaskFailure {
                        message: error.to_string(),
                        caused_by_peer: false,
                        class: ErrorClass::Transient,
                    },
                };
                (cell, TaskState::Failed, Some(failure))
            }
            _ => return Ok(()),
        };
        if let Some((vertex, subtask)) = state.subtasks.remove(&cell.get_id()) {
            if let Some(failure) = &failure {
                tracing::error!(job = %state.job_id, vertex, subtask, error = %failure, caused_by_peer = failure.caused_by_peer, "subtask failed");
            }
            let id = SubtaskId {
                job_id: state.job_id.clone(),
                attempt: state.attempt,
                vertex_id: vertex,
                subtask,
            };
            state.reporter.report(&id, task_state, failure);
        }
        if state.subtasks.is_empty() {
            myself.stop(None);
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let mut jobs = state
            .jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if jobs.get(&state.job_id).map(|j| j.actor.get_id()) == Some(myself.get_id()) {
            jobs.remove(&state.job_id);
        }
        let metrics = state.metrics.clone();
        let labels = std::mem::take(&mut state.labels);
        tokio::spawn(async move {
            tokio::time::sleep(RETENTION_AFTER_END).await;
            metrics.remove(&labels);
        });
        Ok(())
    }
}
