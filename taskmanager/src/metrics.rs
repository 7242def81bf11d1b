//! A task manager's metrics, per subtask (labels `job`, `vertex`,
//! `subtask`): rows and Arrow bytes into and out of the subtask's chain, time
//! busy in operators and sinks, time backpressured (waiting for downstream
//! channels), watermark lag, and the source lag that CDC and Kafka sources
//! report. A vertex's rows in are what its source read or its input channels
//! delivered; its rows out are what it sent downstream or wrote to its sink.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Unit;
use rtdw_observability::Observability;
use rtdw_operators::time::now_millis;

/// How long the metrics of a job stay visible after its subtasks here ended,
/// so that a scrape sees their final values.
pub const RETENTION_AFTER_END: Duration = Duration::from_secs(300);

/// Labels of every per-subtask metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SubtaskLabels {
    /// Job id.
    pub job: String,
    /// Vertex id.
    pub vertex: String,
    /// Subtask index.
    pub subtask: String,
}

impl SubtaskLabels {
    /// The labels of one subtask.
    pub fn new(job: &str, vertex: u32, subtask: u32) -> Self {
        SubtaskLabels {
            job: job.to_string(),
            vertex: vertex.to_string(),
            subtask: subtask.to_string(),
        }
    }
}

/// Labels of per-operator metrics: a subtask's and the operator's name in
/// its chain (`1-Calc`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperatorLabels {
    /// Job id.
    pub job: String,
    /// Vertex id.
    pub vertex: String,
    /// Subtask index.
    pub subtask: String,
    /// Position in the chain and kind.
    pub operator: String,
}

/// Labels of records a source dropped: the subtask's, the table read and
/// why (`malformed`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DroppedLabels {
    /// Job id.
    pub job: String,
    /// Vertex id.
    pub vertex: String,
    /// Subtask index.
    pub subtask: String,
    /// The table the source reads.
    pub table: String,
    /// Why the records were dropped.
    pub reason: String,
}

/// Labels of how far a source is behind one part of its input: the
/// subtask's, the table read and the part (`topic:partition`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LagLabels {
    /// Job id.
    pub job: String,
    /// Vertex id.
    pub vertex: String,
    /// Subtask index.
    pub subtask: String,
    /// The table the source reads.
    pub table: String,
    /// The part of its input, e.g. a Kafka partition `topic:partition`.
    pub partition: String,
}

type Seconds = Counter<f64, AtomicU64>;

/// The series of each subtask in a family, to remove them with it.
type SeriesOf<L> = Arc<Mutex<HashMap<SubtaskLabels, Vec<L>>>>;

/// The metric families of a task manager.
#[derive(Default)]
pub struct TaskMetrics {
    records_in: Family<SubtaskLabels, Counter>,
    records_out: Family<SubtaskLabels, Counter>,
    bytes_in: Family<SubtaskLabels, Counter>,
    bytes_out: Family<SubtaskLabels, Counter>,
    busy: Family<SubtaskLabels, Seconds>,
    backpressured: Family<SubtaskLabels, Seconds>,
    watermark_lag: Family<SubtaskLabels, Gauge<f64, AtomicU64>>,
    source_lag: Family<SubtaskLabels, Gauge<f64, AtomicU64>>,
    operator_records_in: Family<OperatorLabels, Counter>,
    operator_records_out: Family<OperatorLabels, Counter>,
    late_records_dropped: Family<OperatorLabels, Counter>,
    records_dropped: Family<DroppedLabels, Counter>,
    /// The dropped-records series of each subtask.
    dropped_of: SeriesOf<DroppedLabels>,
    source_lag_records: Family<LagLabels, Gauge>,
    /// The lag series of each subtask.
    lag_of: SeriesOf<LagLabels>,
    /// The operator series of each subtask, to remove them with it.
    operators_of: Mutex<HashMap<SubtaskLabels, Vec<OperatorLabels>>>,
}

