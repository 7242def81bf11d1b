//! The long-running commands: coordinator, task manager, local cluster.
//! Their settings come from the layered configuration ([`crate::config`]);
//! the flags given override it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use figment::value::Value;
use rtdw_coordinator::{CoordinatorConfig, HeartbeatSettings};
use rtdw_observability::traces::Traces;
use rtdw_taskmanager::TaskManagerConfig;

use crate::config::{AppConfig, CONFIG_DIR_ENV, ConfigSource, PROFILE_ENV, config_dir, load};
use crate::socket_addr;

/// Which configuration files to read.
#[derive(Args)]
pub struct ConfigArgs {
    /// Profile: also read application-PROFILE.yml (dev, test, prod, ...).
    #[arg(long, env = PROFILE_ENV)]
    profile: Option<String>,
    /// Directory holding application.yml and its profile overlays.
    #[arg(long, env = CONFIG_DIR_ENV, default_value = "config")]
    config_dir: PathBuf,
}

impl ConfigArgs {
    /// The configuration sources, with the flags given.
    pub fn source(&self, flags: BTreeMap<String, Value>) -> ConfigSource {
        ConfigSource {
            dir: config_dir(Some(&self.config_dir)),
            profile: self.profile.clone(),
            flags,
        }
    }
}

/// Collects the flags that were given, by configuration key.
#[derive(Default)]
struct Flags(BTreeMap<String, Value>);

impl Flags {
    fn set(mut self, key: &str, value: Option<impl Into<Value>>) -> Self {
        if let Some(value) = value {
            self.0.insert(key.to_string(), value.into());
        }
        self
    }
}

