//! The filesystem formats, written and read back through the connector.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{AsArray, Int8Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use rtdw_operators::SubtaskContext;
use rtdw_operators::row_kind::with_row_kinds;

use crate::table::TableDescriptor;
use crate::{create_sink, create_source, validate_sink};

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

    let mut restored = create_source(&table, &ctx()).unwrap();
    restored.restore_position(&position).unwrap();
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
    let (_dir, text) = write("debezium-json", changes).await;
    assert_eq!(
        text,
        "{\"before\":{\"id\":1,\"name\":\"a,b\"},\"after\":null,\"op\":\"d\"}\n\
         {\"before\":null,\"after\":{\"id\":2,\"name\":null},\"op\":\"c\"}\n"
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
