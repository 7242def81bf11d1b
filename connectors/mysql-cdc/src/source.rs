//! One reader subtask of a `mysql-cdc` table: it reads the snapshot chunks
//! it is given, each as one batch of `+I` rows, then (on the subtask that
//! gets the binlog split) the binlog as a changelog, skipping the events a
//! chunk's rows already hold. Its position is its splits: finished chunks
//! with their high marks, and the binlog split with its offset.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use mysql_async::Value;
use rtdw_connector_core::split::encode_splits;
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::row_kind::RowKind;
use rtdw_operators::{ErrorClass, Result, Source, SourceSplit, StreamError};

use crate::binlog::{BinlogItem, BinlogOffset, BinlogReader, Change, StartAt};
use crate::catalog::{TableId, describe};
use crate::connection::Endpoint;
use crate::options::CdcOptions;
use crate::position::BinlogPosition;
use crate::rows::BatchBuilder;
use crate::snapshot::{LayoutView, TableReading, bad_value, read_chunk};
use crate::splits::{
    BinlogSplit, BinlogStart, CdcSplit, ChunkSplit, FinishedChunk, KeyValue, binlog_split,
    chunk_split,
};

/// Rows per binlog batch at most.
const BINLOG_BATCH_ROWS: usize = 8192;
/// How long a binlog batch collects rows at most.
const BINLOG_BATCH_WAIT: Duration = Duration::from_millis(100);

/// A reader subtask.
pub(crate) struct CdcSource {
    table: TableDescriptor,
    options: CdcOptions,
    endpoint: Endpoint,
    server_id: u32,
    bounded: bool,
    batch: BatchBuilder,
    /// Chunks still to read, by id.
    chunks: VecDeque<(String, ChunkSplit)>,
    /// Chunks read.
    finished: Vec<SourceSplit>,
    /// How each captured table is read, once described.
    readings: HashMap<TableId, Arc<TableReading>>,
    binlog: Option<BinlogPhase>,
}

/// The binlog split, read.
struct BinlogPhase {
    split: BinlogSplit,
    reader: Option<BinlogReader>,
    /// The snapshot's chunks by table, ordered by range, until the reader
    /// passes their highest mark.
    chunks: HashMap<TableId, Vec<FinishedChunk>>,
    highest: Option<BinlogPosition>,
    views: HashMap<TableId, LayoutView>,
    /// Rows of transactions committed before this time (ms) are skipped
    /// (`scan.startup.mode` = `timestamp`).
    skip_before: Option<i64>,
    /// Failed attempts to read since the last success.
    failures: u32,
}

impl CdcSource {
    /// The source of one subtask, reading as replica `server_id`.
    pub(crate) fn new(
        table: &TableDescriptor,
        options: CdcOptions,
        server_id: u32,
    ) -> std::result::Result<CdcSource, ConnectorError> {
        Ok(CdcSource {
            endpoint: Endpoint::new(&table.name, &options),
            bounded: !options.startup.reads_binlog(),
            batch: BatchBuilder::new(table)?,
            table: table.clone(),
            options,
            server_id,
            chunks: VecDeque::new(),
            finished: Vec::new(),
            readings: HashMap::new(),
            binlog: None,
        })
    }

    async fn reading(
        &mut self,
        id: &TableId,
    ) -> std::result::Result<Arc<TableReading>, ConnectorError> {
        if let Some(reading) = self.readings.get(id) {
            return Ok(reading.clone());
        }
        let mut session = self.endpoint.session().await?;
        let server = describe(&mut session, id).await?;
        let reading = Arc::new(TableReading::of(&self.table, &self.options, &server)?);
        self.readings.insert(id.clone(), reading.clone());
        Ok(reading)
    }

    /// Reads the next chunk as one batch: a checkpoint sees a chunk either
    /// not started or finished.
    async fn read_next_chunk(&mut self) -> Result<RecordBatch> {
        let Some((id, chunk)) = self.chunks.front().cloned() else {
            return self.batch.finish();
        };
        if let Some(phase) = &mut self.binlog {
            // A chunk's binlog replay connects as this subtask's replica:
            // the server would drop the binlog reader's connection anyway.
            phase.reader = None;
        }
        let reading = self.reading(&chunk.table).await?;
        let read = read_chunk(&self.endpoint, self.server_id, &reading, &chunk).await?;
        for cells in &read.rows {
            self.batch.push(cells, RowKind::Insert, &chunk.table, 0);
        }
        let done = ChunkSplit {
            high: Some(read.high),
            ..chunk
        };
        self.chunks.pop_front();
        self.finished
            .push(chunk_split(id, &done).map_err(StreamError::Failed)?);
        self.batch.finish()
    }

