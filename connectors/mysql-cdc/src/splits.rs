//! The source's splits and its enumerator (run by the coordinator at every
//! discovery): snapshot chunks of each captured table, then one binlog
//! split, created once a completed checkpoint holds every chunk finished
//! (Flink CDC's switch to the binlog phase) and carrying each chunk's
//! high mark so the binlog reader skips what the snapshot already holds.

use mysql_async::Value;
use mysql_async::prelude::Queryable;
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::SourceSplit;
use serde::{Deserialize, Serialize};

use crate::binlog::BinlogOffset;
use crate::catalog::{Projection, ServerTable, TableId, captured_tables, describe, quote};
use crate::connection::{Endpoint, Session, query_error};
use crate::options::{CdcOptions, Startup};
use crate::position::{BinlogPosition, GtidSet};
use crate::values::ColumnKind;

/// The id of the binlog split.
pub(crate) const BINLOG_SPLIT_ID: &str = "binlog";
/// The prefix of snapshot chunk ids: `chunk:<database>.<table>:<index>`.
const CHUNK_PREFIX: &str = "chunk:";

/// A value of a chunk key column, as chunk bounds and row keys hold it.
/// Integers compare as numbers, everything else as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum KeyValue {
    /// SQL NULL (sorts first, as in MySQL).
    Null,
    /// An integer.
    Int(i128),
    /// Anything else, as text.
    Text(String),
}

impl KeyValue {
    /// The key value of a server value, whichever protocol gave it.
    pub(crate) fn of(value: &Value) -> KeyValue {
        match value {
            Value::NULL => KeyValue::Null,
            Value::Int(n) => KeyValue::Int(i128::from(*n)),
            Value::UInt(n) => KeyValue::Int(i128::from(*n)),
            Value::Bytes(b) => KeyValue::Text(String::from_utf8_lossy(b).into_owned()),
            Value::Float(f) => KeyValue::Text(f.to_string()),
            Value::Double(d) => KeyValue::Text(d.to_string()),
            Value::Date(y, mo, d, h, mi, s, us) => KeyValue::Text(format!(
                "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}"
            )),
            Value::Time(negative, days, h, m, s, us) => KeyValue::Text(format!(
                "{}{:03}:{m:02}:{s:02}.{us:06}",
                if *negative { "-" } else { "" },
                days * 24 + u32::from(*h)
            )),
        }
    }

    /// The value as a statement parameter.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            KeyValue::Null => Value::NULL,
            KeyValue::Int(n) => match i64::try_from(*n) {
                Ok(n) => Value::Int(n),
                Err(_) => Value::UInt(*n as u64),
            },
            KeyValue::Text(t) => Value::Bytes(t.clone().into_bytes()),
        }
    }
}

/// A range of a table's chunk key: `[start, end)`, open where `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyRange {
    /// The key column.
    pub column: String,
    /// The first key in the range.
    pub start: Option<KeyValue>,
    /// The first key after the range.
    pub end: Option<KeyValue>,
}

impl KeyRange {
    /// Whether `key` lies in the range (NULL keys belong to the first
    /// chunk).
    pub(crate) fn contains(&self, key: &KeyValue) -> bool {
        if *key == KeyValue::Null {
            return self.start.is_none();
        }
        self.start.as_ref().is_none_or(|start| key >= start)
            && self.end.as_ref().is_none_or(|end| key < end)
    }

    /// The `WHERE` condition selecting the range, with its parameters.
    pub(crate) fn condition(&self) -> (String, Vec<Value>) {
        let column = quote(&self.column);
        match (&self.start, &self.end) {
            (None, None) => ("TRUE".into(), Vec::new()),
            (None, Some(end)) => (
                format!("({column} < ? OR {column} IS NULL)"),
                vec![end.to_value()],
            ),
            (Some(start), None) => (format!("{column} >= ?"), vec![start.to_value()]),
            (Some(start), Some(end)) => (
                format!("{column} >= ? AND {column} < ?"),
                vec![start.to_value(), end.to_value()],
            ),
        }
    }
}

