//! A subtask's part in checkpoints: uploading its snapshot and acknowledging
//! it, and loading what a restored checkpoint holds for it.

use arrow::array::{AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::UInt32Type;
use arrow::record_batch::RecordBatch;
use rtdw_operators::Barrier;
use rtdw_operators::keys::key_group_range;
use rtdw_proto::v1::{RestoreState, StateHandle, SubtaskState};
use rtdw_state::{CheckpointStorage, StateError, state_file};

use rtdw_observability::traces::follow_trace_parent;
use tracing::Instrument;

use crate::status::{StatusReporter, SubtaskId};

/// Takes one subtask's snapshots to storage and reports them.
#[derive(Clone)]
pub struct Snapshotter {
    /// The subtask.
    pub id: SubtaskId,
    /// Its vertex's parallelism.
    pub parallelism: u32,
    /// The job's number of key groups.
    pub max_parallelism: u32,
    /// Where acknowledgements go.
    pub reporter: StatusReporter,
}

/// What a subtask captured at a barrier.
pub struct Snapshot {
    /// Keyed state by operator position in the chain.
    pub keyed: Vec<(usize, RecordBatch)>,
    /// The source's position, for a source subtask.
    pub source_state: String,
    /// The sink's pre-commit, for a sink subtask.
    pub sink_state: String,
}

impl Snapshotter {
    /// Uploads the snapshot in the background and then acknowledges the
    /// checkpoint, or declines it if the upload fails. The subtask goes on
    /// processing meanwhile.
    pub fn upload_and_acknowledge(&self, barrier: &Barrier, snapshot: Snapshot) {
        let this = self.clone();
        let barrier = barrier.clone();
        let span = tracing::info_span!(
            "upload",
            checkpoint = barrier.checkpoint_id,
            vertex = self.id.vertex_id,
            subtask = self.id.subtask
        );
        follow_trace_parent(&span, &barrier.trace_parent);
        let upload = async move {
            match this.upload(&barrier, snapshot.keyed).await {
                Ok(keyed) => this.reporter.acknowledge(
                    &this.id,
                    barrier.checkpoint_id,
                    this.state(keyed, snapshot.source_state, snapshot.sink_state),
                ),
                Err(error) => {
                    tracing::warn!(checkpoint = barrier.checkpoint_id, %error, "snapshot upload failed");
                    this.reporter.decline(
                        &this.id,
                        barrier.checkpoint_id,
                        format!("snapshot upload failed: {error}"),
                    );
                }
            }
        };
        tokio::spawn(upload.instrument(span));
    }

    /// Acknowledges the snapshot taken when the input ended: the source's
    /// final position and the sink's last pre-commit; operators have emitted
    /// everything, so no keyed state is kept.
    /// `last_checkpoint` is the newest checkpoint the subtask snapshotted:
    /// its acknowledgement may still be on its way.
    pub fn acknowledge_end(&self, source_state: String, sink_state: String, last_checkpoint: u64) {
        self.reporter.acknowledge_end(
            &self.id,
            last_checkpoint,
            self.state(Vec::new(), source_state, sink_state),
        );
    }

    fn state(
        &self,
        keyed: Vec<StateHandle>,
        source_state: String,
        sink_state: String,
    ) -> SubtaskState {
        SubtaskState {
            vertex_id: self.id.vertex_id,
            subtask: self.id.subtask,
            parallelism: self.parallelism,
            keyed,
            source_state,
            sink_state,
        }
    }

    async fn upload(
        &self,
        barrier: &Barrier,
        keyed: Vec<(usize, RecordBatch)>,
    ) -> Result<Vec<StateHandle>, StateError> {
        if keyed.is_empty() {
            return Ok(Vec::new());
        }
        let storage = CheckpointStorage::open(&barrier.location)?;
        let range = key_group_range(self.id.subtask, self.max_parallelism, self.parallelism);
        let mut handles = Vec::new();
        for (operator, batch) in keyed {
            let encoded = state_file::encode(&batch)?;
            let name = format!("{}-{}-{operator}.arrow", self.id.vertex_id, self.id.subtask);
            let size_bytes = encoded.bytes.len() as u64;
            storage.put(&name, encoded.bytes).await?;
            handles.push(StateHandle {
                operator_index: operator as u32,
                path: name,
                key_group_start: range.start,
                key_group_end: range.end,
                size_bytes,
                crc32: encoded.crc32,
            });
        }
        Ok(handles)
    }
}

/// What a restored checkpoint holds for one subtask.
#[derive(Default)]
pub struct Restored {
    /// The source's position.
    pub source_position: Option<String>,
    /// Keyed state rows of this subtask's key groups, by operator position.
    pub keyed: Vec<Vec<RecordBatch>>,
    /// The pre-commits of every sink subtask of the checkpoint.
    pub sink_states: Vec<String>,
}

/// Why a restore cannot proceed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// A state file is missing, corrupt or unreadable.
    #[error(transparent)]
    State(#[from] StateError),
    /// The checkpoint does not fit the job as deployed now.
    #[error("{0}")]
    Incompatible(String),
}

/// Loads the part of `restore` that subtask `subtask` of `vertex_id` (of
/// `parallelism`) takes over, with its chain of `operators` operators. The
/// position of a split-based source is not loaded: the coordinator hands
/// its splits out anew.
pub async fn load(
    restore: &RestoreState,
    vertex_id: u32,
    subtask: u32,
    parallelism: u32,
    max_parallelism: u32,
    operators: usize,
    split_based: bool,
) -> Result<Restored, RestoreError> {
    let states: Vec<&SubtaskState> = restore
        .subtasks
        .iter()
        .filter(|s| s.vertex_id == vertex_id)
        .collect();
    let mut restored = Restored {
        keyed: vec![Vec::new(); operators],
        ..Restored::default()
    };
    if let Some(old) = states.iter().find(|s| !s.source_state.is_empty())
        && !split_based
    {
        if old.parallelism != parallelism {
            return Err(RestoreError::Incompatible(format!(
                "the source of vertex {vertex_id} ran with parallelism {} in checkpoint {}; its read positions cannot be split over {parallelism} subtasks (keep the source's parallelism, e.g. with the table option 'source.parallelism')",
                old.parallelism, restore.checkpoint_id
            )));
        }
        restored.source_position = states
            .iter()
            .find(|s| s.subtask == subtask)
            .map(|s| s.source_state.clone());
    }
    restored.sink_states = states
        .iter()
        .filter(|s| !s.sink_state.is_empty())
        .map(|s| s.sink_state.clone())
        .collect();
    let own = key_group_range(subtask, max_parallelism, parallelism);
    let handles: Vec<&StateHandle> = states
        .iter()
        .flat_map(|s| &s.keyed)
        .filter(|h| h.key_group_start < own.end && own.start < h.key_group_end)
        .collect();
    if handles.is_empty() {
        return Ok(restored);
    }
    let storage = CheckpointStorage::open(&restore.location)?;
    for handle in handles {
        let slot = restored
            .keyed
            .get_mut(handle.operator_index as usize)
            .ok_or_else(|| {
                RestoreError::Incompatible(format!(
                    "checkpoint {} holds state for operator {} of vertex {vertex_id}, which has {operators} operators",
                    restore.checkpoint_id, handle.operator_index
                ))
            })?;
        let url = storage.file_url(&handle.path);
        let bytes = storage.get(&handle.path).await?;
        for batch in state_file::decode(bytes, handle.crc32, &url)? {
            let groups = batch
                .column(0)
                .as_primitive_opt::<UInt32Type>()
                .ok_or_else(|| StateError::Corrupt {
                    path: url.clone(),
                    reason: "the first column holds no key groups".into(),
                })?;
            let keep: BooleanArray = groups
                .values()
                .iter()
                .map(|g| Some(own.contains(g)))
                .collect();
            slot.push(filter_record_batch(&batch, &keep).map_err(StateError::from)?);
        }
    }
    Ok(restored)
}
