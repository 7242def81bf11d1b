//! The Stream Load operations a sink subtask runs on its table, with
//! StarRocks's answers judged as it documents them: plain loads (retried
//! under their label, which makes a retry of a load that went through
//! harmless), and the transaction interface (`begin`, `load`, `prepare`,
//! `commit`, `rollback`) with the load state of a label.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use rtdw_connector_core::two_phase::CommitOutcome;
use rtdw_connector_core::{ConnectorError, TableDescriptor};
use rtdw_operators::{ErrorClass, Result, StreamError};

use crate::client::{Request, StreamLoadClient};
use crate::error::StarRocksError;
use crate::options::{LoadFormat, SinkOptions};
use crate::response::{LabelState, LoadResponse, Verdict};

/// The transaction timeout (seconds from begin to prepare) unless the
/// table sets `sink.properties.timeout`, as the Flink connector's.
const DEFAULT_TRANSACTION_TIMEOUT: &str = "600";

/// How often a load under a label another try still runs is looked at
/// again, at most.
const RUNNING_POLL: Duration = Duration::from_secs(1);

/// The loads of one sink subtask into its table.
pub(crate) struct Loads {
    client: StreamLoadClient,
    /// The rtdw table, for errors.
    table: String,
    database: String,
    target: String,
    /// `sink.properties.*`, with what the format needs.
    headers: Vec<(String, String)>,
    /// The transaction timeout header of `begin`.
    timeout: String,
    /// `prepared_timeout` of `prepare`, when the table sets one.
    prepared_timeout: Option<String>,
    max_retries: u32,
    retry_interval: Duration,
}

impl Loads {
    /// The loads into the table `options` name.
    pub(crate) fn new(
        table: &TableDescriptor,
        options: &SinkOptions,
    ) -> Result<Self, ConnectorError> {
        let mut headers: Vec<(String, String)> = options
            .headers
            .iter()
            .filter(|(name, _)| {
                !["label", "db", "table", "columns"]
                    .iter()
                    .any(|reserved| name.eq_ignore_ascii_case(reserved))
            })
            .cloned()
            .collect();
        if options.header("format").is_none() {
            headers.push(("format".into(), "csv".into()));
        }
        if options.format == LoadFormat::Json && options.header("strip_outer_array").is_none() {
            headers.push(("strip_outer_array".into(), "true".into()));
        }
        Ok(Loads {
            client: StreamLoadClient::new(table, options)?,
            table: table.name.clone(),
            database: options.database.clone(),
            target: options.table.clone(),
            headers,
            timeout: options
                .header("timeout")
                .unwrap_or(DEFAULT_TRANSACTION_TIMEOUT)
                .to_string(),
            prepared_timeout: options.header("prepared_timeout").map(str::to_string),
            max_retries: options.max_retries,
            retry_interval: options.retry_interval,
        })
    }

    /// `db.table`, for messages.
    pub(crate) fn target(&self) -> String {
        format!("{}.{}", self.database, self.target)
    }

    /// The StarRocks table.
    pub(crate) fn target_table(&self) -> &str {
        &self.target
    }

    /// The error of `operation` on the table.
    pub(crate) fn error(&self, operation: &str, error: StarRocksError) -> StreamError {
        let class = error.class();
        ConnectorError::external(
            &self.table,
            format!("{operation} into StarRocks table '{}'", self.target()),
            class,
            error,
        )
        .into()
    }

