//! Every format: rows encoded and decoded back, the change events of the
//! changelog formats read with Flink's semantics, and the error policy.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, BinaryArray, Int8Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use rtdw_operators::StreamError;
use rtdw_operators::row_kind::{row_kind_at, split_row_kinds, with_row_kinds};

use super::*;
use crate::factory::FormatSlot;
use crate::options::OptionType;

static FORMAT: ConnectorOption = ConnectorOption::new("format", OptionType::String, "Format.");
static SLOT: FormatSlot = FormatSlot {
    option: &FORMAT,
    prefix: "",
};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]))
}

fn table(format: &str, options: &[(&str, &str)], schema: SchemaRef) -> TableDescriptor {
    TableDescriptor {
        name: "t".into(),
        schema,
        options: [("format", format)]
            .iter()
            .chain(options)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        primary_key: vec![],
        partition_keys: vec![],
        metadata: vec![],
    }
}

fn decoder(table: &TableDescriptor) -> Box<dyn RecordDecoder> {
    let formats = Formats::builtin();
    let format = formats.resolve(table, &SLOT).unwrap();
    format
        .factory
        .create_decoder(&table.schema, &format.options)
        .unwrap()
}

fn encoder(table: &TableDescriptor) -> Box<dyn RecordEncoder> {
    let formats = Formats::builtin();
    let format = formats.resolve(table, &SLOT).unwrap();
    format
        .factory
        .create_encoder(&table.schema, &format.options)
        .unwrap()
}

fn decode(decoder: &mut dyn RecordDecoder, records: &[&str]) -> Result<RecordBatch, FormatError> {
    let bytes: Vec<&[u8]> = records.iter().map(|r| r.as_bytes()).collect();
    Ok(decoder.decode(&bytes)?.expect("rows"))
}

fn encode(encoder: &mut dyn RecordEncoder, batch: &RecordBatch) -> Vec<String> {
    let mut records = Vec::new();
    encoder.encode(batch, &mut records).unwrap();
    records
        .into_iter()
        .map(|r| String::from_utf8(r).unwrap())
        .collect()
}

/// Rows as `+I(1, a)`, NULL as `null`.
fn changes(batch: &RecordBatch) -> Vec<String> {
    let (data, kinds) = split_row_kinds(batch).unwrap();
    let ids = data.column(0).as_primitive::<Int64Type>();
    let names = data.column(1).as_string::<i32>();
    (0..data.num_rows())
        .map(|i| {
            let kind = row_kind_at(kinds.as_ref(), i).unwrap();
            let name = if names.is_null(i) {
                "null"
            } else {
                names.value(i)
            };
            format!("{}({}, {name})", kind.short_string(), ids.value(i))
        })
        .collect()
}

/// Two inserts, one with a NULL and one with characters formats must escape.
fn rows() -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec![Some("a,\"b\"\nc"), None])),
        ],
    )
    .unwrap()
}

/// Every change kind once.
fn changelog() -> RecordBatch {
    let data = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(vec![1, 1, 1, 2])),
            Arc::new(StringArray::from(vec!["a", "a", "b", "c"])),
        ],
    )
    .unwrap();
    with_row_kinds(&data, Int8Array::from(vec![0, 1, 2, 3])).unwrap()
}

#[test]
fn insert_only_formats_round_trip_rows() {
    for (format, options) in [
        ("json", vec![]),
        ("csv", vec![]),
        ("csv", vec![("csv.field-delimiter", "\\t")]),
        ("csv", vec![("csv.quote-character", "'")]),
        ("csv", vec![("csv.null-literal", "N/A")]),
    ] {
        let t = table(format, &options, schema());
        let records = encode(encoder(&t).as_mut(), &rows());
        assert_eq!(records.len(), 2, "{format} {options:?}: {records:?}");
        let refs: Vec<&str> = records.iter().map(String::as_str).collect();
        let back = decode(decoder(&t).as_mut(), &refs).unwrap();
        assert_eq!(
            changes(&back),
            ["+I(1, a,\"b\"\nc)", "+I(2, null)"],
            "{format} {options:?}: {records:?}"
        );
    }
}

#[test]
fn csv_writes_flinks_dialect() {
    let t = table("csv", &[], schema());
    assert_eq!(
        encode(encoder(&t).as_mut(), &rows()),
        ["1,\"a,\"\"b\"\"\nc\"", "2,"]
    );
    let null_literal = table("csv", &[("csv.null-literal", "N/A")], schema());
    assert_eq!(encode(encoder(&null_literal).as_mut(), &rows())[1], "2,N/A");
    let comments = table("csv", &[("csv.allow-comments", "true")], schema());
    let batch = decode(decoder(&comments).as_mut(), &["# a comment", "3,x"]).unwrap();
    assert_eq!(changes(&batch), ["+I(3, x)"]);
}

