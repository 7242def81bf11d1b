//! The `jdbc` connector's options, as Flink's JDBC connector names them,
//! and their typed reading ([`JdbcOptions`], [`SinkSettings`],
//! [`ScanPartitioning`], [`LookupSettings`]).

use std::time::Duration;

use rtdw_connector_core::options::{ConnectorOption, OptionType, TableOptions};
use rtdw_connector_core::{ConnectorError, TableDescriptor};

use crate::url::JdbcUrl;

/// Flink's `url`.
pub(crate) const URL: ConnectorOption = ConnectorOption::new(
    "url",
    OptionType::String,
    "The JDBC database URL: 'jdbc:mysql://host:port/database', 'jdbc:mariadb://...' or 'jdbc:postgresql://host:port/database' (user and password may also come as '?user=...&password=...').",
)
.required();

/// Flink's `table-name`.
pub(crate) const TABLE_NAME: ConnectorOption = ConnectorOption::new(
    "table-name",
    OptionType::String,
    "The table in the database ('orders', or 'schema.orders' in PostgreSQL).",
)
.required();

/// Flink's `driver`: rtdw speaks the protocols natively.
pub(crate) const DRIVER: ConnectorOption = ConnectorOption::new(
    "driver",
    OptionType::String,
    "The JDBC driver class. rtdw speaks the MySQL and PostgreSQL protocols itself and derives the dialect from the URL; the option is accepted for Flink compatibility.",
);

/// Flink's `username`.
pub(crate) const USERNAME: ConnectorOption = ConnectorOption::new(
    "username",
    OptionType::String,
    "The user to connect as; set together with 'password'.",
);

/// Flink's `password`.
pub(crate) const PASSWORD: ConnectorOption =
    ConnectorOption::new("password", OptionType::String, "The user's password.");

/// Flink's `connection.max-retry-timeout`.
pub(crate) const CONNECTION_MAX_RETRY_TIMEOUT: ConnectorOption = ConnectorOption::new(
    "connection.max-retry-timeout",
    OptionType::Duration,
    "How long connecting is retried before the task fails.",
)
.default_value("60 s");

/// Flink's `scan.partition.column`.
pub(crate) const SCAN_PARTITION_COLUMN: ConnectorOption = ConnectorOption::new(
    "scan.partition.column",
    OptionType::String,
    "A numeric, date or timestamp column to split the scan on; with 'scan.partition.num', '.lower-bound' and '.upper-bound' the scan reads that many ranges in parallel.",
)
.source_only();

/// Flink's `scan.partition.num`.
pub(crate) const SCAN_PARTITION_NUM: ConnectorOption = ConnectorOption::new(
    "scan.partition.num",
    OptionType::Integer,
    "The number of ranges the scan is split into.",
)
.source_only();

/// Flink's `scan.partition.lower-bound`.
pub(crate) const SCAN_PARTITION_LOWER_BOUND: ConnectorOption = ConnectorOption::new(
    "scan.partition.lower-bound",
    OptionType::Integer,
    "The smallest value the scan reads: rows below it are not read, as in Flink.",
)
.source_only();

/// Flink's `scan.partition.upper-bound`.
pub(crate) const SCAN_PARTITION_UPPER_BOUND: ConnectorOption = ConnectorOption::new(
    "scan.partition.upper-bound",
    OptionType::Integer,
    "The largest value the scan reads: rows above it are not read, as in Flink.",
)
.source_only();

/// Flink's `scan.fetch-size`.
pub(crate) const SCAN_FETCH_SIZE: ConnectorOption = ConnectorOption::new(
    "scan.fetch-size",
    OptionType::Integer,
    "Rows fetched per round trip while scanning; '0' lets rtdw choose (a batch's worth).",
)
.default_value("0")
.source_only();

/// Flink's `scan.auto-commit`.
pub(crate) const SCAN_AUTO_COMMIT: ConnectorOption = ConnectorOption::new(
    "scan.auto-commit",
    OptionType::Boolean,
    "Accepted for Flink compatibility: rtdw reads each range in one statement.",
)
.default_value("true")
.source_only();

/// Flink's `lookup.cache`.
pub(crate) const LOOKUP_CACHE: ConnectorOption = ConnectorOption::new(
    "lookup.cache",
    OptionType::Enum(&["NONE", "PARTIAL"]),
    "'NONE' queries the database for every key; 'PARTIAL' keeps the rows of looked-up keys in each subtask's cache, as the 'lookup.partial-cache.*' options say.",
)
.default_value("NONE")
.lookup_only();

