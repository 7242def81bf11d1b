//! The coordinator's metrics, computed from its state at every scrape:
//! task managers and slots, jobs by state, and the current state of the
//! newest job of each name (`rtdw_job_state{job, name, state} 1`).

use std::collections::BTreeMap;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use rtdw_observability::Observability;

use crate::coordinator::Coordinator;
use rtdw_proto::job_state_name as state_name;
use rtdw_proto::v1::JobSummary;

/// Label of the per-state job count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

/// The label of per-job series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabel {
    job: String,
}

/// Labels of the checkpoint counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckpointLabels {
    job: String,
    status: String,
}

/// Raises a counter to `total` (counters only go up; the totals they
/// mirror are kept by the coordinator).
fn raise_to(counter: &Counter, total: u64) {
    let current = counter.get();
    if total > current {
        counter.inc_by(total - current);
    }
}

/// Labels of a job's state series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
    name: String,
    state: String,
}

/// The newest job of each name: a resubmitted pipeline replaces its
/// predecessor's state series, so an alert on a FAILED job clears.
fn newest_per_name(jobs: Vec<JobSummary>) -> Vec<JobSummary> {
    let mut newest: BTreeMap<String, JobSummary> = BTreeMap::new();
    for job in jobs {
        let replace = newest.get(&job.name).is_none_or(|current| {
            (job.submit_time_ms, &job.job_id) > (current.submit_time_ms, &current.job_id)
        });
        if replace {
            newest.insert(job.name.clone(), job);
        }
    }
    newest.into_values().collect()
}

/// Registers the coordinator's metrics and the hook that refreshes them.
pub fn register(observability: &Observability, coordinator: Arc<Coordinator>) {
    let taskmanagers = Gauge::<i64>::default();
    let slots_total = Gauge::<i64>::default();
    let slots_free = Gauge::<i64>::default();
    let jobs = Family::<StateLabel, Gauge<i64>>::default();
    let job_state = Family::<JobLabels, Gauge<i64>>::default();
    let checkpoints = Family::<CheckpointLabels, Counter>::default();
    let restarts = Family::<JobLabel, Counter>::default();
    let last_age = Family::<JobLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let interval = Family::<JobLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let duration = Family::<JobLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let size = Family::<JobLabel, Gauge<i64>>::default();
    observability.register(|r| {
        r.register(
            "checkpoints",
            "Checkpoints by status (COMPLETED, FAILED), per job.",
            checkpoints.clone(),
        );
        r.register(
            "job_restarts",
            "Restarts after failures, per job.",
            restarts.clone(),
        );
        r.register(
            "checkpoint_last_completed_age_seconds",
            "Seconds since the job's newest checkpoint completed.",
            last_age.clone(),
        );
        r.register(
            "checkpoint_interval_seconds",
            "The job's checkpoint interval.",
            interval.clone(),
        );
        r.register(
            "checkpoint_last_duration_seconds",
            "Trigger to completion of the job's newest checkpoint.",
            duration.clone(),
        );
        r.register(
            "checkpoint_last_size_bytes",
            "State size of the job's newest checkpoint.",
            size.clone(),
        );
        r.register(
            "taskmanagers_registered",
            "Task managers alive.",
            taskmanagers.clone(),
        );
        r.register(
            "slots_total",
            "Task slots of live task managers.",
            slots_total.clone(),
        );
        r.register(
            "slots_free",
            "Free task slots of live task managers.",
            slots_free.clone(),
        );
        r.register("jobs", "Jobs by state.", jobs.clone());
        r.register(
            "job_state",
            "1 for each job's current state.",
            job_state.clone(),
        );
    });
    observability.before_scrape(Box::new(move || {
        let stats = coordinator.stats();
        taskmanagers.set(stats.taskmanagers as i64);
        slots_total.set(stats.slots_total as i64);
        slots_free.set(stats.slots_free as i64);
        jobs.clear();
        for (state, count) in &stats.jobs_by_state {
            jobs.get_or_create(&StateLabel {
                state: state.clone(),
            })
            .set(*count as i64);
        }
        for gauge in [&last_age, &interval, &duration] {
            gauge.clear();
        }
        size.clear();
        for job in coordinator.checkpoint_stats() {
            let label = JobLabel {
                job: job.job_id.clone(),
            };
            for (status, total) in [
                ("COMPLETED", job.totals.completed),
                ("FAILED", job.totals.failed),
            ] {
                let labels = CheckpointLabels {
                    job: job.job_id.clone(),
                    status: status.into(),
                };
                raise_to(&checkpoints.get_or_create(&labels), total);
            }
            raise_to(&restarts.get_or_create(&label), u64::from(job.restarts));
            if let Some(every) = job.interval {
                interval.get_or_create(&label).set(every.as_secs_f64());
            }
            if let Some(at) = job.totals.last_completed {
                last_age
                    .get_or_create(&label)
                    .set(at.elapsed().as_secs_f64());
                duration
                    .get_or_create(&label)
                    .set(job.totals.last_duration.as_secs_f64());
                size.get_or_create(&label)
                    .set(job.totals.last_size_bytes as i64);
            }
        }
        job_state.clear();
        for job in newest_per_name(coordinator.jobs()) {
            let labels = JobLabels {
                job: job.job_id.clone(),
                name: job.name.clone(),
                state: state_name(job.state).to_string(),
            };
            job_state.get_or_create(&labels).set(1);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, name: &str, submitted: i64) -> JobSummary {
        JobSummary {
            job_id: id.into(),
            name: name.into(),
            submit_time_ms: submitted,
            ..JobSummary::default()
        }
    }

    #[test]
    fn only_the_newest_job_of_each_name_is_kept() {
        let kept = newest_per_name(vec![
            job("a", "dwd", 1),
            job("b", "dwd", 5),
            job("c", "ods", 2),
            job("d", "dwd", 3),
        ]);
        let ids: Vec<&str> = kept.iter().map(|j| j.job_id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
    }
}