/// A snapshot chunk: a key range of one table, and once read, the binlog
/// position its rows are the state at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChunkSplit {
    /// The table.
    pub table: TableId,
    /// Its key range.
    pub range: KeyRange,
    /// The high mark: set when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<BinlogPosition>,
}

/// A finished chunk as the binlog split keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FinishedChunk {
    /// The table.
    pub table: TableId,
    /// Its key range.
    pub range: KeyRange,
    /// The position its rows are the state at.
    pub high: BinlogPosition,
}

/// How the binlog split starts, before it first reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum BinlogStart {
    /// At the server's end when first read.
    Latest,
    /// At the oldest file the server keeps.
    Earliest,
    /// At a position.
    Offset(BinlogOffset),
    /// After MariaDB GTIDs.
    Gtids(GtidSet),
    /// At the first transaction committed at or after this time (ms).
    Timestamp(i64),
}

/// The binlog split's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BinlogSplit {
    /// Where it starts (until it has read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<BinlogStart>,
    /// Where it stands once reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<BinlogOffset>,
    /// The tables it captures; `None` for every table the patterns match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables: Option<Vec<TableId>>,
    /// The snapshot's chunks whose high marks the reader has not passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<FinishedChunk>,
    /// Tables whose changes were emitted up to an offset the reader went
    /// back before (to read tables added later from their snapshot): their
    /// changes up to there are skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub floors: Vec<TableFloor>,
}

/// A table's changes emitted up to `offset` (inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TableFloor {
    /// The table.
    pub table: TableId,
    /// The transaction start and its row events already emitted.
    pub offset: BinlogOffset,
}

impl BinlogSplit {
    /// Where the split stands: its offset, or the offset it starts at.
    pub(crate) fn current_offset(&self) -> Option<BinlogOffset> {
        match (&self.offset, &self.start) {
            (Some(offset), _) => Some(offset.clone()),
            (None, Some(BinlogStart::Offset(offset))) => Some(offset.clone()),
            _ => None,
        }
    }

    /// Adds newly snapshotted tables and their finished chunks. When the
    /// split stands past the lowest of their high marks, it goes back
    /// there, and the tables it already captured skip what they emitted
    /// up to where it stood.
    pub(crate) fn add_tables(&mut self, tables: Vec<TableId>, chunks: Vec<FinishedChunk>) {
        let lowest = chunks.iter().map(|c| c.high.clone()).min();
        if let (Some(lowest), Some(at)) = (lowest, self.current_offset())
            && at.position > lowest
        {
            for table in self.tables.iter().flatten() {
                match self.floors.iter_mut().find(|f| f.table == *table) {
                    Some(floor) if floor.offset.position >= at.position => {}
                    Some(floor) => floor.offset = at.clone(),
                    None => self.floors.push(TableFloor {
                        table: table.clone(),
                        offset: at.clone(),
                    }),
                }
            }
            self.offset = Some(BinlogOffset {
                position: lowest,
                skip_rows_events: 0,
                gtids: at.gtids,
            });
            self.start = None;
        }
        self.tables.get_or_insert_with(Vec::new).extend(tables);
        self.chunks.extend(chunks);
    }
}

/// A split of this source, decoded.
#[derive(Debug, Clone)]
pub(crate) enum CdcSplit {
    /// A snapshot chunk.
    Chunk(ChunkSplit),
    /// The binlog.
    Binlog(BinlogSplit),
}

impl CdcSplit {
    /// Decodes a split; the error names it.
    pub(crate) fn decode(split: &SourceSplit) -> Result<CdcSplit, String> {
        let parse = |what: &str| format!("the {what} split '{}' is malformed", split.id);
        if split.id == BINLOG_SPLIT_ID {
            serde_json::from_str(&split.state)
                .map(CdcSplit::Binlog)
                .map_err(|e| format!("{}: {e}", parse("binlog")))
        } else if split.id.starts_with(CHUNK_PREFIX) {
            serde_json::from_str(&split.state)
                .map(CdcSplit::Chunk)
                .map_err(|e| format!("{}: {e}", parse("chunk")))
        } else {
            Err(format!("'{}' is not a mysql-cdc split", split.id))
        }
    }
}

