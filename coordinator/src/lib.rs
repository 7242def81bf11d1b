//! The rtdw coordinator: the job API, cluster membership, scheduling of
//! subtasks onto task-manager slots, and failure handling.

pub mod checkpointing;
pub mod checkpoints;
pub mod cluster;
pub mod coordinator;
pub mod failover;
pub mod job;
mod metrics;
mod recovery;
pub mod restart;
pub mod savepoints;
pub mod scheduler;
mod service;
pub mod settings;
mod splits;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rtdw_observability::Observability;
use rtdw_proto::v1::cluster_service_server::ClusterServiceServer;
use rtdw_proto::v1::job_service_server::JobServiceServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

pub use coordinator::{Coordinator, HeartbeatSettings, Persistence, Submission};
use rtdw_connector_core::ConnectorRegistry;

/// How to start a coordinator.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// gRPC address (port 0 for a free one).
    pub grpc_addr: SocketAddr,
    /// HTTP address for `/metrics`, `/healthz` and `/readyz`, if served.
    pub http_addr: Option<SocketAddr>,
    /// Task-manager liveness.
    pub heartbeat: HeartbeatSettings,
    /// Local data directory: the local metadata store and default
    /// checkpoints live here.
    pub data_dir: PathBuf,
    /// Metadata store URL (`etcd://host:port`); `None` for the local
    /// directory store under `data_dir`.
    pub metastore: Option<String>,
    /// Cluster-wide defaults of job options.
    pub job_defaults: BTreeMap<String, String>,
    /// The connectors submitted jobs are planned against.
    pub connectors: ConnectorRegistry,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 6123)),
            http_addr: Some(SocketAddr::from(([127, 0, 0, 1], 8081))),
            heartbeat: HeartbeatSettings {
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(10),
            },
            data_dir: PathBuf::from("rtdw-data"),
            metastore: None,
            job_defaults: BTreeMap::new(),
            connectors: ConnectorRegistry::builtin(),
        }
    }
}

/// Why a coordinator could not start.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// A socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The reflection service could not be built.
    #[error("gRPC reflection: {0}")]
    Reflection(String),
    /// The data directory or the metadata store cannot be used.
    #[error("{0}")]
    Storage(String),
}

/// A started coordinator.
pub struct RunningCoordinator {
    /// The gRPC address it serves.
    pub grpc_addr: SocketAddr,
    /// The HTTP address it serves, if any.
    pub http_addr: Option<SocketAddr>,
    /// The coordinator itself.
    pub coordinator: std::sync::Arc<Coordinator>,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl RunningCoordinator {
    /// The URL clients and task managers use.
    pub fn url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// Waits until the gRPC server ends (it does not by itself).
    pub async fn wait(self) -> Result<(), tonic::transport::Error> {
        self.server.await.unwrap_or(Ok(()))
    }

    /// Stops serving.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.server.await;
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, CoordinatorError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| CoordinatorError::Bind { addr, source })
}

/// Starts the coordinator's servers and its heartbeat monitor.
pub async fn start(config: CoordinatorConfig) -> Result<RunningCoordinator, CoordinatorError> {
    std::fs::create_dir_all(&config.data_dir)
        .and_then(|_| std::fs::canonicalize(&config.data_dir))
        .map_err(|e| {
            CoordinatorError::Storage(format!(
                "cannot use data directory {}: {e}",
                config.data_dir.display()
            ))
        })?;
    let data_dir = std::fs::canonicalize(&config.data_dir)
        .map_err(|e| CoordinatorError::Storage(e.to_string()))?;
    let metastore_url = config
        .metastore
        .clone()
        .unwrap_or_else(|| data_dir.join("metastore").display().to_string());
    let metastore = rtdw_state::open_metastore(&metastore_url)
        .await
        .map_err(|e| CoordinatorError::Storage(format!("metadata store {metastore_url}: {e}")))?;
    tracing::info!(metastore = %metastore.describe(), data_dir = %data_dir.display(), "storage ready");
    let coordinator = Coordinator::new(
        config.heartbeat,
        Persistence {
            data_dir,
            metastore,
            job_defaults: config.job_defaults.clone(),
        },
        config.connectors.clone(),
    );
    let listener = bind(config.grpc_addr).await?;
    let grpc_addr = listener
        .local_addr()
        .map_err(|source| CoordinatorError::Bind {
            addr: config.grpc_addr,
            source,
        })?;
    let observability = Observability::new();
    metrics::register(&observability, coordinator.clone());
    let http_addr = match config.http_addr {
        Some(addr) => Some(
            observability
                .serve(addr)
                .await
                .map_err(|source| CoordinatorError::Bind { addr, source })?,
        ),
        None => None,
    };
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<JobServiceServer<service::Services>>()
        .await;
    health
        .set_serving::<ClusterServiceServer<service::Services>>()
        .await;
    // Reflection in both versions clients speak: grpcurl asks v1, others
    // (Python's grpcio-reflection) only v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(rtdw_proto::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .map_err(|e| CoordinatorError::Reflection(e.to_string()))?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(|e| CoordinatorError::Reflection(e.to_string()))?;
    let resumed = coordinator.resume_jobs().await.map_err(|e| {
        CoordinatorError::Storage(format!("cannot read jobs from the metadata store: {e}"))
    })?;
    if resumed > 0 {
        tracing::info!(jobs = resumed, "resuming jobs from the metadata store");
    }
    let services = service::Services::new(coordinator.clone());
    let shutdown = CancellationToken::new();
    let server = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(JobServiceServer::new(services.clone()))
        .add_service(ClusterServiceServer::new(services))
        .serve_with_incoming_shutdown(
            TcpListenerStream::new(listener),
            shutdown.clone().cancelled_owned(),
        );
    let server = tokio::spawn(server);
    tokio::spawn(coordinator.clone().monitor_heartbeats());
    observability.set_ready(true);
    tracing::info!(%grpc_addr, ?http_addr, "coordinator started");
    Ok(RunningCoordinator {
        grpc_addr,
        http_addr,
        coordinator,
        shutdown,
        server,
    })
}
