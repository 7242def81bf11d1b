//! The `starrocks` table options, declared once with the StarRocks Flink
//! connector's keys and defaults, and read into [`SinkOptions`].

use std::time::Duration;

use rtdw_connector_core::options::{ConnectorOption, OptionType, TableOptions};
use rtdw_connector_core::{ConnectorError, TableDescriptor};

use crate::label::valid_prefix;

/// `jdbc-url`.
pub(crate) const JDBC_URL: ConnectorOption = ConnectorOption::new(
    "jdbc-url",
    OptionType::String,
    "The FE's MySQL-protocol address ('jdbc:mysql://fe1:9030,fe2:9030'): the table's columns are checked there when the job is submitted.",
)
.required();

/// `load-url`.
pub(crate) const LOAD_URL: ConnectorOption = ConnectorOption::new(
    "load-url",
    OptionType::String,
    "The FEs' HTTP addresses for Stream Load, separated by ';' ('fe1:8030;fe2:8030', 'http://' assumed, 'https://' allowed); tried in turn when one is unreachable.",
)
.required();

/// `database-name`.
pub(crate) const DATABASE_NAME: ConnectorOption = ConnectorOption::new(
    "database-name",
    OptionType::String,
    "The StarRocks database.",
)
.required();

/// `table-name`.
pub(crate) const TABLE_NAME: ConnectorOption =
    ConnectorOption::new("table-name", OptionType::String, "The StarRocks table.").required();

/// `username`.
pub(crate) const USERNAME: ConnectorOption = ConnectorOption::new(
    "username",
    OptionType::String,
    "The StarRocks user: it needs SELECT and INSERT on the table.",
)
.required();

/// `password`.
pub(crate) const PASSWORD: ConnectorOption =
    ConnectorOption::new("password", OptionType::String, "The user's password.").required();

/// `sink.semantic`.
pub(crate) const SEMANTIC: ConnectorOption = ConnectorOption::new(
    "sink.semantic",
    OptionType::Enum(&["at-least-once", "exactly-once"]),
    "'at-least-once': each buffered batch is one Stream Load, and every checkpoint waits for the loads; 'exactly-once': the rows of each checkpoint go into one Stream Load transaction, prepared at the barrier and committed when the checkpoint completes.",
)
.default_value("at-least-once")
.sink_only();

/// `sink.label-prefix`.
pub(crate) const LABEL_PREFIX: ConnectorOption = ConnectorOption::new(
    "sink.label-prefix",
    OptionType::String,
    "The start of every Stream Load label (letters, digits, '-' and '_'); unique per job. Exactly-once labels are '{prefix}-{table}-{subtask}-{n}'; without it, 'rtdw-{job id}'.",
)
.sink_only();

/// `sink.buffer-flush.max-bytes`.
pub(crate) const MAX_BYTES: ConnectorOption = ConnectorOption::new(
    "sink.buffer-flush.max-bytes",
    OptionType::Integer,
    "Encoded bytes a subtask buffers before it loads them.",
)
.default_value("94371840")
.sink_only();

/// `sink.buffer-flush.max-rows`.
pub(crate) const MAX_ROWS: ConnectorOption = ConnectorOption::new(
    "sink.buffer-flush.max-rows",
    OptionType::Integer,
    "Rows a subtask buffers before it loads them.",
)
.default_value("500000")
.sink_only();

/// `sink.buffer-flush.interval-ms`.
pub(crate) const FLUSH_INTERVAL: ConnectorOption = ConnectorOption::new(
    "sink.buffer-flush.interval-ms",
    OptionType::Integer,
    "At most this long (milliseconds) between two loads of buffered rows; checkpoints load them too.",
)
.default_value("300000")
.sink_only();

/// `sink.max-retries`.
pub(crate) const MAX_RETRIES: ConnectorOption = ConnectorOption::new(
    "sink.max-retries",
    OptionType::Integer,
    "How often a failed load, or a failed commit, is tried again before the subtask fails.",
)
.default_value("3")
.sink_only();

/// `sink.retry.interval-ms`.
pub(crate) const RETRY_INTERVAL: ConnectorOption = ConnectorOption::new(
    "sink.retry.interval-ms",
    OptionType::Integer,
    "Milliseconds between two tries of a load or a commit.",
)
.default_value("10000")
.sink_only();

/// `sink.connect.timeout-ms`.
pub(crate) const CONNECT_TIMEOUT: ConnectorOption = ConnectorOption::new(
    "sink.connect.timeout-ms",
    OptionType::Integer,
    "Milliseconds to wait for a connection to an FE or a BE, or to the 'jdbc-url'.",
)
.default_value("30000")
.sink_only();