/// A chunk as a framework split.
pub(crate) fn chunk_split(id: String, chunk: &ChunkSplit) -> Result<SourceSplit, String> {
    Ok(SourceSplit {
        id,
        state: serde_json::to_string(chunk).map_err(|e| e.to_string())?,
        finished: chunk.high.is_some(),
    })
}

/// The binlog split as a framework split.
pub(crate) fn binlog_split(split: &BinlogSplit) -> Result<SourceSplit, String> {
    Ok(SourceSplit {
        id: BINLOG_SPLIT_ID.into(),
        state: serde_json::to_string(split).map_err(|e| e.to_string())?,
        finished: false,
    })
}

/// The enumerator: the splits to add to the `known` ones.
pub(crate) async fn plan(
    endpoint: &Endpoint,
    table: &TableDescriptor,
    options: &CdcOptions,
    known: &[SourceSplit],
) -> Result<Vec<SourceSplit>, ConnectorError> {
    let failed = |reason: String| ConnectorError::InvalidOption {
        table: table.name.clone(),
        key: "connector".into(),
        value: "mysql-cdc".into(),
        expected: format!("reads its own splits: {reason}"),
    };
    let mut chunks = Vec::new();
    let mut binlog = None;
    for split in known {
        match CdcSplit::decode(split).map_err(failed)? {
            CdcSplit::Chunk(chunk) => chunks.push(chunk),
            CdcSplit::Binlog(split) => binlog = Some(split),
        }
    }
    if let Some(binlog) = binlog {
        if !options.newly_added_tables {
            return Ok(Vec::new());
        }
        return add_tables(endpoint, table, options, binlog, chunks).await;
    }
    let mut session = endpoint.session().await?;
    if options.startup.reads_binlog() {
        session.check_binlog_settings().await?;
    }
    let binlog_start = match &options.startup {
        Startup::Initial | Startup::Snapshot => None,
        Startup::Latest => Some(BinlogStart::Latest),
        Startup::Earliest => Some(BinlogStart::Earliest),
        Startup::Timestamp(millis) => Some(BinlogStart::Timestamp(*millis)),
        Startup::Specific {
            gtids: Some(gtids), ..
        } => Some(BinlogStart::Gtids(gtids.clone())),
        Startup::Specific { position, .. } => Some(BinlogStart::Offset(BinlogOffset::at(
            position
                .clone()
                .unwrap_or_else(|| BinlogPosition::new("", 4)),
        ))),
    };
    if let Some(start) = binlog_start {
        let split = BinlogSplit {
            start: Some(start),
            offset: None,
            tables: None,
            chunks: Vec::new(),
            floors: Vec::new(),
        };
        return Ok(vec![binlog_split(&split).map_err(failed)?]);
    }
    if known.is_empty() {
        let captured = captured_tables(&mut session, options).await?;
        if captured.is_empty() {
            return Err(ConnectorError::InvalidOption {
                table: table.name.clone(),
                key: crate::options::TABLE_NAME.key.into(),
                value: table
                    .options
                    .get(crate::options::TABLE_NAME.key)
                    .cloned()
                    .unwrap_or_default(),
                expected: format!(
                    "must match a table of a database that 'database-name' matches on {}",
                    endpoint.address()
                ),
            });
        }
        return chunk_splits(&mut session, table, options, captured).await;
    }
    if options.startup == Startup::Snapshot || chunks.iter().any(|c| c.high.is_none()) {
        return Ok(Vec::new());
    }
    let mut tables: Vec<TableId> = chunks.iter().map(|c| c.table.clone()).collect();
    tables.sort();
    tables.dedup();
    let finished: Vec<FinishedChunk> = chunks
        .into_iter()
        .filter_map(|c| {
            c.high.map(|high| FinishedChunk {
                table: c.table,
                range: c.range,
                high,
            })
        })
        .collect();
    let lowest = finished
        .iter()
        .map(|c| c.high.clone())
        .min()
        .ok_or_else(|| failed("no finished chunk to start the binlog from".into()))?;
    let split = BinlogSplit {
        start: Some(BinlogStart::Offset(BinlogOffset::at(lowest))),
        offset: None,
        tables: Some(tables),
        chunks: finished,
        floors: Vec::new(),
    };
    Ok(vec![binlog_split(&split).map_err(failed)?])
}

