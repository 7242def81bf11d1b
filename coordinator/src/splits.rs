//! The split enumerators of a job's split-based sources (FLIP-27), run by
//! the coordinator: at every deployment, the splits of each source (those a
//! restored checkpoint holds, with their positions, and those discovered
//! since) are assigned over its subtasks; while the job runs, continuous
//! sources are listed again every discovery interval and new splits are
//! handed to their subtasks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rtdw_connector_core::split::{assign, decode_splits, merge_restored, owner};
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::{ErrorClass, SourceSplit};
use rtdw_proto::v1::{AddSplitsRequest, CheckpointManifest, JobState, RestoreState};

use crate::coordinator::Coordinator;
use crate::job::{Failure, is_terminal};

/// The splits of every subtask of the job's split-based sources.
#[derive(Debug, Default)]
pub(crate) struct SplitAssignment {
    /// By (vertex, subtask).
    pub by_subtask: HashMap<(u32, u32), Vec<rtdw_proto::v1::SourceSplit>>,
    /// The split-based source vertices.
    pub vertices: HashSet<u32>,
}

/// A split as the task messages carry it, as the connector framework's.
pub(crate) fn from_proto(split: &rtdw_proto::v1::SourceSplit) -> SourceSplit {
    SourceSplit {
        id: split.id.clone(),
        state: split.state.clone(),
        finished: split.finished,
    }
}

fn to_proto(split: SourceSplit) -> rtdw_proto::v1::SourceSplit {
    rtdw_proto::v1::SourceSplit {
        id: split.id,
        state: split.state,
        finished: split.finished,
    }
}

/// A connector error as a job failure of its class.
fn failure(error: ConnectorError) -> Failure {
    match error.class() {
        ErrorClass::User => Failure::user(error.to_string()),
        ErrorClass::Transient => Failure::transient(error.to_string()),
    }
}

/// The splits the subtasks of `vertex` held in the restored checkpoint.
fn restored_splits(restore: &RestoreState, vertex: u32) -> Result<Vec<SourceSplit>, Failure> {
    let mut splits = Vec::new();
    for state in restore.subtasks.iter().filter(|s| s.vertex_id == vertex) {
        splits.extend(decode_splits(&state.source_state).map_err(|reason| {
            Failure::user(format!(
                "restoring checkpoint {} ({}): vertex {vertex} subtask {}: {reason}",
                restore.checkpoint_id, restore.location, state.subtask
            ))
        })?);
    }
    Ok(splits)
}

impl Coordinator {
    /// Lists the splits of `table`, given those the job already `known`s
    /// (off the async threads: listing may block on files or a broker).
    async fn discover(
        &self,
        table: TableDescriptor,
        known: Vec<SourceSplit>,
    ) -> Result<Option<Vec<SourceSplit>>, Failure> {
        let connectors = self.connectors.clone();
        tokio::task::spawn_blocking(move || connectors.discover_splits(&table, &known))
            .await
            .map_err(|e| Failure::transient(format!("split discovery stopped: {e}")))?
            .map_err(failure)
    }

    /// Assigns the splits of every split-based source of the job for its
    /// next deployment, and records them as the job's known splits.
    pub(crate) async fn assign_splits(&self, job_id: &str) -> Result<SplitAssignment, Failure> {
        let (sources, restore, parallelism) = {
            let state = self.lock();
            let Some(job) = state.jobs.get(job_id) else {
                return Ok(SplitAssignment::default());
            };
            let parallelism: BTreeMap<u32, u32> =
                job.vertices.iter().map(|v| (v.id, v.parallelism)).collect();
            (job.source_tables.clone(), job.restore.clone(), parallelism)
        };
        let mut assignment = SplitAssignment::default();
        for (vertex, table) in sources {
            // Only a split-based source's position is a list of splits:
            // whether it is one, discovery says.
            let restored = match &restore {
                Some(restore) => restored_splits(restore, vertex),
                None => Ok(Vec::new()),
            };
            let known = restored.as_ref().cloned().unwrap_or_default();
            let Some(discovered) = self.discover(table, known).await? else {
                continue;
            };
            let restored = restored?;
            let p = parallelism.get(&vertex).copied().unwrap_or(1);
            let splits = merge_restored(restored, discovered);
            for (subtask, held) in assign(splits, p).into_iter().enumerate() {
                assignment.by_subtask.insert(
                    (vertex, subtask as u32),
                    held.into_iter().map(to_proto).collect(),
                );
            }
            assignment.vertices.insert(vertex);
        }
        Ok(assignment)
    }