/// `sink.socket.timeout-ms`.
pub(crate) const SOCKET_TIMEOUT: ConnectorOption = ConnectorOption::new(
    "sink.socket.timeout-ms",
    OptionType::Integer,
    "Milliseconds a Stream Load request may take before the sink gives up on it; -1 waits as long as StarRocks takes.",
)
.default_value("-1")
.sink_only();

/// `sink.ignore.update-before`.
pub(crate) const IGNORE_UPDATE_BEFORE: ConnectorOption = ConnectorOption::new(
    "sink.ignore.update-before",
    OptionType::Boolean,
    "Drop -U rows (the +U that follows upserts the same key); 'false' writes them as deletes, for updates that change the primary key.",
)
.default_value("true")
.sink_only();

/// `sink.properties.format`: declared before the family, so its value is
/// checked as a format.
pub(crate) const FORMAT: ConnectorOption = ConnectorOption::new(
    "sink.properties.format",
    OptionType::Enum(&["csv", "json"]),
    "How rows travel: 'csv' (columns split by 'sink.properties.column_separator', default '\\t', rows by 'sink.properties.row_delimiter', default '\\n', NULL as '\\N') or 'json' (one array of objects, 'strip_outer_array').",
)
.default_value("csv")
.sink_only();

/// `sink.properties.*`: Stream Load headers.
pub(crate) const PROPERTIES: ConnectorOption = ConnectorOption::new(
    "sink.properties.*",
    OptionType::String,
    "Stream Load headers, passed as given ('sink.properties.timeout' = '600', 'sink.properties.max_filter_ratio' = '0.1', 'sink.properties.partial_update' = 'true').",
)
.sink_only();

/// Every option, in the order the docs list them.
pub(crate) const OPTIONS: &[ConnectorOption] = &[
    JDBC_URL,
    LOAD_URL,
    DATABASE_NAME,
    TABLE_NAME,
    USERNAME,
    PASSWORD,
    SEMANTIC,
    LABEL_PREFIX,
    MAX_BYTES,
    MAX_ROWS,
    FLUSH_INTERVAL,
    MAX_RETRIES,
    RETRY_INTERVAL,
    CONNECT_TIMEOUT,
    SOCKET_TIMEOUT,
    IGNORE_UPDATE_BEFORE,
    FORMAT,
    PROPERTIES,
    // The Flink connector's options that tune its Java client (its load
    // version, I/O threads, chunking, waits for `100 Continue`, metrics,
    // exactly-once helpers): accepted, so a Flink DDL runs unchanged, and
    // without effect, since rtdw's own client has none of those parts.
    ConnectorOption::new(
        "sink.version",
        OptionType::Enum(&["AUTO", "V1", "V2"]),
        "The Flink connector's load implementation; accepted for compatibility, rtdw has one.",
    )
    .default_value("AUTO")
    .sink_only(),
    ConnectorOption::new(
        "sink.io.thread-count",
        OptionType::Integer,
        "The Flink connector's I/O threads; accepted for compatibility, rtdw's loads run on its runtime.",
    )
    .sink_only(),
    ConnectorOption::new(
        "sink.chunk-limit",
        OptionType::Integer,
        "The Flink connector's chunk size of a load; accepted for compatibility, rtdw sends each flush as one body.",
    )
    .sink_only(),
    ConnectorOption::new(
        "sink.scan-frequency.ms",
        OptionType::Integer,
        "The Flink connector's buffer scan period; accepted for compatibility, rtdw flushes on 'sink.buffer-flush.interval-ms'.",
    )
    .sink_only(),
    ConnectorOption::new(
        "sink.wait-for-continue.timeout-ms",
        OptionType::Integer,
        "The Flink connector's wait for '100 Continue'; accepted for compatibility, rtdw sends the rows to the BE only.",
    )
    .sink_only(),
    ConnectorOption::new(
        "sink.metric.histogram-window-size",
        OptionType::Integer,
        "The Flink connector's metric window; accepted for compatibility, rtdw exports its own metrics.",
    )
    .sink_only(),
    ConnectorOption::new(
        "sink.at-least-once.use-transaction-stream-load",
        OptionType::Boolean,
        "The Flink connector's choice of loads at least once; accepted for compatibility, rtdw uses plain Stream Loads there.",
    )
    .sink_only(),
    ConnectorOption::new(
        "sink.exactly-once.*",
        OptionType::String,
        "The Flink connector's exactly-once helpers (label generation, aborting lingering transactions); accepted for compatibility, rtdw always numbers its labels and aborts what a restored subtask left open.",
    )
    .sink_only(),
];

/// The prefix of the Stream Load headers among the options.
const PROPERTIES_PREFIX: &str = "sink.properties.";

