//! A StarRocks Stream Load **simulator** for tests and benchmarks: no
//! StarRocks server runs on these machines, so this in-process HTTP server
//! plays one from StarRocks's documented API, as far as the `starrocks`
//! sink uses it. It is a simulator, not StarRocks: what it checks is what
//! the documentation promises.
//!
//! - An **FE** address answers every load and transaction request with a
//!   307 redirect to the **BE** address, without reading the body (as
//!   StarRocks's FE does, answering before `100 Continue`), and
//!   `get_load_state` itself; both check HTTP basic auth.
//! - The BE takes plain Stream Loads (`PUT /api/{db}/{table}/_stream_load`)
//!   and the transaction interface (`/api/transaction/begin`, `load`,
//!   `prepare`, `commit`, `rollback`; headers `label`, `db`, `table`,
//!   `timeout`, `prepared_timeout`), with labels unique per database (a
//!   label is free again only once its transaction was aborted),
//!   transaction states (begin → load* → prepare → commit | rollback; no
//!   load after prepare; a commit of a committed label is OK; an unknown
//!   label is `TXN_NOT_EXISTS`) and timeouts.
//! - Bodies in `csv` (`column_separator`, `row_delimiter`, `\N` for NULL)
//!   or `json` (`strip_outer_array`), columns by the `columns` header,
//!   `__op` (0 upsert, 1 delete) for primary-key tables; rows that do not
//!   fit fail the load with an `ErrorURL`.
//! - Committed loads are applied to in-memory tables: primary-key tables
//!   (keyed by the columns a test names) or duplicate-key tables (every
//!   row kept), which tests read back.
//! - Switches a test uses to make commits hang until released, or fail.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as Shared;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

/// A row as the simulator keeps it: each column's value as text, `None`
/// for NULL.
pub type Row = Vec<Option<String>>;

/// The user every simulator accepts, and its password.
pub const USER: &str = "loader";
/// The password of [`USER`].
pub const PASSWORD: &str = "s3cret";

/// The statements that let [`USER`] read the columns of `database` on a
/// MySQL server, as the sink's submit-time check does through `jdbc-url`.
pub fn grant_reading(database: &str) -> String {
    format!(
        "CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';\
         GRANT SELECT ON `{database}`.* TO '{USER}'@'127.0.0.1'"
    )
}

/// The `jdbc-url` of the server a `mysql-cdc` table's options connect to.
pub fn jdbc_url(cdc_options: &str) -> String {
    let value = |key: &str| {
        let marker = format!("'{key}' = '");
        let start = cdc_options
            .find(&marker)
            .unwrap_or_else(|| panic!("no '{key}' in {cdc_options}"))
            + marker.len();
        cdc_options[start..]
            .split('\'')
            .next()
            .unwrap_or_default()
            .to_string()
    };
    format!("jdbc:mysql://{}:{}", value("hostname"), value("port"))
}

/// The state of a transaction (or of a plain load's label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    /// Begun; loads go in.
    Prepare,
    /// Prepared: awaits commit or rollback.
    Prepared,
    /// Committed and applied.
    Committed,
    /// Rolled back or timed out.
    Aborted,
}

impl TxnState {
    /// The name `get_load_state` gives.
    fn name(self) -> &'static str {
        match self {
            TxnState::Prepare => "PREPARE",
            TxnState::Prepared => "PREPARED",
            TxnState::Committed => "VISIBLE",
            TxnState::Aborted => "ABORTED",
        }
    }
}

/// One row change of a load: upsert (or append) or delete.
#[derive(Debug, Clone)]
struct Change {
    delete: bool,
    row: Row,
}

/// A label's load.
struct Txn {
    id: i64,
    table: String,
    state: TxnState,
    changes: Vec<Change>,
    begun: Instant,
    timeout: Duration,
    prepared: Option<(Instant, Option<Duration>)>,
}

impl Txn {
    /// Aborts the transaction when it outlived its timeout.
    fn expire(&mut self) {
        let now = Instant::now();
        let expired = match (self.state, self.prepared) {
            (TxnState::Prepare, _) => now > self.begun + self.timeout,
            (TxnState::Prepared, Some((at, Some(timeout)))) => now > at + timeout,
            _ => false,
        };
        if expired {
            self.state = TxnState::Aborted;
            self.changes.clear();
        }
    }
}

