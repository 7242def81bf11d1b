//! `datagen`: generates rows, as Flink's datagen connector does.
//!
//! Options: `rows-per-second` (default 10000, for the whole source),
//! `number-of-rows` (bounded when set), and per field
//! `fields.<f>.kind` = `sequence` | `random`, `fields.<f>.start/end`
//! (sequence), `fields.<f>.min/max` (random numbers), `fields.<f>.length`
//! (random strings), `fields.<f>.null-rate`. A source with a sequence field
//! ends when the sequence is exhausted. Subtask `i` of `p` emits the sequence
//! values `start + i, start + i + p, ...` (Flink's split) and its share of
//! `number-of-rows` and `rows-per-second`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder,
    Int8Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use rtdw_operators::time::now_millis;
use rtdw_operators::{Result, Source, StreamError, SubtaskContext};

use crate::error::ConnectorError;
use crate::factory::{ConnectorFactory, Roles, SourceCapabilities};
use crate::format::Formats;
use crate::options::{ConnectorOption, OptionType, TableOptions};
use crate::table::TableDescriptor;

/// Largest batch a datagen subtask emits at once.
const MAX_BATCH_ROWS: u64 = 8192;

/// How one field is generated.
#[derive(Debug, Clone, PartialEq)]
enum FieldKind {
    /// `start..=end`, split over the subtasks.
    Sequence { start: i64, end: i64 },
    /// Uniform in `[min, max]` (numbers) or `length` random characters.
    Random { min: f64, max: f64, length: usize },
}

/// A field's generator settings.
#[derive(Debug, Clone, PartialEq)]
struct FieldSpec {
    kind: FieldKind,
    null_rate: f64,
}

/// The validated options of a datagen table.
#[derive(Debug, Clone, PartialEq)]
struct DatagenConfig {
    rows_per_second: f64,
    number_of_rows: Option<u64>,
    fields: Vec<FieldSpec>,
}

fn default_range(data_type: &DataType) -> (f64, f64) {
    match data_type {
        DataType::Int8 => (i8::MIN as f64, i8::MAX as f64),
        DataType::Int16 => (i16::MIN as f64, i16::MAX as f64),
        DataType::Int32 => (i32::MIN as f64, i32::MAX as f64),
        DataType::Int64 => (i64::MIN as f64, i64::MAX as f64),
        DataType::Float32 => (f32::MIN_POSITIVE as f64, f32::MAX as f64),
        DataType::Decimal128(p, s) => {
            let bound = 10f64.powi(i32::from(*p) - i32::from(*s)) - 1.0;
            (-bound, bound)
        }
        _ => (f64::MIN_POSITIVE, f64::MAX),
    }
}

fn supported_type(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(_, _)
            | DataType::Utf8
            | DataType::Date32
            | DataType::Timestamp(TimeUnit::Millisecond, _)
    )
}

/// Flink's `rows-per-second`.
const ROWS_PER_SECOND: ConnectorOption = ConnectorOption::new(
    "rows-per-second",
    OptionType::Double,
    "Rows generated per second by the whole source.",
)
.default_value("10000");

/// Flink's `number-of-rows`.
const NUMBER_OF_ROWS: ConnectorOption = ConnectorOption::new(
    "number-of-rows",
    OptionType::Integer,
    "Rows to generate in all; the source is unbounded without it (or a sequence field).",
);

/// Flink's `fields.#.kind`.
const KIND: ConnectorOption = ConnectorOption::new(
    "fields.#.kind",
    OptionType::Enum(&["sequence", "random"]),
    "How the column's values are generated.",
)
.default_value("random");

/// Flink's `fields.#.min`.
const MIN: ConnectorOption = ConnectorOption::new(
    "fields.#.min",
    OptionType::Double,
    "Smallest random value of a numeric column (the type's smallest by default).",
);

/// Flink's `fields.#.max`.
const MAX: ConnectorOption = ConnectorOption::new(
    "fields.#.max",
    OptionType::Double,
    "Largest random value of a numeric column (the type's largest by default).",
);

