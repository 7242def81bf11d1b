//! Reports task state changes to the coordinator, in order.

use rtdw_proto::v1::cluster_service_client::ClusterServiceClient;
use rtdw_proto::v1::{TaskState, TaskStatusReport};
use tokio::sync::mpsc;
use tonic::transport::Channel;

use crate::actors::TaskFailure;

/// Queues status reports and sends them one after another.
#[derive(Clone)]
pub struct StatusReporter {
    queue: mpsc::UnboundedSender<TaskStatusReport>,
    taskmanager_id: String,
}

impl StatusReporter {
    /// A reporter sending through `client`.
    pub fn start(mut client: ClusterServiceClient<Channel>, taskmanager_id: String) -> Self {
        let (queue, mut reports) = mpsc::unbounded_channel::<TaskStatusReport>();
        tokio::spawn(async move {
            while let Some(report) = reports.recv().await {
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match client.report_task_status(report.clone()).await {
                        Ok(_) => break,
                        Err(status) if attempt < 5 => {
                            tracing::warn!(job = %report.job_id, %status, "task status report failed; retrying");
                            tokio::time::sleep(std::time::Duration::from_millis(200 * attempt))
                                .await;
                        }
                        Err(status) => {
                            tracing::error!(job = %report.job_id, %status, "task status report dropped after retries");
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

    /// Reports the state of one subtask.
    pub fn report(
        &self,
        job_id: &str,
        vertex_id: u32,
        subtask: u32,
        state: TaskState,
        failure: Option<TaskFailure>,
    ) {
        let (failure, caused_by_peer) = failure
            .map(|f| (f.message, f.caused_by_peer))
            .unwrap_or_default();
        let report = TaskStatusReport {
            job_id: job_id.to_string(),
            vertex_id,
            subtask,
            state: state as i32,
            failure,
            taskmanager_id: self.taskmanager_id.clone(),
            caused_by_peer,
        };
        if self.queue.send(report).is_err() {
            tracing::error!(job = %job_id, "status reporter stopped; report lost");
        }
    }
}