/// A table.
struct Table {
    columns: Vec<String>,
    /// Positions of the primary-key columns; empty for a duplicate-key
    /// table.
    key: Vec<usize>,
    by_key: BTreeMap<Row, Row>,
    appended: Vec<Row>,
}

impl Table {
    fn apply(&mut self, changes: &[Change]) {
        for change in changes {
            if self.key.is_empty() {
                self.appended.push(change.row.clone());
                continue;
            }
            let key: Row = self.key.iter().map(|&i| change.row[i].clone()).collect();
            if change.delete {
                self.by_key.remove(&key);
            } else {
                self.by_key.insert(key, change.row.clone());
            }
        }
    }
}

/// Everything the simulator holds.
#[derive(Default)]
struct State {
    tables: BTreeMap<(String, String), Table>,
    /// Labels by database and label.
    labels: BTreeMap<(String, String), Txn>,
    next_txn: i64,
    /// Error logs by file number.
    error_logs: Vec<String>,
    /// How often each label's rows were applied.
    applied: BTreeMap<String, usize>,
    /// Labels rolled back on request, in order.
    rolled_back: Vec<String>,
    /// Bodies received by loads, and their rows.
    loads: usize,
    rows_loaded: usize,
}

/// The switches of commit requests.
struct Switches {
    held: tokio::sync::watch::Sender<bool>,
    failing: AtomicBool,
    waiting: AtomicUsize,
}

/// What both servers share.
#[derive(Clone)]
struct Server {
    state: Arc<Mutex<State>>,
    switches: Arc<Switches>,
    be: String,
}

/// A running simulator: an FE and a BE address on this host.
pub struct StarRocksSimulator {
    /// The FE's `host:port`, for `load-url`.
    pub fe: String,
    /// The BE's `host:port`.
    pub be: String,
    server: Server,
    runtime: tokio::runtime::Runtime,
}

