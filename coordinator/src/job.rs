//! What the coordinator keeps about one job.

use std::collections::BTreeMap;

use rtdw_connector_core::TableDescriptor;
use rtdw_plan::{JobGraph, OperatorNode};
use rtdw_proto::v1::{
    EdgeDetails, FailureClass, JobDetails, JobPlan, JobRecord, JobState, JobSummary, RestoreState,
    SubtaskDetails, TaskState, VertexDetails,
};

use crate::checkpoints::{CheckpointTracker, TaskKey};
use crate::cluster::Cluster;
use crate::restart::RestartTracker;
use crate::settings::JobSettings;

/// One subtask's placement and state.
#[derive(Debug, Clone)]
pub struct TaskEntry {
    /// Where it runs.
    pub taskmanager_id: String,
    /// Its state.
    pub state: TaskState,
    /// Why it failed.
    pub failure: String,
    /// For a split-based source subtask, the splits it holds: as handed
    /// out, with the states of the last completed checkpoint that held
    /// them. Discovery reads them (a CDC source creates its binlog split
    /// once a checkpoint holds every snapshot chunk finished).
    pub splits: Vec<rtdw_operators::SourceSplit>,
}

/// A vertex as listed to users.
#[derive(Debug, Clone)]
pub struct VertexEntry {
    /// Id.
    pub id: u32,
    /// Chain description.
    pub name: String,
    /// Parallelism.
    pub parallelism: u32,
}

/// Why a job fails: the reason a user reads, whether it only follows from
/// a peer stopping, and whether a restart may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What the user reads.
    pub reason: String,
    /// A consequence (a peer subtask stopped), not the cause.
    pub caused_by_peer: bool,
    /// The user's to fix (no restart) or transient.
    pub class: FailureClass,
}

impl Failure {
    /// A failure a restart may cure.
    pub fn transient(reason: impl Into<String>) -> Self {
        Failure {
            reason: reason.into(),
            caused_by_peer: false,
            class: FailureClass::Transient,
        }
    }

    /// A failure only the user can cure: the job is not restarted.
    pub fn user(reason: impl Into<String>) -> Self {
        Failure {
            class: FailureClass::User,
            ..Failure::transient(reason)
        }
    }

    /// A failure that follows from a peer subtask stopping.
    pub fn peer(reason: impl Into<String>) -> Self {
        Failure {
            caused_by_peer: true,
            ..Failure::transient(reason)
        }
    }
}

/// A submitted job.
pub struct JobEntry {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Lifecycle state.
    pub state: JobState,
    /// When submitted (ms since epoch).
    pub submit_time_ms: i64,
    /// When it reached a terminal state (ms since epoch), or 0.
    pub end_time_ms: i64,
    /// Why it failed.
    pub failure: String,
    /// The failure is a consequence (a peer subtask stopped), not the cause.
    pub failure_caused_by_peer: bool,
    /// Whether the failure is the user's to fix or transient.
    pub failure_class: FailureClass,
    /// What task managers plan from.
    pub plan: JobPlan,
    /// The job's parallelism: that of its widest vertex.
    pub parallelism: u32,
    /// Its vertices.
    pub vertices: Vec<VertexEntry>,
    /// Its edges.
    pub edges: Vec<EdgeDetails>,
    /// Task manager of each slot index.
    pub slots: Vec<String>,
    /// Subtasks by (vertex, subtask).
    pub tasks: BTreeMap<(u32, u32), TaskEntry>,
    /// Slots the job needs.
    pub required_slots: u32,
    /// The running deployment attempt: 0 first, one more per restart.
    pub attempt: u32,
    /// Restarts after failures.
    pub restarts: u32,
    /// Checkpointing and restart settings.
    pub settings: JobSettings,
    /// Its checkpoints.
    pub checkpoints: CheckpointTracker,
    /// Its restart strategy's state.
    pub restart: RestartTracker,
    /// What the next deployment restores.
    pub restore: Option<RestoreState>,
    /// The root span of each checkpoint's trace while it is in flight.
    pub checkpoint_spans: std::collections::HashMap<u64, tracing::Span>,
    /// The table each source vertex reads, by vertex id.
    pub source_tables: BTreeMap<u32, TableDescriptor>,
}

