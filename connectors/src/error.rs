//! Errors a table's connector options can have, named as Flink names them.

/// A connector option problem, found at plan time or when a subtask starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// The table has no `connector` option.
    #[error("table '{table}' has no 'connector' option")]
    MissingConnector {
        /// The table.
        table: String,
    },
    /// No connector of that name can play that role.
    #[error(
        "could not find a {role} connector '{connector}' for table '{table}'; available connectors: {available}"
    )]
    UnknownConnector {
        /// The table.
        table: String,
        /// The connector name given.
        connector: String,
        /// "source" or "sink".
        role: String,
        /// The names that exist.
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
        "table '{table}': unsupported options for connector '{connector}': {unsupported}; supported options: {supported}"
    )]
    UnsupportedOptions {
        /// The table.
        table: String,
        /// The connector.
        connector: String,
        /// The unknown keys.
        unsupported: String,
        /// The keys the connector understands.
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
    /// Files could not be listed or opened.
    #[error("table '{table}': {message}")]
    Io {
        /// The table.
        table: String,
        /// What failed, naming the path.
        message: String,
    },
}
