//! The `mysql-cdc` connector's options, as Flink CDC names them, and their
//! typed reading ([`CdcOptions`]).

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use rtdw_connector_core::options::{ConnectorOption, OptionType, TableOptions};
use rtdw_connector_core::{ConnectorError, TableDescriptor};

use crate::position::{BinlogPosition, GtidSet};

/// Flink CDC's `hostname`.
pub(crate) const HOSTNAME: ConnectorOption = ConnectorOption::new(
    "hostname",
    OptionType::String,
    "IP address or hostname of the MySQL or MariaDB server.",
)
.required();

/// Flink CDC's `port`.
pub(crate) const PORT: ConnectorOption =
    ConnectorOption::new("port", OptionType::Integer, "Port of the server.").default_value("3306");

/// Flink CDC's `username`.
pub(crate) const USERNAME: ConnectorOption = ConnectorOption::new(
    "username",
    OptionType::String,
    "The user to connect as: it needs SELECT, RELOAD, REPLICATION SLAVE and REPLICATION CLIENT (MariaDB: BINLOG MONITOR).",
)
.required();

/// Flink CDC's `password`.
pub(crate) const PASSWORD: ConnectorOption =
    ConnectorOption::new("password", OptionType::String, "The user's password.").required();

/// Flink CDC's `database-name`.
pub(crate) const DATABASE_NAME: ConnectorOption = ConnectorOption::new(
    "database-name",
    OptionType::String,
    "The databases to capture: a regular expression matched against whole database names ('shop_[0-9]+').",
)
.required();

/// Flink CDC's `table-name`.
pub(crate) const TABLE_NAME: ConnectorOption = ConnectorOption::new(
    "table-name",
    OptionType::String,
    "The tables to capture: a regular expression matched against whole table names, or 'database.table' names when it holds an escaped dot ('orders|refunds', 'shop\\\\.orders_.*'); all matched tables feed one stream.",
)
.required();

/// Flink CDC's `server-id`.
pub(crate) const SERVER_ID: ConnectorOption = ConnectorOption::new(
    "server-id",
    OptionType::String,
    "The replica server id of each reader subtask: one id, or a range such as '5400-5404' holding at least the source's parallelism. Unique among the server's replicas. Default: a range of 'parallelism' ids from 5400 up, picked by the table's name.",
)
.source_only();

/// Flink CDC's `server-time-zone`.
pub(crate) const SERVER_TIME_ZONE: ConnectorOption = ConnectorOption::new(
    "server-time-zone",
    OptionType::String,
    "The server's session time zone ('UTC', 'Asia/Shanghai', '+08:00'). rtdw reads TIMESTAMP columns in UTC sessions, so their instants are exact whatever it says; it is checked for form and kept for Flink CDC compatibility.",
)
.source_only();

/// Flink CDC's `scan.startup.mode`.
pub(crate) const STARTUP_MODE: ConnectorOption = ConnectorOption::new(
    "scan.startup.mode",
    OptionType::Enum(&[
        "initial",
        "snapshot",
        "latest-offset",
        "earliest-offset",
        "specific-offset",
        "timestamp",
    ]),
    "Where reading starts: 'initial' snapshots the tables then reads the binlog; 'snapshot' only snapshots (bounded); 'latest-offset', 'earliest-offset', 'specific-offset' and 'timestamp' read only the binlog from there.",
)
.default_value("initial")
.source_only();

/// Flink CDC's `scan.startup.specific-offset.file`.
pub(crate) const SPECIFIC_FILE: ConnectorOption = ConnectorOption::new(
    "scan.startup.specific-offset.file",
    OptionType::String,
    "'specific-offset': the binlog file to start in ('mysql-bin.000003').",
)
.source_only();

/// Flink CDC's `scan.startup.specific-offset.pos`.
pub(crate) const SPECIFIC_POS: ConnectorOption = ConnectorOption::new(
    "scan.startup.specific-offset.pos",
    OptionType::Integer,
    "'specific-offset': the position in that file to start at (a transaction boundary).",
)
.source_only();