/// True for FINISHED, CANCELED and FAILED.
pub fn is_terminal(state: JobState) -> bool {
    matches!(
        state,
        JobState::Finished | JobState::Canceled | JobState::Failed
    )
}

impl JobEntry {
    /// A new job placed on `slots`: subtask `i` of every vertex in slot `i`.
    pub fn new(
        id: String,
        graph: &JobGraph,
        plan: JobPlan,
        settings: JobSettings,
        slots: Vec<String>,
        now: i64,
    ) -> Self {
        let checkpoints =
            CheckpointTracker::new(&id, settings.checkpoints.clone(), graph.max_parallelism, 0);
        let mut job = JobEntry {
            name: graph.name.clone(),
            state: JobState::Created,
            submit_time_ms: now,
            end_time_ms: 0,
            failure: String::new(),
            failure_caused_by_peer: false,
            failure_class: FailureClass::Unspecified,
            plan,
            parallelism: graph.required_slots(),
            vertices: graph
                .vertices
                .iter()
                .map(|v| VertexEntry {
                    id: v.id,
                    name: v.name.clone(),
                    parallelism: v.parallelism,
                })
                .collect(),
            edges: graph
                .edges
                .iter()
                .map(|e| EdgeDetails {
                    id: e.id,
                    source_vertex: e.source,
                    target_vertex: e.target,
                    partitioning: e.describe(),
                })
                .collect(),
            slots: Vec::new(),
            tasks: BTreeMap::new(),
            required_slots: graph.required_slots(),
            attempt: 0,
            restarts: 0,
            restart: RestartTracker::new(settings.restart.clone()),
            settings,
            checkpoints,
            restore: None,
            checkpoint_spans: std::collections::HashMap::new(),
            source_tables: graph
                .vertices
                .iter()
                .filter_map(|v| match v.chain.first() {
                    Some(OperatorNode::Source { table }) => Some((v.id, table.clone())),
                    _ => None,
                })
                .collect(),
            id,
        };
        if !slots.is_empty() {
            job.place(slots);
        }
        job
    }

    /// Places the subtasks on `slots`: subtask `i` of every vertex in slot
    /// `i`, all scheduled.
    pub fn place(&mut self, slots: Vec<String>) {
        self.tasks.clear();
        for vertex in &self.vertices {
            for subtask in 0..vertex.parallelism {
                self.tasks.insert(
                    (vertex.id, subtask),
                    TaskEntry {
                        taskmanager_id: slots[subtask as usize].clone(),
                        state: TaskState::Scheduled,
                        failure: String::new(),
                        splits: Vec::new(),
                    },
                );
            }
        }
        self.slots = slots;
    }

    /// Every subtask's key.
    pub fn task_keys(&self) -> std::collections::BTreeSet<TaskKey> {
        self.tasks.keys().copied().collect()
    }

    /// Opens the root span of checkpoint `id`'s trace (`kind` CHECKPOINT or
    /// SAVEPOINT) and returns its `traceparent` for the task managers; the
    /// spans of checkpoints no longer in flight end.
    pub fn open_checkpoint_trace(&mut self, id: u64, kind: &str) -> String {
        let in_flight = self.checkpoints.in_flight();
        self.checkpoint_spans.retain(|c, _| Some(*c) == in_flight);
        let span =
            tracing::info_span!(parent: None, "checkpoint", job = %self.id, checkpoint = id, kind);
        let trace_parent = rtdw_observability::traces::trace_parent_of(&span);
        self.checkpoint_spans.insert(id, span);
        trace_parent
    }

    /// What the metadata store keeps about the job.
    pub fn record(&self) -> JobRecord {
        JobRecord {
            job_id: self.id.clone(),
            name: self.name.clone(),
            plan: Some(self.plan.clone()),
            submit_time_ms: self.submit_time_ms,
            state: self.state as i32,
            restarts: self.restarts,
            failure: self.failure.clone(),
            end_time_ms: self.end_time_ms,
            attempt: self.attempt,
            failure_class: self.failure_class as i32,
        }
    }