impl StarRocksSimulator {
    /// Starts an FE and a BE on free ports.
    pub fn start() -> StarRocksSimulator {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the simulator");
        let bind = || {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener
                .set_nonblocking(true)
                .expect("a non-blocking listener");
            listener
        };
        let (fe_listener, be_listener) = (bind(), bind());
        let address =
            |l: &std::net::TcpListener| -> SocketAddr { l.local_addr().expect("an address") };
        let (fe, be) = (
            address(&fe_listener).to_string(),
            address(&be_listener).to_string(),
        );
        let (held, _) = tokio::sync::watch::channel(false);
        let server = Server {
            state: Arc::new(Mutex::new(State::default())),
            switches: Arc::new(Switches {
                held,
                failing: AtomicBool::new(false),
                waiting: AtomicUsize::new(0),
            }),
            be: be.clone(),
        };
        for (listener, router) in [
            (fe_listener, Router::new().fallback(fe_request)),
            (be_listener, Router::new().fallback(be_request)),
        ] {
            // Stream Load bodies are as large as a sink's buffer (StarRocks
            // takes up to 10 GB).
            let router = router
                .layer(axum::extract::DefaultBodyLimit::disable())
                .with_state(server.clone());
            runtime.spawn(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                axum::serve(listener, router)
                    .await
                    .expect("the simulator serves");
            });
        }
        StarRocksSimulator {
            fe,
            be,
            server,
            runtime,
        }
    }

    /// The `WITH` options of a `starrocks` table writing `db.table`
    /// through this simulator, checked at submission against `jdbc_url`.
    pub fn table_options(&self, jdbc_url: &str, db: &str, table: &str) -> String {
        format!(
            "'connector' = 'starrocks', 'jdbc-url' = '{jdbc_url}',\n\
             'load-url' = '{}', 'database-name' = '{db}', 'table-name' = '{table}',\n\
             'username' = '{USER}', 'password' = '{PASSWORD}'",
            self.fe
        )
    }

    /// Creates table `db.table` with `columns`, keyed by `key` (a
    /// primary-key table), or without a key (a duplicate-key table: every
    /// row is kept).
    pub fn create_table(&self, db: &str, table: &str, columns: &[&str], key: &[&str]) {
        let position = |name: &&str| {
            columns
                .iter()
                .position(|c| c == name)
                .unwrap_or_else(|| panic!("key column {name} is not a column"))
        };
        self.state().tables.insert(
            (db.to_string(), table.to_string()),
            Table {
                columns: columns.iter().map(|c| c.to_string()).collect(),
                key: key.iter().map(position).collect(),
                by_key: BTreeMap::new(),
                appended: Vec::new(),
            },
        );
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.server.state.lock().expect("the simulator's state")
    }

    /// The rows of `db.table`, sorted.
    pub fn rows(&self, db: &str, table: &str) -> Vec<Row> {
        let state = self.state();
        let table = &state.tables[&(db.to_string(), table.to_string())];
        let mut rows: Vec<Row> = if table.key.is_empty() {
            table.appended.clone()
        } else {
            table.by_key.values().cloned().collect()
        };
        rows.sort();
        rows
    }

    /// Every label with its state's name (`PREPARE`, `PREPARED`,
    /// `VISIBLE`, `ABORTED`).
    pub fn labels(&self) -> BTreeMap<String, &'static str> {
        let mut state = self.state();
        state
            .labels
            .iter_mut()
            .map(|((_, label), txn)| {
                txn.expire();
                (label.clone(), txn.state.name())
            })
            .collect()
    }

    /// How often each label's rows were applied to its table.
    pub fn applied(&self) -> BTreeMap<String, usize> {
        self.state().applied.clone()
    }

    /// Labels whose transactions were rolled back on request, in order.
    pub fn rolled_back(&self) -> Vec<String> {
        self.state().rolled_back.clone()
    }

    /// Loads received (plain and transactional) and the rows they held.
    pub fn loads(&self) -> (usize, usize) {
        let state = self.state();
        (state.loads, state.rows_loaded)
    }

    /// Makes commit requests wait until [`StarRocksSimulator::release_commits`].
    pub fn hold_commits(&self) {
        self.server.switches.held.send_replace(true);
    }

    /// Lets held and later commit requests through.
    pub fn release_commits(&self) {
        self.server.switches.held.send_replace(false);
    }

    /// Commit requests waiting now.
    pub fn waiting_commits(&self) -> usize {
        self.server.switches.waiting.load(Ordering::SeqCst)
    }

    /// Makes commit requests fail (`Status: Fail`), or succeed again.
    pub fn fail_commits(&self, failing: bool) {
        self.server
            .switches
            .failing
            .store(failing, Ordering::SeqCst);
    }
}

impl Drop for StarRocksSimulator {
    fn drop(&mut self) {
        self.release_commits();
    }
}

/// A JSON answer.
fn answer(code: StatusCode, body: Value) -> Response {
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    answer(StatusCode::OK, body)
}

/// A failure answer with `Status` `status`.
fn failure(status: &str, message: impl Into<String>) -> Response {
    ok(json!({ "Status": status, "Message": message.into() }))
}

/// Whether the request carries the simulator's credentials.
fn authorized(headers: &HeaderMap) -> bool {
    let Some(encoded) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .is_ok_and(|decoded| decoded == format!("{USER}:{PASSWORD}").as_bytes())
}

fn denied() -> Response {
    answer(
        StatusCode::UNAUTHORIZED,
        json!({ "Status": "FAILED", "Message": "Access denied; you need (at least one of) the INSERT privilege(s) for this operation" }),
    )
}

/// A header's value.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The FE: load states itself, everything else redirected to the BE.
async fn fe_request(
    Shared(server): Shared<Server>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers) {
        return denied();
    }
    let path = uri.path();
    if method == Method::GET && path.ends_with("/get_load_state") {
        let db = path
            .trim_start_matches("/api/")
            .trim_end_matches("/get_load_state");
        let label = uri
            .query()
            .unwrap_or_default()
            .split('&')
            .find_map(|pair| pair.strip_prefix("label="))
            .unwrap_or_default();
        let mut state = server.state.lock().expect("state");
        let name = match state.labels.get_mut(&(db.to_string(), label.to_string())) {
            Some(txn) => {
                txn.expire();
                txn.state.name()
            }
            None => "UNKNOWN",
        };
        return ok(json!({ "Status": "OK", "Message": "", "State": name }));
    }
    let target = format!(
        "http://{}{}",
        server.be,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    (StatusCode::TEMPORARY_REDIRECT, [("location", target)]).into_response()
}