/// What a sink guarantees, from `sink.semantic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Semantic {
    /// Plain Stream Loads, waited for at every checkpoint.
    AtLeastOnce,
    /// One Stream Load transaction per subtask and checkpoint.
    ExactlyOnce,
}

/// How rows are encoded in a load's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LoadFormat {
    /// Delimited text.
    Csv {
        /// Between two columns.
        column_separator: Vec<u8>,
        /// Between two rows.
        row_delimiter: Vec<u8>,
    },
    /// One JSON array of objects.
    Json,
}

/// A `starrocks` table's options, read and checked.
#[derive(Debug, Clone)]
pub(crate) struct SinkOptions {
    /// `jdbc-url`, as given.
    pub jdbc_url: String,
    /// The hosts and ports of `jdbc-url`.
    pub jdbc_hosts: Vec<(String, u16)>,
    /// `load-url`, each with its scheme: `http://fe:8030`.
    pub load_urls: Vec<String>,
    /// `database-name`.
    pub database: String,
    /// `table-name`.
    pub table: String,
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: String,
    /// `sink.semantic`.
    pub semantic: Semantic,
    /// `sink.label-prefix`.
    pub label_prefix: Option<String>,
    /// `sink.buffer-flush.max-bytes`.
    pub max_bytes: usize,
    /// `sink.buffer-flush.max-rows`.
    pub max_rows: usize,
    /// `sink.buffer-flush.interval-ms`.
    pub flush_interval: Duration,
    /// `sink.max-retries`.
    pub max_retries: u32,
    /// `sink.retry.interval-ms`.
    pub retry_interval: Duration,
    /// `sink.connect.timeout-ms`.
    pub connect_timeout: Duration,
    /// `sink.socket.timeout-ms`, unless -1.
    pub request_timeout: Option<Duration>,
    /// `sink.ignore.update-before`.
    pub ignore_update_before: bool,
    /// `sink.properties.format` with its delimiters.
    pub format: LoadFormat,
    /// Every `sink.properties.*` as a header (`format` included).
    pub headers: Vec<(String, String)>,
}

impl SinkOptions {
    /// Reads and checks `table`'s options (already validated for their
    /// types).
    pub(crate) fn of_table(table: &TableDescriptor) -> Result<SinkOptions, ConnectorError> {
        let options = TableOptions::new(table);
        let jdbc_url = options.require_string(&JDBC_URL)?.trim().to_string();
        let jdbc_hosts = jdbc_hosts(&jdbc_url).ok_or_else(|| {
            options.invalid(
                JDBC_URL.key,
                &jdbc_url,
                "must be 'jdbc:mysql://host:port[,host:port...][/database][?...]'",
            )
        })?;
        let load_url = options.require_string(&LOAD_URL)?;
        let load_urls = load_urls(load_url).ok_or_else(|| {
            options.invalid(
                LOAD_URL.key,
                load_url,
                "must be FE HTTP addresses 'host:port' separated by ';'",
            )
        })?;
        let label_prefix = options.string(&LABEL_PREFIX).map(str::to_string);
        if let Some(prefix) = label_prefix.as_deref().filter(|p| !valid_prefix(p)) {
            return Err(options.invalid(
                LABEL_PREFIX.key,
                prefix,
                "must hold only letters, digits, '-' and '_'",
            ));
        }
        let semantic = match options.choice(&SEMANTIC)? {
            Some("exactly-once") => Semantic::ExactlyOnce,
            _ => Semantic::AtLeastOnce,
        };
        let headers: Vec<(String, String)> = table
            .options
            .iter()
            .filter_map(|(key, value)| {
                let header = key.strip_prefix(PROPERTIES_PREFIX)?;
                let value = if key == FORMAT.key {
                    value.trim().to_ascii_lowercase()
                } else {
                    value.clone()
                };
                Some((header.to_string(), value))
            })
            .collect();
        let format = match options.choice(&FORMAT)? {
            Some("json") => LoadFormat::Json,
            _ => LoadFormat::Csv {
                column_separator: delimiter(header(&headers, "column_separator").unwrap_or("\t")),
                row_delimiter: delimiter(header(&headers, "row_delimiter").unwrap_or("\n")),
            },
        };
        let socket_timeout = integer(&options, &SOCKET_TIMEOUT, -1)?;
        Ok(SinkOptions {
            jdbc_url,
            jdbc_hosts,
            load_urls,
            database: options.require_string(&DATABASE_NAME)?.to_string(),
            table: options.require_string(&TABLE_NAME)?.to_string(),
            username: options.require_string(&USERNAME)?.to_string(),
            password: options.require_string(&PASSWORD)?.to_string(),
            semantic,
            label_prefix,
            max_bytes: integer(&options, &MAX_BYTES, 1)? as usize,
            max_rows: integer(&options, &MAX_ROWS, 1)? as usize,
            flush_interval: millis(integer(&options, &FLUSH_INTERVAL, 1)?),
            max_retries: integer(&options, &MAX_RETRIES, 0)?.min(i64::from(u32::MAX)) as u32,
            retry_interval: millis(integer(&options, &RETRY_INTERVAL, 0)?),
            connect_timeout: millis(integer(&options, &CONNECT_TIMEOUT, 1)?),
            request_timeout: (socket_timeout > 0).then(|| millis(socket_timeout)),
            ignore_update_before: options.boolean(&IGNORE_UPDATE_BEFORE)?,
            format,
            headers,
        })
    }

