//! Reading connector options: typed, with errors that name the table and
//! key, and with unknown keys rejected (as Flink's factories do).

use std::collections::BTreeSet;
use std::str::FromStr;

use crate::error::ConnectorError;
use crate::table::TableDescriptor;

/// Reads one table's options, remembering which keys were asked for so that
/// [`Options::finish`] can reject the rest.
pub(crate) struct Options<'a> {
    table: &'a TableDescriptor,
    known: BTreeSet<String>,
}

impl<'a> Options<'a> {
    /// Starts reading the options of a source table: `connector` and the
    /// planner's `source.parallelism` are always known.
    pub fn source(table: &'a TableDescriptor) -> Self {
        Self::with_known(table, &["connector", "source.parallelism"])
    }

    /// Starts reading the options of a sink table: `connector` and the
    /// planner's `sink.parallelism` are always known.
    pub fn sink(table: &'a TableDescriptor) -> Self {
        Self::with_known(table, &["connector", "sink.parallelism"])
    }

    fn with_known(table: &'a TableDescriptor, keys: &[&str]) -> Self {
        let known = keys.iter().map(|k| k.to_string()).collect();
        Options { table, known }
    }

    /// An optional string option.
    pub fn get(&mut self, key: &str) -> Option<&'a str> {
        self.known.insert(key.to_string());
        self.table.options.get(key).map(String::as_str)
    }

    /// A required string option.
    pub fn require(&mut self, key: &str) -> Result<&'a str, ConnectorError> {
        self.get(key).ok_or_else(|| ConnectorError::MissingOption {
            table: self.table.name.clone(),
            key: key.to_string(),
        })
    }

    /// An optional option parsed as `T`; `expected` says what a valid value is.
    pub fn parse<T: FromStr>(
        &mut self,
        key: &str,
        expected: &str,
    ) -> Result<Option<T>, ConnectorError> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => value
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.invalid(key, value, expected)),
        }
    }

    /// An optional boolean option (`true` / `false`).
    pub fn flag(&mut self, key: &str, default: bool) -> Result<bool, ConnectorError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(self.invalid(key, v, "must be 'true' or 'false'")),
        }
    }

    /// An option that must be one of `choices` (compared case-insensitively).
    pub fn choice(
        &mut self,
        key: &str,
        choices: &[&'static str],
        default: &'static str,
    ) -> Result<&'static str, ConnectorError> {
        let Some(value) = self.get(key) else {
            return Ok(default);
        };
        choices
            .iter()
            .find(|c| c.eq_ignore_ascii_case(value.trim()))
            .copied()
            .ok_or_else(|| {
                let quoted: Vec<String> = choices.iter().map(|c| format!("'{c}'")).collect();
                let expected = match quoted.split_last() {
                    Some((last, rest)) if !rest.is_empty() => {
                        format!("must be {} or {last}", rest.join(", "))
                    }
                    _ => format!("must be {}", quoted.join("")),
                };
                self.invalid(key, value, &expected)
            })
    }

    /// The error for a bad value.
    pub fn invalid(&self, key: &str, value: &str, expected: &str) -> ConnectorError {
        ConnectorError::InvalidOption {
            table: self.table.name.clone(),
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    /// Fails when the table has options nobody asked for.
    pub fn finish(self) -> Result<(), ConnectorError> {
        let unsupported: Vec<&str> = self
            .table
            .options
            .keys()
            .filter(|k| !self.known.contains(*k))
            .map(String::as_str)
            .collect();
        if unsupported.is_empty() {
            return Ok(());
        }
        Err(ConnectorError::UnsupportedOptions {
            table: self.table.name.clone(),
            connector: self.table.connector().unwrap_or_default().to_string(),
            unsupported: unsupported.join(", "),
            supported: self.known.iter().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}