    /// Reads binlog rows for a while.
    async fn read_binlog(&mut self) -> Result<RecordBatch> {
        let Some(phase) = self.binlog.as_mut() else {
            return self.batch.finish();
        };
        if phase.reader.is_none() {
            let opened = open_reader(&self.endpoint, &self.options, self.server_id, phase).await;
            match opened {
                Ok(reader) => phase.reader = Some(reader),
                Err(error) => {
                    back_off(
                        phase,
                        error,
                        self.options.connect_max_retries,
                        &self.table.name,
                    )
                    .await?;
                    return self.batch.finish();
                }
            }
        }
        let deadline = Instant::now() + BINLOG_BATCH_WAIT;
        while self.batch.len() < BINLOG_BATCH_ROWS {
            let Some(phase) = self.binlog.as_mut() else {
                break;
            };
            let Some(reader) = phase.reader.as_mut() else {
                break;
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            let item = match tokio::time::timeout(remaining, reader.next_item_before(None)).await {
                Err(_) => break,
                Ok(Ok(Some(item))) => item,
                Ok(Ok(None)) => break,
                Ok(Err(error)) => {
                    phase.reader = None;
                    if self.batch.len() == 0 {
                        back_off(
                            phase,
                            error,
                            self.options.connect_max_retries,
                            &self.table.name,
                        )
                        .await?;
                    }
                    // What the batch holds is handed out; the reader
                    // reopens at the offset after it.
                    return self.batch.finish();
                }
            };
            phase.failures = 0;
            if let BinlogItem::Statement { schema, query } = &item {
                tracing::info!(table = %self.table.name, %schema, %query, "statement in the binlog; row events carry their own layout");
            }
            if let BinlogItem::Rows {
                layout,
                changes,
                transaction,
                index,
                timestamp,
            } = item
            {
                let op_ts = i64::from(timestamp) * 1000;
                if phase.skip_before.is_some_and(|first| op_ts < first) {
                    phase.note_offset();
                    continue;
                }
                phase.skip_before = None;
                let table = layout.table.clone();
                if phase.already_emitted(&table, &transaction, index) {
                    phase.note_offset();
                    continue;
                }
                let reading = self.reading(&table).await?;
                let phase = self.binlog.as_mut().ok_or_else(|| {
                    StreamError::Failed("the binlog phase ended while reading".into())
                })?;
                if !phase.views.get(&table).is_some_and(|v| v.is_of(&layout)) {
                    let view = LayoutView::of(&reading, &layout)
                        .map_err(|reason| bad_value(&self.table.name, &table, reason))?;
                    phase.views.insert(table.clone(), view);
                }
                let at = ChangeContext {
                    source: &self.table.name,
                    table: &table,
                    reading: &reading,
                    transaction: &transaction,
                    op_ts,
                };
                for change in changes {
                    phase.emit(&mut self.batch, change, &at)?;
                }
            }
            if let Some(phase) = self.binlog.as_mut() {
                phase.note_offset();
            }
        }
        self.batch.finish()
    }
}

/// After a failed read: waits before the reader reopens at the split's
/// offset, or fails the subtask once `retries` are spent or the error is
/// the user's to fix.
async fn back_off(
    phase: &mut BinlogPhase,
    error: ConnectorError,
    retries: u32,
    table: &str,
) -> Result<()> {
    phase.failures += 1;
    if error.class() == ErrorClass::User || phase.failures > retries {
        return Err(error.into());
    }
    let pause = Duration::from_millis(500 << phase.failures.min(6));
    tracing::warn!(%table, attempt = phase.failures, %error, ?pause, "binlog reading failed; reopening at the last offset");
    tokio::time::sleep(pause).await;
    Ok(())
}

/// Resolves where the split starts (once) and opens a reader there.
async fn open_reader(
    endpoint: &Endpoint,
    options: &CdcOptions,
    server_id: u32,
    phase: &mut BinlogPhase,
) -> std::result::Result<BinlogReader, ConnectorError> {
    let start = match (&phase.split.offset, &phase.split.start) {
        (Some(offset), _) => StartAt::Offset(offset.clone()),
        (None, Some(BinlogStart::Offset(offset))) => StartAt::Offset(offset.clone()),
        (None, Some(BinlogStart::Gtids(gtids))) => StartAt::Gtids(gtids.clone()),
        (None, Some(BinlogStart::Latest) | None) => {
            let end = endpoint.session().await?.binlog_end().await?;
            StartAt::Offset(BinlogOffset::at(end))
        }
        (None, Some(BinlogStart::Earliest)) => {
            let files = endpoint.session().await?.binlog_files().await?;
            StartAt::Offset(BinlogOffset::at(oldest(endpoint, &files)?))
        }
        (None, Some(BinlogStart::Timestamp(millis))) => {
            phase.skip_before = Some(*millis);
            StartAt::Offset(BinlogOffset::at(
                file_holding(endpoint, server_id, *millis).await?,
            ))
        }
    };
    if let StartAt::Offset(offset) = &start {
        phase.split.offset = Some(offset.clone());
    }
    let captures: Arc<dyn Fn(&TableId) -> bool + Send + Sync> = match &phase.split.tables {
        Some(tables) => {
            let tables = tables.clone();
            Arc::new(move |t| tables.contains(t))
        }
        None => {
            let options = options.clone();
            Arc::new(move |t| options.captures(&t.database, &t.table))
        }
    };
    BinlogReader::open(endpoint, server_id, start, options.heartbeat, captures).await
}

/// The start of the oldest of the server's binlog `files`.
fn oldest(
    endpoint: &Endpoint,
    files: &[String],
) -> std::result::Result<BinlogPosition, ConnectorError> {
    let first = files.first().cloned().ok_or_else(|| {
        ConnectorError::external(
            &endpoint.table,
            "finding the oldest binlog file",
            ErrorClass::User,
            "the server keeps no binlog files",
        )
    })?;
    Ok(BinlogPosition::new(first, 4))
}

/// The start of the newest binlog file begun at or before `millis` (its
/// first event's time); the oldest file when all began later.
async fn file_holding(
    endpoint: &Endpoint,
    server_id: u32,
    millis: i64,
) -> std::result::Result<BinlogPosition, ConnectorError> {
    let files = endpoint.session().await?.binlog_files().await?;
    let mut chosen = oldest(endpoint, &files)?;
    for file in files.iter().rev() {
        let at = BinlogPosition::new(file.clone(), 4);
        let mut reader = BinlogReader::open(
            endpoint,
            server_id,
            StartAt::Offset(BinlogOffset::at(at.clone())),
            None,
            Arc::new(|_| false),
        )
        .await?;
        let started = reader.first_event_time().await?;
        if i64::from(started) * 1000 <= millis {
            chosen = at;
            break;
        }
    }
    Ok(chosen)
}

impl BinlogPhase {
    fn new(split: BinlogSplit) -> BinlogPhase {
        let mut chunks: HashMap<TableId, Vec<FinishedChunk>> = HashMap::new();
        for chunk in &split.chunks {
            chunks
                .entry(chunk.table.clone())
                .or_default()
                .push(chunk.clone());
        }
        for list in chunks.values_mut() {
            list.sort_by(|a, b| a.range.start.cmp(&b.range.start));
        }
        let highest = split.chunks.iter().map(|c| c.high.clone()).max();
        BinlogPhase {
            split,
            reader: None,
            chunks,
            highest,
            views: HashMap::new(),
            skip_before: None,
            failures: 0,
        }
    }

