//! Reading one snapshot chunk without locks (Flink CDC's incremental
//! snapshot, after DBLog): take the binlog position (low), `SELECT` the
//! chunk's key range, take the position again (high), then replay the
//! binlog between the two onto the rows read, for keys in the range. The
//! chunk's rows are then the table's state at the high mark, and the
//! binlog reader later emits only what came after it.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::DataType;
use futures::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::ErrorClass;

use crate::binlog::{BinlogItem, BinlogReader, Change, RowLayout, StartAt};
use crate::catalog::{Projection, ServerTable, TableId, quote};
use crate::connection::{Endpoint, query_error};
use crate::options::CdcOptions;
use crate::position::BinlogPosition;
use crate::splits::{ChunkSplit, KeyValue};
use crate::values::{Cell, ColumnKind};

/// How a captured table's rows are read: the declared columns, then the
/// key columns the snapshot needs, in one select list.
#[derive(Debug)]
pub(crate) struct TableReading {
    /// Which table.
    pub id: TableId,
    /// The selected columns' names.
    select: Vec<String>,
    /// The selected columns' kinds.
    kinds: Vec<ColumnKind>,
    /// The declared columns' types (the first ones selected).
    targets: Vec<DataType>,
    /// The positions in the select list of what identifies a row: the
    /// primary key, or every declared column without one.
    identity: Vec<usize>,
    /// The position of the chunk key.
    chunk_key: usize,
    /// Whether the table has a primary key (rows are identified by it).
    keyed: bool,
}

impl TableReading {
    /// How to read `server` for the declared `table`.
    pub(crate) fn of(
        table: &TableDescriptor,
        options: &CdcOptions,
        server: &ServerTable,
    ) -> Result<TableReading, ConnectorError> {
        let projection = Projection::of(table, &table.schema, server)?;
        let mut select: Vec<String> = projection.columns.iter().map(|(n, _)| n.clone()).collect();
        let mut kinds: Vec<ColumnKind> =
            projection.columns.iter().map(|(_, k)| k.clone()).collect();
        let mut position_of = |name: &str, kind: &ColumnKind| match select
            .iter()
            .position(|s| s.eq_ignore_ascii_case(name))
        {
            Some(i) => i,
            None => {
                select.push(name.to_string());
                kinds.push(kind.clone());
                select.len() - 1
            }
        };
        let identity = if server.primary_key.is_empty() {
            (0..table.schema.fields().len()).collect()
        } else {
            server
                .primary_key
                .iter()
                .filter_map(|name| server.column(name))
                .map(|column| position_of(&column.name, &column.kind))
                .collect()
        };
        let key = server.chunk_key(table, options)?;
        let chunk_key = position_of(&key.name, &key.kind);
        Ok(TableReading {
            id: server.id.clone(),
            select,
            kinds,
            targets: table
                .schema
                .fields()
                .iter()
                .map(|f| f.data_type().clone())
                .collect(),
            identity,
            chunk_key,
            keyed: !server.primary_key.is_empty(),
        })
    }

    /// The declared cells of a row of selected values, read as the
    /// server's description says; the error names the column.
    pub(crate) fn cells(&self, values: &mut [Value]) -> Result<Vec<Cell>, String> {
        self.cells_with_kinds(values, &self.kinds)
    }

    /// The declared cells of a row of selected values of the given kinds
    /// (a binlog layout's, which may be newer than the server's
    /// description).
    pub(crate) fn cells_with_kinds(
        &self,
        values: &mut [Value],
        kinds: &[ColumnKind],
    ) -> Result<Vec<Cell>, String> {
        self.targets
            .iter()
            .enumerate()
            .map(|(i, target)| {
                let value = std::mem::replace(&mut values[i], Value::NULL);
                Cell::of_value(&kinds[i], value, target)
                    .map_err(|e| format!("column '{}': {e}", self.select[i]))
            })
            .collect()
    }

    /// What identifies a row of selected values.
    pub(crate) fn identity(&self, values: &[Value]) -> Vec<KeyValue> {
        self.identity
            .iter()
            .map(|i| KeyValue::of(&values[*i]))
            .collect()
    }

    /// The chunk key of a row of selected values.
    pub(crate) fn chunk_key(&self, values: &[Value]) -> KeyValue {
        KeyValue::of(&values[self.chunk_key])
    }
}

/// The selected columns in one binlog layout of a table.
pub(crate) struct LayoutView {
    layout: Arc<RowLayout>,
    positions: Vec<usize>,
    /// The selected columns' kinds in that layout.
    pub kinds: Vec<ColumnKind>,
}

impl LayoutView {
    /// Finds the selected columns of `reading` in `layout`; the error
    /// names a column the layout lacks (a schema change the declared table
    /// cannot take).
    pub(crate) fn of(
        reading: &TableReading,
        layout: &Arc<RowLayout>,
    ) -> Result<LayoutView, String> {
        let positions = reading
            .select
            .iter()
            .map(|name| {
                layout
                    .columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(name))
                    .ok_or_else(|| format!("{} no longer has column '{name}'", layout.table))
            })
            .collect::<Result<Vec<usize>, String>>()?;
        let kinds = positions
            .iter()
            .map(|p| layout.columns[*p].kind.clone())
            .collect();
        Ok(LayoutView {
            layout: layout.clone(),
            positions,
            kinds,
        })
    }

    /// Whether this is the view of `layout`.
    pub(crate) fn is_of(&self, layout: &Arc<RowLayout>) -> bool {
        Arc::ptr_eq(&self.layout, layout)
    }

    /// A layout row's selected values, in select order.
    pub(crate) fn select(&self, mut row: Vec<Value>) -> Vec<Value> {
        self.positions
            .iter()
            .map(|p| std::mem::replace(&mut row[*p], Value::NULL))
            .collect()
    }
}