/// The chunk splits of `tables`, each checked against the declared
/// columns.
async fn chunk_splits(
    session: &mut Session,
    table: &TableDescriptor,
    options: &CdcOptions,
    tables: Vec<TableId>,
) -> Result<Vec<SourceSplit>, ConnectorError> {
    let mut splits = Vec::new();
    for id in tables {
        let server = describe(session, &id).await?;
        Projection::of(table, &table.schema, &server)?;
        let ranges = chunk_ranges(session, table, options, &server).await?;
        for (index, range) in ranges.into_iter().enumerate() {
            let chunk = ChunkSplit {
                table: id.clone(),
                range,
                high: None,
            };
            splits.push(
                chunk_split(format!("{CHUNK_PREFIX}{id}:{index}"), &chunk).map_err(|e| {
                    ConnectorError::external(
                        &table.name,
                        "encoding a chunk",
                        rtdw_operators::ErrorClass::Transient,
                        e,
                    )
                })?,
            );
        }
    }
    Ok(splits)
}

/// `scan.newly-added-table.enabled` with the binlog running: chunks for
/// tables the patterns match now and the source never captured; once a
/// checkpoint holds them all finished, the binlog split again, with those
/// tables added (a replacement of the held one).
async fn add_tables(
    endpoint: &Endpoint,
    table: &TableDescriptor,
    options: &CdcOptions,
    binlog: BinlogSplit,
    chunks: Vec<ChunkSplit>,
) -> Result<Vec<SourceSplit>, ConnectorError> {
    let Some(captured_by_binlog) = binlog.tables.clone() else {
        return Ok(Vec::new());
    };
    let mut session = endpoint.session().await?;
    let known: std::collections::BTreeSet<&TableId> = captured_by_binlog
        .iter()
        .chain(chunks.iter().map(|c| &c.table))
        .collect();
    let new: Vec<TableId> = captured_tables(&mut session, options)
        .await?
        .into_iter()
        .filter(|t| !known.contains(t))
        .collect();
    if !new.is_empty() {
        tracing::info!(table = %table.name, tables = ?new, "snapshotting newly added tables");
        return chunk_splits(&mut session, table, options, new).await;
    }
    let pending: Vec<&ChunkSplit> = chunks
        .iter()
        .filter(|c| !captured_by_binlog.contains(&c.table))
        .collect();
    if pending.is_empty() || pending.iter().any(|c| c.high.is_none()) {
        return Ok(Vec::new());
    }
    let mut tables: Vec<TableId> = pending.iter().map(|c| c.table.clone()).collect();
    tables.sort();
    tables.dedup();
    let finished = pending
        .into_iter()
        .filter_map(|c| {
            c.high.clone().map(|high| FinishedChunk {
                table: c.table.clone(),
                range: c.range.clone(),
                high,
            })
        })
        .collect();
    let mut replacement = binlog;
    replacement.add_tables(tables, finished);
    let split = binlog_split(&replacement).map_err(|e| {
        ConnectorError::external(
            &table.name,
            "encoding the binlog split",
            rtdw_operators::ErrorClass::Transient,
            e,
        )
    })?;
    Ok(vec![split])
}