    /// Keeps the reader's offset in the split; drops the chunk marks once
    /// the reader is past them all.
    fn note_offset(&mut self) {
        let Some(reader) = &self.reader else {
            return;
        };
        let offset = reader.offset();
        if offset.position.file.is_empty() {
            return;
        }
        if self
            .highest
            .as_ref()
            .is_some_and(|highest| offset.position >= *highest)
        {
            self.highest = None;
            self.chunks.clear();
            self.split.chunks.clear();
        }
        self.split
            .floors
            .retain(|floor| floor.offset.position >= offset.position);
        self.split.start = None;
        self.split.offset = Some(offset);
    }

    /// Whether the `index`th row event of the transaction starting at
    /// `transaction` was emitted before the reader went back for tables
    /// added later.
    fn already_emitted(&self, table: &TableId, transaction: &BinlogPosition, index: u32) -> bool {
        self.split.floors.iter().any(|floor| {
            floor.table == *table
                && (*transaction < floor.offset.position
                    || (*transaction == floor.offset.position
                        && index <= floor.offset.skip_rows_events))
        })
    }

    /// Takes the tables a replacement of the split adds (and their
    /// chunks); the reader reopens where the split now stands.
    fn merge(&mut self, incoming: BinlogSplit) {
        let held = self.split.tables.clone().unwrap_or_default();
        let added: Vec<TableId> = incoming
            .tables
            .unwrap_or_default()
            .into_iter()
            .filter(|t| !held.contains(t))
            .collect();
        if added.is_empty() {
            return;
        }
        let chunks = incoming
            .chunks
            .into_iter()
            .filter(|c| added.contains(&c.table))
            .collect();
        let mut split = self.split.clone();
        split.add_tables(added, chunks);
        let (skip_before, failures) = (self.skip_before, self.failures);
        *self = BinlogPhase::new(split);
        self.skip_before = skip_before;
        self.failures = failures;
    }

