//! `rtdw sql ...`: check and explain SQL scripts locally, without a cluster,
//! with the same planner the coordinator runs at submission.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use rtdw_plan::JobGraph;
use rtdw_sql::{JobConfig, plan_job};

use crate::client::key_value;
use crate::read_sql;

/// `rtdw sql ...`
#[derive(Subcommand)]
pub enum SqlCommand {
    /// Plan a script as a submission would; prints "OK" or the first error
    /// with its line and column, and exits non-zero on an error.
    Validate(PlanArgs),
    /// Print the streaming plan: vertices with their chained operators and
    /// parallelism, edges with their partitioning keys and changelog mode.
    Explain(PlanArgs),
}

/// What to plan, with the options a submission would give.
#[derive(clap::Args)]
pub struct PlanArgs {
    /// The SQL script.
    file: PathBuf,
    /// Default parallelism of the job's operators.
    #[arg(long, short = 'p', value_parser = clap::value_parser!(u32).range(1..))]
    parallelism: Option<u32>,
    /// Job configuration, overriding the script's SET statements.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = key_value)]
    config: Vec<(String, String)>,
}

impl PlanArgs {
    /// Plans the script, naming the file in the error.
    async fn plan(&self) -> anyhow::Result<JobGraph> {
        let sql = read_sql(&self.file)?;
        let config = JobConfig {
            parallelism: self.parallelism,
            name: None,
            options: self.config.iter().cloned().collect(),
        };
        plan_job(&sql, &config, &crate::connectors::registry())
            .await
            .with_context(|| format!("{} is not a valid job", self.file.display()))
    }
}

/// Runs `rtdw sql ...`.
pub async fn sql(command: SqlCommand) -> anyhow::Result<ExitCode> {
    match command {
        SqlCommand::Validate(args) => {
            let graph = args.plan().await?;
            println!(
                "OK: job '{}' with {} vertices, needs {} slots",
                graph.name,
                graph.vertices.len(),
                graph.required_slots()
            );
        }
        SqlCommand::Explain(args) => print!("{}", args.plan().await?.explain()),
    }
    Ok(ExitCode::SUCCESS)
}