/// The BE: loads and transactions.
async fn be_request(
    Shared(server): Shared<Server>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    if path == "/api/_load_error_log" {
        let file = uri
            .query()
            .and_then(|q| q.strip_prefix("file="))
            .and_then(|n| n.parse::<usize>().ok());
        let state = server.state.lock().expect("state");
        return match file.and_then(|n| state.error_logs.get(n)) {
            Some(log) => log.clone().into_response(),
            None => (StatusCode::NOT_FOUND, "no such error log").into_response(),
        };
    }
    if !authorized(&headers) {
        return denied();
    }
    if let Some(operation) = path.strip_prefix("/api/transaction/") {
        return transaction(&server, operation, &headers, &body).await;
    }
    let parts: Vec<&str> = path.trim_start_matches("/api/").split('/').collect();
    match (method, parts.as_slice()) {
        (Method::PUT, [db, table, "_stream_load"]) => {
            stream_load(&server, db, table, &headers, &body)
        }
        _ => (StatusCode::NOT_FOUND, format!("no API {path}")).into_response(),
    }
}

/// A plain Stream Load: applied at once under its label.
fn stream_load(
    server: &Server,
    db: &str,
    table: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let mut state = server.state.lock().expect("state");
    let label = header(headers, "label")
        .map(str::to_string)
        .unwrap_or_else(|| format!("auto-{}", state.next_txn));
    if let Some(existing) = taken(&mut state, db, &label) {
        return existing;
    }
    let changes = match parse_rows(&mut state, server, db, table, headers, body) {
        Ok(changes) => changes,
        Err(response) => return *response,
    };
    state.next_txn += 1;
    let id = state.next_txn;
    let rows = changes.len();
    apply(&mut state, db, table, &label, &changes);
    state.labels.insert(
        (db.to_string(), label.clone()),
        Txn {
            id,
            table: table.to_string(),
            state: TxnState::Committed,
            changes: Vec::new(),
            begun: Instant::now(),
            timeout: Duration::ZERO,
            prepared: None,
        },
    );
    ok(json!({
        "TxnId": id, "Label": label, "Status": "Success", "Message": "OK",
        "NumberTotalRows": rows, "NumberLoadedRows": rows, "NumberFilteredRows": 0,
        "LoadBytes": body.len()
    }))
}

/// The `Label Already Exists` answer when `label` is used by a load that
/// was not aborted.
fn taken(state: &mut State, db: &str, label: &str) -> Option<Response> {
    let txn = state.labels.get_mut(&(db.to_string(), label.to_string()))?;
    txn.expire();
    let existing = match txn.state {
        TxnState::Aborted => return None,
        TxnState::Committed => "FINISHED",
        TxnState::Prepare | TxnState::Prepared => "RUNNING",
    };
    Some(ok(json!({
        "Status": "Label Already Exists", "ExistingJobStatus": existing,
        "Label": label, "Message": format!("Label [{label}] has already been used.")
    })))
}

/// Applies `changes` to `db.table`, counting the application of `label`.
fn apply(state: &mut State, db: &str, table: &str, label: &str, changes: &[Change]) {
    if let Some(table) = state.tables.get_mut(&(db.to_string(), table.to_string())) {
        table.apply(changes);
    }
    *state.applied.entry(label.to_string()).or_default() += 1;
}