/// Cuts a table into chunk key ranges of about `chunk size` rows: evenly
/// by value when the key is an integer spread about as densely as the
/// rows (Flink CDC's distribution factor within 0.05..1000), by sampled
/// boundaries otherwise; one range for the whole table when incremental
/// snapshots are off or the table is empty.
async fn chunk_ranges(
    session: &mut Session,
    table: &TableDescriptor,
    options: &CdcOptions,
    server: &ServerTable,
) -> Result<Vec<KeyRange>, ConnectorError> {
    let key = server.chunk_key(table, options)?;
    let whole = vec![KeyRange {
        column: key.name.clone(),
        start: None,
        end: None,
    }];
    if !options.incremental {
        return Ok(whole);
    }
    let id = &server.id;
    let column = quote(&key.name);
    let context = format!("cutting {id} into chunks");
    let bounds: Option<(Value, Value)> = session
        .conn
        .query_first(format!(
            "SELECT MIN({column}), MAX({column}) FROM {}",
            id.quoted()
        ))
        .await
        .map_err(|e| query_error(&session.table, &context, e))?;
    let Some((min, max)) = bounds else {
        return Ok(whole);
    };
    let (min, max) = (KeyValue::of(&min), KeyValue::of(&max));
    if min == KeyValue::Null {
        return Ok(whole);
    }
    let rows: Option<Option<u64>> = session
        .conn
        .exec_first(
            "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (&id.database, &id.table),
        )
        .await
        .map_err(|e| query_error(&session.table, &context, e))?;
    let rows = rows.flatten();
    let even = match (&key.kind, &min, &max) {
        (ColumnKind::Integer, KeyValue::Int(low), KeyValue::Int(high)) => {
            even_boundaries(*low, *high, rows.unwrap_or(0), options.chunk_size)
        }
        _ => None,
    };
    let boundaries = match even {
        Some(boundaries) => boundaries,
        None => {
            sampled_boundaries(
                session,
                id,
                &column,
                &min,
                &max,
                options.chunk_size,
                &context,
            )
            .await?
        }
    };
    let mut ranges = Vec::with_capacity(boundaries.len() + 1);
    let mut start = None;
    for boundary in boundaries {
        ranges.push(KeyRange {
            column: key.name.clone(),
            start: start.take(),
            end: Some(boundary.clone()),
        });
        start = Some(boundary);
    }
    ranges.push(KeyRange {
        column: key.name.clone(),
        start,
        end: None,
    });
    Ok(ranges)
}

/// Boundaries every `size` rows' worth of keys between `low` and `high`,
/// when the keys are spread about as densely as the `rows` (Flink CDC's
/// distribution factor within 0.05..1000); `None` otherwise.
fn even_boundaries(low: i128, high: i128, rows: u64, size: u64) -> Option<Vec<KeyValue>> {
    let factor = (high - low + 1) as f64 / rows.max(1) as f64;
    if !(0.05..=1000.0).contains(&factor) {
        return None;
    }
    let step = ((size as f64 * factor.max(1.0)) as i128).max(1);
    let mut boundaries = Vec::new();
    let mut next = low + step;
    while next <= high {
        boundaries.push(KeyValue::Int(next));
        next += step;
    }
    Some(boundaries)
}

