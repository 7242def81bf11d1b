//! The task manager's gRPC TaskService: deploys and cancels subtasks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::Actor;
use rtdw_connector_core::ConnectorRegistry;
use rtdw_observability::traces::follow_caller;
use rtdw_operators::Barrier;
use rtdw_operators::{ErrorClass, SourceSplit, SubtaskContext};
use rtdw_plan::runtime::{SubtaskChain, instantiate};
use rtdw_plan::{Edge, Partitioning, Vertex, codec};
use rtdw_proto::v1::task_service_server::TaskService;
use rtdw_proto::v1::{
    AddSplitsRequest, AddSplitsResponse, CancelJobTasksRequest, CancelJobTasksResponse,
    ChannelHeader, DeployTasksRequest, DeployTasksResponse, NotifyCheckpointCompleteRequest,
    NotifyCheckpointCompleteResponse, TriggerCheckpointRequest, TriggerCheckpointResponse,
    WatchEvent, WatchRequest,
};
use tokio::sync::mpsc;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::actors::{JobActor, JobArgs, JobHandle, JobMsg, JobTable};
use crate::checkpoint::{Snapshotter, load};
use crate::exchange::remote::RemoteSender;
use crate::exchange::{CHANNEL_CAPACITY, ChannelKey, ChannelRegistry};
use crate::idle::IdleDetector;
use crate::input::{InputChannel, InputGate};
use crate::metrics::{SubtaskLabels, TaskMetrics};
use crate::output::{ChannelSender, EdgeOutput, Output};
use crate::status::{StatusReporter, SubtaskId};
use crate::subtask::{Control, SubtaskRuntime};

/// How long a subtask waits for a local downstream channel (registered in
/// the same deployment, so at once in practice).
const LOCAL_CLAIM_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest Flight message accepted (a batch of wide rows).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// State shared by the task manager's services.
pub struct TaskManagerShared {
    /// This task manager's id.
    pub id: String,
    /// Incoming channel queues.
    pub registry: Arc<ChannelRegistry>,
    /// Running jobs.
    pub jobs: JobTable,
    /// Reports task states to the coordinator.
    pub reporter: StatusReporter,
    /// Per-subtask metrics.
    pub metrics: Arc<TaskMetrics>,
    /// Connections to other task managers' Flight services, by address.
    peers: Mutex<HashMap<String, Channel>>,
    /// The connectors sources and sinks are built from.
    connectors: ConnectorRegistry,
}

