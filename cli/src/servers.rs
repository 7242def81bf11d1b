//! The long-running commands: coordinator, task manager, local cluster.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use rtdw_coordinator::{CoordinatorConfig, HeartbeatSettings};
use rtdw_taskmanager::TaskManagerConfig;

use crate::socket_addr;

/// Options of `rtdw coordinator`.
#[derive(Args)]
pub struct CoordinatorArgs {
    /// gRPC address for clients and task managers.
    #[arg(long, default_value = "127.0.0.1:6123", value_parser = socket_addr)]
    grpc_addr: SocketAddr,
    /// HTTP address for /healthz and /metrics.
    #[arg(long, default_value = "127.0.0.1:8081", value_parser = socket_addr)]
    http_addr: SocketAddr,
    #[command(flatten)]
    heartbeat: HeartbeatArgs,
}

/// Task-manager liveness options.
#[derive(Args)]
pub struct HeartbeatArgs {
    /// How often task managers heartbeat, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    heartbeat_interval_ms: u64,
    /// Silence after which a task manager is declared lost, in milliseconds.
    #[arg(long, default_value_t = 10000)]
    heartbeat_timeout_ms: u64,
}

impl HeartbeatArgs {
    fn settings(&self) -> anyhow::Result<HeartbeatSettings> {
        anyhow::ensure!(
            self.heartbeat_interval_ms > 0
                && self.heartbeat_timeout_ms > self.heartbeat_interval_ms,
            "--heartbeat-timeout-ms ({}) must exceed --heartbeat-interval-ms ({}), which must be positive",
            self.heartbeat_timeout_ms,
            self.heartbeat_interval_ms
        );
        Ok(HeartbeatSettings {
            interval: Duration::from_millis(self.heartbeat_interval_ms),
            timeout: Duration::from_millis(self.heartbeat_timeout_ms),
        })
    }
}

/// Options of `rtdw taskmanager`.
#[derive(Args)]
pub struct TaskManagerArgs {
    /// The coordinator's gRPC URL.
    #[arg(
        long,
        env = "RTDW_COORDINATOR",
        default_value = "http://127.0.0.1:6123"
    )]
    coordinator: String,
    /// Task slots offered.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    slots: u32,
    /// Address to serve gRPC and Arrow Flight on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0", value_parser = socket_addr)]
    bind: SocketAddr,
    /// Id to register under (default: address plus a random suffix).
    #[arg(long)]
    id: Option<String>,
    /// Address for /metrics, /healthz and /readyz; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0", value_parser = socket_addr)]
    http_addr: SocketAddr,
}

/// Options of `rtdw local`.
#[derive(Args)]
pub struct LocalArgs {
    /// Number of task managers.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    taskmanagers: u32,
    /// Slots per task manager.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    slots: u32,
    /// gRPC address of the coordinator.
    #[arg(long, default_value = "127.0.0.1:6123", value_parser = socket_addr)]
    grpc_addr: SocketAddr,
    /// HTTP address of the coordinator.
    #[arg(long, default_value = "127.0.0.1:8081", value_parser = socket_addr)]
    http_addr: SocketAddr,
    #[command(flatten)]
    heartbeat: HeartbeatArgs,
}

fn coordinator_config(
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    heartbeat: &HeartbeatArgs,
) -> anyhow::Result<CoordinatorConfig> {
    Ok(CoordinatorConfig {
        grpc_addr,
        http_addr: Some(http_addr),
        heartbeat: heartbeat.settings()?,
    })
}

fn display_addr(addr: Option<SocketAddr>) -> String {
    addr.map(|a| a.to_string()).unwrap_or_else(|| "off".into())
}

async fn until_interrupted() -> anyhow::Result<()> {
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")
}

/// Runs a coordinator until interrupted.
pub async fn coordinator(args: CoordinatorArgs) -> anyhow::Result<ExitCode> {
    let running = rtdw_coordinator::start(coordinator_config(
        args.grpc_addr,
        args.http_addr,
        &args.heartbeat,
    )?)
    .await?;
    eprintln!(
        "coordinator listening on {} (HTTP {})",
        running.url(),
        display_addr(running.http_addr)
    );
    until_interrupted().await?;
    running.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Runs a task manager until interrupted.
pub async fn taskmanager(args: TaskManagerArgs) -> anyhow::Result<ExitCode> {
    let running = rtdw_taskmanager::start(TaskManagerConfig {
        coordinator: args.coordinator,
        slots: args.slots,
        bind: args.bind,
        id: args.id,
        http_addr: args.http_addr,
    })
    .await?;
    eprintln!(
        "task manager {} serving on {} (HTTP {})",
        running.id, running.addr, running.http_addr
    );
    until_interrupted().await?;
    running.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Runs a coordinator and task managers in this process until interrupted.
pub async fn local(args: LocalArgs) -> anyhow::Result<ExitCode> {
    let coordinator = rtdw_coordinator::start(coordinator_config(
        args.grpc_addr,
        args.http_addr,
        &args.heartbeat,
    )?)
    .await?;
    let mut taskmanagers = Vec::new();
    for _ in 0..args.taskmanagers {
        taskmanagers.push(
            rtdw_taskmanager::start(TaskManagerConfig {
                coordinator: coordinator.url(),
                slots: args.slots,
                bind: SocketAddr::new(args.grpc_addr.ip(), 0),
                id: None,
                http_addr: SocketAddr::new(args.grpc_addr.ip(), 0),
            })
            .await?,
        );
    }
    eprintln!(
        "local cluster: coordinator {} (HTTP {}) with {} task manager(s) of {} slot(s); submit with `rtdw job submit FILE.sql`",
        coordinator.url(),
        display_addr(coordinator.http_addr),
        args.taskmanagers,
        args.slots
    );
    until_interrupted().await?;
    for tm in taskmanagers {
        tm.shutdown().await;
    }
    coordinator.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