/// Flink CDC's `scan.startup.specific-offset.gtid-set`.
pub(crate) const SPECIFIC_GTID_SET: ConnectorOption = ConnectorOption::new(
    "scan.startup.specific-offset.gtid-set",
    OptionType::String,
    "'specific-offset': the GTIDs already read (MariaDB '0-1-46', comma-separated per domain); reading starts after them. Takes precedence over file and position.",
)
.source_only();

/// Flink CDC's `scan.startup.timestamp-millis`.
pub(crate) const STARTUP_TIMESTAMP: ConnectorOption = ConnectorOption::new(
    "scan.startup.timestamp-millis",
    OptionType::Integer,
    "'timestamp': the commit time (milliseconds since the epoch) of the first transaction to read.",
)
.source_only();

/// Flink CDC's `scan.incremental.snapshot.enabled`.
pub(crate) const INCREMENTAL_SNAPSHOT: ConnectorOption = ConnectorOption::new(
    "scan.incremental.snapshot.enabled",
    OptionType::Boolean,
    "Snapshot each table in primary-key chunks read in parallel and checkpointed one by one. 'false' reads each table as one chunk (still without locks).",
)
.default_value("true")
.source_only();

/// Flink CDC's `scan.incremental.snapshot.chunk.size`.
pub(crate) const CHUNK_SIZE: ConnectorOption = ConnectorOption::new(
    "scan.incremental.snapshot.chunk.size",
    OptionType::Integer,
    "Rows per snapshot chunk: a chunk is read, merged with the binlog events of its read, and emitted at once.",
)
.default_value("8096")
.source_only();

/// Flink CDC's `scan.incremental.snapshot.chunk.key-column`.
pub(crate) const CHUNK_KEY_COLUMN: ConnectorOption = ConnectorOption::new(
    "scan.incremental.snapshot.chunk.key-column",
    OptionType::String,
    "The column chunks are cut by (default: the first primary-key column); required for a table without a primary key.",
)
.source_only();

/// Flink CDC's `scan.snapshot.fetch.size`.
pub(crate) const FETCH_SIZE: ConnectorOption = ConnectorOption::new(
    "scan.snapshot.fetch.size",
    OptionType::Integer,
    "Accepted for Flink CDC compatibility: a chunk's rows stream from the server as it sends them, so no fetch size applies.",
)
.default_value("1024")
.source_only();

/// Flink CDC's `connect.timeout`.
pub(crate) const CONNECT_TIMEOUT: ConnectorOption = ConnectorOption::new(
    "connect.timeout",
    OptionType::Duration,
    "How long to wait for a connection to the server.",
)
.default_value("30 s")
.source_only();

/// Flink CDC's `connect.max-retries`.
pub(crate) const CONNECT_MAX_RETRIES: ConnectorOption = ConnectorOption::new(
    "connect.max-retries",
    OptionType::Integer,
    "How often a failed connection is retried (with backoff) before the subtask fails.",
)
.default_value("3")
.source_only();

/// Flink CDC's `connection.pool.size`.
pub(crate) const CONNECTION_POOL_SIZE: ConnectorOption = ConnectorOption::new(
    "connection.pool.size",
    OptionType::Integer,
    "Connections a subtask keeps for queries at most.",
)
.default_value("20")
.source_only();

/// Flink CDC's `heartbeat.interval`.
pub(crate) const HEARTBEAT_INTERVAL: ConnectorOption = ConnectorOption::new(
    "heartbeat.interval",
    OptionType::Duration,
    "How often an idle server sends a heartbeat on the binlog connection: it keeps the position and the lag metric current. '0 s' turns heartbeats off.",
)
.default_value("30 s")
.source_only();

