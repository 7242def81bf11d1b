//! Errors of connectors and formats: named as Flink names them, each with
//! its class (the user's to fix, or transient) and its cause kept.

use rtdw_operators::{ErrorClass, StreamError};

/// A connector problem, found at submit time or while a subtask runs.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The table has no `connector` option.
    #[error("table '{table}' has no 'connector' option")]
    MissingConnector {
        /// The table.
        table: String,
    },
    /// No connector of that name can play that role.
    #[error(
        "could not find a {role} connector '{connector}' for table '{table}'{suggestion}; available {role} connectors: {available}"
    )]
    UnknownConnector {
        /// The table.
        table: String,
        /// The connector name given.
        connector: String,
        /// "source" or "sink".
        role: &'static str,
        /// ` (did you mean 'x'?)`, or empty.
        suggestion: String,
        /// The names that exist for the role.
        available: String,
    },
    /// No format of that name exists.
    #[error(
        "table '{table}': option '{key}' names an unknown format '{format}'; available formats: {available}"
    )]
    UnknownFormat {
        /// The table.
        table: String,
        /// The option naming the format (`format`, `value.format`).
        key: String,
        /// The name given.
        format: String,
        /// The formats that exist.
        available: String,
    },
    /// A required option is missing.
    #[error("table '{table}': missing required option '{key}'")]
    MissingOption {
        /// The table.
        table: String,
        /// The option key.
        key: String,
    },
    /// An option has a value the connector does not accept.
    #[error("table '{table}': option '{key}' {expected}, got '{value}'")]
    InvalidOption {
        /// The table.
        table: String,
        /// The option key.
        key: String,
        /// The value given.
        value: String,
        /// What was expected, e.g. "must be 'sequence' or 'random'".
        expected: String,
    },
    /// Options the connector does not know.
    #[error(
        "table '{table}': unsupported {role} options for connector '{connector}': {unsupported}; supported options: {supported}"
    )]
    UnsupportedOptions {
        /// The table.
        table: String,
        /// The connector.
        connector: String,
        /// "source" or "sink".
        role: &'static str,
        /// The unknown keys, the first with the nearest supported one:
        /// `rows-per-secnd (did you mean 'rows-per-second'?)`.
        unsupported: String,
        /// The keys the connector understands, sorted.
        supported: String,
    },
    /// A column type the connector cannot produce or consume.
    #[error("table '{table}': column '{column}' of type {data_type}: {reason}")]
    UnsupportedColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// Its type.
        data_type: String,
        /// Why.
        reason: String,
    },
    /// A metadata column the connector does not offer, of another type, or
    /// not writable.
    #[error("table '{table}': metadata column '{column}': {reason}")]
    InvalidMetadata {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// What is wrong and what the connector offers.
        reason: String,
    },
    /// A catalog cannot be opened or used.
    #[error("catalog '{catalog}': {reason}")]
    Catalog {
        /// The catalog's name.
        catalog: String,
        /// What is wrong, and what to do instead.
        reason: String,
    },
    /// The table declares something its connector cannot do.
    #[error("table '{table}': {reason}")]
    Unsupported {
        /// The table.
        table: String,
        /// What, and what to do instead.
        reason: String,
    },
    /// Talking to the outside system failed: files, a broker, a database.
    #[error("table '{table}': {context}: {source}")]
    External {
        /// The table.
        table: String,
        /// What was being done, naming the path or endpoint.
        context: String,
        /// Whether retrying may help.
        class: ErrorClass,
        /// The underlying error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ConnectorError {
    /// A failure of the outside system while doing `context`.
    pub fn external(
        table: impl Into<String>,
        context: impl Into<String>,
        class: ErrorClass,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        ConnectorError::External {
            table: table.into(),
            context: context.into(),
            class,
            source: source.into(),
        }
    }

    /// Whether the user must change something (every option and schema
    /// problem) or retrying may succeed (an unreachable system).
    pub fn class(&self) -> ErrorClass {
        match self {
            ConnectorError::External { class, .. } => *class,
            _ => ErrorClass::User,
        }
    }
}

impl From<ConnectorError> for StreamError {
    fn from(error: ConnectorError) -> Self {
        StreamError::External {
            class: error.class(),
            source: Box::new(error),
        }
    }
}
