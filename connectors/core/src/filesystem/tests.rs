//! The filesystem formats, written and read back through the connector.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, AsArray, Int8Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use rtdw_operators::row_kind::{row_kind_at, split_row_kinds, with_row_kinds};
use rtdw_operators::{Source, StreamError, SubtaskContext};

use crate::table::TableDescriptor;
use crate::{ConnectorError, ConnectorRegistry, SinkCapabilities, SourceCapabilities};

/// A source subtask with every file of the table, as the coordinator
/// assigns them to a single subtask.
fn create_source(
    table: &TableDescriptor,
    ctx: &SubtaskContext,
) -> Result<Box<dyn Source>, ConnectorError> {
    restore_source(table, ctx, "")
}

/// A source subtask given the splits a checkpointed `position` holds and
/// those discovered since, as the coordinator hands them out on a restore.
fn restore_source(
    table: &TableDescriptor,
    ctx: &SubtaskContext,
    position: &str,
) -> Result<Box<dyn Source>, ConnectorError> {
    let registry = ConnectorRegistry::builtin();
    let mut source = registry.create_source(table, ctx)?;
    let restored = crate::split::decode_splits(position).expect("a split position");
    let discovered = registry
        .discover_splits(table, &restored)?
        .expect("split-based");
    source
        .add_splits(crate::split::merge_restored(restored, discovered))
        .expect("splits");
    Ok(source)
}

fn create_sink(
    table: &TableDescriptor,
    ctx: &SubtaskContext,
) -> Result<Box<dyn rtdw_operators::Sink>, ConnectorError> {
    ConnectorRegistry::builtin().create_sink(table, ctx)
}

fn validate_source(table: &TableDescriptor) -> Result<SourceCapabilities, ConnectorError> {
    ConnectorRegistry::builtin().validate_source(table)
}

fn validate_sink(table: &TableDescriptor) -> Result<SinkCapabilities, ConnectorError> {
    ConnectorRegistry::builtin().validate_sink(table)
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]))
}

fn table(path: &std::path::Path, format: &str) -> TableDescriptor {
    let options = [
        ("connector", "filesystem"),
        ("path", path.to_str().unwrap()),
        ("format", format),
    ];
    TableDescriptor {
        name: "t".into(),
        schema: schema(),
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        primary_key: vec![],
        partition_keys: vec![],
        metadata: vec![],
    }
}

fn ctx() -> SubtaskContext {
    SubtaskContext {
        job_id: "job".into(),
        job_name: "job".into(),
        vertex_id: 1,
        subtask_index: 0,
        parallelism: 1,
        max_parallelism: 128,
    }
}

fn batch() -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec![Some("a,b"), None])),
        ],
    )
    .unwrap()
}

async fn write(format: &str, batch: RecordBatch) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = create_sink(&table(dir.path(), format), &ctx()).unwrap();
    sink.write_batch(batch).await.unwrap();
    let visible = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .count()
    };
    assert_eq!(visible(), 0, "nothing is visible before the input ends");
    sink.finish().await.unwrap();
    assert_eq!(visible(), 1);
    let text = committed_text(dir.path());
    (dir, text)
}

/// The visible files' contents, in name order, and the hidden files left.
fn committed_and_hidden(dir: &std::path::Path) -> (String, Vec<String>) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    let (hidden, visible): (Vec<String>, Vec<String>) =
        names.into_iter().partition(|n| n.starts_with('.'));
    let text = visible
        .iter()
        .map(|n| std::fs::read_to_string(dir.join(n)).unwrap())
        .collect();
    (text, hidden)
}

fn committed_text(dir: &std::path::Path) -> String {
    committed_and_hidden(dir).0
}

fn ids(from: i64, to: i64) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(from..to)),
            Arc::new(StringArray::from_iter_values(
                (from..to).map(|i| format!("n{i}")),
            )),
        ],
    )
    .unwrap()
}