/// Flink CDC's `scan.newly-added-table.enabled`.
pub(crate) const NEWLY_ADDED_TABLES: ConnectorOption = ConnectorOption::new(
    "scan.newly-added-table.enabled",
    OptionType::Boolean,
    "Tables the patterns match but the source has not captured (a job restored after 'table-name' grew, or a table created later) are snapshotted, then their changes read from the binlog too.",
)
.default_value("false")
.source_only();

/// Flink CDC's `jdbc.properties.*`.
pub(crate) const JDBC_PROPERTIES: ConnectorOption = ConnectorOption::new(
    "jdbc.properties.*",
    OptionType::String,
    "MySQL Connector/J properties: 'jdbc.properties.sessionVariables' ('a=1,b=2') sets session variables; properties asking for TLS are refused; the others ('useSSL' = 'false', 'characterEncoding', 'serverTimezone') change nothing (sessions are UTF-8 and UTC).",
)
.source_only();

/// Every option of the connector.
pub(crate) const OPTIONS: &[ConnectorOption] = &[
    HOSTNAME,
    PORT,
    USERNAME,
    PASSWORD,
    DATABASE_NAME,
    TABLE_NAME,
    SERVER_ID,
    SERVER_TIME_ZONE,
    STARTUP_MODE,
    SPECIFIC_FILE,
    SPECIFIC_POS,
    SPECIFIC_GTID_SET,
    STARTUP_TIMESTAMP,
    INCREMENTAL_SNAPSHOT,
    CHUNK_SIZE,
    CHUNK_KEY_COLUMN,
    FETCH_SIZE,
    CONNECT_TIMEOUT,
    CONNECT_MAX_RETRIES,
    CONNECTION_POOL_SIZE,
    HEARTBEAT_INTERVAL,
    NEWLY_ADDED_TABLES,
    JDBC_PROPERTIES,
];

/// Where a source starts reading.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Startup {
    /// Snapshot, then the binlog from the snapshot's marks.
    Initial,
    /// Snapshot only: the source is bounded.
    Snapshot,
    /// The binlog from its current end.
    Latest,
    /// The binlog from the oldest file the server keeps.
    Earliest,
    /// The binlog after these GTIDs, or from this position.
    Specific {
        /// Where in which file.
        position: Option<BinlogPosition>,
        /// The GTIDs already read.
        gtids: Option<GtidSet>,
    },
    /// The binlog from the first transaction committed at or after this
    /// time (milliseconds since the epoch).
    Timestamp(i64),
}

impl Startup {
    /// Whether the binlog is read (all modes but `snapshot`).
    pub(crate) fn reads_binlog(&self) -> bool {
        !matches!(self, Startup::Snapshot)
    }
}

/// The replica server ids of a source's reader subtasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServerIds {
    /// The first id.
    pub first: u32,
    /// How many ids the range holds.
    pub count: u32,
}

impl ServerIds {
    /// The id of reader subtask `subtask`.
    pub(crate) fn of_subtask(self, subtask: u32) -> Option<u32> {
        (subtask < self.count).then(|| self.first + subtask)
    }

    /// `5400` or `5400-5404`.
    fn parse(text: &str) -> Option<ServerIds> {
        let (first, last) = match text.split_once('-') {
            Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let id = text.trim().parse().ok()?;
                (id, id)
            }
        };
        if first < 1 || last < first {
            return None;
        }
        Some(ServerIds {
            first,
            count: last - first + 1,
        })
    }
}