impl TaskMetrics {
    /// Creates the families and registers them.
    pub fn register(observability: &Observability) -> Arc<Self> {
        let metrics = Arc::new(TaskMetrics::default());
        observability.register(|r| {
            r.register(
                "records_in",
                "Rows into a subtask's chain.",
                metrics.records_in.clone(),
            );
            r.register(
                "records_out",
                "Rows out of a subtask's chain.",
                metrics.records_out.clone(),
            );
            r.register_with_unit(
                "in",
                "Arrow bytes into a subtask's chain.",
                Unit::Bytes,
                metrics.bytes_in.clone(),
            );
            r.register_with_unit(
                "out",
                "Arrow bytes out of a subtask's chain.",
                Unit::Bytes,
                metrics.bytes_out.clone(),
            );
            r.register_with_unit(
                "busy",
                "Time a subtask spent in its operators and sink.",
                Unit::Seconds,
                metrics.busy.clone(),
            );
            r.register_with_unit(
                "backpressured",
                "Time a subtask waited for room in its downstream channels.",
                Unit::Seconds,
                metrics.backpressured.clone(),
            );
            r.register_with_unit(
                "watermark_lag",
                "Wall-clock time minus a subtask's current watermark.",
                Unit::Seconds,
                metrics.watermark_lag.clone(),
            );
            r.register(
                "operator_records_in",
                "Rows into one operator of a subtask's chain.",
                metrics.operator_records_in.clone(),
            );
            r.register(
                "operator_records_out",
                "Rows out of one operator of a subtask's chain.",
                metrics.operator_records_out.clone(),
            );
            r.register(
                "late_records_dropped",
                "Rows an event-time operator dropped because the watermark had passed all their windows (Flink's numLateRecordsDropped).",
                metrics.late_records_dropped.clone(),
            );
            r.register(
                "records_dropped",
                "Records a source skipped under its table's error policy (a malformed record with '<format>.ignore-parse-errors'), by table and reason.",
                metrics.records_dropped.clone(),
            );
            r.register_with_unit(
                "source_lag",
                "How far a source is behind its input (binlog seconds behind, Kafka consumer lag).",
                Unit::Seconds,
                metrics.source_lag.clone(),
            );
            r.register(
                "source_lag_records",
                "Records a source's input holds beyond what it has read, by part (Kafka consumer lag per partition).",
                metrics.source_lag_records.clone(),
            );
        });
        metrics
    }

    /// The metrics of one subtask whose chain holds `operators` and, for a
    /// source vertex, reads `source_table`.
    pub fn subtask(
        &self,
        labels: &SubtaskLabels,
        operators: &[String],
        source_table: Option<&str>,
    ) -> SubtaskMetrics {
        let operator_labels: Vec<OperatorLabels> = operators
            .iter()
            .map(|name| OperatorLabels {
                job: labels.job.clone(),
                vertex: labels.vertex.clone(),
                subtask: labels.subtask.clone(),
                operator: name.clone(),
            })
            .collect();
        let operators = operator_labels
            .iter()
            .map(|l| OperatorCounters {
                records_in: self.operator_records_in.get_or_create(l).clone(),
                records_out: self.operator_records_out.get_or_create(l).clone(),
                late_dropped: self.late_records_dropped.get_or_create(l).clone(),
            })
            .collect();
        self.operators_of
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(labels.clone(), operator_labels);
        SubtaskMetrics {
            operators,
            records_in: self.records_in.get_or_create(labels).clone(),
            records_out: self.records_out.get_or_create(labels).clone(),
            bytes_in: self.bytes_in.get_or_create(labels).clone(),
            bytes_out: self.bytes_out.get_or_create(labels).clone(),
            busy: self.busy.get_or_create(labels).clone(),
            backpressured: self.backpressured.get_or_create(labels).clone(),
            watermark_lag: self.watermark_lag.get_or_create(labels).clone(),
            dropped: source_table.map(|table| SourceSeries {
                family: self.records_dropped.clone(),
                subtask: labels.clone(),
                table: table.to_string(),
                series: self.dropped_of.clone(),
            }),
            lag: source_table.map(|table| SourceSeries {
                family: self.source_lag_records.clone(),
                subtask: labels.clone(),
                table: table.to_string(),
                series: self.lag_of.clone(),
            }),
            lag_seconds: source_table.map(|_| self.source_lag.get_or_create(labels).clone()),
        }
    }

    /// Forgets the metrics of the given subtasks.
    pub fn remove(&self, labels: &[SubtaskLabels]) {
        for l in labels {
            self.records_in.remove(l);
            self.records_out.remove(l);
            self.bytes_in.remove(l);
            self.bytes_out.remove(l);
            self.busy.remove(l);
            self.backpressured.remove(l);
            self.watermark_lag.remove(l);
            self.source_lag.remove(l);
            let operators = self
                .operators_of
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(l);
            for o in operators.unwrap_or_default() {
                self.operator_records_in.remove(&o);
                self.operator_records_out.remove(&o);
                self.late_records_dropped.remove(&o);
            }
            remove_series(&self.records_dropped, &self.dropped_of, l);
            remove_series(&self.source_lag_records, &self.lag_of, l);
        }
    }
}

/// The counters of one chained operator.
#[derive(Clone, Default)]
struct OperatorCounters {
    records_in: Counter,
    records_out: Counter,
    late_dropped: Counter,
}