    /// Runs `attempt` until it succeeds, a failure is not transient, or
    /// `sink.max-retries` retries failed.
    async fn retrying<T, F, Fut>(&self, operation: &str, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StarRocksError>>,
    {
        let mut retries = 0;
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(error)
                    if error.class() == ErrorClass::Transient && retries < self.max_retries =>
                {
                    retries += 1;
                    tracing::warn!(
                        table = %self.table, %error, retry = retries, of = self.max_retries,
                        "{operation} failed; trying again"
                    );
                    tokio::time::sleep(self.retry_interval).await;
                }
                Err(error) => return Err(self.error(operation, error)),
            }
        }
    }

    /// The headers of a data request: the label, the `columns`, and the
    /// table's Stream Load properties.
    fn data_headers(
        &self,
        label: &str,
        columns: &str,
        transactional: bool,
    ) -> Vec<(String, String)> {
        let mut headers = self.txn_headers(label, transactional);
        headers.push(("columns".into(), columns.to_string()));
        headers.extend(self.headers.iter().cloned());
        headers
    }

    /// `label`, and with `transactional` the `db` and `table` the
    /// transaction interface wants.
    fn txn_headers(&self, label: &str, transactional: bool) -> Vec<(String, String)> {
        let mut headers = vec![("label".to_string(), label.to_string())];
        if transactional {
            headers.push(("db".into(), self.database.clone()));
            headers.push(("table".into(), self.target.clone()));
        }
        headers
    }

    /// A rejection of `operation` on `label`, with the filtered rows and
    /// the start of the error log when StarRocks gave an `ErrorURL`: such
    /// rows are the data's fault, which retrying does not mend.
    async fn rejected(
        &self,
        operation: &'static str,
        label: &str,
        answer: &LoadResponse,
    ) -> StarRocksError {
        let (details, class) = match &answer.error_url {
            Some(url) => (
                format!(
                    " ({} rows filtered; error log {url}: {})",
                    answer.filtered_rows.unwrap_or_default(),
                    self.client.error_log(url).await
                ),
                ErrorClass::User,
            ),
            None => (String::new(), ErrorClass::Transient),
        };
        StarRocksError::Rejected {
            operation,
            label: label.to_string(),
            status: answer.status_text().to_string(),
            message: answer.message_text().to_string(),
            details,
            class,
        }
    }

    /// Sends a request to the FEs.
    async fn send(
        &self,
        method: Method,
        path: String,
        headers: &[(String, String)],
        body: Option<Bytes>,
    ) -> Result<LoadResponse, StarRocksError> {
        self.client
            .send(&Request {
                method,
                path,
                headers,
                body,
            })
            .await
    }

    /// Loads `body` (rows of `columns`) under `label` in a load of its own,
    /// trying again under the same label as `sink.max-retries` allows.
    pub(crate) async fn stream_load(&self, label: &str, columns: &str, body: Bytes) -> Result<()> {
        let path = format!("/api/{}/{}/_stream_load", self.database, self.target);
        let headers = self.data_headers(label, columns, false);
        self.retrying("Stream Load", || async {
            let answer = self
                .send(Method::PUT, path.clone(), &headers, Some(body.clone()))
                .await?;
            match answer.verdict() {
                Verdict::Done => Ok(()),
                Verdict::PublishTimeout => {
                    tracing::warn!(table = %self.table, label, "Stream Load committed but not yet visible (Publish Timeout)");
                    Ok(())
                }
                Verdict::LabelExists(existing) => {
                    let state = LabelState::parse(existing.as_deref().unwrap_or_default());
                    if state.is_committed() {
                        // An earlier try went through.
                        return Ok(());
                    }
                    tokio::time::sleep(RUNNING_POLL.min(self.retry_interval)).await;
                    Err(self.rejected("stream load", label, &answer).await)
                }
                Verdict::NoTransaction | Verdict::Failed => {
                    Err(self.rejected("stream load", label, &answer).await)
                }
            }
        })
        .await
    }

    /// Begins a transaction under `label`.
    pub(crate) async fn begin(&self, label: &str) -> Result<()> {
        let mut headers = self.txn_headers(label, true);
        headers.push(("timeout".into(), self.timeout.clone()));
        self.step(
            "beginning a transaction",
            Method::POST,
            "begin",
            label,
            headers,
            None,
        )
        .await
    }

    /// Loads `body` (rows of `columns`) into the open transaction `label`.
    /// Not retried: a load that failed half way leaves the transaction in
    /// doubt, and the subtask's restore rolls it back.
    pub(crate) async fn load(&self, label: &str, columns: &str, body: Bytes) -> Result<()> {
        let headers = self.data_headers(label, columns, true);
        self.step(
            "loading into a transaction",
            Method::PUT,
            "load",
            label,
            headers,
            Some(body),
        )
        .await
    }

    /// Prepares (pre-commits) the transaction `label`.
    pub(crate) async fn prepare(&self, label: &str) -> Result<()> {
        let mut headers = self.txn_headers(label, true);
        if let Some(timeout) = &self.prepared_timeout {
            headers.push(("prepared_timeout".into(), timeout.clone()));
        }
        self.step(
            "preparing a transaction",
            Method::POST,
            "prepare",
            label,
            headers,
            None,
        )
        .await
    }

    /// One step of a transaction (`/api/transaction/{step}`), once: it
    /// must succeed. A label another load holds is named as such.
    async fn step(
        &self,
        operation: &str,
        method: Method,
        step: &'static str,
        label: &str,
        headers: Vec<(String, String)>,
        body: Option<Bytes>,
    ) -> Result<()> {
        let path = format!("/api/transaction/{step}");
        let answer = self
            .send(method, path, &headers, body)
            .await
            .map_err(|e| self.error(operation, e))?;
        let failure = match answer.verdict() {
            Verdict::Done => return Ok(()),
            Verdict::LabelExists(existing) => StarRocksError::LabelTaken {
                label: label.to_string(),
                existing: existing.unwrap_or_else(|| "unknown".into()),
            },
            _ => self.rejected(step, label, &answer).await,
        };
        Err(self.error(operation, failure))
    }

    /// Commits the prepared transaction `label`, as `sink.max-retries`
    /// allows. A label found committed already is a success: a restored
    /// checkpoint's labels come again.
    pub(crate) async fn commit(&self, label: &str) -> Result<CommitOutcome> {
        let headers = self.txn_headers(label, true);
        self.retrying("committing a transaction", || async {
            let answer = self
                .send(Method::POST, "/api/transaction/commit".into(), &headers, None)
                .await?;
            match answer.verdict() {
                Verdict::Done => return Ok(CommitOutcome::Committed),
                Verdict::PublishTimeout => {
                    tracing::warn!(table = %self.table, label, "transaction committed but not yet visible (Publish Timeout)");
                    return Ok(CommitOutcome::Committed);
                }
                _ => {}
            }
            match self.label_state(label).await? {
                state if state.is_committed() => Ok(CommitOutcome::AlreadyCommitted),
                LabelState::Aborted | LabelState::Unknown => {
                    tracing::error!(
                        table = %self.table,
                        label,
                        status = answer.status_text(),
                        message = answer.message_text(),
                        "StarRocks no longer holds a prepared transaction of a completed checkpoint: \
                         it was aborted when it outlived its timeout, and the rows of that checkpoint \
                         are lost; keep 'sink.properties.prepared_timeout' above the checkpoint \
                         interval plus the longest restart"
                    );
                    Ok(CommitOutcome::AlreadyCommitted)
                }
                _ => Err(self.rejected("commit", label, &answer).await),
            }
        })
        .await
    }

    /// Rolls back the transaction `label`; one that is not open is left as
    /// it is.
    pub(crate) async fn rollback(&self, label: &str) -> Result<()> {
        let headers = self.txn_headers(label, true);
        self.retrying("rolling back a transaction", || async {
            let answer = self
                .send(
                    Method::POST,
                    "/api/transaction/rollback".into(),
                    &headers,
                    None,
                )
                .await?;
            match answer.verdict() {
                Verdict::Done | Verdict::NoTransaction => Ok(()),
                _ if !self.label_state(label).await?.is_open() => Ok(()),
                _ => Err(self.rejected("rollback", label, &answer).await),
            }
        })
        .await
    }

    /// The state of `label`.
    async fn label_state(&self, label: &str) -> Result<LabelState, StarRocksError> {
        let path = format!("/api/{}/get_load_state?label={label}", self.database);
        let answer = self.send(Method::GET, path, &[], None).await?;
        match answer.verdict() {
            Verdict::Done => Ok(answer.label_state()),
            _ => Err(self.rejected("load state", label, &answer).await),
        }
    }

    /// The state of `label`, retried as `sink.max-retries` allows.
    pub(crate) async fn state(&self, label: &str) -> Result<LabelState> {
        self.retrying("reading a label's state", || self.label_state(label))
            .await
    }
}