/// One transaction request.
async fn transaction(
    server: &Server,
    operation: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let (Some(label), Some(db)) = (header(headers, "label"), header(headers, "db")) else {
        return failure("Fail", "the 'label' and 'db' headers are required");
    };
    let key = (db.to_string(), label.to_string());
    if operation == "commit"
        && let Some(response) = commit_gate(server).await
    {
        return response;
    }
    let mut state = server.state.lock().expect("state");
    if operation == "begin" {
        let Some(table) = header(headers, "table") else {
            return failure("Fail", "the 'table' header is required");
        };
        if !state
            .tables
            .contains_key(&(db.to_string(), table.to_string()))
        {
            return failure("Fail", format!("unknown table '{db}.{table}'"));
        }
        if let Some(existing) = taken(&mut state, db, label) {
            return existing;
        }
        let timeout = header(headers, "timeout")
            .and_then(|t| t.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(600));
        state.next_txn += 1;
        let id = state.next_txn;
        state.labels.insert(
            key,
            Txn {
                id,
                table: table.to_string(),
                state: TxnState::Prepare,
                changes: Vec::new(),
                begun: Instant::now(),
                timeout,
                prepared: None,
            },
        );
        return ok(json!({ "Status": "OK", "Message": "", "Label": label, "TxnId": id }));
    }
    let Some(txn) = state.labels.get_mut(&key) else {
        return not_exists(label);
    };
    txn.expire();
    let (id, table, current) = (txn.id, txn.table.clone(), txn.state);
    match (operation, current) {
        (_, TxnState::Aborted) => not_exists(label),
        ("load", TxnState::Prepare) => {
            let changes = match parse_rows(&mut state, server, db, &table, headers, body) {
                Ok(changes) => changes,
                Err(response) => return *response,
            };
            let rows = changes.len();
            let txn = state.labels.get_mut(&key).expect("looked up above");
            txn.changes.extend(changes);
            ok(
                json!({ "Status": "OK", "Message": "", "Label": label, "TxnId": id, "NumberLoadedRows": rows, "NumberFilteredRows": 0 }),
            )
        }
        ("load", _) => failure(
            "Fail",
            format!(
                "transaction of label [{label}] is {}, it takes no more data",
                current.name()
            ),
        ),
        ("prepare", TxnState::Prepare | TxnState::Prepared) => {
            let timeout = header(headers, "prepared_timeout")
                .and_then(|t| t.parse().ok())
                .map(Duration::from_secs);
            let txn = state.labels.get_mut(&key).expect("looked up above");
            if txn.state == TxnState::Prepare {
                txn.state = TxnState::Prepared;
                txn.prepared = Some((Instant::now(), timeout));
            }
            ok(json!({ "Status": "OK", "Message": "", "Label": label, "TxnId": id }))
        }
        ("commit", TxnState::Prepare | TxnState::Prepared) => {
            let txn = state.labels.get_mut(&key).expect("looked up above");
            txn.state = TxnState::Committed;
            let changes = std::mem::take(&mut txn.changes);
            apply(&mut state, db, &table, label, &changes);
            ok(json!({ "Status": "OK", "Message": "", "Label": label, "TxnId": id }))
        }
        ("commit", TxnState::Committed) => ok(json!({
            "Status": "OK", "Message": "Transaction already committed", "Label": label, "TxnId": id
        })),
        ("rollback", TxnState::Prepare | TxnState::Prepared) => {
            let txn = state.labels.get_mut(&key).expect("looked up above");
            txn.state = TxnState::Aborted;
            txn.changes.clear();
            state.rolled_back.push(label.to_string());
            ok(json!({ "Status": "OK", "Message": "", "Label": label, "TxnId": id }))
        }
        (_, TxnState::Committed) => failure(
            "Fail",
            format!("transaction of label [{label}] is already committed"),
        ),
        (other, _) => failure("Fail", format!("no transaction operation '{other}'")),
    }
}

fn not_exists(label: &str) -> Response {
    failure(
        "TXN_NOT_EXISTS",
        format!("transaction with label [{label}] not found"),
    )
}

/// Holds a commit while the test holds commits; the failure answer while
/// it makes them fail.
async fn commit_gate(server: &Server) -> Option<Response> {
    let switches = &server.switches;
    let mut held = switches.held.subscribe();
    switches.waiting.fetch_add(1, Ordering::SeqCst);
    while *held.borrow_and_update() {
        if held.changed().await.is_err() {
            break;
        }
    }
    switches.waiting.fetch_sub(1, Ordering::SeqCst);
    switches
        .failing
        .load(Ordering::SeqCst)
        .then(|| failure("Fail", "simulated commit failure"))
}