/// A table's `mysql-cdc` options, read and checked.
#[derive(Debug, Clone)]
pub(crate) struct CdcOptions {
    /// The server's host.
    pub hostname: String,
    /// The server's port.
    pub port: u16,
    /// The login.
    pub username: String,
    /// Its password.
    pub password: String,
    /// Whole database names to capture.
    pub databases: Regex,
    /// Whole table names (or `database.table` names) to capture.
    pub tables: Regex,
    /// Whether `tables` matches qualified names.
    pub tables_qualified: bool,
    /// The reader subtasks' replica ids; `None` for the default range.
    pub server_ids: Option<ServerIds>,
    /// Where reading starts.
    pub startup: Startup,
    /// Chunked (parallel) snapshot, or one chunk per table.
    pub incremental: bool,
    /// Rows per chunk.
    pub chunk_size: u64,
    /// The column chunks are cut by, if not the first key column.
    pub chunk_key_column: Option<String>,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Connection retries.
    pub connect_max_retries: u32,
    /// Query connections a subtask keeps at most.
    pub pool_size: usize,
    /// Heartbeat period of binlog connections, if any.
    pub heartbeat: Option<Duration>,
    /// Whether tables the patterns match later are snapshotted and added.
    pub newly_added_tables: bool,
    /// Session variables set on every connection.
    pub session_variables: BTreeMap<String, String>,
}

impl CdcOptions {
    /// Reads and checks `table`'s options (already validated by type).
    pub(crate) fn of_table(table: &TableDescriptor) -> Result<CdcOptions, ConnectorError> {
        let options = TableOptions::new(table);
        let port = options.integer(&PORT)?.unwrap_or(3306);
        let port = u16::try_from(port)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| options.invalid(PORT.key, &port.to_string(), "must be 1..65535"))?;
        let pattern = |option: &ConnectorOption| -> Result<Regex, ConnectorError> {
            let text = options.require_string(option)?;
            Regex::new(&format!("^(?:{text})$")).map_err(|e| {
                options.invalid(
                    option.key,
                    text,
                    &format!("must be a regular expression ({e})"),
                )
            })
        };
        let table_pattern = options.require_string(&TABLE_NAME)?;
        let server_ids = match options.string(&SERVER_ID) {
            None => None,
            Some(text) => Some(ServerIds::parse(text).ok_or_else(|| {
                options.invalid(
                    SERVER_ID.key,
                    text,
                    "must be a positive id or a range 'first-last' of them",
                )
            })?),
        };
        if let Some(zone) = options.string(&SERVER_TIME_ZONE)
            && !is_time_zone(zone)
        {
            return Err(options.invalid(
                SERVER_TIME_ZONE.key,
                zone,
                "must be a zone id such as 'UTC', 'Asia/Shanghai' or '+08:00'",
            ));
        }
        let positive = |option: &ConnectorOption| -> Result<u64, ConnectorError> {
            let value = options.integer(option)?.unwrap_or(0);
            u64::try_from(value)
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| options.invalid(option.key, &value.to_string(), "must be positive"))
        };
        let heartbeat = options
            .duration(&HEARTBEAT_INTERVAL)?
            .filter(|d| !d.is_zero());
        Ok(CdcOptions {
            hostname: options.require_string(&HOSTNAME)?.to_string(),
            port,
            username: options.require_string(&USERNAME)?.to_string(),
            password: options.require_string(&PASSWORD)?.to_string(),
            databases: pattern(&DATABASE_NAME)?,
            tables: pattern(&TABLE_NAME)?,
            tables_qualified: table_pattern.contains("\\."),
            server_ids,
            startup: startup(&options)?,
            incremental: options.boolean(&INCREMENTAL_SNAPSHOT)?,
            chunk_size: positive(&CHUNK_SIZE)?,
            chunk_key_column: options.string(&CHUNK_KEY_COLUMN).map(str::to_string),
            connect_timeout: options
                .duration(&CONNECT_TIMEOUT)?
                .unwrap_or(Duration::from_secs(30)),
            connect_max_retries: options
                .integer(&CONNECT_MAX_RETRIES)?
                .unwrap_or(3)
                .clamp(0, 100) as u32,
            pool_size: positive(&CONNECTION_POOL_SIZE)? as usize,
            heartbeat,
            newly_added_tables: options.boolean(&NEWLY_ADDED_TABLES)?,
            session_variables: session_variables(&options)?,
        })
    }

    /// Whether `database.table` is captured.
    pub(crate) fn captures(&self, database: &str, table: &str) -> bool {
        self.databases.is_match(database)
            && if self.tables_qualified {
                self.tables.is_match(&format!("{database}.{table}"))
            } else {
                self.tables.is_match(table)
            }
    }

    /// The replica ids of a source of `parallelism` reader subtasks: the
    /// configured range, which must hold one per subtask, or by default a
    /// range from 5400 up that depends on the table's name (so two sources
    /// of one job rarely collide).
    pub(crate) fn server_ids(
        &self,
        table: &TableDescriptor,
        parallelism: u32,
    ) -> Result<ServerIds, ConnectorError> {
        match self.server_ids {
            Some(ids) if ids.count >= parallelism => Ok(ids),
            Some(ids) => Err(TableOptions::new(table).invalid(
                SERVER_ID.key,
                &format!("{}-{}", ids.first, ids.first + ids.count - 1),
                &format!(
                    "must hold one id per reader subtask: the source runs {parallelism} (give a range such as '5400-{}')",
                    5400 + parallelism - 1
                ),
            )),
            None => {
                let spread = table.name.bytes().fold(0u32, |h, b| {
                    h.wrapping_mul(31).wrapping_add(u32::from(b))
                }) % 1000;
                Ok(ServerIds {
                    first: 5400 + spread,
                    count: parallelism.max(1),
                })
            }
        }
    }
}