#[tokio::test]
async fn rows_become_visible_only_when_their_checkpoint_completes() {
    let dir = tempfile::tempdir().unwrap();
    let table = table(dir.path(), "csv");
    let mut sink = create_sink(&table, &ctx()).unwrap();
    sink.write_batch(ids(0, 2)).await.unwrap();
    let first = sink.pre_commit(1).await.unwrap();
    sink.write_batch(ids(2, 4)).await.unwrap();
    sink.pre_commit(2).await.unwrap();
    assert_eq!(
        committed_text(dir.path()),
        "",
        "pre-committed is not visible"
    );
    sink.commit(1).await.unwrap();
    assert_eq!(committed_text(dir.path()), "0,n0\n1,n1\n");
    sink.write_batch(ids(4, 6)).await.unwrap();

    // The subtask dies here; its replacement restores checkpoint 1.
    drop(sink);
    let mut replacement = create_sink(&table, &ctx()).unwrap();
    replacement.restore(vec![first.clone()]).await.unwrap();
    let (text, hidden) = committed_and_hidden(dir.path());
    assert_eq!(
        text, "0,n0\n1,n1\n",
        "what followed checkpoint 1 is discarded"
    );
    assert!(hidden.is_empty(), "no uncommitted file is left: {hidden:?}");
    replacement.restore(vec![first]).await.unwrap();
    assert_eq!(
        committed_text(dir.path()),
        "0,n0\n1,n1\n",
        "restoring twice commits once"
    );
    replacement.write_batch(ids(2, 3)).await.unwrap();
    replacement.finish().await.unwrap();
    let mut lines: Vec<String> = committed_text(dir.path())
        .lines()
        .map(String::from)
        .collect();
    lines.sort();
    assert_eq!(lines, ["0,n0", "1,n1", "2,n2"]);
}

#[tokio::test]
async fn restoring_an_older_checkpoint_rolls_back_what_newer_ones_committed() {
    let dir = tempfile::tempdir().unwrap();
    let table = table(dir.path(), "csv");
    let mut sink = create_sink(&table, &ctx()).unwrap();
    sink.write_batch(ids(0, 1)).await.unwrap();
    let older = sink.pre_commit(1).await.unwrap();
    sink.commit(1).await.unwrap();
    sink.write_batch(ids(1, 2)).await.unwrap();
    sink.pre_commit(2).await.unwrap();
    sink.commit(2).await.unwrap();
    assert_eq!(committed_text(dir.path()), "0,n0\n1,n1\n");

    // Checkpoint 2 turned out unreadable: the restart falls back to 1.
    let mut replacement = create_sink(&table, &ctx()).unwrap();
    replacement.restore(vec![older]).await.unwrap();
    assert_eq!(
        committed_text(dir.path()),
        "0,n0\n",
        "the rows after checkpoint 1 will be replayed, so their file goes"
    );
}

#[tokio::test]
async fn a_restored_file_source_continues_at_the_line_after_its_position() {
    let dir = tempfile::tempdir().unwrap();
    // Windows line endings, so a byte count that forgot the `\r` would seek
    // into the wrong place.
    let text: String = (1..=10_000).map(|i| format!("{i},n{i}\r\n")).collect();
    std::fs::write(dir.path().join("a.csv"), text).unwrap();
    std::fs::write(dir.path().join("b.csv"), "10001,last\n").unwrap();
    let table = table(dir.path(), "csv");
    let mut original = create_source(&table, &ctx()).unwrap();
    let first = original.next_batch().await.unwrap().expect("a batch");
    let position = original.snapshot_position().unwrap();

    let mut restored = restore_source(&table, &ctx(), &position).unwrap();
    let mut seen: Vec<i64> = first
        .column(0)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    while let Some(batch) = restored.next_batch().await.unwrap() {
        seen.extend(batch.column(0).as_primitive::<Int64Type>().values());
    }
    assert_eq!(
        seen,
        (1..=10_001).collect::<Vec<i64>>(),
        "every line once, in order"
    );
}

#[tokio::test]
async fn csv_quotes_only_what_needs_it_and_writes_null_as_empty() {
    let (_dir, text) = write("csv", batch()).await;
    assert_eq!(text, "1,\"a,b\"\n2,\n");
}

#[tokio::test]
async fn json_writes_one_object_per_row_with_nulls() {
    let (_dir, text) = write("json", batch()).await;
    assert_eq!(
        text,
        "{\"id\":1,\"name\":\"a,b\"}\n{\"id\":2,\"name\":null}\n"
    );
}

