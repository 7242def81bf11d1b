//! Flink's mini-batch and aggregation-phase options, which decide how a
//! GROUP BY runs: one GroupAggregate, the same processing mini-batches, or
//! a local and a global aggregate around the exchange (two-phase).

use rtdw_operators::aggregate::MiniBatch;
use rtdw_operators::time::parse_duration;

use super::*;

const ENABLED: &str = "table.exec.mini-batch.enabled";
const ALLOW_LATENCY: &str = "table.exec.mini-batch.allow-latency";
const SIZE: &str = "table.exec.mini-batch.size";
const PHASE_STRATEGY: &str = "table.optimizer.agg-phase-strategy";

/// `table.optimizer.agg-phase-strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum PhaseStrategy {
    /// Two phases when they can run: the same as `TWO_PHASE` in streaming.
    #[default]
    Auto,
    /// Always one GroupAggregate.
    OnePhase,
    /// Two phases unless mini-batch is off or an aggregate cannot merge
    /// partial aggregates.
    TwoPhase,
}

/// How the job's GROUP BYs run, read once per job.
#[derive(Debug, Default)]
pub(super) struct AggregationMode {
    /// `None` unless `table.exec.mini-batch.enabled`.
    pub(super) mini_batch: Option<MiniBatch>,
    strategy: PhaseStrategy,
}

impl AggregationMode {
    /// Reads the options; a value of the wrong form is an error naming the
    /// key and what it takes.
    pub(super) fn from_options(options: &BTreeMap<String, String>) -> Result<Self, SqlError> {
        let invalid = |key: &str, expected: &str, value: &str| {
            SqlError::script(format!("option '{key}' must be {expected}, got '{value}'"))
        };
        let enabled = match options.get(ENABLED) {
            None => false,
            Some(v) if v.trim().eq_ignore_ascii_case("true") => true,
            Some(v) if v.trim().eq_ignore_ascii_case("false") => false,
            Some(v) => return Err(invalid(ENABLED, "true or false", v)),
        };
        let latency = options
            .get(ALLOW_LATENCY)
            .map(|v| {
                parse_duration(v)
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| invalid(ALLOW_LATENCY, "a positive duration such as '2 s'", v))
            })
            .transpose()?;
        let size = match options.get(SIZE).map(|v| (v, v.trim().parse::<i64>())) {
            None => None,
            Some((_, Ok(-1))) => None,
            Some((v, Ok(rows))) => Some(
                usize::try_from(rows)
                    .ok()
                    .filter(|&rows| rows > 0)
                    .ok_or_else(|| invalid(SIZE, "a positive number of rows or -1", v))?,
            ),
            Some((v, Err(_))) => return Err(invalid(SIZE, "a positive number of rows or -1", v)),
        };
        let strategy = match options.get(PHASE_STRATEGY) {
            None => PhaseStrategy::Auto,
            Some(v) => match v.trim().to_ascii_uppercase().as_str() {
                "AUTO" => PhaseStrategy::Auto,
                "ONE_PHASE" => PhaseStrategy::OnePhase,
                "TWO_PHASE" => PhaseStrategy::TwoPhase,
                _ => return Err(invalid(PHASE_STRATEGY, "AUTO, ONE_PHASE or TWO_PHASE", v)),
            },
        };
        let mini_batch = match (enabled, latency) {
            (false, _) => None,
            (true, Some(allow_latency)) => Some(MiniBatch {
                allow_latency,
                size,
            }),
            (true, None) => {
                return Err(SqlError::script(format!(
                    "option '{ALLOW_LATENCY}' must be set to a positive duration such as '2 s' when '{ENABLED}' is true"
                )));
            }
        };
        Ok(AggregationMode {
            mini_batch,
            strategy,
        })
    }

    /// The mini-batch of both phases when a GROUP BY computing `specs` runs
    /// in two, as in Flink: mini-batch is on, the strategy is not
    /// `ONE_PHASE`, and every aggregate can merge partial aggregates.
    pub(super) fn two_phase(&self, specs: &[AggregateSpec]) -> Option<MiniBatch> {
        let split = matches!(self.strategy, PhaseStrategy::Auto | PhaseStrategy::TwoPhase)
            && specs.iter().all(AggregateSpec::merges_partials);
        self.mini_batch.filter(|_| split)
    }
}