/// Flink's `fields.#.length`.
const LENGTH: ConnectorOption = ConnectorOption::new(
    "fields.#.length",
    OptionType::Integer,
    "Length of random strings.",
)
.default_value("100");

/// Flink's `fields.#.start`.
const START: ConnectorOption = ConnectorOption::new(
    "fields.#.start",
    OptionType::Integer,
    "First value of a sequence column (required with kind 'sequence').",
);

/// Flink's `fields.#.end`.
const END: ConnectorOption = ConnectorOption::new(
    "fields.#.end",
    OptionType::Integer,
    "Last value of a sequence column (required with kind 'sequence'); the source ends after it.",
);

/// Flink's `fields.#.null-rate`.
const NULL_RATE: ConnectorOption = ConnectorOption::new(
    "fields.#.null-rate",
    OptionType::Double,
    "Share of NULL values, between 0 and 1.",
)
.default_value("0");

/// The `datagen` connector.
pub(crate) struct DatagenFactory;

impl ConnectorFactory for DatagenFactory {
    fn name(&self) -> &'static str {
        "datagen"
    }

    fn description(&self) -> &'static str {
        "Generates rows: random values or sequences, at a given rate."
    }

    fn roles(&self) -> Roles {
        Roles {
            source: true,
            ..Roles::default()
        }
    }

    fn options(&self) -> &'static [ConnectorOption] {
        &[
            ROWS_PER_SECOND,
            NUMBER_OF_ROWS,
            KIND,
            MIN,
            MAX,
            LENGTH,
            START,
            END,
            NULL_RATE,
        ]
    }

    fn changelog_modes(&self) -> &'static str {
        "source: inserts only"
    }

    fn validate_source(
        &self,
        table: &TableDescriptor,
        _formats: &Formats,
    ) -> Result<SourceCapabilities, ConnectorError> {
        let config = DatagenConfig::parse(table)?;
        Ok(SourceCapabilities {
            bounded: config.is_bounded(),
            changelog: false,
            upserts: false,
        })
    }

    fn create_source(
        &self,
        table: &TableDescriptor,
        _formats: &Formats,
        ctx: &SubtaskContext,
    ) -> Result<Box<dyn Source>, ConnectorError> {
        Ok(Box::new(DatagenSource::new(
            DatagenConfig::parse(table)?,
            table.schema.clone(),
            ctx,
        )?))
    }
}

impl DatagenConfig {
    /// Reads a datagen table's options and checks what their types cannot
    /// say: ranges, and that every column can be generated.
    fn parse(table: &TableDescriptor) -> Result<Self, ConnectorError> {
        let options = TableOptions::new(table);
        let rows_per_second = options.double(&ROWS_PER_SECOND)?.unwrap_or(10000.0);
        if rows_per_second <= 0.0 {
            return Err(options.invalid(
                ROWS_PER_SECOND.key,
                &rows_per_second.to_string(),
                "must be a positive number",
            ));
        }
        let number_of_rows = options
            .integer(&NUMBER_OF_ROWS)?
            .map(|n| {
                u64::try_from(n).map_err(|_| {
                    options.invalid(
                        NUMBER_OF_ROWS.key,
                        &n.to_string(),
                        "must be a non-negative integer",
                    )
                })
            })
            .transpose()?;
        let mut fields = Vec::new();
        for field in table.schema.fields() {
            let name = field.name();
            let data_type = field.data_type();
            if !supported_type(data_type) {
                return Err(ConnectorError::UnsupportedColumn {
                    table: table.name.clone(),
                    column: name.clone(),
                    data_type: data_type.to_string(),
                    reason: "datagen cannot generate this type".into(),
                });
            }
            let key = |option: &ConnectorOption| TableOptions::family_key(option, name);
            let null_rate = options
                .double_at(&key(&NULL_RATE), &NULL_RATE)?
                .unwrap_or(0.0);
            if !(0.0..=1.0).contains(&null_rate) {
                return Err(options.invalid(
                    &key(&NULL_RATE),
                    &null_rate.to_string(),
                    "must be a number between 0 and 1",
                ));
            }
            let required = |option: &ConnectorOption| -> Result<i64, ConnectorError> {
                options.integer_at(&key(option), option)?.ok_or_else(|| {
                    ConnectorError::MissingOption {
                        table: table.name.clone(),
                        key: key(option),
                    }
                })
            };
            let kind = if options.choice_at(&key(&KIND), &KIND)? == Some("sequence") {
                let (start, end) = (required(&START)?, required(&END)?);
                if end < start {
                    return Err(options.invalid(
                        &key(&END),
                        &end.to_string(),
                        &format!("must not be less than fields.{name}.start ({start})"),
                    ));
                }
                FieldKind::Sequence { start, end }
            } else {
                let (default_min, default_max) = default_range(data_type);
                let min = options.double_at(&key(&MIN), &MIN)?.unwrap_or(default_min);
                let max = options.double_at(&key(&MAX), &MAX)?.unwrap_or(default_max);
                if max < min {
                    return Err(options.invalid(
                        &key(&MAX),
                        &max.to_string(),
                        &format!("must not be less than fields.{name}.min ({min})"),
                    ));
                }
                let length = options.integer_at(&key(&LENGTH), &LENGTH)?.unwrap_or(100);
                let length = usize::try_from(length)
                    .ok()
                    .filter(|l| *l > 0)
                    .ok_or_else(|| {
                        options.invalid(
                            &key(&LENGTH),
                            &length.to_string(),
                            "must be a positive integer",
                        )
                    })?;
                FieldKind::Random { min, max, length }
            };
            fields.push(FieldSpec { kind, null_rate });
        }
        Ok(DatagenConfig {
            rows_per_second,
            number_of_rows,
            fields,
        })
    }

