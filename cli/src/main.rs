//! `rtdw`: run a coordinator, a task manager or a local cluster, and manage
//! jobs over the coordinator's gRPC API.

mod client;
mod config;
mod connectors;
mod output;
mod secret;
mod servers;
mod sql;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use rtdw_observability::traces::Traces;

/// rtdw: a distributed stream processor for real-time data warehouses.
#[derive(Parser)]
#[command(name = "rtdw", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the coordinator: job API, scheduling, cluster membership.
    Coordinator(servers::CoordinatorArgs),
    /// Run a task manager that registers with a coordinator and runs subtasks.
    Taskmanager(servers::TaskManagerArgs),
    /// Run a coordinator and task managers in one process (zero setup).
    Local(servers::LocalArgs),
    /// Submit and manage jobs.
    Job {
        #[command(subcommand)]
        command: client::JobCommand,
        #[command(flatten)]
        target: Target,
    },
    /// Show the effective configuration and where each value comes from.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage savepoints.
    Savepoint {
        #[command(subcommand)]
        command: client::SavepointCommand,
        #[command(flatten)]
        target: Target,
    },
    /// Check or explain a SQL script locally, without a cluster.
    Sql {
        #[command(subcommand)]
        command: sql::SqlCommand,
    },
    /// List the connectors and formats, or describe one's options.
    Connectors {
        #[command(subcommand)]
        command: connectors::ConnectorsCommand,
    },
    /// Inspect the cluster.
    Cluster {
        #[command(subcommand)]
        command: client::ClusterCommand,
        #[command(flatten)]
        target: Target,
    },
}

/// `rtdw config ...`
#[derive(Subcommand)]
enum ConfigCommand {
    /// Print every configuration key with its value and origin (file,
    /// environment variable, flag or default).
    Show(servers::ConfigArgs),
}

/// Where the coordinator is.
#[derive(Args, Clone)]
pub struct Target {
    /// The coordinator's gRPC URL.
    #[arg(
        long,
        env = "RTDW_COORDINATOR",
        default_value = "http://127.0.0.1:6123",
        global = true
    )]
    pub coordinator: String,
}

/// Parses `host:port`.
pub fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|e| format!("'{text}' is not an address of the form 127.0.0.1:6123: {e}"))
}

/// Reads a SQL file, naming it in the error.
pub fn read_sql(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

/// Starts logging to standard error, as text or JSON, at the configured
/// level (colors only on a terminal), and, when given, exporting spans as
/// OpenTelemetry traces.
pub fn init_logging(logging: &config::LoggingSection, traces: Option<&Traces>) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match logging.format {
        config::LogFormat::Text => fmt.with_ansi(std::io::stderr().is_terminal()).boxed(),
        config::LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    };
    tracing_subscriber::registry()
        .with(fmt)
        .with(traces.map(|t| t.layer()))
        .with(tracing_subscriber::EnvFilter::new(&logging.level))
        .init();
}

/// Logging for client commands: warnings only.
fn init_client_logging() {
    let logging = config::LoggingSection {
        level: "warn".into(),
        format: config::LogFormat::Text,
    };
    init_logging(&logging, None);
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Coordinator(args) => servers::coordinator(args).await,
        Command::Taskmanager(args) => servers::taskmanager(args).await,
        Command::Local(args) => servers::local(args).await,
        Command::Config {
            command: ConfigCommand::Show(args),
        } => servers::show_config(&args),
        Command::Job { command, target } => {
            init_client_logging();
            client::job(command, &target).await
        }
        Command::Cluster { command, target } => {
            init_client_logging();
            client::cluster(command, &target).await
        }
        Command::Sql { command } => {
            init_client_logging();
            sql::sql(command).await
        }
        Command::Connectors { command } => connectors::connectors(command),
        Command::Savepoint { command, target } => {
            init_client_logging();
            client::savepoint(command, &target).await
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