    /// The value of Stream Load header `name`, if the table sets it.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// The value of header `name` among `headers` (names compare without
/// regard to case, as HTTP's do).
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// An integer option of at least `min`.
fn integer(
    options: &TableOptions<'_>,
    option: &ConnectorOption,
    min: i64,
) -> Result<i64, ConnectorError> {
    let value = options.integer(option)?.unwrap_or(min);
    if value < min {
        return Err(options.invalid(
            option.key,
            &value.to_string(),
            &format!("must be at least {min}"),
        ));
    }
    Ok(value)
}

fn millis(value: i64) -> Duration {
    Duration::from_millis(value.max(0) as u64)
}

/// The hosts of a MySQL JDBC URL: `jdbc:mysql://h1:9030,h2/db?x=y` gives
/// `[(h1, 9030), (h2, 9030)]`; `None` when it is not one.
pub(crate) fn jdbc_hosts(url: &str) -> Option<Vec<(String, u16)>> {
    let rest = url.strip_prefix("jdbc:mysql://")?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    authority
        .split(',')
        .map(|host| {
            let (name, port) = match host.rsplit_once(':') {
                Some((name, port)) => (name, port.parse().ok()?),
                None => (host, 9030),
            };
            (!name.is_empty()).then(|| (name.to_string(), port))
        })
        .collect()
}

/// The FE addresses of `load-url`, each with a scheme; `None` when one is
/// empty.
pub(crate) fn load_urls(value: &str) -> Option<Vec<String>> {
    value
        .split(';')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let url = if part.starts_with("http://") || part.starts_with("https://") {
                part.trim_end_matches('/').to_string()
            } else {
                format!("http://{}", part.trim_end_matches('/'))
            };
            let host = url.split_once("://").map(|(_, host)| host)?;
            (!host.is_empty()).then_some(url)
        })
        .collect::<Option<Vec<_>>>()
        .filter(|urls| !urls.is_empty())
}

/// A delimiter as StarRocks reads its headers: `\xNN` is the byte NN
/// (`\x01`), anything else the text itself.
pub(crate) fn delimiter(value: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value;
    while !rest.is_empty() {
        let hex = rest
            .strip_prefix("\\x")
            .and_then(|after| after.get(..2))
            .and_then(|digits| u8::from_str_radix(digits, 16).ok());
        match hex {
            Some(byte) => {
                bytes.push(byte);
                rest = &rest[4..];
            }
            None => {
                let c = rest.chars().next().unwrap_or_default();
                let mut buffer = [0; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jdbc_urls_give_their_hosts() {
        assert_eq!(
            jdbc_hosts("jdbc:mysql://fe1:9031,fe2/shop?useSSL=false"),
            Some(vec![("fe1".into(), 9031), ("fe2".into(), 9030)])
        );
        assert_eq!(
            jdbc_hosts("jdbc:mysql://127.0.0.1:3306"),
            Some(vec![("127.0.0.1".into(), 3306)])
        );
        assert_eq!(jdbc_hosts("mysql://fe1:9030"), None);
        assert_eq!(jdbc_hosts("jdbc:mysql://fe1:port"), None);
        assert_eq!(jdbc_hosts("jdbc:mysql://"), None);
    }

    #[test]
    fn load_urls_get_a_scheme() {
        assert_eq!(
            load_urls("fe1:8030; https://fe2:8443/"),
            Some(vec!["http://fe1:8030".into(), "https://fe2:8443".into()])
        );
        assert_eq!(load_urls(" ; "), None);
        assert_eq!(load_urls("http://"), None);
    }

    #[test]
    fn delimiters_read_hex_escapes() {
        assert_eq!(delimiter("\\x01"), vec![1]);
        assert_eq!(delimiter("|\\x0a|"), b"|\n|".to_vec());
        assert_eq!(delimiter("\t"), b"\t".to_vec());
        assert_eq!(delimiter("\\xZZ"), b"\\xZZ".to_vec());
    }
}
