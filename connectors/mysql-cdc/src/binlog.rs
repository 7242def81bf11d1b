//! Reading the binlog: one replication connection ([`BinlogReader`]) that
//! follows files and transactions, decodes the row events of captured
//! tables by the layout their table-map event carries, and says at every
//! point where a restart must resume ([`BinlogOffset`]).
//!
//! A transaction's row events need its table-map events, so a reader
//! resumes at the start of the transaction it was in and skips the row
//! events it already handed out (Debezium's `restart_skip_rows`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use mysql_async::binlog::events::{Event, EventData, RowsEventData, TableMapEvent};
use mysql_async::binlog::value::BinlogValue;
use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest, Value};
use mysql_common::io::ParseBuf;
use rtdw_connector_core::ConnectorError;
use rtdw_operators::ErrorClass;
use serde::{Deserialize, Serialize};

use crate::catalog::TableId;
use crate::connection::{Endpoint, query_error};
use crate::position::{BinlogPosition, GtidSet};
use crate::values::ColumnKind;

/// MariaDB's GTID event (sent with `@mariadb_slave_capability=4`).
const MARIADB_GTID_EVENT: u8 = 162;
/// MariaDB's compressed row and query events (`log_bin_compress`).
const MARIADB_COMPRESSED_EVENTS: std::ops::RangeInclusive<u8> = 165..=171;
/// A MariaDB GTID event's flag: a single statement without BEGIN/COMMIT.
const MARIADB_GTID_STANDALONE: u8 = 1;

/// Where a reader resumes: a position at a transaction boundary and the
/// row events of the transaction there already handed out; with the
/// GTIDs read so far, for servers and tools that think in GTIDs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BinlogOffset {
    /// The start of the transaction to resume in (or the next one).
    pub position: BinlogPosition,
    /// Row events of that transaction already handed out.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skip_rows_events: u32,
    /// The transactions read completely.
    #[serde(default, skip_serializing_if = "GtidSet::is_empty")]
    pub gtids: GtidSet,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl BinlogOffset {
    /// At `position`, nothing to skip.
    pub(crate) fn at(position: BinlogPosition) -> Self {
        BinlogOffset {
            position,
            skip_rows_events: 0,
            gtids: GtidSet::Empty,
        }
    }
}

/// A column of a table as a table-map event lays it out.
#[derive(Debug)]
pub(crate) struct LayoutColumn {
    /// Its name (from the event's column metadata).
    pub name: String,
    /// How its values convert.
    pub kind: ColumnKind,
    column_type: ColumnType,
    meta: Vec<u8>,
    unsigned: bool,
}

/// A captured table's columns as one table-map event describes them: the
/// layout of the row events that follow it.
#[derive(Debug)]
pub(crate) struct RowLayout {
    /// Which table.
    pub table: TableId,
    /// Its columns in order.
    pub columns: Vec<LayoutColumn>,
}