    /// True when the source ends: a row limit or a sequence field.
    fn is_bounded(&self) -> bool {
        self.number_of_rows.is_some()
            || self
                .fields
                .iter()
                .any(|f| matches!(f.kind, FieldKind::Sequence { .. }))
    }
}

/// The rows subtask `index` of `parallelism` emits out of `total`.
fn share(total: u64, index: u32, parallelism: u32) -> u64 {
    let p = u64::from(parallelism);
    total / p + u64::from(total % p > u64::from(index))
}

/// One subtask of a datagen source.
struct DatagenSource {
    config: DatagenConfig,
    schema: SchemaRef,
    subtask: u32,
    parallelism: u32,
    /// Rows this subtask will emit in all (`None`: unbounded).
    limit: Option<u64>,
    emitted: u64,
    rows_per_second: f64,
    /// When this run started, and the rows emitted before it (by the runs a
    /// restore continues): the rate applies from there.
    started: Option<(Instant, u64)>,
    rng: ChaCha12Rng,
}

impl DatagenSource {
    /// The source of subtask `ctx.subtask_index`.
    fn new(
        config: DatagenConfig,
        schema: SchemaRef,
        ctx: &SubtaskContext,
    ) -> Result<Self, ConnectorError> {
        let (subtask, parallelism) = (ctx.subtask_index, ctx.parallelism.max(1));
        let sequence_limit = config
            .fields
            .iter()
            .filter_map(|f| match f.kind {
                FieldKind::Sequence { start, end } => {
                    Some(share(end.abs_diff(start) + 1, subtask, parallelism))
                }
                FieldKind::Random { .. } => None,
            })
            .min();
        let row_limit = config
            .number_of_rows
            .map(|n| share(n, subtask, parallelism));
        let limit = match (sequence_limit, row_limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let rows_per_second = config.rows_per_second / f64::from(parallelism);
        Ok(DatagenSource {
            rows_per_second,
            rng: ChaCha12Rng::seed_from_u64(
                u64::from(subtask).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(ctx.vertex_id),
            ),
            config,
            schema,
            subtask,
            parallelism,
            limit,
            emitted: 0,
            started: None,
        })
    }

    /// How many rows may go out now without exceeding the rate, waiting if
    /// none may.
    async fn allowance(&mut self) -> u64 {
        let emitted = self.emitted;
        let (started, before) = *self
            .started
            .get_or_insert_with(|| (Instant::now(), emitted));
        loop {
            let this_run = self.emitted - before;
            let due = (started.elapsed().as_secs_f64() * self.rows_per_second) as u64 + 1;
            if due > this_run {
                return (due - this_run).min(MAX_BATCH_ROWS);
            }
            let next_at = (this_run + 1) as f64 / self.rows_per_second;
            let wait = Duration::from_secs_f64(next_at).saturating_sub(started.elapsed());
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }

    fn column(&mut self, index: usize, rows: u64) -> Result<ArrayRef> {
        let field = self.schema.field(index).clone();
        let spec = self.config.fields[index].clone();
        let (first, step) = (self.emitted, u64::from(self.parallelism));
        let subtask = u64::from(self.subtask);
        // The i-th row of this batch, as a number drawn per the field's kind.
        let value = |rng: &mut ChaCha12Rng, i: u64| -> Option<f64> {
            if spec.null_rate > 0.0 && rng.random_bool(spec.null_rate) {
                return None;
            }
            Some(match spec.kind {
                FieldKind::Sequence { start, .. } => {
                    (start as i128 + ((first + i) * step + subtask) as i128) as f64
                }
                FieldKind::Random { min, max, .. } => {
                    if min == max {
                        min
                    } else {
                        rng.random_range(min..=max)
                    }
                }
            })
        };
        // Sequences are exact integers; read them without going through f64.
        let sequence_int = |i: u64| -> Option<i64> {
            match spec.kind {
                FieldKind::Sequence { start, .. } => {
                    Some(start + ((first + i) * step + subtask) as i64)
                }
                FieldKind::Random { .. } => None,
            }
        };
        macro_rules! ints {
            ($builder:ty, $native:ty) => {{
                let mut b = <$builder>::with_capacity(rows as usize);
                for i in 0..rows {
                    let v = value(&mut self.rng, i).map(|x| {
                        sequence_int(i)
                            .map(|s| s as $native)
                            .unwrap_or(x.round() as $native)
                    });
                    b.append_option(v);
                }
                Arc::new(b.finish()) as ArrayRef
            }};
        }
        Ok(match field.data_type() {
            DataType::Int8 => ints!(Int8Builder, i8),
            DataType::Int16 => ints!(Int16Builder, i16),
            DataType::Int32 => ints!(Int32Builder, i32),
            DataType::Int64 => ints!(Int64Builder, i64),
            DataType::Float32 => {
                let mut b = Float32Builder::with_capacity(rows as usize);
                (0..rows).for_each(|i| b.append_option(value(&mut self.rng, i).map(|x| x as f32)));
                Arc::new(b.finish())
            }
            DataType::Float64 => {
                let mut b = Float64Builder::with_capacity(rows as usize);
                (0..rows).for_each(|i| b.append_option(value(&mut self.rng, i)));
                Arc::new(b.finish())
            }
            DataType::Decimal128(p, s) => {
                let scale = 10f64.powi(i32::from(*s));
                let mut b = Decimal128Builder::with_capacity(rows as usize);
                (0..rows).for_each(|i| {
                    b.append_option(value(&mut self.rng, i).map(|x| (x * scale).round() as i128))
                });
                Arc::new(b.finish().with_precision_and_scale(*p, *s)?)
            }
            DataType::Boolean => {
                let mut b = BooleanBuilder::with_capacity(rows as usize);
                for i in 0..rows {
                    let v = value(&mut self.rng, i).map(|_| match sequence_int(i) {
                        Some(s) => s % 2 != 0,
                        None => self.rng.random_bool(0.5),
                    });
                    b.append_option(v);
                }
                Arc::new(b.finish())
            }
            DataType::Utf8 => {
                let length = match spec.kind {
                    FieldKind::Random { length, .. } => length,
                    FieldKind::Sequence { .. } => 0,
                };
                let mut b =
                    StringBuilder::with_capacity(rows as usize, rows as usize * length.max(8));
                for i in 0..rows {
                    match (value(&mut self.rng, i), sequence_int(i)) {
                        (None, _) => b.append_null(),
                        (Some(_), Some(s)) => b.append_value(s.to_string()),
                        (Some(_), None) => {
                            let text: String = (0..length)
                                .map(|_| {
                                    char::from_digit(self.rng.random_range(0..16), 16)
                                        .unwrap_or('0')
                                })
                                .collect();
                            b.append_value(text);
                        }
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Date32 => {
                let today = (now_millis() / 86_400_000) as i32;
                let mut b = Date32Builder::with_capacity(rows as usize);
                (0..rows).for_each(|i| b.append_option(value(&mut self.rng, i).map(|_| today)));
                Arc::new(b.finish())
            }
            DataType::Timestamp(TimeUnit::Millisecond, tz) => {
                let mut b = TimestampMillisecondBuilder::with_capacity(rows as usize);
                for i in 0..rows {
                    b.append_option(value(&mut self.rng, i).map(|x| match spec.kind {
                        FieldKind::Sequence { .. } => x as i64,
                        FieldKind::Random { .. } => now_millis(),
                    }));
                }
                Arc::new(b.finish().with_timezone_opt(tz.clone()))
            }
            other => {
                return Err(StreamError::Failed(format!(
                    "datagen cannot generate {other}"
                )));
            }
        })
    }
}

#[async_trait::async_trait]
impl Source for DatagenSource {
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let remaining = self.limit.map(|l| l - self.emitted);
        if remaining == Some(0) {
            return Ok(None);
        }
        let mut rows = self.allowance().await;
        if let Some(r) = remaining {
            rows = rows.min(r);
        }
        let columns = (0..self.schema.fields().len())
            .map(|i| self.column(i, rows))
            .collect::<Result<Vec<_>>>()?;
        self.emitted += rows;
        Ok(Some(RecordBatch::try_new(self.schema.clone(), columns)?))
    }
    fn snapshot_position(&self) -> Result<String> {
        Ok(serde_json::json!({
            "emitted": self.emitted,
            "random_word_position": self.rng.get_word_pos().to_string(),
        })
        .to_string())
    }

    fn restore_position(&mut self, position: &str) -> Result<()> {
        let malformed = |why: &str| {
            StreamError::Failed(format!("datagen position '{position}' is malformed: {why}"))
        };
        let value: serde_json::Value =
            serde_json::from_str(position).map_err(|e| malformed(&e.to_string()))?;
        let emitted = value["emitted"]
            .as_u64()
            .ok_or_else(|| malformed("no 'emitted' count"))?;
        let word_position: u128 = value["random_word_position"]
            .as_str()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| malformed("no 'random_word_position'"))?;
        if self.limit.is_some_and(|limit| emitted > limit) {
            return Err(malformed("more rows emitted than this subtask's share"));
        }
        self.emitted = emitted;
        self.rng.set_word_pos(word_position);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow::array::AsArray;
    use arrow::datatypes::{Field, Int64Type, Schema};

    use super::*;

    fn table(options: &[(&str, &str)]) -> TableDescriptor {
        TableDescriptor {
            name: "gen".into(),
            schema: Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, true),
                Field::new("name", DataType::Utf8, true),
            ])),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .chain([("connector".to_string(), "datagen".to_string())])
                .collect::<BTreeMap<_, _>>(),
            primary_key: vec![],
            partition_keys: vec![],
            metadata: vec![],
        }
    }

