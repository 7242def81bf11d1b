//! How client commands print what the coordinator returns, as text tables
//! or JSON.

pub use rtdw_proto::job_state_name as state_name;
use rtdw_proto::v1::{
    CheckpointInfo, CheckpointStatus, FailureClass, JobDetails, JobSummary, TaskManagerDetails,
};
use rtdw_proto::{task_state_name, taskmanager_state_name};
use serde_json::{Value, json};

/// A job summary as JSON.
pub fn summary_json(summary: &JobSummary) -> Value {
    json!({
        "job_id": summary.job_id,
        "name": summary.name,
        "state": state_name(summary.state),
        "submit_time_ms": summary.submit_time_ms,
        "end_time_ms": summary.end_time_ms,
        "failure": summary.failure,
        "failure_class": failure_class(summary),
    })
}

/// `user` (not restarted: the job, its options or the outside system must
/// change) or `transient`; empty without a failure.
pub fn failure_class(summary: &JobSummary) -> &'static str {
    match summary.failure_class() {
        FailureClass::User => "user",
        FailureClass::Transient => "transient",
        FailureClass::Unspecified => "",
    }
}

/// A job's details as JSON.
pub fn job_details_json(details: &JobDetails) -> Value {
    let mut value = summary_json(&details.summary.clone().unwrap_or_default());
    value["parallelism"] = json!(details.parallelism);
    value["restarts"] = json!(details.restarts);
    value["restored_checkpoint_id"] = json!(details.restored_checkpoint_id);
    value["latest_checkpoint_id"] = json!(details.latest_checkpoint_id);
    value["vertices"] = details
        .vertices
        .iter()
        .map(|v| {
            json!({
                "id": v.id,
                "name": v.name,
                "parallelism": v.parallelism,
                "subtasks": v.subtasks.iter().map(|s| json!({
                    "index": s.index,
                    "state": task_state_name(s.state),
                    "taskmanager_id": s.taskmanager_id,
                    "taskmanager_host": s.taskmanager_host,
                    "failure": s.failure,
                    "splits": s.splits,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    value["edges"] = details
        .edges
        .iter()
        .map(|e| json!({"id": e.id, "source": e.source_vertex, "target": e.target_vertex, "partitioning": e.partitioning}))
        .collect();
    value
}

/// Task managers as JSON.
pub fn taskmanagers_json(taskmanagers: &[TaskManagerDetails]) -> Value {
    taskmanagers
        .iter()
        .map(|t| {
            json!({
                "taskmanager_id": t.taskmanager_id,
                "host": t.host,
                "control_addr": t.control_addr,
                "data_addr": t.data_addr,
                "http_addr": t.http_addr,
                "slots": t.slots,
                "free_slots": t.free_slots,
                "state": taskmanager_state_name(t.state),
                "last_heartbeat_ms": t.last_heartbeat_ms,
            })
        })
        .collect()
}

/// Jobs as a table.
pub fn print_jobs(jobs: &[JobSummary]) {
    println!("{:<32}  {:<10}  NAME", "JOB ID", "STATE");
    for job in jobs {
        println!(
            "{:<32}  {:<10}  {}",
            job.job_id,
            state_name(job.state),
            job.name
        );
    }
}

/// A job, with vertices and placements.
pub fn print_job_details(details: &JobDetails) {
    let summary = details.summary.clone().unwrap_or_default();
    println!("Job:         {}", summary.job_id);
    println!("Name:        {}", summary.name);
    println!("State:       {}", state_name(summary.state));
    println!("Parallelism: {}", details.parallelism);
    println!("Restarts:    {}", details.restarts);
    if details.restored_checkpoint_id > 0 {
        println!("Restored:    checkpoint {}", details.restored_checkpoint_id);
    }
    if details.latest_checkpoint_id > 0 {
        println!("Latest:      checkpoint {}", details.latest_checkpoint_id);
    }
    if !summary.failure.is_empty() {
        println!(
            "Failure:     ({} error) {}",
            failure_class(&summary),
            summary.failure
        );
    }
    println!("Vertices:");
    for vertex in &details.vertices {
        println!(
            "  [{}] {} (parallelism {})",
            vertex.id, vertex.name, vertex.parallelism
        );
        for subtask in &vertex.subtasks {
            let failure = if subtask.failure.is_empty() {
                String::new()
            } else {
                format!("  {}", subtask.failure)
            };
            let splits = match subtask.splits.len() {
                0 => String::new(),
                n => {
                    let shown: Vec<&str> =
                        subtask.splits.iter().take(3).map(String::as_str).collect();
                    let more = if n > shown.len() { ", ..." } else { "" };
                    format!("  {n} split(s): {}{more}", shown.join(", "))
                }
            };
            println!(
                "      subtask {}/{}  {:<9}  on {} ({}){splits}{failure}",
                subtask.index + 1,
                vertex.parallelism,
                task_state_name(subtask.state),
                subtask.taskmanager_id,
                subtask.taskmanager_host
            );
        }
    }
    if !details.edges.is_empty() {
        println!("Edges:");
        for edge in &details.edges {
            println!(
                "  [{}] -> [{}]  {}",
                edge.source_vertex, edge.target_vertex, edge.partitioning
            );
        }
    }
}

/// Task managers as a table.
pub fn print_taskmanagers(taskmanagers: &[TaskManagerDetails]) {
    println!(
        "{:<40}  {:<6}  {:>5}  {:>4}  {:<26}  HTTP",
        "TASK MANAGER", "STATE", "SLOTS", "FREE", "DATA ADDRESS"
    );
    for t in taskmanagers {
        println!(
            "{:<40}  {:<6}  {:>5}  {:>4}  {:<26}  {}",
            t.taskmanager_id,
            taskmanager_state_name(t.state),
            t.slots,
            t.free_slots,
            t.data_addr,
            t.http_addr
        );
    }
}

/// `IN_PROGRESS`, `COMPLETED` or `FAILED`.
fn checkpoint_status(status: i32) -> &'static str {
    CheckpointStatus::try_from(status)
        .map(|s| s.as_str_name().trim_start_matches("CHECKPOINT_STATUS_"))
        .unwrap_or("UNKNOWN")
}

/// Checkpoints as JSON.
pub fn checkpoints_json(checkpoints: &[CheckpointInfo]) -> Value {
    checkpoints
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "kind": c.kind,
                "status": checkpoint_status(c.status),
                "trigger_time_ms": c.trigger_time_ms,
                "duration_ms": c.duration_ms,
                "size_bytes": c.size_bytes,
                "location": c.location,
                "failure": c.failure,
                "acks": c.acks.iter().map(|a| json!({
                    "vertex": a.vertex_id,
                    "subtask": a.subtask,
                    "ack_time_ms": a.ack_time_ms,
                    "size_bytes": a.size_bytes,
                    "failure": a.failure,
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// Checkpoints as a table, with each subtask's acknowledgement.
pub fn print_checkpoints(checkpoints: &[CheckpointInfo]) {
    println!(
        "{:>6}  {:<10}  {:<11}  {:>15}  {:>9}  {:>12}  LOCATION",
        "ID", "KIND", "STATUS", "TRIGGERED (ms)", "TOOK (ms)", "SIZE (bytes)"
    );
    for c in checkpoints {
        println!(
            "{:>6}  {:<10}  {:<11}  {:>15}  {:>9}  {:>12}  {}",
            c.id,
            c.kind,
            checkpoint_status(c.status),
            c.trigger_time_ms,
            c.duration_ms,
            c.size_bytes,
            c.location
        );
        if !c.failure.is_empty() {
            println!("        failure: {}", c.failure);
        }
        for a in &c.acks {
            let ack = if a.ack_time_ms > 0 {
                format!(
                    "acknowledged after {} ms",
                    a.ack_time_ms - c.trigger_time_ms
                )
            } else {
                "not acknowledged".to_string()
            };
            let failure = if a.failure.is_empty() {
                String::new()
            } else {
                format!("; declined: {}", a.failure)
            };
            println!(
                "        vertex {} subtask {}: {ack}, {} bytes{failure}",
                a.vertex_id, a.subtask, a.size_bytes
            );
        }
    }
}