impl RowLayout {
    /// The layout a table-map event describes; an error when the event
    /// carries no column names (`binlog_row_metadata` is not `FULL`).
    fn of_event(tme: &TableMapEvent<'_>) -> Result<RowLayout, String> {
        let table = TableId {
            database: tme.database_name().into_owned(),
            table: tme.table_name().into_owned(),
        };
        let count = tme.columns_count() as usize;
        let mut names = Vec::new();
        let mut signedness = Vec::new();
        let mut enum_values: Vec<Vec<String>> = Vec::new();
        let mut set_values: Vec<Vec<String>> = Vec::new();
        use mysql_async::binlog::events::OptionalMetadataField as Field;
        for field in tme.iter_optional_meta() {
            match field.map_err(|e| format!("{table}: bad column metadata: {e}"))? {
                Field::ColumnName(list) => {
                    for name in list.iter_names() {
                        let name = name.map_err(|e| format!("{table}: bad column name: {e}"))?;
                        names.push(name.name().into_owned());
                    }
                }
                Field::Signedness(flags) => {
                    signedness = flags.iter().map(|bit| *bit).collect();
                }
                Field::EnumStrValue(list) => {
                    for values in list.iter_values() {
                        let values =
                            values.map_err(|e| format!("{table}: bad ENUM values: {e}"))?;
                        enum_values.push(
                            values
                                .values()
                                .iter()
                                .map(|v| v.value().into_owned())
                                .collect(),
                        );
                    }
                }
                Field::SetStrValue(list) => {
                    for values in list.iter_values() {
                        let values = values.map_err(|e| format!("{table}: bad SET values: {e}"))?;
                        set_values.push(
                            values
                                .values()
                                .iter()
                                .map(|v| v.value().into_owned())
                                .collect(),
                        );
                    }
                }
                _ => {}
            }
        }
        if names.len() != count {
            return Err(format!(
                "the binlog's table-map event of {table} names no columns: set binlog_row_metadata=FULL on the server"
            ));
        }
        let (mut enums, mut sets) = (enum_values.into_iter(), set_values.into_iter());
        let mut numeric = 0;
        let mut columns = Vec::with_capacity(count);
        for (i, name) in names.into_iter().enumerate() {
            let raw = tme
                .get_raw_column_type(i)
                .ok()
                .flatten()
                .ok_or_else(|| format!("{table}.{name}: unknown column type"))?;
            let column_type = tme
                .get_column_type(i)
                .ok()
                .flatten()
                .ok_or_else(|| format!("{table}.{name}: unknown column type"))?;
            let unsigned = if raw.is_numeric_type() {
                numeric += 1;
                signedness.get(numeric - 1).copied().unwrap_or(false)
            } else {
                false
            };
            let kind = kind_of(column_type, &mut enums, &mut sets).ok_or_else(|| {
                format!("{table}.{name}: column type {column_type:?} has no Flink counterpart")
            })?;
            columns.push(LayoutColumn {
                name,
                kind,
                column_type,
                meta: tme.get_column_metadata(i).unwrap_or_default().to_vec(),
                unsigned,
            });
        }
        Ok(RowLayout { table, columns })
    }

    /// Decodes one row image: the values of the columns `present` marks,
    /// NULL for the others.
    fn read_image<'a>(
        &'a self,
        present: &[bool],
        buf: &mut ParseBuf<'a>,
    ) -> std::io::Result<Vec<Value>> {
        let count = present.iter().filter(|p| **p).count();
        let nulls: &[u8] = buf.parse(count.div_ceil(8))?;
        let mut values = Vec::with_capacity(self.columns.len());
        let mut image_index = 0;
        for (column, present) in self.columns.iter().zip(present) {
            if !present {
                values.push(Value::NULL);
                continue;
            }
            let is_null = nulls[image_index / 8] >> (image_index % 8) & 1 == 1;
            image_index += 1;
            if is_null {
                values.push(Value::NULL);
                continue;
            }
            let value: BinlogValue<'_> = buf.parse((
                column.column_type,
                column.meta.as_slice(),
                column.unsigned,
                false,
            ))?;
            let value = match Value::try_from(value).map_err(std::io::Error::other)? {
                // mysql_common reads a signed MEDIUMINT without extending
                // its sign bit.
                Value::Int(n)
                    if column.column_type == ColumnType::MYSQL_TYPE_INT24
                        && !column.unsigned
                        && n >= 1 << 23 =>
                {
                    Value::Int(n - (1 << 24))
                }
                value => value,
            };
            values.push(column.kind.binlog_value(value));
        }
        Ok(values)
    }
}

fn kind_of(
    column_type: ColumnType,
    enums: &mut impl Iterator<Item = Vec<String>>,
    sets: &mut impl Iterator<Item = Vec<String>>,
) -> Option<ColumnKind> {
    use ColumnType as T;
    Some(match column_type {
        T::MYSQL_TYPE_TINY
        | T::MYSQL_TYPE_SHORT
        | T::MYSQL_TYPE_INT24
        | T::MYSQL_TYPE_LONG
        | T::MYSQL_TYPE_LONGLONG => ColumnKind::Integer,
        T::MYSQL_TYPE_FLOAT => ColumnKind::Float,
        T::MYSQL_TYPE_DOUBLE => ColumnKind::Double,
        T::MYSQL_TYPE_NEWDECIMAL | T::MYSQL_TYPE_DECIMAL => ColumnKind::Decimal,
        T::MYSQL_TYPE_DATE | T::MYSQL_TYPE_NEWDATE => ColumnKind::Date,
        T::MYSQL_TYPE_DATETIME | T::MYSQL_TYPE_DATETIME2 => ColumnKind::DateTime,
        T::MYSQL_TYPE_TIMESTAMP | T::MYSQL_TYPE_TIMESTAMP2 => ColumnKind::Timestamp,
        T::MYSQL_TYPE_TIME | T::MYSQL_TYPE_TIME2 => ColumnKind::Time,
        T::MYSQL_TYPE_YEAR => ColumnKind::Year,
        T::MYSQL_TYPE_VARCHAR
        | T::MYSQL_TYPE_VAR_STRING
        | T::MYSQL_TYPE_STRING
        | T::MYSQL_TYPE_TINY_BLOB
        | T::MYSQL_TYPE_MEDIUM_BLOB
        | T::MYSQL_TYPE_LONG_BLOB
        | T::MYSQL_TYPE_BLOB
        | T::MYSQL_TYPE_GEOMETRY => ColumnKind::Chars,
        T::MYSQL_TYPE_JSON => ColumnKind::Json,
        T::MYSQL_TYPE_ENUM => ColumnKind::Enum(enums.next().unwrap_or_default().into()),
        T::MYSQL_TYPE_SET => ColumnKind::Set(sets.next().unwrap_or_default().into()),
        T::MYSQL_TYPE_BIT => ColumnKind::Bit,
        _ => return None,
    })
}

