//! What StarRocks answers to Stream Load and transaction requests: a JSON
//! object whose `Status` says how the request went, read here into
//! [`LoadResponse`] and judged by [`LoadResponse::verdict`].

use serde::Deserialize;

/// The fields of a Stream Load, transaction or load-state answer the sink
/// reads. StarRocks capitalises them (`Status`); some versions' load-state
/// answers do not (`state`), so both spellings are read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct LoadResponse {
    /// `Success`, `OK`, `Publish Timeout`, `Label Already Exists`, `Fail`...
    #[serde(rename = "Status", alias = "status", default)]
    pub status: Option<String>,
    /// What went wrong, in StarRocks's words.
    #[serde(rename = "Message", alias = "message", alias = "msg", default)]
    pub message: Option<String>,
    /// The label the request was about.
    #[serde(rename = "Label", alias = "label", default)]
    pub label: Option<String>,
    /// The transaction's id.
    #[serde(rename = "TxnId", alias = "txnId", default)]
    pub txn_id: Option<i64>,
    /// With `Label Already Exists`: the state of the load that has the
    /// label (`RUNNING`, `FINISHED`).
    #[serde(rename = "ExistingJobStatus", alias = "existingJobStatus", default)]
    pub existing_job_status: Option<String>,
    /// Where the rows StarRocks filtered out are explained.
    #[serde(rename = "ErrorURL", alias = "errorURL", default)]
    pub error_url: Option<String>,
    /// Rows loaded.
    #[serde(rename = "NumberLoadedRows", alias = "numberLoadedRows", default)]
    pub loaded_rows: Option<u64>,
    /// Rows filtered out for their quality.
    #[serde(rename = "NumberFilteredRows", alias = "numberFilteredRows", default)]
    pub filtered_rows: Option<u64>,
    /// A load state answer's state (`PREPARED`, `VISIBLE`...).
    #[serde(rename = "State", alias = "state", default)]
    pub state: Option<String>,
}

/// How a request went, by its `Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// `Success` or `OK`.
    Done,
    /// `Publish Timeout`: committed, only not yet visible; StarRocks
    /// documents it as a success.
    PublishTimeout,
    /// `Label Already Exists`, with the state of the load holding it.
    LabelExists(Option<String>),
    /// `TXN_NOT_EXISTS`: no open transaction has the label (it timed out,
    /// was rolled back, or never began).
    NoTransaction,
    /// Anything else: `Fail`, with a message and maybe an `ErrorURL`.
    Failed,
}

impl LoadResponse {
    /// Reads an answer's body.
    pub(crate) fn parse(body: &[u8]) -> Result<LoadResponse, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// How the request went.
    pub(crate) fn verdict(&self) -> Verdict {
        match self.status.as_deref().map(str::trim) {
            Some(s) if s.eq_ignore_ascii_case("success") || s.eq_ignore_ascii_case("ok") => {
                Verdict::Done
            }
            Some("Publish Timeout") => Verdict::PublishTimeout,
            Some("Label Already Exists" | "LABEL_ALREADY_EXISTS") => {
                Verdict::LabelExists(self.existing_job_status.clone())
            }
            Some("TXN_NOT_EXISTS") => Verdict::NoTransaction,
            _ => Verdict::Failed,
        }
    }

    /// The state a load-state answer gives.
    pub(crate) fn label_state(&self) -> LabelState {
        LabelState::parse(self.state.as_deref().unwrap_or_default())
    }

    /// `Status` as given, for messages.
    pub(crate) fn status_text(&self) -> &str {
        self.status.as_deref().unwrap_or("(no Status)")
    }

    /// `Message` as given, for messages.
    pub(crate) fn message_text(&self) -> &str {
        self.message.as_deref().unwrap_or_default()
    }
}

/// The state of a label, as `get_load_state` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LabelState {
    /// No load has the label (or it was forgotten).
    Unknown,
    /// A transaction is open under it.
    Prepare,
    /// Its transaction is prepared: it awaits a commit or a rollback.
    Prepared,
    /// Committed, becoming visible.
    Committed,
    /// Committed and visible.
    Visible,
    /// Rolled back or timed out: the label may be used again.
    Aborted,
}