    /// While the job lives, lists its continuous split sources every
    /// discovery interval and hands new splits to the running subtasks.
    pub(crate) async fn run_split_discovery(self: Arc<Self>, job_id: String) {
        let sources: Vec<(u32, TableDescriptor, Duration)> = {
            let state = self.lock();
            let Some(job) = state.jobs.get(&job_id) else {
                return;
            };
            job.source_tables
                .iter()
                .filter_map(|(vertex, table)| {
                    match self.connectors.discovery_interval(table) {
                        Ok(every) => every.map(|every| (*vertex, table.clone(), every)),
                        // Validated at submission; a table that no longer
                        // validates fails at its next deployment instead.
                        Err(e) => {
                            tracing::warn!(job = %job_id, vertex, error = %e, "no split discovery for this source");
                            None
                        }
                    }
                })
                .collect()
        };
        let Some(every) = sources.iter().map(|(_, _, every)| *every).min() else {
            return;
        };
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let running = {
                let state = self.lock();
                match state.jobs.get(&job_id) {
                    None => return,
                    Some(job) if is_terminal(job.state) => return,
                    Some(job) => job.state == JobState::Running,
                }
            };
            if !running {
                continue;
            }
            for (vertex, table, _) in &sources {
                let known = self.known_splits(&job_id, *vertex);
                match self.discover(table.clone(), known).await {
                    Ok(Some(found)) => self.hand_out(&job_id, *vertex, found).await,
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(job = %job_id, vertex, reason = %e.reason, "split discovery failed; trying again at the next interval")
                    }
                }
            }
        }
    }

    /// The splits the subtasks of `vertex` hold, with the states of the last
    /// completed checkpoint that held them.
    fn known_splits(&self, job_id: &str, vertex: u32) -> Vec<SourceSplit> {
        let state = self.lock();
        let Some(job) = state.jobs.get(job_id) else {
            return Vec::new();
        };
        job.tasks
            .iter()
            .filter(|((v, _), _)| *v == vertex)
            .flat_map(|(_, task)| task.splits.iter().cloned())
            .collect()
    }

    /// A checkpoint completed: the split states it holds become the ones
    /// discovery sees. Splits handed out after its barriers keep theirs.
    pub(crate) fn note_checkpointed_splits(&self, manifest: &CheckpointManifest) {
        let mut state = self.lock();
        let Some(job) = state.jobs.get_mut(&manifest.job_id) else {
            return;
        };
        for subtask in &manifest.subtasks {
            let Some(task) = job.tasks.get_mut(&(subtask.vertex_id, subtask.subtask)) else {
                continue;
            };
            if task.splits.is_empty() {
                continue;
            }
            let checkpointed = match decode_splits(&subtask.source_state) {
                Ok(splits) => splits,
                Err(reason) => {
                    // A restore of this checkpoint fails naming it; discovery
                    // keeps the states it had.
                    tracing::warn!(job = %manifest.job_id, checkpoint = manifest.checkpoint_id, vertex = subtask.vertex_id, subtask = subtask.subtask, %reason, "checkpointed splits not noted");
                    continue;
                }
            };
            let by_id: HashMap<String, SourceSplit> = checkpointed
                .into_iter()
                .map(|split| (split.id.clone(), split))
                .collect();
            for held in &mut task.splits {
                if let Some(newer) = by_id.get(&held.id) {
                    *held = newer.clone();
                }
            }
        }
    }

    /// Sends the splits discovery `found` (new ones, and replacements of
    /// held ones) to the subtasks that own them.
    async fn hand_out(&self, job_id: &str, vertex: u32, found: Vec<SourceSplit>) {
        let requests = {
            let state = self.lock();
            let Some(job) = state.jobs.get(job_id) else {
                return;
            };
            let parallelism = job
                .vertices
                .iter()
                .find(|v| v.id == vertex)
                .map(|v| v.parallelism)
                .unwrap_or(1);
            let mut by_subtask: BTreeMap<u32, Vec<SourceSplit>> = BTreeMap::new();
            for split in found {
                by_subtask
                    .entry(owner(&split, parallelism))
                    .or_default()
                    .push(split);
            }
            by_subtask
                .into_iter()
                .filter_map(|(subtask, splits)| {
                    let task = job.tasks.get(&(vertex, subtask))?;
                    let client = state.cluster.get(&task.taskmanager_id)?.client.clone();
                    let request = AddSplitsRequest {
                        job_id: job_id.to_string(),
                        attempt: job.attempt,
                        vertex_id: vertex,
                        subtask,
                        splits: splits.into_iter().map(to_proto).collect(),
                    };
                    Some((client, request))
                })
                .collect::<Vec<_>>()
        };
        for (mut client, request) in requests {
            let key = (request.vertex_id, request.subtask);
            let handed: Vec<SourceSplit> = request.splits.iter().map(from_proto).collect();
            match client.add_splits(request).await {
                Ok(_) => {
                    tracing::info!(job = %job_id, vertex, subtask = key.1, splits = handed.len(), "new splits handed out");
                    if let Some(task) = self
                        .lock()
                        .jobs
                        .get_mut(job_id)
                        .and_then(|job| job.tasks.get_mut(&key))
                    {
                        for split in handed {
                            match task.splits.iter_mut().find(|held| held.id == split.id) {
                                Some(held) => *held = split,
                                None => task.splits.push(split),
                            }
                        }
                    }
                }
                // The next deployment assigns them, or the next round.
                Err(status) => {
                    tracing::debug!(job = %job_id, vertex, reason = %status.message(), "splits not handed out")
                }
            }
        }
    }
}