/// Options of `rtdw coordinator`.
#[derive(Args)]
pub struct CoordinatorArgs {
    /// gRPC address for clients and task managers [config: coordinator.grpc_addr].
    #[arg(long, value_parser = socket_addr)]
    grpc_addr: Option<SocketAddr>,
    /// HTTP address for /metrics, /healthz, /readyz [config: coordinator.http_addr].
    #[arg(long, value_parser = socket_addr)]
    http_addr: Option<SocketAddr>,
    /// Local data directory (embedded metadata store, default checkpoints) [config: coordinator.data_dir].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Metadata store, etcd://host:port; default: embedded, in the data directory [config: coordinator.metastore].
    #[arg(long)]
    metastore: Option<String>,
    #[command(flatten)]
    heartbeat: HeartbeatArgs,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Task-manager liveness options.
#[derive(Args)]
pub struct HeartbeatArgs {
    /// How often task managers heartbeat, in ms [config: coordinator.heartbeat_interval_ms].
    #[arg(long)]
    heartbeat_interval_ms: Option<u64>,
    /// Silence after which a task manager is lost, in ms [config: coordinator.heartbeat_timeout_ms].
    #[arg(long)]
    heartbeat_timeout_ms: Option<u64>,
}

/// Options of `rtdw taskmanager`.
#[derive(Args)]
pub struct TaskManagerArgs {
    /// The coordinator's gRPC URL [config: taskmanager.coordinator].
    #[arg(long)]
    coordinator: Option<String>,
    /// Task slots offered [config: taskmanager.slots].
    #[arg(long)]
    slots: Option<u32>,
    /// gRPC and Arrow Flight address; port 0 picks a free one [config: taskmanager.bind].
    #[arg(long, value_parser = socket_addr)]
    bind: Option<SocketAddr>,
    /// Address for /metrics, /healthz, /readyz; port 0 picks a free one [config: taskmanager.http_addr].
    #[arg(long, value_parser = socket_addr)]
    http_addr: Option<SocketAddr>,
    /// Id to register under (default: address plus a random suffix).
    #[arg(long)]
    id: Option<String>,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Options of `rtdw local`.
#[derive(Args)]
pub struct LocalArgs {
    /// Number of task managers.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    taskmanagers: u32,
    /// Slots per task manager [config: taskmanager.slots].
    #[arg(long)]
    slots: Option<u32>,
    #[command(flatten)]
    coordinator: CoordinatorArgs,
}

impl CoordinatorArgs {
    /// The coordinator settings given as flags.
    fn flags(&self) -> Flags {
        let flags = Flags::default()
            .set("coordinator.grpc_addr", addr(self.grpc_addr))
            .set("coordinator.http_addr", addr(self.http_addr))
            .set(
                "coordinator.data_dir",
                self.data_dir.as_ref().map(|d| d.display().to_string()),
            )
            .set("coordinator.metastore", self.metastore.clone());
        self.heartbeat.flags(flags)
    }
}

impl HeartbeatArgs {
    fn flags(&self, flags: Flags) -> Flags {
        flags
            .set(
                "coordinator.heartbeat_interval_ms",
                self.heartbeat_interval_ms,
            )
            .set(
                "coordinator.heartbeat_timeout_ms",
                self.heartbeat_timeout_ms,
            )
    }
}

fn addr(value: Option<SocketAddr>) -> Option<String> {
    value.map(|a| a.to_string())
}

/// Loads the configuration and starts logging and tracing as it says, as
/// `service` (the traces' `service.name`) with resource `attributes`.
fn configure(
    config: &ConfigArgs,
    flags: Flags,
    service: &'static str,
    attributes: Vec<(&'static str, String)>,
) -> anyhow::Result<(AppConfig, Option<Traces>)> {
    let app = load(&config.source(flags.0))?;
    let headers: Vec<(String, String)> = app
        .tracing
        .otlp_headers
        .iter()
        .map(|(name, value)| (name.clone(), value.expose().to_string()))
        .collect();
    let traces = Traces::start(
        app.tracing.otlp_endpoint.as_deref(),
        &headers,
        service,
        attributes,
    )?;
    crate::init_logging(&app.logging, traces.as_ref());
    Ok((app, traces))
}

/// The host name, for trace resources.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Flushes traces before the process ends.
fn finish(traces: Option<Traces>) {
    if let Some(traces) = traces {
        traces.shutdown();
    }
}

fn coordinator_config(app: &AppConfig) -> CoordinatorConfig {
    let c = &app.coordinator;
    CoordinatorConfig {
        grpc_addr: c.grpc_addr,
        http_addr: Some(c.http_addr),
        heartbeat: HeartbeatSettings {
            interval: Duration::from_millis(c.heartbeat_interval_ms),
            timeout: Duration::from_millis(c.heartbeat_timeout_ms),
        },
        data_dir: c.data_dir.clone(),
        metastore: c.metastore.clone(),
        job_defaults: c.job_defaults.clone(),
        connectors: crate::connectors::registry(),
    }
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
    let attributes = vec![("host.name", host_name())];
    let (app, traces) = configure(&args.config, args.flags(), "rtdw-coordinator", attributes)?;
    let running = rtdw_coordinator::start(coordinator_config(&app)).await?;
    eprintln!(
        "coordinator listening on {} (HTTP {})",
        running.url(),
        display_addr(running.http_addr)
    );
    until_interrupted().await?;
    running.shutdown().await;
    finish(traces);
    Ok(ExitCode::SUCCESS)
}

/// Runs a task manager until interrupted.
pub async fn taskmanager(args: TaskManagerArgs) -> anyhow::Result<ExitCode> {
    let flags = Flags::default()
        .set("taskmanager.coordinator", args.coordinator)
        .set("taskmanager.slots", args.slots)
        .set("taskmanager.bind", addr(args.bind))
        .set("taskmanager.http_addr", addr(args.http_addr));
    let id = args.id.unwrap_or_else(rtdw_taskmanager::new_taskmanager_id);
    let attributes = vec![
        ("host.name", host_name()),
        ("rtdw.taskmanager.id", id.clone()),
    ];
    let (app, traces) = configure(&args.config, flags, "rtdw-taskmanager", attributes)?;
    let t = &app.taskmanager;
    let running = rtdw_taskmanager::start(TaskManagerConfig {
        coordinator: t.coordinator.clone(),
        slots: t.slots,
        bind: t.bind,
        id: Some(id),
        http_addr: t.http_addr,
        connectors: crate::connectors::registry(),
    })
    .await?;
    eprintln!(
        "task manager {} serving on {} (HTTP {})",
        running.id, running.addr, running.http_addr
    );
    until_interrupted().await?;
    running.shutdown().await;
    finish(traces);
    Ok(ExitCode::SUCCESS)
}

/// Runs a coordinator and task managers in this process until interrupted.
pub async fn local(args: LocalArgs) -> anyhow::Result<ExitCode> {
    let flags = args
        .coordinator
        .flags()
        .set("taskmanager.slots", args.slots);
    let attributes = vec![("host.name", host_name())];
    let (app, traces) = configure(&args.coordinator.config, flags, "rtdw-local", attributes)?;
    let coordinator = rtdw_coordinator::start(coordinator_config(&app)).await?;
    let host = app.coordinator.grpc_addr.ip();
    let mut taskmanagers = Vec::new();
    for _ in 0..args.taskmanagers {
        taskmanagers.push(
            rtdw_taskmanager::start(TaskManagerConfig {
                coordinator: coordinator.url(),
                slots: app.taskmanager.slots,
                bind: SocketAddr::new(host, 0),
                id: None,
                http_addr: SocketAddr::new(host, 0),
                connectors: crate::connectors::registry(),
            })
            .await?,
        );
    }
    eprintln!(
        "local cluster: coordinator {} (HTTP {}) with {} task manager(s) of {} slot(s); submit with `rtdw job submit FILE.sql`",
        coordinator.url(),
        display_addr(coordinator.http_addr),
        args.taskmanagers,
        app.taskmanager.slots
    );
    until_interrupted().await?;
    for tm in taskmanagers {
        tm.shutdown().await;
    }
    coordinator.shutdown().await;
    finish(traces);
    Ok(ExitCode::SUCCESS)
}

/// `rtdw config show`: every key, its effective value, and where it came from.
pub fn show_config(args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let rows = crate::config::describe(&args.source(BTreeMap::new()))?;
    let width = rows
        .iter()
        .map(|(k, v, _)| k.len() + v.len() + 3)
        .max()
        .unwrap_or(0);
    for (key, value, origin) in rows {
        let assignment = format!("{key} = {value}");
        println!("{assignment:<width$}  # {origin}");
    }
    Ok(ExitCode::SUCCESS)
}
