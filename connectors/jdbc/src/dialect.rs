//! The SQL each dialect needs: quoting, placeholders, multi-row upserts
//! (`ON DUPLICATE KEY UPDATE` / `ON CONFLICT ... DO UPDATE`, as Flink's
//! MySQL and PostgreSQL dialects write them), deletes by key, and selects
//! whose columns come back as text.

use rtdw_connector_core::TableDescriptor;

use crate::options::{JdbcOptions, TableName};
use crate::url::Dialect;

/// Parameters one statement may carry: both protocols count them in 16
/// bits.
const MAX_PARAMETERS: usize = 65_535;

/// Rows one statement writes at most: larger statements gain little and
/// hold locks longer.
const MAX_ROWS_PER_STATEMENT: usize = 1_000;

impl Dialect {
    /// `name` as a quoted identifier.
    pub fn quote(self, name: &str) -> String {
        match self {
            Dialect::MySql => format!("`{}`", name.replace('`', "``")),
            Dialect::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// The quoted, possibly schema-qualified, table name.
    pub fn table(self, name: &TableName) -> String {
        match &name.schema {
            Some(schema) => format!("{}.{}", self.quote(schema), self.quote(&name.name)),
            None => self.quote(&name.name),
        }
    }

    /// The placeholder of the `index`-th parameter (from 0).
    fn placeholder(self, index: usize) -> String {
        match self {
            Dialect::MySql => "?".to_string(),
            Dialect::Postgres => format!("${}", index + 1),
        }
    }

    /// `(p, p, ...), (p, p, ...)`: `rows` tuples of `width` placeholders.
    fn tuples(self, rows: usize, width: usize) -> String {
        let mut text = String::new();
        for row in 0..rows {
            if row > 0 {
                text.push_str(", ");
            }
            text.push('(');
            for column in 0..width {
                if column > 0 {
                    text.push_str(", ");
                }
                text.push_str(&self.placeholder(row * width + column));
            }
            text.push(')');
        }
        text
    }
}

/// The statements of one table: its columns and key, quoted once.
#[derive(Debug, Clone)]
pub(crate) struct Statements {
    dialect: Dialect,
    table: String,
    /// Every column, quoted.
    columns: Vec<String>,
    /// Positions of the key columns in `columns`.
    key: Vec<usize>,
}

impl Statements {
    /// The statements of `table` with `columns`, keyed by the columns at
    /// `key` (empty: no key).
    pub fn new(dialect: Dialect, table: &TableName, columns: &[&str], key: Vec<usize>) -> Self {
        Statements {
            dialect,
            table: dialect.table(table),
            columns: columns.iter().map(|c| dialect.quote(c)).collect(),
            key,
        }
    }

    /// The statements of the database table `options` name, with the
    /// columns `table` declares, keyed by the columns at `key`.
    pub fn of_table(options: &JdbcOptions, table: &TableDescriptor, key: Vec<usize>) -> Self {
        let columns: Vec<&str> = table
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        Statements::new(options.url.dialect, &options.table_name, &columns, key)
    }

    /// Rows of `width` values one statement may carry.
    pub fn rows_per_statement(width: usize) -> usize {
        (MAX_PARAMETERS / width.max(1)).clamp(1, MAX_ROWS_PER_STATEMENT)
    }

    /// Inserts `rows` rows of every column; with a key, a row whose key
    /// exists replaces its other columns.
    pub fn upsert(&self, rows: usize) -> String {
        let insert = format!(
            "INSERT INTO {} ({}) VALUES {}",
            self.table,
            self.columns.join(", "),
            self.dialect.tuples(rows, self.columns.len())
        );
        if self.key.is_empty() {
            return insert;
        }
        let others: Vec<&String> = self
            .columns
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.key.contains(i))
            .map(|(_, c)| c)
            .collect();
        match self.dialect {
            Dialect::MySql => {
                // A key-only table updates its key to itself: the row stays.
                let updated = if others.is_empty() {
                    self.key.iter().map(|&k| &self.columns[k]).collect()
                } else {
                    others
                };
                let assignments: Vec<String> = updated
                    .iter()
                    .map(|c| format!("{c} = VALUES({c})"))
                    .collect();
                format!(
                    "{insert} ON DUPLICATE KEY UPDATE {}",
                    assignments.join(", ")
                )
            }
            Dialect::Postgres => {
                let key: Vec<&str> = self.key.iter().map(|&k| self.columns[k].as_str()).collect();
                if others.is_empty() {
                    return format!("{insert} ON CONFLICT ({}) DO NOTHING", key.join(", "));
                }
                let assignments: Vec<String> = others
                    .iter()
                    .map(|c| format!("{c} = EXCLUDED.{c}"))
                    .collect();
                format!(
                    "{insert} ON CONFLICT ({}) DO UPDATE SET {}",
                    key.join(", "),
                    assignments.join(", ")
                )
            }
        }
    }

    /// Deletes the rows of `rows` keys (the key columns' values, in key
    /// order, as parameters).
    pub fn delete(&self, rows: usize) -> String {
        format!(
            "DELETE FROM {} WHERE {}",
            self.table,
            self.key_filter(&self.key, rows)
        )
    }

    /// Selects every column, as text, of the rows whose `columns` (by
    /// position) equal one of `rows` tuples of parameters.
    pub fn select_where_equal(&self, columns: &[usize], rows: usize) -> String {
        format!(
            "{} WHERE {}",
            self.select_all(),
            self.key_filter(columns, rows)
        )
    }

    /// Selects every column, as text, of the rows whose `column` lies
    /// between two parameters (inclusive).
    pub fn select_between(&self, column: usize) -> String {
        format!(
            "{} WHERE {} BETWEEN {} AND {}",
            self.select_all(),
            self.columns[column],
            self.dialect.placeholder(0),
            self.dialect.placeholder(1)
        )
    }

    /// Selects every column of every row, as text.
    pub fn select_all(&self) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|c| match self.dialect {
                Dialect::MySql => c.clone(),
                Dialect::Postgres => format!("{c}::text"),
            })
            .collect();
        format!("SELECT {} FROM {}", columns.join(", "), self.table)
    }

    /// ` ORDER BY` the key's columns, or nothing without a key: scans
    /// return rows in this order, so a restore can skip the rows it read.
    pub fn order_by_key(&self) -> String {
        if self.key.is_empty() {
            return String::new();
        }
        let key: Vec<&str> = self.key.iter().map(|&k| self.columns[k].as_str()).collect();
        format!(" ORDER BY {}", key.join(", "))
    }

    /// `c IN (p, ...)`, or `(c1, c2) IN ((p, p), ...)` for several columns.
    fn key_filter(&self, columns: &[usize], rows: usize) -> String {
        let names: Vec<&str> = columns.iter().map(|&k| self.columns[k].as_str()).collect();
        if let [single] = names[..] {
            let placeholders: Vec<String> =
                (0..rows).map(|i| self.dialect.placeholder(i)).collect();
            return format!("{single} IN ({})", placeholders.join(", "));
        }
        format!(
            "({}) IN ({})",
            names.join(", "),
            self.dialect.tuples(rows, names.len())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders(dialect: Dialect, key: Vec<usize>) -> Statements {
        let table = TableName {
            schema: None,
            name: "daily gmv".into(),
        };
        Statements::new(dialect, &table, &["day", "city", "gmv"], key)
    }

    #[test]
    fn upserts_as_flinks_dialects_write_them() {
        assert_eq!(
            orders(Dialect::MySql, vec![0, 1]).upsert(2),
            "INSERT INTO `daily gmv` (`day`, `city`, `gmv`) VALUES (?, ?, ?), (?, ?, ?) ON DUPLICATE KEY UPDATE `gmv` = VALUES(`gmv`)"
        );
        assert_eq!(
            orders(Dialect::Postgres, vec![0]).upsert(1),
            "INSERT INTO \"daily gmv\" (\"day\", \"city\", \"gmv\") VALUES ($1, $2, $3) ON CONFLICT (\"day\") DO UPDATE SET \"city\" = EXCLUDED.\"city\", \"gmv\" = EXCLUDED.\"gmv\""
        );
        assert_eq!(
            orders(Dialect::MySql, vec![]).upsert(1),
            "INSERT INTO `daily gmv` (`day`, `city`, `gmv`) VALUES (?, ?, ?)"
        );
        assert!(
            orders(Dialect::Postgres, vec![0, 1, 2])
                .upsert(1)
                .ends_with("ON CONFLICT (\"day\", \"city\", \"gmv\") DO NOTHING")
        );
    }

    #[test]
    fn deletes_and_lookups_filter_by_key_tuples() {
        assert_eq!(
            orders(Dialect::Postgres, vec![0, 1]).delete(2),
            "DELETE FROM \"daily gmv\" WHERE (\"day\", \"city\") IN (($1, $2), ($3, $4))"
        );
        assert_eq!(
            orders(Dialect::MySql, vec![0]).delete(3),
            "DELETE FROM `daily gmv` WHERE `day` IN (?, ?, ?)"
        );
        assert_eq!(
            orders(Dialect::Postgres, vec![]).select_where_equal(&[1], 1),
            "SELECT \"day\"::text, \"city\"::text, \"gmv\"::text FROM \"daily gmv\" WHERE \"city\" IN ($1)"
        );
    }

    #[test]
    fn identifiers_are_quoted_against_injection() {
        assert_eq!(Dialect::MySql.quote("a`b"), "`a``b`");
        assert_eq!(Dialect::Postgres.quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(Statements::rows_per_statement(100), 655);
        assert_eq!(Statements::rows_per_statement(3), 1_000);
    }
}