/// The metrics one subtask updates.
#[derive(Clone, Default)]
pub struct SubtaskMetrics {
    /// Rows in and out of each chained operator.
    operators: Vec<OperatorCounters>,
    records_in: Counter,
    records_out: Counter,
    bytes_in: Counter,
    bytes_out: Counter,
    busy: Seconds,
    backpressured: Seconds,
    watermark_lag: Gauge<f64, AtomicU64>,
    /// For a source subtask, what its source dropped.
    dropped: Option<SourceSeries<DroppedLabels, Counter>>,
    /// For a source subtask, how far it is behind its input.
    lag: Option<SourceSeries<LagLabels, Gauge>>,
    /// For a source subtask, how old the last change it read is.
    lag_seconds: Option<Gauge<f64, AtomicU64>>,
}

/// The series of one source subtask in a family labelled by the subtask,
/// the table and one more label (a reason, a partition), made on first use
/// and removed with the subtask.
#[derive(Clone)]
struct SourceSeries<L, M> {
    family: Family<L, M>,
    subtask: SubtaskLabels,
    table: String,
    series: SeriesOf<L>,
}

impl<L: Clone + std::hash::Hash + Eq, M: Default + Clone> SourceSeries<L, M> {
    /// The metric of the series `labels` names, remembered for removal.
    fn get(&self, labels: L) -> M {
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let known = series.entry(self.subtask.clone()).or_default();
        if !known.contains(&labels) {
            known.push(labels.clone());
        }
        self.family.get_or_create(&labels).clone()
    }
}

/// Removes the series of subtask `subtask` from `family`.
fn remove_series<L: Clone + std::hash::Hash + Eq, M>(
    family: &Family<L, M>,
    series: &SeriesOf<L>,
    subtask: &SubtaskLabels,
) {
    let removed = series
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(subtask);
    for labels in removed.unwrap_or_default() {
        family.remove(&labels);
    }
}

impl SubtaskMetrics {
    /// Takes the counts of records `source` dropped so far, and how far it
    /// is behind its input.
    pub fn source_progress(&self, source: &dyn rtdw_operators::Source) {
        if let Some(dropped) = &self.dropped {
            for (reason, total) in source.records_dropped() {
                if total == 0 {
                    continue;
                }
                let counter = dropped.get(DroppedLabels {
                    job: dropped.subtask.job.clone(),
                    vertex: dropped.subtask.vertex.clone(),
                    subtask: dropped.subtask.subtask.clone(),
                    table: dropped.table.clone(),
                    reason: reason.to_string(),
                });
                counter.inc_by(total.saturating_sub(counter.get()));
            }
        }
        if let (Some(gauge), Some(seconds)) = (&self.lag_seconds, source.lag_seconds()) {
            gauge.set(seconds);
        }
        if let Some(lag) = &self.lag {
            for (partition, records) in source.lag() {
                lag.get(LagLabels {
                    job: lag.subtask.job.clone(),
                    vertex: lag.subtask.vertex.clone(),
                    subtask: lag.subtask.subtask.clone(),
                    table: lag.table.clone(),
                    partition,
                })
                .set(records);
            }
        }
    }

    /// A batch entered the chain.
    pub fn batch_in(&self, batch: &RecordBatch) {
        self.records_in.inc_by(batch.num_rows() as u64);
        self.bytes_in.inc_by(batch.get_array_memory_size() as u64);
    }

    /// A batch left the chain.
    pub fn batch_out(&self, batch: &RecordBatch) {
        self.records_out.inc_by(batch.num_rows() as u64);
        self.bytes_out.inc_by(batch.get_array_memory_size() as u64);
    }

    /// Operator `index` of the chain took `rows_in` rows and emitted `rows_out`.
    pub fn operator(&self, index: usize, rows_in: usize, rows_out: usize) {
        if let Some(counters) = self.operators.get(index) {
            counters.records_in.inc_by(rows_in as u64);
            counters.records_out.inc_by(rows_out as u64);
        }
    }

    /// Operator `index` of the chain has dropped `total` late rows so far.
    pub fn late_rows(&self, index: usize, total: u64) {
        if let Some(counters) = self.operators.get(index) {
            let counter = &counters.late_dropped;
            counter.inc_by(total.saturating_sub(counter.get()));
        }
    }

    /// Time spent working.
    pub fn busy(&self, time: Duration) {
        self.busy.inc_by(time.as_secs_f64());
    }

    /// Time spent waiting for downstream.
    pub fn backpressured(&self, time: Duration) {
        self.backpressured.inc_by(time.as_secs_f64());
    }

    /// The subtask's watermark advanced to `watermark_ms`.
    pub fn watermark(&self, watermark_ms: i64) {
        self.watermark_lag
            .set((now_millis() - watermark_ms) as f64 / 1000.0);
    }
}