#[test]
fn changelog_formats_round_trip_every_change_kind() {
    // Written as Flink writes them: +U as an insert, -U as a delete, so
    // they read back as +I and -D.
    for format in ["debezium-json", "canal-json", "maxwell-json"] {
        let t = table(format, &[], schema());
        let records = encode(encoder(&t).as_mut(), &changelog());
        let refs: Vec<&str> = records.iter().map(String::as_str).collect();
        let back = decode(decoder(&t).as_mut(), &refs).unwrap();
        assert_eq!(
            changes(&back),
            ["+I(1, a)", "-D(1, a)", "+I(1, b)", "-D(2, c)"],
            "{format}: {records:?}"
        );
    }
}

#[test]
fn raw_carries_the_whole_record_as_one_column() {
    let text = Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, true)]));
    let t = table("raw", &[], text.clone());
    let batch = decode(decoder(&t).as_mut(), &["a,b", "{\"x\": 1}"]).unwrap();
    let lines = batch.column(0).as_string::<i32>();
    assert_eq!((lines.value(0), lines.value(1)), ("a,b", "{\"x\": 1}"));
    assert_eq!(encode(encoder(&t).as_mut(), &batch), ["a,b", "{\"x\": 1}"]);
    assert!(decode(decoder(&t).as_mut(), &["\u{0}ok"]).is_ok());
    let not_text: &[u8] = &[0xff, 0xfe];
    assert!(decoder(&t).decode(&[not_text]).is_err());

    let bytes = Arc::new(Schema::new(vec![Field::new("b", DataType::Binary, true)]));
    let t = table("raw", &[], bytes);
    let batch = decoder(&t).decode(&[not_text]).unwrap().unwrap();
    let column = batch
        .column(0)
        .as_any()
        .downcast_ref::<BinaryArray>()
        .unwrap();
    assert_eq!(column.value(0), not_text);

    let formats = Formats::builtin();
    let two_columns = table("raw", &[], schema());
    let error = formats
        .get("raw")
        .unwrap()
        .validate(&two_columns, &two_columns.schema)
        .unwrap_err();
    assert!(error.to_string().contains("exactly one column"), "{error}");
}

