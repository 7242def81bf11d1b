//! Splits a Flink SQL script into statements and parses the ones DataFusion
//! does not know (`SET 'k' = 'v'`, Flink's `CREATE TABLE ... WITH (...)`),
//! keeping the location of everything for error messages.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema};
use datafusion::sql::sqlparser::ast::{self, ObjectName};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;
use rtdw_connectors::TableDescriptor;

use crate::error::{Location, SqlError};
use crate::types::arrow_type;

/// One statement of a script.
#[derive(Debug, Clone)]
pub enum Statement {
    /// `SET 'key' = 'value'`: job configuration.
    Set {
        /// The option key.
        key: String,
        /// Its value.
        value: String,
    },
    /// `CREATE TABLE name (...) WITH (...)`.
    CreateTable(TableDescriptor),
    /// `CREATE [TEMPORARY] VIEW name AS query`.
    CreateView {
        /// The view name.
        name: String,
        /// Its query.
        query: Box<ast::Query>,
    },
    /// `INSERT INTO table query`.
    Insert {
        /// The target table.
        table: String,
        /// The query whose rows go into it.
        query: Box<ast::Query>,
    },
}

/// A statement with where it starts.
#[derive(Debug, Clone)]
pub struct Located {
    /// The statement.
    pub statement: Statement,
    /// Its first token.
    pub location: Location,
}

/// Parses a whole script.
pub fn parse_script(sql: &str) -> Result<Vec<Located>, SqlError> {
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(sql)
        .map_err(|e| SqlError::from_parser(&e))?;
    let mut statements = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        let start = parser.peek_token();
        if start.token == Token::EOF {
            break;
        }
        let location = Location::from(start.span.start);
        let statement = parse_statement(&mut parser, location)?;
        statements.push(Located {
            statement,
            location,
        });
        let next = parser.peek_token();
        if next.token != Token::EOF && next.token != Token::SemiColon {
            return Err(SqlError::at(
                next.span.start.into(),
                format!(
                    "expected ';' or the end of the script, found {}",
                    next.token
                ),
            ));
        }
    }
    Ok(statements)
}

fn word_is(parser: &Parser<'_>, n: usize, keyword: Keyword) -> bool {
    matches!(&parser.peek_nth_token_ref(n).token, Token::Word(w) if w.keyword == keyword)
}

fn parse_statement(parser: &mut Parser<'_>, location: Location) -> Result<Statement, SqlError> {
    let parse_err = |e: ParserError| SqlError::from_parser(&e);
    if word_is(parser, 0, Keyword::SET) {
        return parse_set(parser).map_err(parse_err);
    }
    let temporary = usize::from(word_is(parser, 1, Keyword::TEMPORARY));
    if word_is(parser, 0, Keyword::CREATE) && word_is(parser, 1 + temporary, Keyword::TABLE) {
        return parse_create_table(parser);
    }
    let statement = parser.parse_statement().map_err(parse_err)?;
    match statement {
        ast::Statement::Insert(insert) => {
            if !insert.columns.is_empty() {
                return Err(SqlError::at(
                    location,
                    "INSERT with a column list is not supported; select the sink's columns in order",
                ));
            }
            let table = match &insert.table {
                ast::TableObject::TableName(name) => object_name(name),
                other => {
                    return Err(SqlError::at(
                        location,
                        format!("cannot insert into {other}"),
                    ));
                }
            };
            let query = insert
                .source
                .ok_or_else(|| SqlError::at(location, "INSERT needs a SELECT query"))?;
            Ok(Statement::Insert { table, query })
        }
        ast::Statement::CreateView(view) => Ok(Statement::CreateView {
            name: object_name(&view.name),
            query: view.query,
        }),
        ast::Statement::Query(_) => Err(SqlError::at(
            location,
            "a bare SELECT has no sink; write INSERT INTO <table> SELECT ...",
        )),
        other => Err(SqlError::at(
            location,
            format!(
                "unsupported statement '{}'; expected SET, CREATE TABLE, CREATE VIEW or INSERT INTO",
                first_words(&other.to_string())
            ),
        )),
    }
}