/// Flink's `lookup.partial-cache.max-rows`.
pub(crate) const LOOKUP_CACHE_MAX_ROWS: ConnectorOption = ConnectorOption::new(
    "lookup.partial-cache.max-rows",
    OptionType::Integer,
    "Keys a subtask's cache holds at most; the least recently used leave first. Required with 'lookup.cache' = 'PARTIAL'.",
)
.lookup_only();

/// Flink's `lookup.partial-cache.expire-after-write`.
pub(crate) const LOOKUP_CACHE_EXPIRE_AFTER_WRITE: ConnectorOption = ConnectorOption::new(
    "lookup.partial-cache.expire-after-write",
    OptionType::Duration,
    "How long a cached key stays after it was read from the database.",
)
.lookup_only();

/// Flink's `lookup.partial-cache.expire-after-access`.
pub(crate) const LOOKUP_CACHE_EXPIRE_AFTER_ACCESS: ConnectorOption = ConnectorOption::new(
    "lookup.partial-cache.expire-after-access",
    OptionType::Duration,
    "How long a cached key stays after it was last looked up.",
)
.lookup_only();

/// Flink's `lookup.partial-cache.cache-missing-key`.
pub(crate) const LOOKUP_CACHE_MISSING_KEY: ConnectorOption = ConnectorOption::new(
    "lookup.partial-cache.cache-missing-key",
    OptionType::Boolean,
    "Whether a key the table does not hold is cached as missing too.",
)
.default_value("true")
.lookup_only();

/// Flink's `lookup.max-retries`.
pub(crate) const LOOKUP_MAX_RETRIES: ConnectorOption = ConnectorOption::new(
    "lookup.max-retries",
    OptionType::Integer,
    "How often a failed lookup query is retried (on a new connection) before the task fails.",
)
.default_value("3")
.lookup_only();

/// Flink's `sink.buffer-flush.max-rows`.
pub(crate) const SINK_BUFFER_MAX_ROWS: ConnectorOption = ConnectorOption::new(
    "sink.buffer-flush.max-rows",
    OptionType::Integer,
    "Changes the sink holds before it writes them; '0' writes only on the interval and at checkpoints.",
)
.default_value("100")
.sink_only();

/// Flink's `sink.buffer-flush.interval`.
pub(crate) const SINK_BUFFER_INTERVAL: ConnectorOption = ConnectorOption::new(
    "sink.buffer-flush.interval",
    OptionType::Duration,
    "How long the sink holds a change at most; '0 s' writes only when 'sink.buffer-flush.max-rows' is reached and at checkpoints. Every checkpoint barrier writes what is held.",
)
.default_value("1 s")
.sink_only();

/// Flink's `sink.max-retries`.
pub(crate) const SINK_MAX_RETRIES: ConnectorOption = ConnectorOption::new(
    "sink.max-retries",
    OptionType::Integer,
    "How often a failed write is retried (on a new connection, in a new transaction) before the task fails.",
)
.default_value("3")
.sink_only();

/// Every option of the `jdbc` connector.
pub(crate) const OPTIONS: &[ConnectorOption] = &[
    URL,
    TABLE_NAME,
    DRIVER,
    USERNAME,
    PASSWORD,
    CONNECTION_MAX_RETRY_TIMEOUT,
    SCAN_PARTITION_COLUMN,
    SCAN_PARTITION_NUM,
    SCAN_PARTITION_LOWER_BOUND,
    SCAN_PARTITION_UPPER_BOUND,
    SCAN_FETCH_SIZE,
    SCAN_AUTO_COMMIT,
    LOOKUP_CACHE,
    LOOKUP_CACHE_MAX_ROWS,
    LOOKUP_CACHE_EXPIRE_AFTER_WRITE,
    LOOKUP_CACHE_EXPIRE_AFTER_ACCESS,
    LOOKUP_CACHE_MISSING_KEY,
    LOOKUP_MAX_RETRIES,
    SINK_BUFFER_MAX_ROWS,
    SINK_BUFFER_INTERVAL,
    SINK_MAX_RETRIES,
];

/// What every role needs: where the table is and how to connect.
#[derive(Debug, Clone)]
pub(crate) struct JdbcOptions {
    /// The rtdw table, for messages.
    pub table: String,
    /// The parsed `url`, with the user and password of the options.
    pub url: JdbcUrl,
    /// `table-name`, as the database knows it.
    pub table_name: TableName,
    /// `connection.max-retry-timeout`.
    pub retry_timeout: Duration,
}