impl TaskManagerShared {
    /// Shared state for task manager `id`.
    pub fn new(
        id: String,
        reporter: StatusReporter,
        metrics: Arc<TaskMetrics>,
        connectors: ConnectorRegistry,
    ) -> Self {
        TaskManagerShared {
            connectors,
            id,
            registry: Arc::new(ChannelRegistry::default()),
            jobs: Arc::new(Mutex::new(HashMap::new())),
            reporter,
            metrics,
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// The job's handle, if it runs here.
    pub fn job(&self, job_id: &str) -> Option<JobHandle> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(job_id)
            .cloned()
    }

    fn peer(&self, addr: &str) -> Result<Channel, Status> {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(channel) = peers.get(addr) {
            return Ok(channel.clone());
        }
        let channel = Endpoint::from_shared(addr.to_string())
            .map_err(|e| Status::invalid_argument(format!("bad data address {addr}: {e}")))?
            .connect_lazy();
        peers.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }
}

/// The TaskService implementation.
pub struct TaskServiceImpl {
    shared: Arc<TaskManagerShared>,
}

impl TaskServiceImpl {
    /// A service over the shared state.
    pub fn new(shared: Arc<TaskManagerShared>) -> Self {
        TaskServiceImpl { shared }
    }
}

/// Loads a restored checkpoint's part for the subtask `ctx` into its chain;
/// a split-based source gets its restored splits with its assignment
/// instead.
async fn restore_chain(
    chain: &mut SubtaskChain,
    restore: &rtdw_proto::v1::RestoreState,
    ctx: &SubtaskContext,
    split_based: bool,
) -> Result<(), Status> {
    let restored = load(
        restore,
        ctx.vertex_id,
        ctx.subtask_index,
        ctx.parallelism,
        ctx.max_parallelism,
        chain.operators.len(),
        split_based,
    )
    .await
    .map_err(|e| {
        Status::failed_precondition(format!(
            "restoring checkpoint {} ({}): {e}",
            restore.checkpoint_id, restore.location
        ))
    })?;
    let failed = |e: rtdw_operators::StreamError| {
        Status::failed_precondition(format!(
            "restoring checkpoint {} into vertex {} subtask {}: {e}",
            restore.checkpoint_id, ctx.vertex_id, ctx.subtask_index
        ))
    };
    if let (Some(source), Some(position)) = (chain.source.as_mut(), &restored.source_position) {
        source.restore_position(position).map_err(failed)?;
    }
    for (operator, batches) in chain.operators.iter_mut().zip(restored.keyed) {
        operator.restore_state(batches).map_err(failed)?;
    }
    if let Some(sink) = chain.sink.as_mut() {
        sink.restore(restored.sink_states).await.map_err(failed)?;
    }
    Ok(())
}

/// The subtasks at the other end of `edge` that `subtask` exchanges data
/// with: the same index over a forward edge, else all `other_end` of them.
fn peer_subtasks(edge: &Edge, other_end: &Vertex, subtask: u32) -> Vec<u32> {
    match edge.partitioning {
        Partitioning::Forward => vec![subtask],
        _ => (0..other_end.parallelism).collect(),
    }
}

impl TaskServiceImpl {
    async fn deploy(&self, request: DeployTasksRequest) -> Result<(), Status> {
        let shared = &self.shared;
        let plan = request
            .plan
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("missing plan"))?;
        let graph = tracing::info_span!("decode_plan")
            .in_scope(|| codec::decode(plan))
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        let locations: HashMap<(u32, u32), (String, String)> = request
            .locations
            .iter()
            .map(|l| {
                (
                    (l.vertex_id, l.subtask),
                    (l.taskmanager_id.clone(), l.data_addr.clone()),
                )
            })
            .collect();
        let job_id = request.job_id.clone();
        let attempt = request.attempt;
        // Register every local input channel first, so local upstream
        // subtasks deployed below find them.
        let mut gates = Vec::new();
        for task in &request.tasks {
            let mut channels = Vec::new();
            for edge in graph.inputs(task.vertex_id) {
                for source_subtask in
                    peer_subtasks(edge, &graph.vertices[edge.source as usize], task.subtask)
                {
                    let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
                    let key = ChannelKey {
                        job_id: job_id.clone(),
                        attempt,
                        edge_id: edge.id,
                        source_subtask,
                        target_subtask: task.subtask,
                    };
                    shared.registry.register(key, sender);
                    channels.push(InputChannel::new(edge.target_input as usize, receiver));
                }
            }
            let owner = (task.vertex_id, task.subtask);
            gates.push((!channels.is_empty()).then(|| InputGate::new(channels, owner)));
        }
        let mut runtimes = Vec::new();
        let mut controls = HashMap::new();
        let mut sources = Vec::new();
        for (task, inputs) in request.tasks.iter().zip(gates) {
            let vertex = graph
                .vertices
                .get(task.vertex_id as usize)
                .ok_or_else(|| Status::invalid_argument(format!("no vertex {}", task.vertex_id)))?;
            let ctx = SubtaskContext {
                job_id: job_id.clone(),
                job_name: request.job_name.clone(),
                vertex_id: vertex.id,
                subtask_index: task.subtask,
                parallelism: vertex.parallelism,
                max_parallelism: graph.max_parallelism,
            };
            let mut chain = instantiate(vertex, &ctx, &shared.connectors).map_err(|e| {
                let message = format!("vertex {} subtask {}: {e}", vertex.id, task.subtask);
                // A user error cannot succeed on a retry: invalid
                // argument tells the coordinator not to restart.
                match e.class() {
                    ErrorClass::User => Status::invalid_argument(message),
                    ErrorClass::Transient => Status::failed_precondition(message),
                }
            })?;
            if let Some(restore) = &request.restore {
                let span = tracing::info_span!(
                    "restore",
                    checkpoint = restore.checkpoint_id,
                    vertex = vertex.id,
                    subtask = task.subtask
                );
                restore_chain(&mut chain, restore, &ctx, task.split_based)
                    .instrument(span)
                    .await?;
            }
            if task.split_based
                && let Some(source) = chain.source.as_mut()
            {
                source
                    .add_splits(task.splits.iter().map(split_from_proto).collect())
                    .map_err(|e| {
                        Status::failed_precondition(format!(
                            "vertex {} subtask {}: {e}",
                            vertex.id, task.subtask
                        ))
                    })?;
            }
            let mut edges = Vec::new();
            for edge in graph.outputs(vertex.id) {
                let mut channels = Vec::new();
                for target in
                    peer_subtasks(edge, &graph.vertices[edge.target as usize], task.subtask)
                {
                    channels.push(
                        self.sender(&job_id, attempt, edge, task.subtask, target, &locations)
                            .await?,
                    );
                }
                edges.push(EdgeOutput::new(
                    edge.partitioning.clone(),
                    channels,
                    graph.max_parallelism,
                    task.subtask,
                ));
            }
            let metrics = shared.metrics.subtask(
                &SubtaskLabels::new(&job_id, vertex.id, task.subtask),
                &chain.operator_names,
                chain.source_table.as_deref(),
            );
            let (control_sender, control) = mpsc::unbounded_channel();
            controls.insert((vertex.id, task.subtask), control_sender);
            if chain.source.is_some() {
                sources.push((vertex.id, task.subtask));
            }
            let snapshotter = request.checkpointing.then(|| Snapshotter {
                id: SubtaskId {
                    job_id: job_id.clone(),
                    attempt,
                    vertex_id: vertex.id,
                    subtask: task.subtask,
                },
                parallelism: vertex.parallelism,
                max_parallelism: graph.max_parallelism,
                reporter: shared.reporter.clone(),
            });
            let idle = chain
                .source
                .as_ref()
                .and_then(|_| IdleDetector::from_options(&graph.options));
            runtimes.push(SubtaskRuntime {
                ctx,
                chain,
                inputs,
                output: Output::new(edges),
                metrics,
                control,
                snapshotter,
                last_checkpoint: 0,
                idle,
            });
        }
        let args = JobArgs {
            job_id: job_id.clone(),
            attempt,
            subtasks: runtimes,
            reporter: shared.reporter.clone(),
            jobs: shared.jobs.clone(),
            metrics: shared.metrics.clone(),
        };
        if let Some(earlier) = self.shared.job(&job_id) {
            let _ = earlier.actor.cast(JobMsg::Cancel);
        }
        let (actor, _) = Actor::spawn(None, JobActor, args)
            .await
            .map_err(|e| Status::internal(format!("cannot start job {job_id}: {e}")))?;
        shared
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                job_id.clone(),
                JobHandle {
                    attempt,
                    actor,
                    controls,
                    sources,
                },
            );
        tracing::info!(job = %job_id, attempt, tasks = request.tasks.len(), restored = request.restore.as_ref().map(|r| r.checkpoint_id), "deployed");
        Ok(())
    }

    /// The sending end of the channel from `source` to `target` over `edge`.
    async fn sender(
        &self,
        job_id: &str,
        attempt: u32,
        edge: &Edge,
        source: u32,
        target: u32,
        locations: &HashMap<(u32, u32), (String, String)>,
    ) -> Result<ChannelSender, Status> {
        let (taskmanager, data_addr) = locations.get(&(edge.target, target)).ok_or_else(|| {
            Status::invalid_argument(format!(
                "no location for vertex {} subtask {target}",
                edge.target
            ))
        })?;
        if *taskmanager == self.shared.id {
            let key = ChannelKey {
                job_id: job_id.to_string(),
                attempt,
                edge_id: edge.id,
                source_subtask: source,
                target_subtask: target,
            };
            let sender = self
                .shared
                .registry
                .claim(&key, LOCAL_CLAIM_TIMEOUT)
                .await
                .ok_or_else(|| {
                    Status::internal(format!("local channel {key:?} was not registered"))
                })?;
            return Ok(ChannelSender::Local(sender));
        }
        let header = ChannelHeader {
            job_id: job_id.to_string(),
            edge_id: edge.id,
            source_subtask: source,
            target_subtask: target,
            target_vertex: edge.target,
            target_input: edge.target_input,
            attempt,
        };
        Ok(ChannelSender::Remote(Box::new(RemoteSender::open(
            self.shared.peer(data_addr)?,
            header,
        ))))
    }
}

