//! SQL errors: what went wrong and where in the script.

use std::fmt;

/// A position in the SQL script (1-based; 0 when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// Line number, from 1.
    pub line: u64,
    /// Column number, from 1.
    pub column: u64,
}

impl From<datafusion::sql::sqlparser::tokenizer::Location> for Location {
    fn from(l: datafusion::sql::sqlparser::tokenizer::Location) -> Self {
        Location {
            line: l.line,
            column: l.column,
        }
    }
}

/// An error a user caused in a SQL script, with the place it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    /// What is wrong and what was expected.
    pub message: String,
    /// Where; `None` when the problem is the script as a whole.
    pub location: Option<Location>,
    /// The statement it is in, e.g. `statement 3 (INSERT INTO totals)`.
    pub statement: Option<String>,
}

impl SqlError {
    /// An error at a place in the script.
    pub fn at(location: Location, message: impl Into<String>) -> Self {
        SqlError {
            message: message.into(),
            location: Some(location).filter(|l| l.line > 0),
            statement: None,
        }
    }

    /// An error about the script as a whole.
    pub fn script(message: impl Into<String>) -> Self {
        SqlError {
            message: message.into(),
            location: None,
            statement: None,
        }
    }

    /// The same error, naming the statement it is in (unless it already
    /// names one).
    pub fn in_statement(mut self, statement: impl FnOnce() -> String) -> Self {
        if self.statement.is_none() {
            self.statement = Some(statement());
        }
        self
    }

    /// Turns a sqlparser error, whose text ends in "at Line: L, Column: C",
    /// into one with a location.
    pub fn from_parser(error: &datafusion::sql::sqlparser::parser::ParserError) -> Self {
        let text = match error {
            datafusion::sql::sqlparser::parser::ParserError::TokenizerError(t)
            | datafusion::sql::sqlparser::parser::ParserError::ParserError(t) => t.clone(),
            other => other.to_string(),
        };
        match split_location(&text) {
            Some((message, location)) => SqlError::at(location, message),
            None => SqlError::script(text),
        }
    }
}

/// Splits "message at Line: 3, Column: 7" into its parts.
fn split_location(text: &str) -> Option<(String, Location)> {
    let at = text.rfind(" at Line: ")?;
    let (message, rest) = text.split_at(at);
    let rest = rest.trim_start_matches(" at Line: ");
    let (line, column) = rest.split_once(", Column: ")?;
    let column: String = column.chars().take_while(char::is_ascii_digit).collect();
    Some((
        message.to_string(),
        Location {
            line: line.trim().parse().ok()?,
            column: column.parse().ok()?,
        },
    ))
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SQL error")?;
        if let Some(statement) = &self.statement {
            write!(f, " in {statement}")?;
        }
        if let Some(l) = self.location {
            write!(f, " at line {}, column {}", l.line, l.column)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for SqlError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_locations_are_extracted() {
        let (m, l) =
            split_location("Expected: an expression, found: FROM at Line: 3, Column: 10").unwrap();
        assert_eq!(m, "Expected: an expression, found: FROM");
        assert_eq!(
            l,
            Location {
                line: 3,
                column: 10
            }
        );
    }
}