/// The rows of a load body, as changes of `db.table`'s columns; a body
/// that does not fit fails the load with an error log.
fn parse_rows(
    state: &mut State,
    server: &Server,
    db: &str,
    table: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<Change>, Box<Response>> {
    let Some(target) = state.tables.get(&(db.to_string(), table.to_string())) else {
        return Err(Box::new(failure(
            "Fail",
            format!("unknown table '{db}.{table}'"),
        )));
    };
    let columns: Vec<String> = match header(headers, "columns") {
        Some(list) => list
            .split(',')
            .map(|c| c.trim().trim_matches('`').to_string())
            .collect(),
        None => target.columns.clone(),
    };
    for column in &columns {
        if column == "__op" && target.key.is_empty() {
            return Err(Box::new(failure(
                "Fail",
                "'__op' is only for primary key tables",
            )));
        }
        if column != "__op" && !target.columns.contains(column) {
            return Err(Box::new(failure(
                "Fail",
                format!("Unknown column '{column}' in '{table}'"),
            )));
        }
    }
    let records = match header(headers, "format").unwrap_or("csv") {
        "json" => json_records(&columns, headers, body),
        "csv" => csv_records(&columns, headers, body),
        other => Err(format!("unknown format '{other}'")),
    };
    let mut errors = Vec::new();
    let mut changes = Vec::new();
    for (n, record) in records
        .map_err(|e| failure("Fail", e))?
        .into_iter()
        .enumerate()
    {
        let mut row: Row = vec![None; target.columns.len()];
        let mut delete = false;
        for (column, value) in columns.iter().zip(record) {
            if column == "__op" {
                match value.as_deref() {
                    Some("0") | Some("upsert") => {}
                    Some("1") | Some("delete") => delete = true,
                    other => errors.push(format!("row {n}: invalid __op {other:?}")),
                }
            } else if let Some(i) = target.columns.iter().position(|c| c == column) {
                row[i] = value;
            }
        }
        if target.key.iter().any(|&i| row[i].is_none()) {
            errors.push(format!("row {n}: a primary-key column is NULL: {row:?}"));
            continue;
        }
        changes.push(Change { delete, row });
    }
    state.loads += 1;
    state.rows_loaded += changes.len();
    if !errors.is_empty() {
        state.error_logs.push(errors.join("\n"));
        let file = state.error_logs.len() - 1;
        return Err(Box::new(ok(json!({
            "Status": "Fail",
            "Message": "too many filtered rows",
            "NumberTotalRows": changes.len() + errors.len(),
            "NumberLoadedRows": 0,
            "NumberFilteredRows": errors.len(),
            "ErrorURL": format!("http://{}/api/_load_error_log?file={file}", server.be),
        }))));
    }
    Ok(changes)
}

/// The values of a JSON body's objects, by `columns`.
fn json_records(
    columns: &[String],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<Vec<Option<String>>>, String> {
    let parsed: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let objects = match (header(headers, "strip_outer_array"), parsed) {
        (Some("true"), Value::Array(objects)) => objects,
        (Some("true"), _) => return Err("'strip_outer_array' needs a JSON array".into()),
        (_, Value::Object(object)) => vec![Value::Object(object)],
        (_, _) => return Err("a JSON array needs 'strip_outer_array: true'".into()),
    };
    objects
        .into_iter()
        .map(|object| {
            let Value::Object(object) = object else {
                return Err(format!("not a JSON object: {object}"));
            };
            Ok(columns
                .iter()
                .map(|c| match object.get(c) {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(other) => Some(other.to_string()),
                })
                .collect())
        })
        .collect()
}

/// The values of a CSV body's lines; a line with another number of
/// values than `columns` is an error.
fn csv_records(
    columns: &[String],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<Vec<Option<String>>>, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("CSV is not UTF-8: {e}"))?;
    let separator = delimiter(header(headers, "column_separator").unwrap_or("\t"));
    let row_delimiter = delimiter(header(headers, "row_delimiter").unwrap_or("\n"));
    text.split(row_delimiter.as_str())
        .filter(|line| !line.is_empty())
        .map(|line| {
            let values: Vec<Option<String>> = line
                .split(separator.as_str())
                .map(|v| (v != "\\N").then(|| v.to_string()))
                .collect();
            if values.len() == columns.len() {
                Ok(values)
            } else {
                Err(format!(
                    "a line has {} values for {} columns: {line:?}",
                    values.len(),
                    columns.len()
                ))
            }
        })
        .collect()
}

/// A delimiter header's text: `\xNN` stands for the byte NN.
fn delimiter(value: &str) -> String {
    match value
        .strip_prefix("\\x")
        .and_then(|hex| u8::from_str_radix(hex, 16).ok())
    {
        Some(byte) => char::from(byte).to_string(),
        None => value.to_string(),
    }
}