impl TaskServiceImpl {
    /// The job's handle when attempt `attempt` of it runs here.
    fn current(&self, job_id: &str, attempt: u32) -> Result<JobHandle, Status> {
        self.shared
            .job(job_id)
            .filter(|job| job.attempt == attempt)
            .ok_or_else(|| {
                Status::not_found(format!(
                    "attempt {attempt} of job {job_id} does not run on this task manager"
                ))
            })
    }
}

#[tonic::async_trait]
impl TaskService for TaskServiceImpl {
    async fn deploy_tasks(
        &self,
        request: Request<DeployTasksRequest>,
    ) -> Result<Response<DeployTasksResponse>, Status> {
        let span = tracing::info_span!("deploy_tasks", taskmanager = %self.shared.id);
        follow_caller(&span, request.metadata());
        let request = request.into_inner();
        let job_id = request.job_id.clone();
        if let Err(status) = self.deploy(request).instrument(span).await {
            self.shared.registry.remove_job(&job_id);
            tracing::error!(job = %job_id, %status, "deployment failed");
            return Err(status);
        }
        Ok(Response::new(DeployTasksResponse {}))
    }

    async fn trigger_checkpoint(
        &self,
        request: Request<TriggerCheckpointRequest>,
    ) -> Result<Response<TriggerCheckpointResponse>, Status> {
        let request = request.into_inner();
        let job = self.current(&request.job_id, request.attempt)?;
        let barrier = Barrier {
            checkpoint_id: request.checkpoint_id,
            savepoint: request.savepoint,
            location: request.location.into(),
            trace_parent: request.trace_parent.into(),
        };
        let control = Control::Trigger {
            barrier,
            stop: request.stop,
        };
        job.send(&job.sources, &control);
        Ok(Response::new(TriggerCheckpointResponse {}))
    }

