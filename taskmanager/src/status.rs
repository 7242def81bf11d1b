//! Reports to the coordinator, in order: task state changes and checkpoint
//! acknowledgements and declines.

use rtdw_observability::traces::traced_request;
use rtdw_operators::ErrorClass;
use rtdw_proto::v1::cluster_service_client::ClusterServiceClient;
use rtdw_proto::v1::{
    CheckpointAck, CheckpointDecline, FailureClass, SubtaskState, TaskState, TaskStatusReport,
};
use tokio::sync::mpsc;
use tonic::transport::Channel;

use crate::actors::TaskFailure;

/// One report on its way to the coordinator.
#[derive(Clone)]
enum Report {
    Status(TaskStatusReport),
    Ack(CheckpointAck),
    Decline(CheckpointDecline),
}

impl Report {
    fn job_id(&self) -> &str {
        match self {
            Report::Status(r) => &r.job_id,
            Report::Ack(a) => &a.job_id,
            Report::Decline(d) => &d.job_id,
        }
    }

    /// Sends the report with the trace context of `span`, the span it was
    /// made in (a checkpoint's upload, a subtask's run).
    async fn send(
        &self,
        client: &mut ClusterServiceClient<Channel>,
        span: &tracing::Span,
    ) -> Result<(), tonic::Status> {
        match self.clone() {
            Report::Status(r) => {
                let request = span.in_scope(|| traced_request(r));
                client.report_task_status(request).await.map(drop)
            }
            Report::Ack(a) => {
                let request = span.in_scope(|| traced_request(a));
                client.acknowledge_checkpoint(request).await.map(drop)
            }
            Report::Decline(d) => {
                let request = span.in_scope(|| traced_request(d));
                client.decline_checkpoint(request).await.map(drop)
            }
        }
    }
}

/// Queues reports and sends them one after another.
#[derive(Clone)]
pub struct StatusReporter {
    queue: mpsc::UnboundedSender<(Report, tracing::Span)>,
    taskmanager_id: String,
}

/// Identifies one subtask of one deployment attempt in reports.
#[derive(Debug, Clone)]
pub struct SubtaskId {
    /// The job.
    pub job_id: String,
    /// The deployment attempt.
    pub attempt: u32,
    /// The vertex.
    pub vertex_id: u32,
    /// The subtask index.
    pub subtask: u32,
}

impl StatusReporter {
    /// A reporter sending through `client`.
    pub fn start(mut client: ClusterServiceClient<Channel>, taskmanager_id: String) -> Self {
        let (queue, mut reports) = mpsc::unbounded_channel::<(Report, tracing::Span)>();
        tokio::spawn(async move {
            while let Some((report, span)) = reports.recv().await {
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match report.send(&mut client, &span).await {
                        Ok(()) => break,
                        Err(status) if attempt < 5 => {
                            tracing::warn!(job = %report.job_id(), %status, "report to the coordinator failed; retrying");
                            tokio::time::sleep(std::time::Duration::from_millis(200 * attempt))
                                .await;
                        }
                        Err(status) => {
                            tracing::error!(job = %report.job_id(), %status, "report to the coordinator dropped after retries");
                            break;
                        }
                    }
                }
            }
        });
        StatusReporter {
            queue,
            taskmanager_id,
        }
    }

    fn enqueue(&self, report: Report) {
        if self.queue.send((report, tracing::Span::current())).is_err() {
            tracing::error!("status reporter stopped; report lost");
        }
    }

    /// Reports the state of one subtask.
    pub fn report(&self, id: &SubtaskId, state: TaskState, failure: Option<TaskFailure>) {
        let (failure, caused_by_peer, failure_class) = failure
            .map(|f| (f.message, f.caused_by_peer, failure_class(f.class)))
            .unwrap_or_default();
        self.enqueue(Report::Status(TaskStatusReport {
            job_id: id.job_id.clone(),
            vertex_id: id.vertex_id,
            subtask: id.subtask,
            state: state as i32,
            failure,
            taskmanager_id: self.taskmanager_id.clone(),
            caused_by_peer,
            attempt: id.attempt,
            failure_class: failure_class as i32,
        }));
    }

    /// Acknowledges a checkpoint with the subtask's state.
    pub fn acknowledge(&self, id: &SubtaskId, checkpoint_id: u64, state: SubtaskState) {
        self.send_ack(id, checkpoint_id, 0, state);
    }

    /// Reports the snapshot taken when the subtask's input ended (checkpoint
    /// id 0), after it took part in checkpoint `last_checkpoint_id`.
    pub fn acknowledge_end(&self, id: &SubtaskId, last_checkpoint_id: u64, state: SubtaskState) {
        self.send_ack(id, 0, last_checkpoint_id, state);
    }

    fn send_ack(
        &self,
        id: &SubtaskId,
        checkpoint_id: u64,
        last_checkpoint_id: u64,
        state: SubtaskState,
    ) {
        self.enqueue(Report::Ack(CheckpointAck {
            job_id: id.job_id.clone(),
            attempt: id.attempt,
            checkpoint_id,
            state: Some(state),
            taskmanager_id: self.taskmanager_id.clone(),
            last_checkpoint_id,
        }));
    }

    /// Declines a checkpoint, saying why.
    pub fn decline(&self, id: &SubtaskId, checkpoint_id: u64, reason: String) {
        self.enqueue(Report::Decline(CheckpointDecline {
            job_id: id.job_id.clone(),
            attempt: id.attempt,
            checkpoint_id,
            vertex_id: id.vertex_id,
            subtask: id.subtask,
            reason,
            taskmanager_id: self.taskmanager_id.clone(),
        }));
    }
}

/// The wire form of an error's class.
pub fn failure_class(class: ErrorClass) -> FailureClass {
    match class {
        ErrorClass::User => FailureClass::User,
        ErrorClass::Transient => FailureClass::Transient,
    }
}