fn startup(options: &TableOptions<'_>) -> Result<Startup, ConnectorError> {
    let mode = options.choice(&STARTUP_MODE)?.unwrap_or("initial");
    Ok(match mode {
        "initial" => Startup::Initial,
        "snapshot" => Startup::Snapshot,
        "latest-offset" => Startup::Latest,
        "earliest-offset" => Startup::Earliest,
        "specific-offset" => {
            let gtids = match options.string(&SPECIFIC_GTID_SET) {
                None => None,
                Some(text) => match GtidSet::parse(text) {
                    Some(set @ GtidSet::MariaDb(_)) => Some(set),
                    _ => {
                        return Err(options.invalid(
                            SPECIFIC_GTID_SET.key,
                            text,
                            "must be MariaDB GTIDs 'domain-server-sequence', comma-separated (on MySQL, start from 'scan.startup.specific-offset.file' and '.pos')",
                        ));
                    }
                },
            };
            let file = options.string(&SPECIFIC_FILE);
            let pos = options.integer(&SPECIFIC_POS)?;
            let position = match (file, pos) {
                (Some(file), Some(pos)) if pos >= 4 => Some(BinlogPosition::new(file, pos as u64)),
                (Some(_), Some(pos)) => {
                    return Err(options.invalid(
                        SPECIFIC_POS.key,
                        &pos.to_string(),
                        "must be 4 or more",
                    ));
                }
                (Some(file), None) => Some(BinlogPosition::new(file, 4)),
                (None, _) => None,
            };
            if position.is_none() && gtids.is_none() {
                return Err(options.invalid(
                    STARTUP_MODE.key,
                    mode,
                    &format!(
                        "needs '{}' (and '{}') or '{}'",
                        SPECIFIC_FILE.key, SPECIFIC_POS.key, SPECIFIC_GTID_SET.key
                    ),
                ));
            }
            Startup::Specific { position, gtids }
        }
        _ => {
            let millis = options.integer(&STARTUP_TIMESTAMP)?.ok_or_else(|| {
                options.invalid(
                    STARTUP_MODE.key,
                    mode,
                    &format!("needs '{}'", STARTUP_TIMESTAMP.key),
                )
            })?;
            Startup::Timestamp(millis)
        }
    })
}