    async fn add_splits(
        &self,
        request: Request<AddSplitsRequest>,
    ) -> Result<Response<AddSplitsResponse>, Status> {
        let request = request.into_inner();
        let job = self.current(&request.job_id, request.attempt)?;
        let splits = request.splits.iter().map(split_from_proto).collect();
        job.send(
            &[(request.vertex_id, request.subtask)],
            &Control::AddSplits(splits),
        );
        Ok(Response::new(AddSplitsResponse {}))
    }

    async fn notify_checkpoint_complete(
        &self,
        request: Request<NotifyCheckpointCompleteRequest>,
    ) -> Result<Response<NotifyCheckpointCompleteResponse>, Status> {
        let request = request.into_inner();
        let job = self.current(&request.job_id, request.attempt)?;
        job.send(
            &job.subtasks(),
            &Control::Complete {
                checkpoint_id: request.checkpoint_id,
                is_final: request.is_final,
                trace_parent: request.trace_parent.into(),
            },
        );
        Ok(Response::new(NotifyCheckpointCompleteResponse {}))
    }

    type WatchStream =
        std::pin::Pin<Box<dyn futures::Stream<Item = Result<WatchEvent, Status>> + Send>>;

    async fn watch(
        &self,
        _request: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Ok(Response::new(Box::pin(futures::stream::pending())))
    }

    async fn cancel_job_tasks(
        &self,
        request: Request<CancelJobTasksRequest>,
    ) -> Result<Response<CancelJobTasksResponse>, Status> {
        let request = request.into_inner();
        let job_id = request.job_id;
        let below = request.attempts_below;
        let Some(job) = self.shared.job(&job_id) else {
            return Ok(Response::new(CancelJobTasksResponse {}));
        };
        if below != 0 && job.attempt >= below {
            return Ok(Response::new(CancelJobTasksResponse {}));
        }
        let _ = job.actor.cast(JobMsg::Cancel);
        self.shared.registry.remove_job(&job_id);
        tracing::info!(job = %job_id, "cancel requested");
        Ok(Response::new(CancelJobTasksResponse {}))
    }
}

/// A split as the coordinator sent it.
fn split_from_proto(split: &rtdw_proto::v1::SourceSplit) -> SourceSplit {
    SourceSplit {
        id: split.id.clone(),
        state: split.state.clone(),
        finished: split.finished,
    }
}
