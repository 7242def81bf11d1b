//! The coordinator's gRPC services: JobService for users, ClusterService for
//! task managers.

use std::sync::Arc;

use rtdw_observability::traces::follow_caller;
use rtdw_proto::v1::cluster_service_server::ClusterService;
use rtdw_proto::v1::job_service_server::JobService;
use rtdw_proto::v1::{
    CancelJobRequest, CancelJobResponse, CheckpointAck, CheckpointDecline, DisposeSavepointRequest,
    DisposeSavepointResponse, GetJobRequest, HeartbeatRequest, HeartbeatResponse, JobDetails,
    ListCheckpointsRequest, ListCheckpointsResponse, ListJobsRequest, ListJobsResponse,
    ListSavepointsRequest, ListSavepointsResponse, ListTaskManagersRequest,
    ListTaskManagersResponse, RegisterTaskManagerRequest, RegisterTaskManagerResponse,
    SubmitJobRequest, SubmitJobResponse, TaskStatusAck, TaskStatusReport, TriggerSavepointRequest,
    TriggerSavepointResponse,
};
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::coordinator::{Coordinator, Submission};
use crate::savepoints::SavepointRequest;

/// Serves both gRPC services over one coordinator.
#[derive(Clone)]
pub struct Services {
    coordinator: Arc<Coordinator>,
}

impl Services {
    /// Services over `coordinator`.
    pub fn new(coordinator: Arc<Coordinator>) -> Self {
        Services { coordinator }
    }
}

#[tonic::async_trait]
impl JobService for Services {
    async fn submit_job(
        &self,
        request: Request<SubmitJobRequest>,
    ) -> Result<Response<SubmitJobResponse>, Status> {
        let span = tracing::info_span!("submit_job");
        follow_caller(&span, request.metadata());
        let request = request.into_inner();
        if request.sql.trim().is_empty() {
            return Err(Status::invalid_argument("the SQL script is empty"));
        }
        let submission = Submission {
            sql: request.sql,
            name: Some(request.name).filter(|n| !n.is_empty()),
            parallelism: Some(request.parallelism).filter(|p| *p > 0),
            config: request.config.into_iter().collect(),
            from_savepoint: Some(request.from_savepoint).filter(|p| !p.is_empty()),
        };
        let job_id = self.coordinator.submit(submission).instrument(span).await?;
        Ok(Response::new(SubmitJobResponse { job_id }))
    }

    async fn list_jobs(
        &self,
        _: Request<ListJobsRequest>,
    ) -> Result<Response<ListJobsResponse>, Status> {
        Ok(Response::new(ListJobsResponse {
            jobs: self.coordinator.jobs(),
        }))
    }

    async fn get_job(
        &self,
        request: Request<GetJobRequest>,
    ) -> Result<Response<JobDetails>, Status> {
        self.coordinator
            .job(&request.into_inner().job_id)
            .map(Response::new)
    }

    async fn cancel_job(
        &self,
        request: Request<CancelJobRequest>,
    ) -> Result<Response<CancelJobResponse>, Status> {
        let state = self
            .coordinator
            .cancel(&request.into_inner().job_id)
            .await?;
        Ok(Response::new(CancelJobResponse {
            state: state as i32,
        }))
    }

    async fn list_checkpoints(
        &self,
        request: Request<ListCheckpointsRequest>,
    ) -> Result<Response<ListCheckpointsResponse>, Status> {
        let checkpoints = self.coordinator.checkpoints(&request.into_inner().job_id)?;
        Ok(Response::new(ListCheckpointsResponse { checkpoints }))
    }

    async fn trigger_savepoint(
        &self,
        request: Request<TriggerSavepointRequest>,
    ) -> Result<Response<TriggerSavepointResponse>, Status> {
        let request = request.into_inner();
        let (checkpoint_id, location) = self
            .coordinator
            .savepoint(
                &request.job_id,
                SavepointRequest {
                    dir: Some(request.dir).filter(|d| !d.is_empty()),
                    stop: request.stop,
                    without_savepoint: request.without_savepoint,
                },
            )
            .await?;
        let location = if request.without_savepoint {
            String::new()
        } else {
            location
        };
        Ok(Response::new(TriggerSavepointResponse {
            checkpoint_id,
            location,
        }))
    }

    async fn list_savepoints(
        &self,
        request: Request<ListSavepointsRequest>,
    ) -> Result<Response<ListSavepointsResponse>, Status> {
        let savepoints = self.coordinator.savepoints(&request.into_inner().job_id)?;
        Ok(Response::new(ListSavepointsResponse { savepoints }))
    }

    async fn dispose_savepoint(
        &self,
        request: Request<DisposeSavepointRequest>,
    ) -> Result<Response<DisposeSavepointResponse>, Status> {
        self.coordinator
            .dispose_savepoint(&request.into_inner().location)
            .await?;
        Ok(Response::new(DisposeSavepointResponse {}))
    }
}

#[tonic::async_trait]
impl ClusterService for Services {
    async fn register_task_manager(
        &self,
        request: Request<RegisterTaskManagerRequest>,
    ) -> Result<Response<RegisterTaskManagerResponse>, Status> {
        let span = tracing::info_span!("register_task_manager");
        follow_caller(&span, request.metadata());
        let _entered = span.enter();
        let r = request.into_inner();
        self.coordinator.register_taskmanager(&r)?;
        let heartbeat = self.coordinator.heartbeat;
        Ok(Response::new(RegisterTaskManagerResponse {
            heartbeat_interval_ms: heartbeat.interval.as_millis() as u64,
            heartbeat_timeout_ms: heartbeat.timeout.as_millis() as u64,
        }))
    }

    async fn heartbeat(
        &self,
        request: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        let known = self
            .coordinator
            .heartbeat(&request.into_inner().taskmanager_id);
        Ok(Response::new(HeartbeatResponse { known }))
    }

    async fn list_task_managers(
        &self,
        _: Request<ListTaskManagersRequest>,
    ) -> Result<Response<ListTaskManagersResponse>, Status> {
        Ok(Response::new(ListTaskManagersResponse {
            taskmanagers: self.coordinator.taskmanagers(),
        }))
    }

    async fn report_task_status(
        &self,
        request: Request<TaskStatusReport>,
    ) -> Result<Response<TaskStatusAck>, Status> {
        let span = tracing::info_span!("report_task_status");
        follow_caller(&span, request.metadata());
        self.coordinator
            .report_task_status(request.into_inner())
            .instrument(span)
            .await;
        Ok(Response::new(TaskStatusAck {}))
    }

    async fn acknowledge_checkpoint(
        &self,
        request: Request<CheckpointAck>,
    ) -> Result<Response<TaskStatusAck>, Status> {
        let span = tracing::info_span!("acknowledge_checkpoint");
        follow_caller(&span, request.metadata());
        self.coordinator
            .acknowledge_checkpoint(request.into_inner())
            .instrument(span)
            .await;
        Ok(Response::new(TaskStatusAck {}))
    }

    async fn decline_checkpoint(
        &self,
        request: Request<CheckpointDecline>,
    ) -> Result<Response<TaskStatusAck>, Status> {
        let span = tracing::info_span!("decline_checkpoint");
        follow_caller(&span, request.metadata());
        self.coordinator
            .decline_checkpoint(request.into_inner())
            .instrument(span)
            .await;
        Ok(Response::new(TaskStatusAck {}))
    }
}