#[tokio::test]
async fn debezium_json_maps_row_kinds_to_before_and_after() {
    let changes = with_row_kinds(&batch(), Int8Array::from(vec![1, 2])).unwrap();
    let (written, text) = write("debezium-json", changes).await;
    assert_eq!(
        text,
        "{\"before\":{\"id\":1,\"name\":\"a,b\"},\"after\":null,\"op\":\"d\"}\n\
         {\"before\":null,\"after\":{\"id\":2,\"name\":null},\"op\":\"c\"}\n"
    );
    let mut source = create_source(&changelog_table(written.path(), &[]), &ctx()).unwrap();
    assert_eq!(
        read_changes(&mut source).await,
        ["-D(1, a,b)", "+I(2, NULL)"],
        "read back as Flink reads it: an update's halves as a delete and an insert"
    );
    let dir = tempfile::tempdir().unwrap();
    assert!(
        validate_sink(&table(dir.path(), "debezium-json"))
            .unwrap()
            .accepts_updates
    );
    assert!(
        !validate_sink(&table(dir.path(), "csv"))
            .unwrap()
            .accepts_updates
    );
}

#[tokio::test]
async fn what_the_sink_writes_the_source_reads_back() {
    for format in ["csv", "json"] {
        let (dir, _) = write(format, batch()).await;
        let mut source = create_source(&table(dir.path(), format), &ctx()).unwrap();
        let read = source.next_batch().await.unwrap().expect("a batch");
        assert!(source.next_batch().await.unwrap().is_none());
        assert_eq!(
            read.column(0).as_primitive::<Int64Type>().values(),
            &[1, 2],
            "{format}"
        );
        assert_eq!(
            read.column(1).as_string::<i32>().value(0),
            "a,b",
            "{format}"
        );
        // CSV cannot tell NULL from an empty string; JSON can.
        if format == "json" {
            assert!(read.column(1).is_null(1));
        }
    }
}

#[tokio::test]
async fn changelog_formats_and_raw_round_trip_through_files() {
    let data = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(vec![1, 1, 1, 2])),
            Arc::new(StringArray::from(vec!["a", "a", "b", "c"])),
        ],
    )
    .unwrap();
    let changelog = with_row_kinds(&data, Int8Array::from(vec![0, 1, 2, 3])).unwrap();
    for format in ["debezium-json", "canal-json", "maxwell-json"] {
        let (dir, _) = write(format, changelog.clone()).await;
        let mut source = create_source(&table(dir.path(), format), &ctx()).unwrap();
        // Written as Flink writes them: +U as an insert, -U as a delete.
        assert_eq!(
            read_changes(&mut source).await,
            ["+I(1, a)", "-D(1, a)", "+I(1, b)", "-D(2, c)"],
            "{format}"
        );
    }

    let lines = Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, true)]));
    let raw = RecordBatch::try_new(
        lines.clone(),
        vec![Arc::new(StringArray::from(vec!["x,y", "{\"z\": 1}"]))],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut raw_table = table(dir.path(), "raw");
    raw_table.schema = lines;
    let mut sink = create_sink(&raw_table, &ctx()).unwrap();
    sink.write_batch(raw.clone()).await.unwrap();
    sink.finish().await.unwrap();
    let mut source = create_source(&raw_table, &ctx()).unwrap();
    assert_eq!(source.next_batch().await.unwrap().expect("a batch"), raw);
}

/// A `debezium-json` source table over `path`, with extra options.
fn changelog_table(path: &std::path::Path, options: &[(&str, &str)]) -> TableDescriptor {
    let mut table = table(path, "debezium-json");
    for (key, value) in options {
        table.options.insert(key.to_string(), value.to_string());
    }
    table
}

/// A batch's rows as Flink prints changes: `+I(1, a)`.
fn changes(batch: &RecordBatch) -> Vec<String> {
    let (data, kinds) = split_row_kinds(batch).unwrap();
    let kinds = kinds.expect("a row-kind column");
    let ids = data.column(0).as_primitive::<Int64Type>();
    let names = data.column(1).as_string::<i32>();
    (0..data.num_rows())
        .map(|i| {
            let kind = row_kind_at(Some(&kinds), i).unwrap().short_string();
            let name = if names.is_null(i) {
                "NULL"
            } else {
                names.value(i)
            };
            format!("{kind}({}, {name})", ids.value(i))
        })
        .collect()
}