impl JdbcOptions {
    /// Reads and checks the options every role shares.
    pub fn of_table(table: &TableDescriptor) -> Result<Self, ConnectorError> {
        let options = TableOptions::new(table);
        let url_text = options.require_string(&URL)?;
        let mut url = JdbcUrl::parse(url_text)
            .map_err(|expected| options.invalid(URL.key, url_text, &expected))?;
        match (options.string(&USERNAME), options.string(&PASSWORD)) {
            (Some(user), password) => {
                url.user = Some(user.to_string());
                url.password = password.map(str::to_string);
            }
            (None, Some(_)) => {
                return Err(options.invalid(
                    PASSWORD.key,
                    "***",
                    "is set without 'username'; set both",
                ));
            }
            (None, None) => {}
        }
        let name_text = options.require_string(&TABLE_NAME)?;
        let table_name = TableName::parse(name_text).ok_or_else(|| {
            options.invalid(
                TABLE_NAME.key,
                name_text,
                "must be a table name, or 'schema.table'",
            )
        })?;
        Ok(JdbcOptions {
            table: table.name.clone(),
            url,
            table_name,
            retry_timeout: options
                .duration(&CONNECTION_MAX_RETRY_TIMEOUT)?
                .unwrap_or(Duration::from_secs(60)),
        })
    }
}

/// A table's name in the database: its schema (MySQL: database) if given,
/// and its own name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableName {
    /// `schema` of `schema.table`.
    pub schema: Option<String>,
    /// The table.
    pub name: String,
}

impl TableName {
    /// `table` or `schema.table`; `None` when empty or more dotted.
    fn parse(text: &str) -> Option<TableName> {
        let parts: Vec<&str> = text.trim().split('.').collect();
        match parts[..] {
            [name] if !name.is_empty() => Some(TableName {
                schema: None,
                name: name.to_string(),
            }),
            [schema, name] if !schema.is_empty() && !name.is_empty() => Some(TableName {
                schema: Some(schema.to_string()),
                name: name.to_string(),
            }),
            _ => None,
        }
    }
}

/// How a sink buffers and retries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SinkSettings {
    /// `sink.buffer-flush.max-rows` (0: no limit).
    pub max_rows: usize,
    /// `sink.buffer-flush.interval` (`None`: no timer).
    pub interval: Option<Duration>,
    /// `sink.max-retries`.
    pub max_retries: u32,
}

impl SinkSettings {
    /// Reads and checks the sink options.
    pub fn of_table(table: &TableDescriptor) -> Result<Self, ConnectorError> {
        let options = TableOptions::new(table);
        let max_rows = non_negative(&options, &SINK_BUFFER_MAX_ROWS)?;
        let interval = options
            .duration(&SINK_BUFFER_INTERVAL)?
            .filter(|d| !d.is_zero());
        Ok(SinkSettings {
            max_rows: usize::try_from(max_rows).unwrap_or(usize::MAX),
            interval,
            max_retries: u32::try_from(non_negative(&options, &SINK_MAX_RETRIES)?)
                .unwrap_or(u32::MAX),
        })
    }
}

/// A scan split into ranges of a column (`scan.partition.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanPartitioning {
    /// The column.
    pub column: String,
    /// How many ranges.
    pub num: u32,
    /// The first range's lower bound.
    pub lower: i64,
    /// The last range's upper bound.
    pub upper: i64,
}

impl ScanPartitioning {
    /// The partitioning of a scan, `None` when the table sets none; all
    /// four options or none, as Flink requires.
    pub fn of_table(table: &TableDescriptor) -> Result<Option<Self>, ConnectorError> {
        let options = TableOptions::new(table);
        let column = options.string(&SCAN_PARTITION_COLUMN);
        let num = options.integer(&SCAN_PARTITION_NUM)?;
        let lower = options.integer(&SCAN_PARTITION_LOWER_BOUND)?;
        let upper = options.integer(&SCAN_PARTITION_UPPER_BOUND)?;
        let (Some(column), Some(num), Some(lower), Some(upper)) = (column, num, lower, upper)
        else {
            if column.is_some() || num.is_some() || lower.is_some() || upper.is_some() {
                return Err(options.invalid(
                    SCAN_PARTITION_COLUMN.key,
                    column.unwrap_or(""),
                    "must be set together with 'scan.partition.num', 'scan.partition.lower-bound' and 'scan.partition.upper-bound'",
                ));
            }
            return Ok(None);
        };
        if !table.schema.fields().iter().any(|f| f.name() == column) {
            return Err(options.invalid(
                SCAN_PARTITION_COLUMN.key,
                column,
                "must name a column of the table",
            ));
        }
        let num = u32::try_from(num).ok().filter(|n| *n > 0).ok_or_else(|| {
            options.invalid(
                SCAN_PARTITION_NUM.key,
                &num.to_string(),
                "must be a positive number",
            )
        })?;
        if lower > upper {
            return Err(options.invalid(
                SCAN_PARTITION_LOWER_BOUND.key,
                &lower.to_string(),
                &format!("must not exceed 'scan.partition.upper-bound' ({upper})"),
            ));
        }
        Ok(Some(ScanPartitioning {
            column: column.to_string(),
            num,
            lower,
            upper,
        }))
    }