#[test]
fn canal_updates_take_unchanged_columns_from_the_new_row() {
    let t = table("canal-json", &[], schema());
    let events = [
        r#"{"data":[{"id":1,"name":"a"},{"id":2,"name":"b"}],"old":null,"type":"INSERT","database":"shop","table":"users"}"#,
        r#"{"data":[{"id":1,"name":"z"}],"old":[{"name":"a"}],"type":"UPDATE","database":"shop","table":"users"}"#,
        r#"{"data":null,"type":"CREATE","isDdl":true,"sql":"CREATE TABLE x (i INT)"}"#,
        r#"{"data":[{"id":2,"name":"b"}],"type":"DELETE","database":"shop","table":"users"}"#,
    ];
    let batch = decode(decoder(&t).as_mut(), &events).unwrap();
    assert_eq!(
        changes(&batch),
        ["+I(1, a)", "+I(2, b)", "-U(1, a)", "+U(1, z)", "-D(2, b)"]
    );
    let filtered = table(
        "canal-json",
        &[("canal-json.table.include", "orders|items")],
        schema(),
    );
    assert!(
        decoder(&filtered)
            .decode(&[events[0].as_bytes()])
            .unwrap()
            .is_none()
    );
    let error = decode(decoder(&t).as_mut(), &[r#"{"data":[],"type":"MERGE"}"#]).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("unknown \"type\" value \"MERGE\""),
        "{error}"
    );
}

#[test]
fn maxwell_updates_take_unchanged_columns_from_the_new_row() {
    let t = table("maxwell-json", &[], schema());
    let events = [
        r#"{"database":"shop","table":"users","type":"insert","ts":1,"data":{"id":1,"name":"a"}}"#,
        r#"{"database":"shop","table":"users","type":"update","ts":2,"data":{"id":1,"name":"b"},"old":{"name":"a"}}"#,
        r#"{"database":"shop","table":"users","type":"delete","ts":3,"data":{"id":1,"name":"b"}}"#,
    ];
    let batch = decode(decoder(&t).as_mut(), &events).unwrap();
    assert_eq!(
        changes(&batch),
        ["+I(1, a)", "-U(1, a)", "+U(1, b)", "-D(1, b)"]
    );
    let error = decode(
        decoder(&t).as_mut(),
        &[r#"{"type":"update","data":{"id":1,"name":"b"}}"#],
    )
    .unwrap_err();
    assert!(error.to_string().contains("\"old\""), "{error}");
}

#[test]
fn json_can_require_every_field() {
    let lenient = table("json", &[], schema());
    let batch = decode(decoder(&lenient).as_mut(), &[r#"{"id":1}"#]).unwrap();
    assert_eq!(changes(&batch), ["+I(1, null)"]);
    let strict = table("json", &[("json.fail-on-missing-field", "true")], schema());
    let error = decode(decoder(&strict).as_mut(), &[r#"{"id":1}"#]).unwrap_err();
    assert!(
        error.to_string().contains("field 'name' is missing"),
        "{error}"
    );
    assert!(decode(decoder(&strict).as_mut(), &[r#"{"id":1,"name":null}"#]).is_ok());
}

#[test]
fn the_policy_fails_naming_the_position_or_skips_and_counts() {
    let t = table("json", &[], schema());
    let records: Vec<&[u8]> = vec![
        br#"{"id":1,"name":"a"}"#,
        b"{not json",
        br#"{"id":3,"name":"c"}"#,
    ];
    let position = |i: usize| format!("topic t partition 0 offset {}", 40 + i);

    let strict = DecodePolicy::new("t", "json", false);
    let error = strict
        .decode(decoder(&t).as_mut(), &records, &position)
        .unwrap_err();
    assert!(
        matches!(error, StreamError::MalformedRecord(_)),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("malformed json record of table 't' in topic t partition 0 offset 41: "),
        "{error}"
    );
    assert_eq!(strict.dropped().total(), 0);

    let skipping = DecodePolicy::new("t", "json", true);
    let batch = skipping
        .decode(decoder(&t).as_mut(), &records, &position)
        .unwrap()
        .unwrap();
    assert_eq!(changes(&batch), ["+I(1, a)", "+I(3, c)"]);
    assert_eq!(skipping.dropped().total(), 1);
}

#[test]
fn format_options_are_validated_under_the_formats_prefix() {
    let formats = Formats::builtin();
    let t = table("json", &[("json.ignore-parse-errors", "true")], schema());
    let declared = formats.declared_options(&t, &[SLOT]).unwrap();
    assert!(declared.iter().any(|d| d.key == "json.ignore-parse-errors"));
    assert!(declared.iter().all(|d| d.key.starts_with("json.")));
    let unknown = table("jsn", &[], schema());
    let error = formats.resolve(&unknown, &SLOT).err().unwrap().to_string();
    assert!(
        error.starts_with("table 't': option 'format' names an unknown format 'jsn'; available formats: canal-json, csv, debezium-json, json, maxwell-json, raw"),
        "{error}"
    );
}

#[test]
fn json_formats_write_timestamps_as_flink_does_in_either_standard() {
    use arrow::array::TimestampMillisecondArray;
    use arrow::datatypes::TimeUnit;
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new(
            "ltz",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
    ]));
    // 2020-12-30 12:13:14.120 UTC, 2020-12-30 12:13:10 UTC, and NULL.
    let millis = [Some(1_609_330_394_120), Some(1_609_330_390_000), None];
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(TimestampMillisecondArray::from(millis.to_vec())),
            Arc::new(TimestampMillisecondArray::from(millis.to_vec()).with_timezone("UTC")),
        ],
    )
    .unwrap();
    let cases = [
        (
            vec![],
            [
                r#"{"ts":"2020-12-30 12:13:14.12","ltz":"2020-12-30 12:13:14.12Z"}"#,
                r#"{"ts":"2020-12-30 12:13:10","ltz":"2020-12-30 12:13:10Z"}"#,
            ],
        ),
        (
            vec![("json.timestamp-format.standard", "ISO-8601")],
            [
                r#"{"ts":"2020-12-30T12:13:14.12","ltz":"2020-12-30T12:13:14.12Z"}"#,
                r#"{"ts":"2020-12-30T12:13:10","ltz":"2020-12-30T12:13:10Z"}"#,
            ],
        ),
    ];
    for (options, expected) in cases {
        let table = table("json", &options, schema.clone());
        let mut records = Vec::new();
        encoder(&table).encode(&batch, &mut records).unwrap();
        let texts: Vec<String> = records
            .iter()
            .map(|r| String::from_utf8(r.clone()).unwrap())
            .collect();
        assert_eq!(texts[..2], expected, "{options:?}");
        assert_eq!(texts[2], r#"{"ts":null,"ltz":null}"#);
        let slices: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        let decoded = decoder(&table).decode(&slices).unwrap().unwrap();
        assert_eq!(decoded, batch, "{options:?} reads back what it wrote");
    }
}

#[test]
fn json_leaves_null_columns_out_under_encode_ignore_null_fields() {
    let batch = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(vec![Some(1), None])),
            Arc::new(StringArray::from(vec![None, Some("b")])),
        ],
    )
    .unwrap();
    let written = |options: &[(&str, &str)]| {
        let mut records = Vec::new();
        encoder(&table("json", options, schema()))
            .encode(&batch, &mut records)
            .unwrap();
        records
            .into_iter()
            .map(|r| String::from_utf8(r).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        written(&[]),
        [r#"{"id":1,"name":null}"#, r#"{"id":null,"name":"b"}"#]
    );
    assert_eq!(
        written(&[("json.encode.ignore-null-fields", "true")]),
        [r#"{"id":1}"#, r#"{"name":"b"}"#]
    );
}