/// Everything a source has left, as changes.
async fn read_changes(source: &mut Box<dyn Source>) -> Vec<String> {
    let mut seen = Vec::new();
    while let Some(batch) = source.next_batch().await.unwrap() {
        seen.extend(changes(&batch));
    }
    seen
}

/// One change event line without its line ending.
fn event(op: &str, before: Option<(i64, &str)>, after: Option<(i64, &str)>) -> String {
    let row = |r: Option<(i64, &str)>| match r {
        Some((id, name)) => format!(r#"{{"id":{id},"name":"{name}"}}"#),
        None => "null".into(),
    };
    format!(
        r#"{{"before":{},"after":{},"op":"{op}","ts_ms":1}}"#,
        row(before),
        row(after)
    )
}

#[tokio::test]
async fn debezium_json_events_become_inserts_updates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let text = [
        r#"{"before":null,"after":{"id":1,"name":"a"},"op":"c","ts_ms":1}"#.to_string() + "\r\n",
        r#"{"before":null,"after":{"id":2,"name":null},"op":"r","source":{"snapshot":"true"}}"#
            .to_string()
            + "\n\n",
        event("u", Some((1, "a")), Some((1, "b"))) + "\n",
        r#"{"op":"d","before":{"id":2,"name":null},"after":null}"#.to_string(),
    ]
    .concat();
    std::fs::write(dir.path().join("events.json"), text).unwrap();
    let events = changelog_table(dir.path(), &[]);
    let mut source = create_source(&events, &ctx()).unwrap();
    let batch = source.next_batch().await.unwrap().expect("a batch");
    let names: Vec<&String> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name())
        .collect();
    assert_eq!(names, ["id", "name", "_row_kind"]);
    assert_eq!(
        changes(&batch),
        [
            "+I(1, a)",
            "+I(2, NULL)",
            "-U(1, a)",
            "+U(1, b)",
            "-D(2, NULL)"
        ]
    );
    assert!(source.next_batch().await.unwrap().is_none());

    assert!(validate_source(&events).unwrap().changelog);
    assert!(
        !validate_source(&table(dir.path(), "json"))
            .unwrap()
            .changelog
    );
}

#[tokio::test]
async fn an_update_without_before_fails_naming_its_line_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let first = event("c", None, Some((1, "a"))) + "\r\n";
    let text = first.clone() + &event("u", None, Some((1, "b"))) + "\n";
    std::fs::write(dir.path().join("events.json"), text).unwrap();
    let mut source = create_source(&changelog_table(dir.path(), &[]), &ctx()).unwrap();
    let error = source.next_batch().await.unwrap_err();
    assert!(
        matches!(error, StreamError::MalformedRecord(_)),
        "{error:?}"
    );
    let message = error.to_string();
    let place = format!(
        "malformed debezium-json record of table 't' in {} at line 2 (byte offset {})",
        dir.path().join("events.json").display(),
        first.len()
    );
    assert!(message.starts_with(&place), "{message}");
    assert!(
        message.contains(r#"the "before" field of an "op":"u" event is null"#),
        "{message}"
    );
    assert!(message.contains("REPLICA IDENTITY FULL"), "{message}");
}

/// Log lines written while the guard lives, on this thread.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(String::from)
            .collect()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