/// A chunk's rows as they are at its high mark.
pub(crate) struct ChunkRows {
    /// The rows (deleted ones taken out).
    pub rows: Vec<Vec<Cell>>,
    /// The high mark.
    pub high: BinlogPosition,
}

/// Rows by identity while a chunk is merged with its binlog events.
#[derive(Default)]
struct Merge {
    rows: Vec<Option<Vec<Cell>>>,
    identities: Vec<Vec<KeyValue>>,
    index: HashMap<Vec<KeyValue>, Vec<usize>>,
}

impl Merge {
    fn index(&mut self) {
        for (i, identity) in self.identities.iter().enumerate() {
            self.index.entry(identity.clone()).or_default().push(i);
        }
    }

    fn remove(&mut self, identity: &[KeyValue]) {
        if let Some(slots) = self.index.get_mut(identity)
            && let Some(slot) = slots.pop()
        {
            self.rows[slot] = None;
        }
    }

    /// An insert of a row keyed by its primary key replaces the row of that
    /// key (the `SELECT` may have seen it already); without a key, rows add
    /// up.
    fn insert(&mut self, identity: Vec<KeyValue>, cells: Vec<Cell>, keyed: bool) {
        if keyed {
            self.remove(&identity);
        }
        self.rows.push(Some(cells));
        self.index
            .entry(identity)
            .or_default()
            .push(self.rows.len() - 1);
    }
}

/// Reads one chunk as replica `server_id` (for the binlog between the
/// marks).
pub(crate) async fn read_chunk(
    endpoint: &Endpoint,
    server_id: u32,
    reading: &TableReading,
    chunk: &ChunkSplit,
) -> Result<ChunkRows, ConnectorError> {
    let table = endpoint.table.clone();
    let context = format!("reading a snapshot chunk of {}", reading.id);
    let mut session = endpoint.session().await?;
    let low = session.binlog_end().await?;
    let (condition, params) = chunk.range.condition();
    let columns: Vec<String> = reading.select.iter().map(|c| quote(c)).collect();
    let statement = format!(
        "SELECT {} FROM {} WHERE {condition}",
        columns.join(", "),
        reading.id.quoted()
    );
    let mut merge = Merge::default();
    {
        let mut result = session
            .conn
            .exec_iter(statement, params)
            .await
            .map_err(|e| query_error(&table, &context, e))?;
        let mut stream = result
            .stream::<Row>()
            .await
            .map_err(|e| query_error(&table, &context, e))?
            .ok_or_else(|| {
                ConnectorError::external(&table, &context, ErrorClass::Transient, "no result set")
            })?;
        while let Some(row) = stream.next().await {
            let mut values = row.map_err(|e| query_error(&table, &context, e))?.unwrap();
            merge.identities.push(reading.identity(&values));
            let cells = reading
                .cells(&mut values)
                .map_err(|reason| bad_value(&table, &reading.id, reason))?;
            merge.rows.push(Some(cells));
        }
    }
    let high = session.binlog_end().await?;
    drop(session);
    if high != low {
        merge.index();
        replay(endpoint, server_id, reading, chunk, &low, &high, &mut merge).await?;
    }
    Ok(ChunkRows {
        rows: merge.rows.into_iter().flatten().collect(),
        high,
    })
}

/// Applies the binlog's changes of the chunk's key range between `low`
/// and `high` to the rows read.
async fn replay(
    endpoint: &Endpoint,
    server_id: u32,
    reading: &TableReading,
    chunk: &ChunkSplit,
    low: &BinlogPosition,
    high: &BinlogPosition,
    merge: &mut Merge,
) -> Result<(), ConnectorError> {
    let id = reading.id.clone();
    let captures: Arc<dyn Fn(&TableId) -> bool + Send + Sync> = Arc::new(move |t| *t == id);
    let mut reader = BinlogReader::open(
        endpoint,
        server_id,
        StartAt::Offset(crate::binlog::BinlogOffset::at(low.clone())),
        None,
        captures,
    )
    .await?;
    let mut view: Option<LayoutView> = None;
    while let Some(item) = reader.next_item_before(Some(high)).await? {
        let BinlogItem::Rows {
            layout, changes, ..
        } = item
        else {
            continue;
        };
        if !view.as_ref().is_some_and(|v| v.is_of(&layout)) {
            view = Some(
                LayoutView::of(reading, &layout)
                    .map_err(|reason| bad_value(&endpoint.table, &reading.id, reason))?,
            );
        }
        let Some(view) = &view else {
            continue;
        };
        for change in changes {
            let (old, new) = match change {
                Change::Insert(new) => (None, Some(new)),
                Change::Update(old, new) => (Some(old), Some(new)),
                Change::Delete(old) => (Some(old), None),
            };
            if let Some(old) = old.map(|row| view.select(row))
                && chunk.range.contains(&reading.chunk_key(&old))
            {
                merge.remove(&reading.identity(&old));
            }
            if let Some(mut new) = new.map(|row| view.select(row))
                && chunk.range.contains(&reading.chunk_key(&new))
            {
                let identity = reading.identity(&new);
                let cells = reading
                    .cells_with_kinds(&mut new, &view.kinds)
                    .map_err(|reason| bad_value(&endpoint.table, &reading.id, reason))?;
                merge.insert(identity, cells, reading.keyed);
            }
        }
    }
    Ok(())
}

/// A value that does not convert to its declared column: the job cannot
/// go on (the declared schema does not fit the table).
pub(crate) fn bad_value(table: &str, id: &TableId, reason: String) -> ConnectorError {
    ConnectorError::external(
        table,
        format!("converting a row of {id}"),
        ErrorClass::User,
        reason,
    )
}