/// One row change, values in the layout's column order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// A new row.
    Insert(Vec<Value>),
    /// A row's old and new images.
    Update(Vec<Value>, Vec<Value>),
    /// A deleted row.
    Delete(Vec<Value>),
}

/// What the reader hands out.
#[derive(Debug)]
pub(crate) enum BinlogItem {
    /// The changes of one row event of a captured table.
    Rows {
        /// The table's layout for these rows.
        layout: Arc<RowLayout>,
        /// The changes, in order.
        changes: Vec<Change>,
        /// Where the transaction holding them starts.
        transaction: BinlogPosition,
        /// The event's number among the transaction's row events (from 1).
        index: u32,
        /// Its commit time, seconds since the epoch.
        timestamp: u32,
    },
    /// A statement that is not a transaction marker (DDL), on `schema`.
    Statement {
        /// The session's current database.
        schema: String,
        /// The statement.
        query: String,
    },
}

/// The transaction being read.
#[derive(Debug)]
struct Transaction {
    start: BinlogPosition,
    /// Opened by BEGIN (else a single statement).
    began: bool,
    rows_events: u32,
    gtid: Option<Gtid>,
}

#[derive(Debug, Clone, Copy)]
enum Gtid {
    MariaDb {
        domain: u32,
        server: u32,
        sequence: u64,
    },
    MySql {
        uuid: [u8; 16],
        number: u64,
    },
}

/// A table map the reader has seen, and the layout of its rows when the
/// table is captured (`None`: its row events are read past).
struct MappedTable {
    event: TableMapEvent<'static>,
    layout: Option<Arc<RowLayout>>,
}

/// A binlog stream and where it stands.
pub(crate) struct BinlogReader {
    table: String,
    stream: BinlogStream,
    file: String,
    next_pos: u64,
    gtids: GtidSet,
    transaction: Option<Transaction>,
    /// Row events of the first transaction to skip (a resume).
    resume_skip: u32,
    /// The table maps of the current file, by table id.
    tables: HashMap<u64, MappedTable>,
    captures: Arc<dyn Fn(&TableId) -> bool + Send + Sync>,
    format_seen: bool,
    /// Commit time of the last event read (seconds since the epoch); 0
    /// after a heartbeat (the reader is at the server's end).
    last_event_time: u32,
}

/// How a reader starts.
#[derive(Debug, Clone)]
pub(crate) enum StartAt {
    /// A position (and row events to skip there).
    Offset(BinlogOffset),
    /// After these MariaDB GTIDs.
    Gtids(GtidSet),
}