    /// Whether a change of `table` with chunk key `key` in the transaction
    /// starting at `transaction` is news: not already in the snapshot
    /// chunk holding that key.
    fn is_news(&self, table: &TableId, key: &KeyValue, transaction: &BinlogPosition) -> bool {
        let Some(chunks) = self.chunks.get(table) else {
            return true;
        };
        // Chunks are ordered by start (the open one first): the key's is
        // the last that starts at or before it.
        let after =
            chunks.partition_point(|c| c.range.start.as_ref().is_none_or(|start| start <= key));
        after
            .checked_sub(1)
            .map(|i| &chunks[i])
            .filter(|c| c.range.contains(key))
            .is_none_or(|c| *transaction >= c.high)
    }

    /// Appends one change's rows, those that are news: an update whose
    /// old row the snapshot already saw replaced is an insert, one whose new
    /// row it already holds is a delete.
    fn emit(&self, batch: &mut BatchBuilder, change: Change, at: &ChangeContext<'_>) -> Result<()> {
        let Some(view) = self.views.get(at.table) else {
            return Ok(());
        };
        let news = |values: &Vec<Value>| {
            self.is_news(at.table, &at.reading.chunk_key(values), at.transaction)
        };
        let mut push = |mut values: Vec<Value>, kind: RowKind| -> Result<()> {
            let cells = at
                .reading
                .cells_with_kinds(&mut values, &view.kinds)
                .map_err(|reason| bad_value(at.source, at.table, reason))?;
            batch.push(&cells, kind, at.table, at.op_ts);
            Ok(())
        };
        match change {
            Change::Insert(new) => {
                let new = view.select(new);
                if news(&new) {
                    push(new, RowKind::Insert)?;
                }
            }
            Change::Delete(old) => {
                let old = view.select(old);
                if news(&old) {
                    push(old, RowKind::Delete)?;
                }
            }
            Change::Update(old, new) => {
                let (old, new) = (view.select(old), view.select(new));
                match (news(&old), news(&new)) {
                    (true, true) => {
                        push(old, RowKind::UpdateBefore)?;
                        push(new, RowKind::UpdateAfter)?;
                    }
                    (true, false) => push(old, RowKind::Delete)?,
                    (false, true) => push(new, RowKind::Insert)?,
                    (false, false) => {}
                }
            }
        }
        Ok(())
    }
}

/// Where a change comes from, for [`BinlogPhase::emit`].
struct ChangeContext<'a> {
    /// The source table's name, for errors.
    source: &'a str,
    table: &'a TableId,
    reading: &'a TableReading,
    transaction: &'a BinlogPosition,
    op_ts: i64,
}