    fn ctx(subtask: u32, parallelism: u32) -> SubtaskContext {
        SubtaskContext {
            job_id: "j".into(),
            job_name: "j".into(),
            vertex_id: 0,
            subtask_index: subtask,
            parallelism,
            max_parallelism: 128,
        }
    }

    fn ids(batch: &RecordBatch) -> Vec<i64> {
        batch
            .column(0)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec()
    }

    #[tokio::test]
    async fn a_restored_source_continues_where_the_snapshot_was_taken() {
        let t = table(&[
            ("fields.id.kind", "sequence"),
            ("fields.id.start", "0"),
            ("fields.id.end", "99999"),
            ("rows-per-second", "1000000000"),
        ]);
        let config = DatagenConfig::parse(&t).unwrap();
        let mut original =
            DatagenSource::new(config.clone(), t.schema.clone(), &ctx(1, 2)).unwrap();
        let mut before = Vec::new();
        while before.len() < 1000 {
            before.extend(ids(&original.next_batch().await.unwrap().unwrap()));
        }
        let position = original.snapshot_position().unwrap();
        let next = original.next_batch().await.unwrap().unwrap();

        let mut restored = DatagenSource::new(config, t.schema.clone(), &ctx(1, 2)).unwrap();
        restored.restore_position(&position).unwrap();
        let replayed = restored.next_batch().await.unwrap().unwrap();
        assert_eq!(
            ids(&replayed)[0],
            ids(&next)[0],
            "the sequence continues at the snapshot"
        );
        assert_eq!(
            replayed.column(1).as_string::<i32>().value(0),
            next.column(1).as_string::<i32>().value(0),
            "the random generator continues at the snapshot"
        );
        let mut all = before;
        all.extend(ids(&replayed));
        while let Some(batch) = restored.next_batch().await.unwrap() {
            all.extend(ids(&batch));
        }
        let expected: Vec<i64> = (0..100_000).filter(|i| i % 2 == 1).collect();
        assert_eq!(all, expected, "subtask 1 of 2 emits every odd id once");
        let error = restored.restore_position("{\"emitted\": 1}").unwrap_err();
        assert!(
            error.to_string().contains("random_word_position"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_sequence_is_split_over_subtasks_without_gaps_or_overlap() {
        let t = table(&[
            ("fields.id.kind", "sequence"),
            ("fields.id.start", "1"),
            ("fields.id.end", "10"),
            ("rows-per-second", "1000000"),
        ]);
        let config = DatagenConfig::parse(&t).unwrap();
        assert!(config.is_bounded());
        let mut all = Vec::new();
        for s in 0..3 {
            let mut source =
                DatagenSource::new(config.clone(), t.schema.clone(), &ctx(s, 3)).unwrap();
            while let Some(batch) = source.next_batch().await.unwrap() {
                all.extend(
                    batch
                        .column(0)
                        .as_primitive::<Int64Type>()
                        .values()
                        .iter()
                        .copied(),
                );
                assert_eq!(batch.column(1).as_string::<i32>().value(0).len(), 100);
            }
        }
        all.sort();
        assert_eq!(all, (1..=10).collect::<Vec<i64>>());
    }

    #[test]
    fn bad_options_name_the_key_and_what_was_expected() {
        let registry = crate::ConnectorRegistry::builtin();
        let err = registry
            .validate_source(&table(&[("fields.id.kind", "sequense")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "table 'gen': option 'fields.id.kind' must be 'sequence' or 'random', got 'sequense'"
        );
        let err = registry
            .validate_source(&table(&[("rows-per-secnd", "5")]))
            .unwrap_err();
        assert!(
            err.to_string().contains(
                "unsupported source options for connector 'datagen': rows-per-secnd (did you mean 'rows-per-second'?)"
            ),
            "{err}"
        );
        let err = registry
            .validate_source(&table(&[("rows-per-second", "fast")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "table 'gen': option 'rows-per-second' must be a number, got 'fast'"
        );
        let err = registry
            .validate_source(&table(&[
                ("fields.id.kind", "sequence"),
                ("fields.id.end", "5"),
            ]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "table 'gen': missing required option 'fields.id.start'"
        );
    }

    #[tokio::test]
    async fn number_of_rows_bounds_random_data() {
        let t = table(&[
            ("number-of-rows", "5"),
            ("fields.id.min", "3"),
            ("fields.id.max", "4"),
            ("rows-per-second", "1000000"),
        ]);
        let config = DatagenConfig::parse(&t).unwrap();
        let mut counts = 0;
        for s in 0..2 {
            let mut source =
                DatagenSource::new(config.clone(), t.schema.clone(), &ctx(s, 2)).unwrap();
            while let Some(batch) = source.next_batch().await.unwrap() {
                counts += batch.num_rows();
                assert!(
                    batch
                        .column(0)
                        .as_primitive::<Int64Type>()
                        .values()
                        .iter()
                        .all(|v| (3..=4).contains(v))
                );
            }
        }
        assert_eq!(counts, 5);
    }
}
