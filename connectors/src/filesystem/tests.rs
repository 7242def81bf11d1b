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
    let text = std::fs::read_to_string(dir.path().join("part-job-0-0")).unwrap();
    (dir, text)
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