    /// Records why the job fails. Returns true when this starts the
    /// failure (the caller then cancels the job); a later root cause replaces
    /// a failure that was only caused by a peer stopping.
    pub fn record_failure(&mut self, failure: Failure) -> bool {
        match self.state {
            JobState::Failing | JobState::Failed | JobState::Restarting => {
                if self.failure_caused_by_peer && !failure.caused_by_peer {
                    self.set_failure(failure);
                }
                false
            }
            JobState::Finished | JobState::Canceled => false,
            _ => {
                self.state = JobState::Failing;
                self.set_failure(failure);
                true
            }
        }
    }

    /// Takes `failure` as the job's current one.
    pub fn set_failure(&mut self, failure: Failure) {
        self.failure = failure.reason;
        self.failure_caused_by_peer = failure.caused_by_peer;
        self.failure_class = failure.class;
    }

    /// The task managers that run at least one of the job's subtasks.
    pub fn taskmanagers(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .tasks
            .values()
            .map(|t| t.taskmanager_id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// True when every subtask reached a terminal task state.
    pub fn all_tasks_ended(&self) -> bool {
        self.tasks.values().all(|t| {
            matches!(
                t.state,
                TaskState::Finished | TaskState::Canceled | TaskState::Failed
            )
        })
    }

    /// The one-line summary.
    pub fn summary(&self) -> JobSummary {
        JobSummary {
            job_id: self.id.clone(),
            name: self.name.clone(),
            state: self.state as i32,
            submit_time_ms: self.submit_time_ms,
            end_time_ms: self.end_time_ms,
            failure: self.failure.clone(),
            failure_class: self.failure_class as i32,
        }
    }

    /// The full description, with placements.
    pub fn details(&self, cluster: &Cluster) -> JobDetails {
        let vertices = self
            .vertices
            .iter()
            .map(|v| VertexDetails {
                id: v.id,
                name: v.name.clone(),
                parallelism: v.parallelism,
                subtasks: (0..v.parallelism)
                    .filter_map(|s| self.tasks.get(&(v.id, s)).map(|t| (s, t)))
                    .map(|(s, t)| SubtaskDetails {
                        index: s,
                        state: t.state as i32,
                        taskmanager_id: t.taskmanager_id.clone(),
                        taskmanager_host: cluster
                            .get(&t.taskmanager_id)
                            .map(|tm| tm.host.clone())
                            .unwrap_or_default(),
                        failure: t.failure.clone(),
                        splits: t.splits.iter().map(|s| s.id.clone()).collect(),
                    })
                    .collect(),
            })
            .collect();
        JobDetails {
            summary: Some(self.summary()),
            vertices,
            edges: self.edges.clone(),
            parallelism: self.parallelism,
            restarts: self.restarts,
            restored_checkpoint_id: self.restore.as_ref().map(|r| r.checkpoint_id).unwrap_or(0),
            latest_checkpoint_id: self.checkpoints.latest().map(|c| c.id).unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> JobEntry {
        let settings =
            JobSettings::from_options(&BTreeMap::new(), "file:///chk").expect("defaults");
        let graph = JobGraph {
            name: "j".into(),
            vertices: vec![],
            edges: vec![],
            max_parallelism: 128,
            options: BTreeMap::new(),
        };
        let mut job = JobEntry::new("j".into(), &graph, JobPlan::default(), settings, vec![], 0);
        job.state = JobState::Running;
        job
    }

    #[test]
    fn the_first_failure_starts_failing_and_a_root_cause_replaces_an_echo() {
        let mut job = job();
        assert!(job.record_failure(Failure::peer("downstream subtask is gone")));
        assert_eq!(job.state, JobState::Failing);
        assert!(!job.record_failure(Failure::transient("Divide by zero")));
        assert_eq!(job.failure, "Divide by zero");
        assert!(!job.record_failure(Failure::peer("input channel closed")));
        assert_eq!(
            job.failure, "Divide by zero",
            "an echo never replaces a cause"
        );
    }

    #[test]
    fn a_root_cause_is_kept_and_ended_jobs_ignore_failures() {
        let mut job = job();
        assert!(job.record_failure(Failure::transient("first cause")));
        assert!(!job.record_failure(Failure::transient("second cause")));
        assert_eq!(job.failure, "first cause");
        let mut finished = self::job();
        finished.state = JobState::Finished;
        assert!(!finished.record_failure(Failure::transient("late")));
        assert_eq!(finished.state, JobState::Finished);
        assert!(finished.failure.is_empty());
    }
}
