//! What the coordinator keeps about one job.

use std::collections::BTreeMap;

use rtdw_proto::v1::{
    EdgeDetails, JobDetails, JobPlan, JobState, JobSummary, SubtaskDetails, TaskState,
    VertexDetails,
};
use rtdw_sql::JobGraph;

use crate::cluster::Cluster;

/// One subtask's placement and state.
#[derive(Debug, Clone)]
pub struct TaskEntry {
    /// Where it runs.
    pub taskmanager_id: String,
    /// Its state.
    pub state: TaskState,
    /// Why it failed.
    pub failure: String,
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

/// A submitted job.
#[derive(Debug, Clone)]
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
        parallelism: u32,
        slots: Vec<String>,
        now: i64,
    ) -> Self {
        let mut tasks = BTreeMap::new();
        for vertex in &graph.vertices {
            for subtask in 0..vertex.parallelism {
                tasks.insert(
                    (vertex.id, subtask),
                    TaskEntry {
                        taskmanager_id: slots[subtask as usize].clone(),
                        state: TaskState::Scheduled,
                        failure: String::new(),
                    },
                );
            }
        }
        JobEntry {
            id,
            name: graph.name.clone(),
            state: JobState::Created,
            submit_time_ms: now,
            end_time_ms: 0,
            failure: String::new(),
            failure_caused_by_peer: false,
            plan,
            parallelism,
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
            slots,
            tasks,
        }
    }

    /// Records why the job fails. Returns true when this starts the
    /// failure (the caller then cancels the job); a later root cause replaces
    /// a failure that was only caused by a peer stopping.
    pub fn record_failure(&mut self, reason: String, caused_by_peer: bool) -> bool {
        match self.state {
            JobState::Failing | JobState::Failed => {
                if self.failure_caused_by_peer && !caused_by_peer {
                    self.failure = reason;
                    self.failure_caused_by_peer = false;
                }
                false
            }
            JobState::Finished | JobState::Canceled => false,
            _ => {
                self.state = JobState::Failing;
                self.failure = reason;
                self.failure_caused_by_peer = caused_by_peer;
                true
            }
        }
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
                    })
                    .collect(),
            })
            .collect();
        JobDetails {
            summary: Some(self.summary()),
            vertices,
            edges: self.edges.clone(),
            parallelism: self.parallelism,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> JobEntry {
        JobEntry {
            id: "j".into(),
            name: "j".into(),
            state: JobState::Running,
            submit_time_ms: 0,
            end_time_ms: 0,
            failure: String::new(),
            failure_caused_by_peer: false,
            plan: JobPlan::default(),
            parallelism: 1,
            vertices: vec![],
            edges: vec![],
            slots: vec![],
            tasks: BTreeMap::new(),
        }
    }

    #[test]
    fn the_first_failure_starts_failing_and_a_root_cause_replaces_an_echo() {
        let mut job = job();
        assert!(job.record_failure("downstream subtask is gone".into(), true));
        assert_eq!(job.state, JobState::Failing);
        assert!(!job.record_failure("Divide by zero".into(), false));
        assert_eq!(job.failure, "Divide by zero");
        assert!(!job.record_failure("input channel closed".into(), true));
        assert_eq!(
            job.failure, "Divide by zero",
            "an echo never replaces a cause"
        );
    }

    #[test]
    fn a_root_cause_is_kept_and_ended_jobs_ignore_failures() {
        let mut job = job();
        assert!(job.record_failure("first cause".into(), false));
        assert!(!job.record_failure("second cause".into(), false));
        assert_eq!(job.failure, "first cause");
        let mut finished = self::job();
        finished.state = JobState::Finished;
        assert!(!finished.record_failure("late".into(), false));
        assert_eq!(finished.state, JobState::Finished);
        assert!(finished.failure.is_empty());
    }
}
