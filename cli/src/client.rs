//! The client commands: `rtdw job ...` and `rtdw cluster ...`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use rtdw_proto::v1::cluster_service_client::ClusterServiceClient;
use rtdw_proto::v1::job_service_client::JobServiceClient;
use rtdw_proto::v1::{
    CancelJobRequest, DisposeSavepointRequest, GetJobRequest, JobState, ListCheckpointsRequest,
    ListJobsRequest, ListSavepointsRequest, ListTaskManagersRequest, SubmitJobRequest,
    TriggerSavepointRequest,
};
use tonic::transport::Channel;

use crate::output::{
    checkpoints_json, job_details_json, print_checkpoints, print_job_details, print_jobs,
    print_taskmanagers, state_name, taskmanagers_json,
};
use crate::{Target, read_sql};

/// `rtdw job ...`
#[derive(Subcommand)]
pub enum JobCommand {
    /// Submit a SQL script as a job; prints the job id.
    Submit {
        /// The SQL script.
        file: PathBuf,
        /// Job name (default: the script's pipeline.name, else insert-into_<sink>).
        #[arg(long)]
        name: Option<String>,
        /// Default parallelism of the job's operators.
        #[arg(long, short = 'p', value_parser = clap::value_parser!(u32).range(1..))]
        parallelism: Option<u32>,
        /// Job configuration, overriding the script's SET statements.
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = key_value)]
        config: Vec<(String, String)>,
        /// Start from this savepoint (or retained checkpoint) directory;
        /// the parallelism may differ from the job's that took it.
        #[arg(long, value_name = "PATH")]
        from_savepoint: Option<String>,
        /// Wait until the job ends; exit non-zero unless it FINISHED.
        #[arg(long)]
        wait: bool,
    },
    /// List jobs.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a job: state, vertices, parallelism and where each subtask runs.
    Status {
        /// The job id.
        job_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a job.
    Cancel {
        /// The job id.
        job_id: String,
    },
    /// Take a savepoint of a running job; prints its directory.
    Savepoint {
        /// The job id.
        job_id: String,
        /// Target directory (default: the job's state.savepoints.dir).
        #[arg(long)]
        dir: Option<String>,
    },
    /// Stop a job gracefully: its sources end, everything drains and is
    /// committed, and the job FINISHES; with --savepoint, a savepoint is
    /// taken at the stop (its directory is printed).
    Stop {
        /// The job id.
        job_id: String,
        /// Take a savepoint to resume from later.
        #[arg(long)]
        savepoint: bool,
        /// Savepoint directory (default: the job's state.savepoints.dir).
        #[arg(long, requires = "savepoint")]
        dir: Option<String>,
    },
    /// List a job's retained savepoints, newest first.
    Savepoints {
        /// The job id.
        job_id: String,
    },
    /// List a job's checkpoints, newest first: id, kind, status, trigger
    /// time, duration, size, and each subtask's acknowledgement.
    Checkpoints {
        /// The job id.
        job_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `rtdw savepoint ...`
#[derive(Subcommand)]
pub enum SavepointCommand {
    /// Delete a savepoint's directory.
    Dispose {
        /// The savepoint directory, as `job savepoint` printed it.
        path: String,
    },
}

/// `rtdw cluster ...`
#[derive(Subcommand)]
pub enum ClusterCommand {
    /// List task managers with their slots and liveness.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn key_value(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not of the form KEY=VALUE"))?;
    Ok((key.trim().to_string(), value.trim().to_string()))
}

async fn channel(target: &Target) -> anyhow::Result<Channel> {
    tonic::transport::Endpoint::from_shared(target.coordinator.clone())
        .with_context(|| format!("invalid coordinator URL '{}'", target.coordinator))?
        .connect()
        .await
        .with_context(|| format!("cannot reach the coordinator at {}", target.coordinator))
}

/// A gRPC error as the user should read it.
fn rpc_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{} ({:?})", status.message(), status.code())
}

/// Runs a job command.
pub async fn job(command: JobCommand, target: &Target) -> anyhow::Result<ExitCode> {
    let mut client = JobServiceClient::new(channel(target).await?);
    match command {
        JobCommand::Submit {
            file,
            name,
            parallelism,
            config,
            from_savepoint,
            wait,
        } => {
            let sql = read_sql(&file)?;
            let request = SubmitJobRequest {
                sql,
                name: name.unwrap_or_default(),
                parallelism: parallelism.unwrap_or(0),
                config: config.into_iter().collect::<HashMap<_, _>>(),
                from_savepoint: from_savepoint.unwrap_or_default(),
            };
            let job_id = client
                .submit_job(request)
                .await
                .map_err(|s| rpc_error(s).context(format!("{} was not submitted", file.display())))?
                .into_inner()
                .job_id;
            println!("{job_id}");
            if !wait {
                return Ok(ExitCode::SUCCESS);
            }
            wait_for_end(&mut client, &job_id).await
        }
        JobCommand::List { json } => {
            let jobs = client
                .list_jobs(ListJobsRequest {})
                .await
                .map_err(rpc_error)?
                .into_inner()
                .jobs;
            if json {
                let list: Vec<_> = jobs.iter().map(crate::output::summary_json).collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print_jobs(&jobs);
            }
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Status { job_id, json } => {
            let details = client
                .get_job(GetJobRequest { job_id })
                .await
                .map_err(rpc_error)?
                .into_inner();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&job_details_json(&details))?
                );
            } else {
                print_job_details(&details);
            }
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Cancel { job_id } => {
            let response = client
                .cancel_job(CancelJobRequest {
                    job_id: job_id.clone(),
                })
                .await
                .map_err(rpc_error)?
                .into_inner();
            println!("job {job_id} {}", state_name(response.state));
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Savepoint { job_id, dir } => {
            let request = TriggerSavepointRequest {
                job_id,
                dir: dir.unwrap_or_default(),
                stop: false,
                without_savepoint: false,
            };
            let response = client
                .trigger_savepoint(request)
                .await
                .map_err(rpc_error)?
                .into_inner();
            println!("{}", response.location);
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Stop {
            job_id,
            savepoint,
            dir,
        } => {
            let request = TriggerSavepointRequest {
                job_id: job_id.clone(),
                dir: dir.unwrap_or_default(),
                stop: true,
                without_savepoint: !savepoint,
            };
            let response = client
                .trigger_savepoint(request)
                .await
                .map_err(rpc_error)?
                .into_inner();
            if savepoint {
                println!("{}", response.location);
            }
            wait_for_end(&mut client, &job_id).await
        }
        JobCommand::Savepoints { job_id } => {
            let savepoints = client
                .list_savepoints(ListSavepointsRequest { job_id })
                .await
                .map_err(rpc_error)?
                .into_inner()
                .savepoints;
            println!("{:>6}  {:>16}  LOCATION", "ID", "COMPLETED (ms)");
            for s in savepoints {
                println!(
                    "{:>6}  {:>16}  {}",
                    s.checkpoint_id, s.complete_time_ms, s.location
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        JobCommand::Checkpoints { job_id, json } => {
            let checkpoints = client
                .list_checkpoints(ListCheckpointsRequest { job_id })
                .await
                .map_err(rpc_error)?
                .into_inner()
                .checkpoints;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&checkpoints_json(&checkpoints))?
                );
            } else {
                print_checkpoints(&checkpoints);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs a savepoint command.
pub async fn savepoint(command: SavepointCommand, target: &Target) -> anyhow::Result<ExitCode> {
    let mut client = JobServiceClient::new(channel(target).await?);
    match command {
        SavepointCommand::Dispose { path } => {
            client
                .dispose_savepoint(DisposeSavepointRequest {
                    location: path.clone(),
                })
                .await
                .map_err(rpc_error)?;
            println!("disposed {path}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Polls a job until it ends; success only for FINISHED.
async fn wait_for_end(
    client: &mut JobServiceClient<Channel>,
    job_id: &str,
) -> anyhow::Result<ExitCode> {
    loop {
        let details = client
            .get_job(GetJobRequest {
                job_id: job_id.to_string(),
            })
            .await
            .map_err(rpc_error)?
            .into_inner();
        let summary = details.summary.unwrap_or_default();
        match JobState::try_from(summary.state).unwrap_or(JobState::Unspecified) {
            JobState::Finished => {
                eprintln!("job {job_id} FINISHED");
                return Ok(ExitCode::SUCCESS);
            }
            JobState::Failed => {
                eprintln!(
                    "job {job_id} FAILED ({} error): {}",
                    crate::output::failure_class(&summary),
                    summary.failure
                );
                return Ok(ExitCode::FAILURE);
            }
            JobState::Canceled => {
                eprintln!("job {job_id} CANCELED");
                return Ok(ExitCode::FAILURE);
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Runs a cluster command.
pub async fn cluster(command: ClusterCommand, target: &Target) -> anyhow::Result<ExitCode> {
    let mut client = ClusterServiceClient::new(channel(target).await?);
    match command {
        ClusterCommand::List { json } => {
            let taskmanagers = client
                .list_task_managers(ListTaskManagersRequest {})
                .await
                .map_err(rpc_error)?
                .into_inner()
                .taskmanagers;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&taskmanagers_json(&taskmanagers))?
                );
            } else {
                print_taskmanagers(&taskmanagers);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