    /// The ranges, as Flink's `JdbcNumericBetweenParametersProvider` cuts
    /// them: `num` consecutive inclusive ranges covering lower..=upper, the
    /// first ones one larger when the span does not divide evenly. Fewer
    /// when the span holds fewer values than `num`.
    pub fn ranges(&self) -> Vec<(i64, i64)> {
        let span = i128::from(self.upper) - i128::from(self.lower) + 1;
        let num = i128::from(self.num).min(span);
        let size = span / num;
        let bigger = span % num;
        let mut ranges = Vec::new();
        let mut start = i128::from(self.lower);
        for index in 0..num {
            let length = size + i128::from(index < bigger);
            let end = start + length - 1;
            // Both ends lie within lower..=upper, so they fit an i64.
            ranges.push((start as i64, end as i64));
            start = end + 1;
        }
        ranges
    }
}

/// How lookups query and cache.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LookupSettings {
    /// The partial cache, `None` with `lookup.cache` = `NONE`.
    pub cache: Option<CacheSettings>,
    /// `lookup.max-retries`.
    pub max_retries: u32,
}

/// `lookup.partial-cache.*`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheSettings {
    /// Keys held at most.
    pub max_rows: usize,
    /// Dropped this long after it was read.
    pub expire_after_write: Option<Duration>,
    /// Dropped this long after it was last looked up.
    pub expire_after_access: Option<Duration>,
    /// Whether missing keys are cached too.
    pub cache_missing_key: bool,
}

impl LookupSettings {
    /// Reads and checks the lookup options.
    pub fn of_table(table: &TableDescriptor) -> Result<Self, ConnectorError> {
        let options = TableOptions::new(table);
        let max_retries =
            u32::try_from(non_negative(&options, &LOOKUP_MAX_RETRIES)?).unwrap_or(u32::MAX);
        let cache = match options.choice(&LOOKUP_CACHE)? {
            Some("PARTIAL") => {
                let max_rows = options.integer(&LOOKUP_CACHE_MAX_ROWS)?.ok_or_else(|| {
                    options.invalid(
                        LOOKUP_CACHE_MAX_ROWS.key,
                        "",
                        "is required with 'lookup.cache' = 'PARTIAL'",
                    )
                })?;
                let max_rows = usize::try_from(max_rows)
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        options.invalid(
                            LOOKUP_CACHE_MAX_ROWS.key,
                            &max_rows.to_string(),
                            "must be a positive number",
                        )
                    })?;
                Some(CacheSettings {
                    max_rows,
                    expire_after_write: options.duration(&LOOKUP_CACHE_EXPIRE_AFTER_WRITE)?,
                    expire_after_access: options.duration(&LOOKUP_CACHE_EXPIRE_AFTER_ACCESS)?,
                    cache_missing_key: options.boolean(&LOOKUP_CACHE_MISSING_KEY)?,
                })
            }
            _ => None,
        };
        Ok(LookupSettings { cache, max_retries })
    }
}

/// An integer option that must not be negative.
fn non_negative(
    options: &TableOptions<'_>,
    option: &ConnectorOption,
) -> Result<u64, ConnectorError> {
    let value = options.integer(option)?.unwrap_or(0);
    u64::try_from(value)
        .map_err(|_| options.invalid(option.key, &value.to_string(), "must not be negative"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_bounds_without_gaps_as_flink_cuts_them() {
        let partitioning = |lower, upper, num| ScanPartitioning {
            column: "id".into(),
            num,
            lower,
            upper,
        };
        assert_eq!(partitioning(1, 10, 3).ranges(), [(1, 4), (5, 7), (8, 10)]);
        assert_eq!(partitioning(0, 1, 4).ranges(), [(0, 0), (1, 1)]);
        assert_eq!(partitioning(5, 5, 1).ranges(), [(5, 5)]);
        let wide = partitioning(i64::MIN, i64::MAX, 2).ranges();
        assert_eq!(wide, [(i64::MIN, -1), (0, i64::MAX)]);
    }

    #[test]
    fn table_names_take_an_optional_schema() {
        assert_eq!(
            TableName::parse("public.orders"),
            Some(TableName {
                schema: Some("public".into()),
                name: "orders".into()
            })
        );
        assert_eq!(TableName::parse("orders").map(|t| t.schema), Some(None));
        assert_eq!(TableName::parse("a.b.c"), None);
        assert_eq!(TableName::parse(""), None);
    }
}