#[tokio::test]
async fn ignore_parse_errors_skips_and_counts_malformed_events() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        event("c", None, Some((1, "a"))),
        r#"{"before":null,"after":{"id":2,"name":"b"},"op":"#.to_string(),
        event("x", None, Some((3, "c"))),
        event("u", None, Some((4, "d"))),
        event("d", None, None),
        r#"{"before":null,"after":{"id":"six","name":"f"},"op":"c"}"#.to_string(),
        event("d", Some((1, "a")), None),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let path = dir.path().join("events.json");
    std::fs::write(&path, text).unwrap();
    let offset_of_line = |n: usize| lines[..n - 1].iter().map(|l| l.len() + 1).sum::<usize>();

    let mut strict = create_source(&changelog_table(dir.path(), &[]), &ctx()).unwrap();
    let error = strict.next_batch().await.unwrap_err().to_string();
    assert!(
        error.contains(&format!("at line 2 (byte offset {})", offset_of_line(2))),
        "{error}"
    );

    let logs = Logs::default();
    let _guard = logs.capture();
    let lenient = changelog_table(dir.path(), &[("debezium-json.ignore-parse-errors", "true")]);
    let mut lenient = create_source(&lenient, &ctx()).unwrap();
    assert_eq!(read_changes(&mut lenient).await, ["+I(1, a)", "-D(1, a)"]);
    assert_eq!(lenient.records_dropped(), [("malformed", 5)]);
    let warnings: Vec<String> = logs
        .lines()
        .into_iter()
        .filter(|l| l.contains("WARN"))
        .collect();
    assert_eq!(warnings.len(), 5, "{warnings:#?}");
    let expected = [
        (2, "Json error"),
        (3, r#"unknown "op" value "x""#),
        (4, r#"the "before" field of an "op":"u" event is null"#),
        (5, r#"the "before" field of an "op":"d" event is null"#),
        (6, "Json error"),
    ];
    for (i, (warning, (line, reason))) in warnings.iter().zip(expected).enumerate() {
        let place = format!(
            "{} at line {line} (byte offset {})",
            path.display(),
            offset_of_line(line)
        );
        assert!(warning.contains(&place), "{warning}");
        assert!(warning.contains(reason), "{warning}");
        assert!(warning.contains("; skipped"), "{warning}");
        assert!(
            warning.contains(&format!("dropped_total={}", i + 1)),
            "{warning}"
        );
    }
}

#[tokio::test]
async fn a_restored_debezium_json_source_continues_at_the_line_after_its_position() {
    let dir = tempfile::tempdir().unwrap();
    // Three events a key: the first batch (8192 lines) ends between two
    // events of one key, mid-file. `\r\n` line endings, so a byte count
    // that forgot the `\r` would seek into the wrong place.
    let keys = 0..3400;
    let text: String = keys
        .clone()
        .flat_map(|k| {
            [
                event("c", None, Some((k, "a"))),
                event("u", Some((k, "a")), Some((k, "b"))),
                event("d", Some((k, "b")), None),
            ]
        })
        .map(|l| l + "\r\n")
        .collect();
    std::fs::write(dir.path().join("events.json"), text).unwrap();
    let table = changelog_table(dir.path(), &[]);
    let mut original = create_source(&table, &ctx()).unwrap();
    let first = original.next_batch().await.unwrap().expect("a batch");
    let position = original.snapshot_position().unwrap();

    let mut restored = restore_source(&table, &ctx(), &position).unwrap();
    let mut seen = changes(&first);
    seen.extend(read_changes(&mut restored).await);
    let expected: Vec<String> = keys
        .flat_map(|k| {
            [
                format!("+I({k}, a)"),
                format!("-U({k}, a)"),
                format!("+U({k}, b)"),
                format!("-D({k}, b)"),
            ]
        })
        .collect();
    assert_eq!(seen.len(), expected.len());
    assert!(seen == expected, "every event once, in order");
}

#[tokio::test]
async fn schema_include_reads_the_kafka_connect_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let schema = r#"{"type":"struct","fields":[{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"}],"optional":true,"field":"before"}],"optional":false,"name":"db.t.Envelope"}"#;
    let text = [
        event("u", Some((1, "a")), Some((1, "b"))),
        event("c", None, Some((2, "c"))),
    ]
    .iter()
    .map(|payload| format!(r#"{{"schema":{schema},"payload":{payload}}}"#) + "\n")
    .collect::<String>();
    std::fs::write(dir.path().join("events.json"), text).unwrap();

    let enveloped = changelog_table(dir.path(), &[("debezium-json.schema-include", "true")]);
    let mut source = create_source(&enveloped, &ctx()).unwrap();
    assert_eq!(
        read_changes(&mut source).await,
        ["-U(1, a)", "+U(1, b)", "+I(2, c)"]
    );

    let mut bare = create_source(&changelog_table(dir.path(), &[]), &ctx()).unwrap();
    let error = bare.next_batch().await.unwrap_err().to_string();
    assert!(
        error.contains(r#"no "op" field"#)
            && error.contains("'debezium-json.schema-include' = 'true'"),
        "{error}"
    );

    let mut csv = table(dir.path(), "csv");
    csv.options
        .insert("debezium-json.schema-include".into(), "true".into());
    let error = validate_source(&csv).unwrap_err().to_string();
    assert!(error.contains("unsupported source options"), "{error}");
}