/// The first two words of a statement, to name it in an error.
fn first_words(text: &str) -> String {
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A table or view name as written, without quotes.
pub fn object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part.as_ident() {
            Some(ident) => ident.value.clone(),
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn parse_set(parser: &mut Parser<'_>) -> Result<Statement, ParserError> {
    parser.expect_keyword_is(Keyword::SET)?;
    let key = match parser.peek_token().token {
        Token::SingleQuotedString(_) => parser.parse_literal_string()?,
        _ => {
            return parser.expected(
                "a quoted key, as in SET 'parallelism.default' = '2'",
                parser.peek_token(),
            );
        }
    };
    parser.expect_token(&Token::Eq)?;
    let value = parser.parse_literal_string()?;
    Ok(Statement::Set { key, value })
}

fn parse_create_table(parser: &mut Parser<'_>) -> Result<Statement, SqlError> {
    let parse_err = |e: ParserError| SqlError::from_parser(&e);
    parser
        .expect_keyword_is(Keyword::CREATE)
        .map_err(parse_err)?;
    let _temporary = parser.parse_keyword(Keyword::TEMPORARY);
    parser
        .expect_keyword_is(Keyword::TABLE)
        .map_err(parse_err)?;
    let _if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = object_name(&parser.parse_object_name(false).map_err(parse_err)?);
    parser.expect_token(&Token::LParen).map_err(parse_err)?;
    let mut fields = Vec::new();
    let mut primary_key = Vec::new();
    loop {
        let at: Location = parser.peek_token().span.start.into();
        if word_is(parser, 0, Keyword::CONSTRAINT) || word_is(parser, 0, Keyword::PRIMARY) {
            primary_key = parse_primary_key(parser)?;
        } else if matches!(&parser.peek_token_ref().token, Token::Word(w) if w.value.eq_ignore_ascii_case("WATERMARK"))
        {
            return Err(SqlError::at(
                at,
                "WATERMARK declarations are not supported by this version of rtdw",
            ));
        } else {
            let column = parser.parse_identifier().map_err(parse_err)?;
            if word_is(parser, 0, Keyword::AS) {
                return Err(SqlError::at(
                    at,
                    format!(
                        "computed column '{}' is not supported by this version of rtdw",
                        column.value
                    ),
                ));
            }
            let type_at: Location = parser.peek_token().span.start.into();
            let sql_type = parser.parse_data_type().map_err(parse_err)?;
            let data_type = arrow_type(&sql_type).map_err(|m| SqlError::at(type_at, m))?;
            let _not_null = parser.parse_keywords(&[Keyword::NOT, Keyword::NULL]);
            if parser.parse_keyword(Keyword::COMMENT) {
                parser.parse_literal_string().map_err(parse_err)?;
            }
            if fields.iter().any(|f: &Field| f.name() == &column.value) {
                return Err(SqlError::at(
                    at,
                    format!("duplicate column '{}'", column.value),
                ));
            }
            // Columns stay nullable: NOT NULL is a constraint on the data, not
            // something a stream can promise every batch keeps.
            fields.push(Field::new(column.value, data_type, true));
        }
        if parser.consume_token(&Token::Comma) {
            continue;
        }
        parser.expect_token(&Token::RParen).map_err(parse_err)?;
        break;
    }
    if parser.parse_keyword(Keyword::COMMENT) {
        parser.parse_literal_string().map_err(parse_err)?;
    }
    if word_is(parser, 0, Keyword::PARTITIONED) {
        let at = parser.peek_token().span.start.into();
        return Err(SqlError::at(
            at,
            "PARTITIONED BY is not supported by this version of rtdw",
        ));
    }
    let options = parse_with_options(parser)?;
    for key in &primary_key {
        if !fields.iter().any(|f| f.name() == key) {
            return Err(SqlError::script(format!(
                "primary key column '{key}' of table '{name}' is not a column"
            )));
        }
    }
    Ok(Statement::CreateTable(TableDescriptor {
        name,
        schema: Arc::new(Schema::new(fields)),
        options,
        primary_key,
    }))
}

fn parse_primary_key(parser: &mut Parser<'_>) -> Result<Vec<String>, SqlError> {
    let parse_err = |e: ParserError| SqlError::from_parser(&e);
    if parser.parse_keyword(Keyword::CONSTRAINT) {
        parser.parse_identifier().map_err(parse_err)?;
    }
    parser
        .expect_keywords(&[Keyword::PRIMARY, Keyword::KEY])
        .map_err(parse_err)?;
    parser.expect_token(&Token::LParen).map_err(parse_err)?;
    let columns = parser
        .parse_comma_separated(|p| p.parse_identifier())
        .map_err(parse_err)?;
    parser.expect_token(&Token::RParen).map_err(parse_err)?;
    let at: Location = parser.peek_token().span.start.into();
    if !parser.parse_keywords(&[Keyword::NOT, Keyword::ENFORCED]) {
        return Err(SqlError::at(
            at,
            "expected NOT ENFORCED after PRIMARY KEY (...): rtdw does not own the data, so the only supported mode is NOT ENFORCED",
        ));
    }
    Ok(columns.into_iter().map(|c| c.value).collect())
}

fn parse_with_options(parser: &mut Parser<'_>) -> Result<BTreeMap<String, String>, SqlError> {
    let parse_err = |e: ParserError| SqlError::from_parser(&e);
    let at: Location = parser.peek_token().span.start.into();
    if !parser.parse_keyword(Keyword::WITH) {
        return Err(SqlError::at(
            at,
            "expected WITH ('connector' = '...', ...) after the column list",
        ));
    }
    parser.expect_token(&Token::LParen).map_err(parse_err)?;
    let mut options = BTreeMap::new();
    loop {
        let key_at: Location = parser.peek_token().span.start.into();
        let key = parser.parse_literal_string().map_err(parse_err)?;
        parser.expect_token(&Token::Eq).map_err(parse_err)?;
        let value = parser.parse_literal_string().map_err(parse_err)?;
        if options.insert(key.clone(), value).is_some() {
            return Err(SqlError::at(
                key_at,
                format!("option '{key}' is given twice"),
            ));
        }
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen).map_err(parse_err)?;
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flink_script_parses_into_statements() {
        let sql = "SET 'parallelism.default' = '2';\n\
                   -- a comment\n\
                   CREATE TABLE src (id BIGINT, name STRING, price DECIMAL(10, 2), PRIMARY KEY (id) NOT ENFORCED)\n\
                   WITH ('connector' = 'datagen', 'number-of-rows' = '10');\n\
                   CREATE TABLE `out` (id BIGINT) WITH ('connector' = 'print');\n\
                   INSERT INTO `out` SELECT id FROM src;";
        let statements = parse_script(sql).unwrap();
        assert_eq!(statements.len(), 4);
        assert!(
            matches!(&statements[0].statement, Statement::Set { key, value } if key == "parallelism.default" && value == "2")
        );
        let Statement::CreateTable(table) = &statements[1].statement else {
            panic!("not a table")
        };
        assert_eq!(table.name, "src");
        assert_eq!(table.primary_key, ["id"]);
        assert_eq!(table.options["number-of-rows"], "10");
        assert_eq!(
            table.schema.field(2).data_type(),
            &arrow::datatypes::DataType::Decimal128(10, 2)
        );
        assert_eq!(statements[1].location, Location { line: 3, column: 1 });
        assert!(
            matches!(&statements[3].statement, Statement::Insert { table, .. } if table == "out")
        );
    }

    #[test]
    fn errors_carry_line_and_column() {
        let err = parse_script("CREATE TABLE t (id BIGINT)\nWITH ('connector' 'x');").unwrap_err();
        assert_eq!(
            err.location,
            Some(Location {
                line: 2,
                column: 19
            }),
            "{err}"
        );
        let err = parse_script("CREATE TABLE t (id BIGINT, PRIMARY KEY (id)) WITH ('a' = 'b')")
            .unwrap_err();
        assert!(err.message.contains("NOT ENFORCED"), "{err}");
        let err = parse_script("SELEC 1").unwrap_err();
        assert_eq!(err.location.map(|l| l.line), Some(1), "{err}");
    }
}