impl LabelState {
    /// Reads a state name; unknown names read as [`LabelState::Unknown`].
    pub(crate) fn parse(name: &str) -> LabelState {
        match name.trim().to_ascii_uppercase().as_str() {
            "PREPARE" | "RUNNING" => LabelState::Prepare,
            "PREPARED" => LabelState::Prepared,
            "COMMITTED" => LabelState::Committed,
            "VISIBLE" | "FINISHED" => LabelState::Visible,
            "ABORTED" | "CANCELLED" => LabelState::Aborted,
            _ => LabelState::Unknown,
        }
    }

    /// The state's name, as StarRocks writes it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            LabelState::Unknown => "UNKNOWN",
            LabelState::Prepare => "PREPARE",
            LabelState::Prepared => "PREPARED",
            LabelState::Committed => "COMMITTED",
            LabelState::Visible => "VISIBLE",
            LabelState::Aborted => "ABORTED",
        }
    }

    /// Whether the label's data is committed.
    pub(crate) fn is_committed(self) -> bool {
        matches!(self, LabelState::Committed | LabelState::Visible)
    }

    /// Whether a transaction under the label is still open or prepared.
    pub(crate) fn is_open(self) -> bool {
        matches!(self, LabelState::Prepare | LabelState::Prepared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_load_success_is_read() {
        let body = br#"{"TxnId": 1003, "Label": "l1", "Status": "Success", "Message": "OK",
            "NumberTotalRows": 3, "NumberLoadedRows": 3, "NumberFilteredRows": 0, "LoadBytes": 40}"#;
        let response = LoadResponse::parse(body).unwrap();
        assert_eq!(response.verdict(), Verdict::Done);
        assert_eq!(response.txn_id, Some(1003));
        assert_eq!(response.loaded_rows, Some(3));
    }

    #[test]
    fn statuses_are_judged_as_starrocks_documents_them() {
        let verdict = |json: &str| LoadResponse::parse(json.as_bytes()).unwrap().verdict();
        assert_eq!(verdict(r#"{"Status": "OK"}"#), Verdict::Done);
        assert_eq!(
            verdict(r#"{"Status": "Publish Timeout"}"#),
            Verdict::PublishTimeout
        );
        assert_eq!(
            verdict(r#"{"Status": "Label Already Exists", "ExistingJobStatus": "FINISHED"}"#),
            Verdict::LabelExists(Some("FINISHED".into()))
        );
        assert_eq!(
            verdict(r#"{"Status": "TXN_NOT_EXISTS"}"#),
            Verdict::NoTransaction
        );
        assert_eq!(
            verdict(r#"{"Status": "Fail", "Message": "x"}"#),
            Verdict::Failed
        );
        assert_eq!(verdict("{}"), Verdict::Failed);
    }

    #[test]
    fn a_failure_keeps_its_error_url_and_counts() {
        let body = br#"{"Status": "Fail", "Message": "too many filtered rows",
            "NumberFilteredRows": 2, "ErrorURL": "http://be:8040/api/_load_error_log?file=x"}"#;
        let response = LoadResponse::parse(body).unwrap();
        assert_eq!(response.filtered_rows, Some(2));
        assert_eq!(
            response.error_url.as_deref(),
            Some("http://be:8040/api/_load_error_log?file=x")
        );
        assert_eq!(response.message_text(), "too many filtered rows");
    }

    #[test]
    fn load_states_are_read_in_either_spelling() {
        let state = |json: &str| LoadResponse::parse(json.as_bytes()).unwrap().label_state();
        assert_eq!(
            state(r#"{"Status": "OK", "State": "PREPARED"}"#),
            LabelState::Prepared
        );
        assert_eq!(
            state(r#"{"status": "OK", "state": "VISIBLE"}"#),
            LabelState::Visible
        );
        assert_eq!(
            state(r#"{"Status": "OK", "State": "UNKNOWN"}"#),
            LabelState::Unknown
        );
        assert!(LabelState::Committed.is_committed() && !LabelState::Prepared.is_committed());
        assert!(LabelState::Prepare.is_open() && !LabelState::Aborted.is_open());
    }

    #[test]
    fn a_body_that_is_not_json_is_an_error() {
        assert!(LoadResponse::parse(b"<html>502</html>").is_err());
    }
}