impl BinlogReader {
    /// Opens a replication stream as replica `server_id` from `start`,
    /// handing out the row events of the tables `captures` accepts. A
    /// position the server no longer keeps is an error the user must act
    /// on, naming it and the oldest one kept.
    pub(crate) async fn open(
        endpoint: &Endpoint,
        server_id: u32,
        start: StartAt,
        heartbeat: Option<Duration>,
        captures: Arc<dyn Fn(&TableId) -> bool + Send + Sync>,
    ) -> Result<BinlogReader, ConnectorError> {
        let table = endpoint.table.clone();
        let context = "opening the binlog stream";
        if let StartAt::Offset(offset) = &start {
            let files = endpoint.session().await?.binlog_files().await?;
            if !files.contains(&offset.position.file) {
                return Err(purged(&table, &offset.position, files.first()));
            }
        }
        let mut conn = endpoint.connection().await?;
        let mut setup = vec!["SET @mariadb_slave_capability = 4".to_string()];
        if let Some(period) = heartbeat {
            setup.push(format!(
                "SET @master_heartbeat_period = {}",
                period.as_nanos().min(u128::from(u32::MAX) * 1_000_000)
            ));
        }
        if let StartAt::Gtids(gtids) = &start {
            setup.push(format!("SET @slave_connect_state = '{gtids}'"));
            setup.push("SET @slave_gtid_strict_mode = 1".into());
        }
        for statement in setup {
            conn.query_drop(statement)
                .await
                .map_err(|e| query_error(&table, context, e))?;
        }
        let (file, pos, skip, gtids) = match &start {
            StartAt::Offset(o) => (
                o.position.file.clone(),
                o.position.pos,
                o.skip_rows_events,
                o.gtids.clone(),
            ),
            StartAt::Gtids(g) => (String::new(), 4, 0, g.clone()),
        };
        let request = BinlogStreamRequest::new(server_id)
            .with_filename(file.as_bytes())
            .with_pos(pos);
        let stream = conn
            .get_binlog_stream(request)
            .await
            .map_err(|e| stream_error(&table, context, e))?;
        Ok(BinlogReader {
            table,
            stream,
            file,
            next_pos: pos,
            gtids,
            transaction: None,
            resume_skip: skip,
            tables: HashMap::new(),
            captures,
            format_seen: false,
            last_event_time: 0,
        })
    }

    /// Where a restart resumes to hand out exactly what follows.
    pub(crate) fn offset(&self) -> BinlogOffset {
        match &self.transaction {
            Some(transaction) => BinlogOffset {
                position: transaction.start.clone(),
                skip_rows_events: transaction.rows_events,
                gtids: self.gtids.clone(),
            },
            None => BinlogOffset {
                position: BinlogPosition::new(&self.file, self.next_pos),
                skip_rows_events: 0,
                gtids: self.gtids.clone(),
            },
        }
    }

    /// The position after the last event read, between transactions or
    /// not.
    pub(crate) fn position(&self) -> BinlogPosition {
        BinlogPosition::new(&self.file, self.next_pos)
    }

    /// The time of the first event with one (a file's format
    /// description), seconds since the epoch.
    pub(crate) async fn first_event_time(&mut self) -> Result<u32, ConnectorError> {
        loop {
            let timestamp = self.next_event().await?.header().timestamp();
            if timestamp != 0 {
                return Ok(timestamp);
            }
        }
    }

    /// The next event of the stream.
    async fn next_event(&mut self) -> Result<Event, ConnectorError> {
        match self.stream.next().await {
            Some(Ok(event)) => Ok(event),
            Some(Err(e)) => Err(stream_error(&self.table, "reading the binlog", e)),
            None => Err(ConnectorError::external(
                &self.table,
                "reading the binlog",
                ErrorClass::Transient,
                "the server closed the binlog stream",
            )),
        }
    }

    /// Commit time of the last event read, seconds since the epoch; 0 when
    /// the last thing heard was a heartbeat (nothing to read).
    pub(crate) fn last_event_time(&self) -> u32 {
        self.last_event_time
    }

    /// The next item, or `None` once the reader is between transactions
    /// at or past `limit`. Cancel-safe: each event read updates the reader
    /// before the next is awaited.
    pub(crate) async fn next_item_before(
        &mut self,
        limit: Option<&BinlogPosition>,
    ) -> Result<Option<BinlogItem>, ConnectorError> {
        loop {
            if let Some(limit) = limit
                && self.transaction.is_none()
                && self.position() >= *limit
            {
                return Ok(None);
            }
            let event = self.next_event().await?;
            if let Some(item) = self.handle(&event)? {
                return Ok(Some(item));
            }
        }
    }