/// Boundaries found by asking the server for the key `size` rows on,
/// chunk after chunk (Flink CDC's unevenly-sized chunks).
async fn sampled_boundaries(
    session: &mut Session,
    id: &TableId,
    column: &str,
    min: &KeyValue,
    max: &KeyValue,
    size: u64,
    context: &str,
) -> Result<Vec<KeyValue>, ConnectorError> {
    let table = id.quoted();
    let next_max = format!(
        "SELECT MAX(k) FROM (SELECT {column} AS k FROM {table} WHERE {column} >= ? ORDER BY {column} LIMIT {size}) AS chunk"
    );
    let next_greater = format!("SELECT MIN({column}) FROM {table} WHERE {column} > ?");
    let mut boundaries = Vec::new();
    let mut start = min.clone();
    loop {
        let mut end: Value = session
            .conn
            .exec_first(&next_max, (start.to_value(),))
            .await
            .map_err(|e| query_error(&session.table, context, e))?
            .unwrap_or(Value::NULL);
        if KeyValue::of(&end) == start {
            end = session
                .conn
                .exec_first(&next_greater, (start.to_value(),))
                .await
                .map_err(|e| query_error(&session.table, context, e))?
                .unwrap_or(Value::NULL);
        }
        let end = KeyValue::of(&end);
        if end == KeyValue::Null || end >= *max {
            return Ok(boundaries);
        }
        boundaries.push(end.clone());
        start = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_hold_their_keys_and_select_them() {
        let range = KeyRange {
            column: "id".into(),
            start: Some(KeyValue::Int(10)),
            end: Some(KeyValue::Int(20)),
        };
        assert!(range.contains(&KeyValue::Int(10)));
        assert!(range.contains(&KeyValue::Int(19)));
        assert!(!range.contains(&KeyValue::Int(20)));
        assert!(!range.contains(&KeyValue::Null));
        let first = KeyRange {
            column: "id".into(),
            start: None,
            end: Some(KeyValue::Int(10)),
        };
        assert!(first.contains(&KeyValue::Null));
        assert_eq!(first.condition().0, "(`id` < ? OR `id` IS NULL)");
        assert_eq!(
            KeyValue::of(&Value::UInt(u64::MAX)),
            KeyValue::Int(i128::from(u64::MAX))
        );
        assert_eq!(
            KeyValue::Int(i128::from(u64::MAX)).to_value(),
            Value::UInt(u64::MAX)
        );
    }

    #[test]
    fn dense_integer_keys_are_cut_evenly_and_sparse_ones_are_sampled() {
        let cuts = even_boundaries(1, 100_000, 100_000, 8096).unwrap();
        assert_eq!(cuts.len(), 12);
        assert_eq!(cuts[0], KeyValue::Int(8097));
        // Keys ten apart: chunks ten times as wide hold as many rows.
        let cuts = even_boundaries(1, 1_000_000, 100_000, 10_000).unwrap();
        assert_eq!(cuts[0], KeyValue::Int(100_001));
        // Keys a million apart: the server finds the boundaries.
        assert_eq!(even_boundaries(1, 1 << 40, 1000, 100), None);
    }

    fn table(name: &str) -> TableId {
        TableId {
            database: "shop".into(),
            table: name.into(),
        }
    }

    fn finished(name: &str, high: u64) -> FinishedChunk {
        FinishedChunk {
            table: table(name),
            range: KeyRange {
                column: "id".into(),
                start: None,
                end: None,
            },
            high: BinlogPosition::new("bin.000001", high),
        }
    }

    #[test]
    fn added_tables_rewind_a_reader_past_their_marks_and_floor_the_others() {
        let at = BinlogOffset {
            position: BinlogPosition::new("bin.000001", 900),
            skip_rows_events: 2,
            gtids: GtidSet::Empty,
        };
        let mut split = BinlogSplit {
            start: None,
            offset: Some(at.clone()),
            tables: Some(vec![table("orders")]),
            chunks: Vec::new(),
            floors: Vec::new(),
        };
        split.add_tables(
            vec![table("refunds")],
            vec![finished("refunds", 500), finished("refunds", 700)],
        );
        assert_eq!(split.offset.as_ref().map(|o| o.position.pos), Some(500));
        assert_eq!(
            split.floors,
            [TableFloor {
                table: table("orders"),
                offset: at
            }]
        );
        assert_eq!(split.tables, Some(vec![table("orders"), table("refunds")]));
        // A reader not yet at the new marks stays where it is.
        let mut behind = BinlogSplit {
            offset: Some(BinlogOffset::at(BinlogPosition::new("bin.000001", 100))),
            floors: Vec::new(),
            ..split.clone()
        };
        behind.add_tables(vec![table("returns")], vec![finished("returns", 800)]);
        assert_eq!(behind.offset.map(|o| o.position.pos), Some(100));
        assert!(behind.floors.is_empty());
    }

    #[test]
    fn split_states_round_trip() {
        let chunk = ChunkSplit {
            table: TableId {
                database: "shop".into(),
                table: "orders".into(),
            },
            range: KeyRange {
                column: "id".into(),
                start: Some(KeyValue::Int(i128::from(u64::MAX))),
                end: Some(KeyValue::Text("b".into())),
            },
            high: Some(BinlogPosition::new("mariadb-bin.000002", 1234)),
        };
        let split = chunk_split("chunk:shop.orders:1".into(), &chunk).unwrap();
        assert!(split.finished);
        match CdcSplit::decode(&split).unwrap() {
            CdcSplit::Chunk(decoded) => assert_eq!(decoded, chunk),
            other => panic!("{other:?}"),
        }
        let error = CdcSplit::decode(&SourceSplit {
            id: "topic:0".into(),
            state: String::new(),
            finished: false,
        })
        .unwrap_err();
        assert!(error.contains("not a mysql-cdc split"), "{error}");
    }
}
