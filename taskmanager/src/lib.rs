//! The rtdw task manager: registers with the coordinator, offers slots, runs
//! the subtasks it is given as supervised actors, and exchanges data with
//! other task managers over Arrow Flight.
//!
//! One gRPC port serves both the TaskService (control) and the Flight
//! service (data); several task managers share a host by each binding a
//! free port and advertising it.

pub mod actors;
pub mod checkpoint;
pub mod exchange;
pub mod fault;
mod idle;
pub mod input;
pub mod metrics;
pub mod output;
mod registration;
pub mod service;
pub mod status;
pub mod subtask;

use std::net::SocketAddr;
use std::sync::Arc;

use arrow_flight::flight_service_server::FlightServiceServer;
use rtdw_connector_core::ConnectorRegistry;
use rtdw_proto::v1::cluster_service_client::ClusterServiceClient;
use rtdw_proto::v1::task_service_server::TaskServiceServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Endpoint, Server};

use rtdw_observability::Observability;

use crate::exchange::server::ExchangeService;
use crate::metrics::TaskMetrics;
use crate::service::{MAX_MESSAGE_BYTES, TaskManagerShared, TaskServiceImpl};
use crate::status::StatusReporter;

/// HTTP/2 flow-control window per data stream: how much may be in flight
/// between two subtasks before the sender waits.
const STREAM_WINDOW_BYTES: u32 = 8 * 1024 * 1024;

/// How to start a task manager.
#[derive(Debug, Clone)]
pub struct TaskManagerConfig {
    /// The coordinator's gRPC URL, e.g. `http://127.0.0.1:6123`.
    pub coordinator: String,
    /// Slots offered.
    pub slots: u32,
    /// Address to bind, port 0 for a free one, e.g. `127.0.0.1:0`.
    pub bind: SocketAddr,
    /// Id to register under; generated when `None`.
    pub id: Option<String>,
    /// Address of the HTTP endpoint (`/metrics`, `/healthz`, `/readyz`),
    /// port 0 for a free one.
    pub http_addr: SocketAddr,
    /// The connectors subtasks' sources and sinks are built from.
    pub connectors: ConnectorRegistry,
}

/// Why a task manager could not start.
#[derive(Debug, thiserror::Error)]
pub enum TaskManagerError {
    /// The listening socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The coordinator URL is malformed.
    #[error("invalid coordinator URL '{url}': {message}")]
    CoordinatorUrl {
        /// The URL given.
        url: String,
        /// Why it is invalid.
        message: String,
    },
}

/// A started task manager.
pub struct RunningTaskManager {
    /// Its id.
    pub id: String,
    /// The address it serves gRPC and Flight on.
    pub addr: SocketAddr,
    /// The address of its HTTP endpoint.
    pub http_addr: SocketAddr,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl RunningTaskManager {
    /// Stops serving and waits for the server to end.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.server.await;
    }

    /// Waits until the server ends (it does not by itself).
    pub async fn wait(self) -> Result<(), tonic::transport::Error> {
        match self.server.await {
            Ok(result) => result,
            Err(_) => Ok(()),
        }
    }
}

/// A fresh task-manager id: `taskmanager-` and 8 random hex digits.
pub fn new_taskmanager_id() -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("taskmanager-{}", &suffix[..8])
}

/// Starts a task manager: binds, serves, and registers with the coordinator
/// (retrying until it answers).
pub async fn start(config: TaskManagerConfig) -> Result<RunningTaskManager, TaskManagerError> {
    let listener =
        TcpListener::bind(config.bind)
            .await
            .map_err(|source| TaskManagerError::Bind {
                addr: config.bind,
                source,
            })?;
    let addr = listener
        .local_addr()
        .map_err(|source| TaskManagerError::Bind {
            addr: config.bind,
            source,
        })?;
    let id = config.id.clone().unwrap_or_else(new_taskmanager_id);
    let coordinator = Endpoint::from_shared(config.coordinator.clone())
        .map_err(|e| TaskManagerError::CoordinatorUrl {
            url: config.coordinator.clone(),
            message: e.to_string(),
        })?
        .connect_lazy();
    let client = ClusterServiceClient::new(coordinator);
    let reporter = StatusReporter::start(client.clone(), id.clone());
    let observability = Observability::new();
    let metrics = TaskMetrics::register(&observability);
    let http_addr = observability
        .serve(config.http_addr)
        .await
        .map_err(|source| TaskManagerError::Bind {
            addr: config.http_addr,
            source,
        })?;
    let shared = Arc::new(TaskManagerShared::new(
        id.clone(),
        reporter,
        metrics,
        config.connectors.clone(),
    ));
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<TaskServiceServer<TaskServiceImpl>>()
        .await;
    let shutdown = CancellationToken::new();
    let exchange = FlightServiceServer::new(ExchangeService::new(shared.registry.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
    let server = Server::builder()
        .initial_stream_window_size(Some(STREAM_WINDOW_BYTES))
        .initial_connection_window_size(Some(4 * STREAM_WINDOW_BYTES))
        .tcp_nodelay(true)
        .add_service(health_service)
        .add_service(TaskServiceServer::new(TaskServiceImpl::new(shared.clone())))
        .add_service(exchange)
        .serve_with_incoming_shutdown(
            TcpListenerStream::new(listener),
            shutdown.clone().cancelled_owned(),
        );
    let server = tokio::spawn(server);
    let url = format!("http://{addr}");
    tokio::spawn(registration::keep_registered(
        client,
        registration::Registration {
            id: id.clone(),
            control_addr: url.clone(),
            data_addr: url,
            slots: config.slots,
            host: addr.ip().to_string(),
            http_addr: http_addr.to_string(),
        },
        observability,
        shutdown.clone(),
    ));
    tracing::info!(taskmanager = %id, %addr, %http_addr, slots = config.slots, "task manager started");
    Ok(RunningTaskManager {
        id,
        addr,
        http_addr,
        shutdown,
        server,
    })
}