#[async_trait::async_trait]
impl Source for CdcSource {
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if !self.chunks.is_empty() {
            return self.read_next_chunk().await.map(Some);
        }
        if self.binlog.is_some() {
            return self.read_binlog().await.map(Some);
        }
        if self.bounded {
            return Ok(None);
        }
        // Waiting for the binlog split (or for nothing: another subtask
        // reads it).
        tokio::time::sleep(BINLOG_BATCH_WAIT).await;
        self.batch.finish().map(Some)
    }

    fn snapshot_position(&self) -> Result<String> {
        let mut splits = self.finished.clone();
        for (id, chunk) in &self.chunks {
            splits.push(chunk_split(id.clone(), chunk).map_err(StreamError::Failed)?);
        }
        if let Some(phase) = &self.binlog {
            splits.push(binlog_split(&phase.split).map_err(StreamError::Failed)?);
        }
        encode_splits(&splits).map_err(|e| StreamError::Failed(e.to_string()))
    }

    fn restore_position(&mut self, _position: &str) -> Result<()> {
        Err(StreamError::Failed(
            "the mysql-cdc source restores through its splits".into(),
        ))
    }

    fn add_splits(&mut self, splits: Vec<SourceSplit>) -> Result<()> {
        for split in splits {
            match CdcSplit::decode(&split).map_err(StreamError::Failed)? {
                CdcSplit::Chunk(_) if split.finished => self.finished.push(split),
                CdcSplit::Chunk(chunk) => self.chunks.push_back((split.id, chunk)),
                CdcSplit::Binlog(binlog) => match &mut self.binlog {
                    Some(phase) => phase.merge(binlog),
                    None => self.binlog = Some(BinlogPhase::new(binlog)),
                },
            }
        }
        Ok(())
    }

    fn lag_seconds(&self) -> Option<f64> {
        let reader = self.binlog.as_ref()?.reader.as_ref()?;
        let time = reader.last_event_time();
        if time == 0 {
            return Some(0.0);
        }
        let now = rtdw_operators::time::now_millis() as f64 / 1000.0;
        Some((now - f64::from(time)).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::splits::{KeyRange, TableFloor};

    fn table(name: &str) -> TableId {
        TableId {
            database: "shop".into(),
            table: name.into(),
        }
    }

    fn at(pos: u64) -> BinlogPosition {
        BinlogPosition::new("bin.000001", pos)
    }

    fn chunk(start: Option<i128>, end: Option<i128>, high: u64) -> FinishedChunk {
        FinishedChunk {
            table: table("orders"),
            range: KeyRange {
                column: "id".into(),
                start: start.map(KeyValue::Int),
                end: end.map(KeyValue::Int),
            },
            high: at(high),
        }
    }

    #[test]
    fn a_change_is_news_after_the_high_mark_of_its_keys_chunk_only() {
        let phase = BinlogPhase::new(BinlogSplit {
            start: None,
            offset: Some(BinlogOffset::at(at(300))),
            tables: Some(vec![table("orders")]),
            // Out of order on purpose: the phase sorts them.
            chunks: vec![
                chunk(Some(200), None, 700),
                chunk(None, Some(100), 500),
                chunk(Some(100), Some(200), 300),
            ],
            floors: vec![TableFloor {
                table: table("orders"),
                offset: BinlogOffset {
                    position: at(900),
                    skip_rows_events: 2,
                    gtids: Default::default(),
                },
            }],
        });
        let orders = table("orders");
        assert!(!phase.is_news(&orders, &KeyValue::Int(50), &at(400)));
        assert!(phase.is_news(&orders, &KeyValue::Int(50), &at(500)));
        assert!(!phase.is_news(&orders, &KeyValue::Null, &at(400)));
        assert!(phase.is_news(&orders, &KeyValue::Int(150), &at(400)));
        assert!(!phase.is_news(&orders, &KeyValue::Int(250), &at(650)));
        assert!(phase.is_news(&orders, &KeyValue::Int(1 << 70), &at(700)));
        assert!(phase.is_news(&table("refunds"), &KeyValue::Int(50), &at(1)));
        assert!(phase.already_emitted(&orders, &at(800), 9));
        assert!(phase.already_emitted(&orders, &at(900), 2));
        assert!(!phase.already_emitted(&orders, &at(900), 3));
        assert!(!phase.already_emitted(&orders, &at(1000), 1));
        assert!(!phase.already_emitted(&table("refunds"), &at(800), 1));
    }
}