    /// Applies one event; returns what it hands out.
    fn handle(&mut self, event: &Event) -> Result<Option<BinlogItem>, ConnectorError> {
        let header = event.header();
        let end = u64::from(header.log_pos());
        let start = BinlogPosition::new(
            &self.file,
            end.saturating_sub(u64::from(header.event_size())),
        );
        let raw_type = header.event_type_raw();
        if header.timestamp() != 0 {
            self.last_event_time = header.timestamp();
        }
        let mut item = None;
        if raw_type == MARIADB_GTID_EVENT {
            let data = event.data();
            if data.len() >= 13 {
                let sequence = u64::from_le_bytes(data[0..8].try_into().unwrap_or_default());
                let domain = u32::from_le_bytes(data[8..12].try_into().unwrap_or_default());
                let began = data[12] & MARIADB_GTID_STANDALONE == 0;
                self.transaction = Some(Transaction {
                    start,
                    began,
                    rows_events: 0,
                    gtid: Some(Gtid::MariaDb {
                        domain,
                        server: header.server_id(),
                        sequence,
                    }),
                });
            }
        } else if MARIADB_COMPRESSED_EVENTS.contains(&raw_type) {
            return Err(ConnectorError::external(
                &self.table,
                "reading the binlog",
                ErrorClass::User,
                "the binlog holds compressed events: set log_bin_compress=OFF on the server",
            ));
        } else {
            let data = event
                .read_data()
                .map_err(|e| self.corrupt(&start, e.to_string()))?;
            match data {
                Some(EventData::RotateEvent(rotate)) => {
                    let mut raw = rotate.name_raw();
                    if !self.format_seen && end == 0 && raw.len() > 4 {
                        // Before the format description, the artificial
                        // rotate's checksum reads as part of the name.
                        raw = &raw[..raw.len() - 4];
                    }
                    let name = String::from_utf8_lossy(raw).into_owned();
                    if name != self.file {
                        self.tables.clear();
                    }
                    self.file = name;
                    self.next_pos = rotate.position();
                    return Ok(None);
                }
                Some(EventData::FormatDescriptionEvent(_)) => self.format_seen = true,
                Some(EventData::HeartbeatEvent) => {
                    self.last_event_time = 0;
                    return Ok(None);
                }
                Some(EventData::GtidEvent(gtid)) => {
                    self.transaction = Some(Transaction {
                        start,
                        began: false,
                        rows_events: 0,
                        gtid: Some(Gtid::MySql {
                            uuid: gtid.sid(),
                            number: gtid.gno(),
                        }),
                    });
                }
                Some(EventData::QueryEvent(query)) => {
                    let text = query.query();
                    let statement = text.trim();
                    if statement.eq_ignore_ascii_case("BEGIN") {
                        match &mut self.transaction {
                            Some(transaction) => transaction.began = true,
                            None => {
                                self.transaction = Some(Transaction {
                                    start,
                                    began: true,
                                    rows_events: 0,
                                    gtid: None,
                                })
                            }
                        }
                    } else if statement.eq_ignore_ascii_case("COMMIT") {
                        self.commit();
                    } else {
                        item = Some(BinlogItem::Statement {
                            schema: query.schema().into_owned(),
                            query: statement.to_string(),
                        });
                        if self.transaction.as_ref().is_none_or(|t| !t.began) {
                            self.commit();
                        }
                    }
                }
                Some(EventData::XidEvent(_)) => self.commit(),
                Some(EventData::TableMapEvent(tme)) => self.map_table(tme, &start)?,
                Some(EventData::RowsEvent(rows)) => {
                    item = self.rows(&rows, &start, header.timestamp())?
                }
                _ => {}
            }
        }
        if end != 0 {
            self.next_pos = end;
        }
        Ok(item)
    }

    fn corrupt(&self, at: &BinlogPosition, reason: String) -> ConnectorError {
        ConnectorError::external(
            &self.table,
            format!("decoding the binlog event at {at}"),
            ErrorClass::Transient,
            reason,
        )
    }

    /// The transaction ended: its GTID is read.
    fn commit(&mut self) {
        if let Some(transaction) = self.transaction.take() {
            match transaction.gtid {
                Some(Gtid::MariaDb {
                    domain,
                    server,
                    sequence,
                }) => self.gtids.add_mariadb(domain, server, sequence),
                Some(Gtid::MySql { uuid, number }) => {
                    self.gtids.add_mysql(&uuid_text(&uuid), number)
                }
                None => {}
            }
        }
        self.resume_skip = 0;
    }