/// The session variables of `jdbc.properties.sessionVariables`
/// (`a=1,b=2`, as MySQL Connector/J takes them). The other
/// `jdbc.properties.*` are Connector/J's driver settings: those asking for
/// TLS are refused (rtdw connects without it), the rest (`useSSL=false`,
/// `characterEncoding`, `serverTimezone`: rtdw's sessions are UTF-8 and UTC)
/// change nothing and are logged.
fn session_variables(
    options: &TableOptions<'_>,
) -> Result<BTreeMap<String, String>, ConnectorError> {
    let mut variables = BTreeMap::new();
    for (key, value) in &options.table().options {
        let Some(name) = key.strip_prefix("jdbc.properties.") else {
            continue;
        };
        if name == "sessionVariables" {
            for pair in value.split(',').filter(|p| !p.trim().is_empty()) {
                let (name, value) = pair.split_once('=').ok_or_else(|| {
                    options.invalid(key, value, "must be 'name=value' pairs separated by ','")
                })?;
                let name = name.trim();
                if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(options.invalid(
                        key,
                        value,
                        "names session variables: letters, digits and '_' only",
                    ));
                }
                variables.insert(name.to_string(), value.trim().to_string());
            }
        } else if asks_for_tls(name, value) {
            return Err(options.invalid(
                key,
                value,
                "asks for TLS, which rtdw's mysql-cdc connections do not use: reach the server over a trusted network, or leave it out",
            ));
        } else {
            tracing::debug!(table = %options.table().name, property = %name, "a Connector/J property without effect in rtdw");
        }
    }
    Ok(variables)
}

/// Whether a Connector/J property requires an encrypted connection.
fn asks_for_tls(name: &str, value: &str) -> bool {
    let value = value.trim();
    match name {
        "useSSL" | "requireSSL" | "verifyServerCertificate" => value.eq_ignore_ascii_case("true"),
        "sslMode" | "sslmode" => !matches!(
            value.to_ascii_uppercase().as_str(),
            "DISABLED" | "PREFERRED"
        ),
        _ => false,
    }
}

/// A zone id as Java's `ZoneId.of` takes the common ones: a region
/// (`Area/City`), `UTC`/`GMT`/`Z`, or an offset (`+08:00`, `UTC+8`).
fn is_time_zone(zone: &str) -> bool {
    let offset = |s: &str| {
        let s = s.strip_prefix(['+', '-']).unwrap_or("");
        !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == ':')
    };
    let region = |s: &str| {
        s.split('/').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
        })
    };
    matches!(zone, "UTC" | "GMT" | "Z" | "SYSTEM")
        || offset(zone)
        || ["UTC", "GMT"]
            .iter()
            .any(|p| zone.strip_prefix(p).is_some_and(offset))
        || (zone.contains('/') && region(zone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_id_ranges_and_zones_are_read_as_flink_cdc_writes_them() {
        assert_eq!(
            ServerIds::parse("5400-5404"),
            Some(ServerIds {
                first: 5400,
                count: 5
            })
        );
        assert_eq!(
            ServerIds::parse("7"),
            Some(ServerIds { first: 7, count: 1 })
        );
        assert_eq!(ServerIds::parse("5404-5400"), None);
        assert_eq!(ServerIds::parse("zero"), None);
        for zone in [
            "UTC",
            "Asia/Shanghai",
            "+08:00",
            "UTC+8",
            "America/Argentina/Buenos_Aires",
        ] {
            assert!(is_time_zone(zone), "{zone}");
        }
        for zone in ["Shanghai time", "", "+", "Asia//x"] {
            assert!(!is_time_zone(zone), "{zone}");
        }
        assert!(asks_for_tls("useSSL", "TRUE"));
        assert!(asks_for_tls("sslMode", "VERIFY_IDENTITY"));
        assert!(!asks_for_tls("useSSL", "false"));
        assert!(!asks_for_tls("sslMode", "DISABLED"));
        assert!(!asks_for_tls("characterEncoding", "UTF-8"));
    }
}