    fn map_table(
        &mut self,
        tme: TableMapEvent<'_>,
        at: &BinlogPosition,
    ) -> Result<(), ConnectorError> {
        let id = tme.table_id();
        if self.tables.get(&id).is_some_and(|known| known.event == tme) {
            return Ok(());
        }
        let table = TableId {
            database: tme.database_name().into_owned(),
            table: tme.table_name().into_owned(),
        };
        let layout = if (self.captures)(&table) {
            let layout = RowLayout::of_event(&tme).map_err(|reason| {
                ConnectorError::external(
                    &self.table,
                    format!("decoding the table map at {at}"),
                    ErrorClass::User,
                    reason,
                )
            })?;
            Some(Arc::new(layout))
        } else {
            None
        };
        let event = tme.into_owned();
        self.tables.insert(id, MappedTable { event, layout });
        Ok(())
    }

    fn rows(
        &mut self,
        rows: &RowsEventData<'_>,
        at: &BinlogPosition,
        timestamp: u32,
    ) -> Result<Option<BinlogItem>, ConnectorError> {
        let transaction = self.transaction.get_or_insert_with(|| Transaction {
            start: at.clone(),
            began: true,
            rows_events: 0,
            gtid: None,
        });
        transaction.rows_events += 1;
        if transaction.rows_events <= self.resume_skip {
            return Ok(None);
        }
        let id = rows.table_id();
        let Some(mapped) = self.tables.get(&id) else {
            return Err(self.corrupt(
                at,
                format!("a row event of table id {id} without its table map"),
            ));
        };
        let Some(layout) = mapped.layout.clone() else {
            return Ok(None);
        };
        let width = layout.columns.len();
        if rows.num_columns() as usize != width {
            return Err(self.corrupt(
                at,
                format!(
                    "a row event of {} with {} columns for a table map of {width}",
                    layout.table,
                    rows.num_columns()
                ),
            ));
        }
        let before = rows
            .columns_before_image()
            .map(|b| present_columns(b, width));
        let after = rows
            .columns_after_image()
            .map(|b| present_columns(b, width));
        let mut buf = ParseBuf(rows.rows_data());
        let mut changes = Vec::new();
        let decode = |e: std::io::Error| self.corrupt(at, format!("row of {}: {e}", layout.table));
        while !buf.is_empty() {
            let old = match &before {
                Some(present) => Some(layout.read_image(present, &mut buf).map_err(decode)?),
                None => None,
            };
            let new = match &after {
                Some(present) => Some(layout.read_image(present, &mut buf).map_err(decode)?),
                None => None,
            };
            changes.push(match (old, new) {
                (Some(old), Some(new)) => Change::Update(old, new),
                (None, Some(new)) => Change::Insert(new),
                (Some(old), None) => Change::Delete(old),
                (None, None) => break,
            });
        }
        let (transaction, index) = self
            .transaction
            .as_ref()
            .map(|t| (t.start.clone(), t.rows_events))
            .unwrap_or_else(|| (at.clone(), 1));
        Ok(Some(BinlogItem::Rows {
            layout,
            changes,
            transaction,
            index,
            timestamp,
        }))
    }
}

/// Which of the first `width` columns a row image holds.
fn present_columns<B: std::ops::Index<usize, Output = bool> + ?Sized>(
    image: &B,
    width: usize,
) -> Vec<bool> {
    (0..width).map(|i| image[i]).collect()
}

fn uuid_text(uuid: &[u8; 16]) -> String {
    let hex: String = uuid.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The error for a position the server no longer keeps: the job fails
/// once (a user error is not retried) and says what to do.
pub(crate) fn purged(
    table: &str,
    position: &BinlogPosition,
    oldest: Option<&String>,
) -> ConnectorError {
    ConnectorError::external(
        table,
        format!("resuming the binlog at {position}"),
        ErrorClass::User,
        format!(
            "the server no longer keeps binlog file '{}' (its oldest is {}): the changes since the checkpoint are lost to it; start the job anew without restoring (scan.startup.mode 'initial' takes a new snapshot)",
            position.file,
            oldest.map_or("none".to_string(), |f| format!("'{f}'"))
        ),
    )
}

/// A stream error: 1236 (the requested position is gone or bad) is the
/// user's to act on, as are missing privileges.
fn stream_error(table: &str, context: &str, error: mysql_async::Error) -> ConnectorError {
    if let mysql_async::Error::Server(server) = &error
        && server.code == 1236
    {
        return ConnectorError::external(
            table,
            context,
            ErrorClass::User,
            format!(
                "the server cannot send the binlog from there: {} (start the job anew without restoring to take a new snapshot)",
                server.message
            ),
        );
    }
    query_error(table, context, error)
}
