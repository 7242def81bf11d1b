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
use datafusion::sql::sqlparser::tokenizer::{
    Location as TokenLocation, Span, Token, TokenWithSpan, Tokenizer, Whitespace, Word,
};
use rtdw_connector_core::{MetadataField, TableDescriptor};

use crate::error::{Location, SqlError};
use crate::hints::{OptionsHint, options_hints};
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
    CreateTable(TableDefinition),
    /// `CREATE CATALOG name WITH ('type' = ..., ...)`.
    CreateCatalog {
        /// The catalog's name.
        name: String,
        /// Its options.
        options: BTreeMap<String, String>,
    },
    /// `CREATE DATABASE [IF NOT EXISTS] [catalog.]name`.
    CreateDatabase {
        /// The database, possibly qualified by its catalog.
        name: Vec<String>,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
    },
    /// `USE CATALOG name`: unqualified names are looked up in it.
    UseCatalog(String),
    /// `USE [catalog.]database`: unqualified names are looked up in it.
    UseDatabase(Vec<String>),
    /// `CREATE [TEMPORARY] VIEW name AS query`.
    CreateView {
        /// The view name.
        name: String,
        /// Its query.
        query: Box<ast::Query>,
    },
    /// `INSERT INTO table query`.
    Insert(Insert),
    /// `EXECUTE STATEMENT SET BEGIN ... END` or `BEGIN STATEMENT SET; ...
    /// END`: several inserts run as one job, sharing their sources.
    StatementSet(Vec<Located<Insert>>),
}

impl Statement {
    /// What the statement is, for error messages: `SET 'k'`,
    /// `CREATE TABLE orders`, `INSERT INTO totals`, ...
    pub fn describe(&self) -> String {
        match self {
            Statement::Set { key, .. } => format!("SET '{key}'"),
            Statement::CreateTable(table) => format!("CREATE TABLE {}", table.descriptor.name),
            Statement::CreateCatalog { name, .. } => format!("CREATE CATALOG {name}"),
            Statement::CreateDatabase { name, .. } => format!("CREATE DATABASE {}", name.join(".")),
            Statement::UseCatalog(name) => format!("USE CATALOG {name}"),
            Statement::UseDatabase(name) => format!("USE {}", name.join(".")),
            Statement::CreateView { name, .. } => format!("CREATE VIEW {name}"),
            Statement::Insert(insert) => format!("INSERT INTO {}", insert.table),
            Statement::StatementSet(_) => "EXECUTE STATEMENT SET".into(),
        }
    }
}

/// `INSERT INTO table query`.
#[derive(Debug, Clone)]
pub struct Insert {
    /// The target table.
    pub table: String,
    /// The query whose rows go into it.
    pub query: Box<ast::Query>,
}

/// A `CREATE TABLE`: what the connector reads or writes, plus the columns
/// and watermark computed from it.
#[derive(Debug, Clone)]
pub struct TableDefinition {
    /// The connector's view: the physical columns and the options.
    pub descriptor: TableDescriptor,
    /// Every column in declaration order, computed ones included: the
    /// table as queries see it.
    pub columns: Vec<Column>,
    /// `WATERMARK FOR column AS expression`.
    pub watermark: Option<WatermarkDeclaration>,
    /// `IF NOT EXISTS`: a table of a catalog that exists is kept as it is.
    pub if_not_exists: bool,
}

/// A column of a declared table.
#[derive(Debug, Clone)]
pub enum Column {
    /// Stored by the connector.
    Physical(String),
    /// `name TYPE METADATA [FROM 'key'] [VIRTUAL]`: offered by the
    /// connector besides the data.
    Metadata(String),
    /// `name AS expression`, computed from the physical columns.
    Computed {
        /// The column name.
        name: String,
        /// Its expression.
        expr: Box<ast::Expr>,
        /// Where the expression starts.
        location: Location,
    },
}

impl Column {
    /// The column's name.
    pub fn name(&self) -> &str {
        match self {
            Column::Physical(name) | Column::Metadata(name) | Column::Computed { name, .. } => name,
        }
    }
}

/// `WATERMARK FOR column AS expression`: the column is the table's event
/// time; the expression, evaluated per row, bounds how late rows may come.
#[derive(Debug, Clone)]
pub struct WatermarkDeclaration {
    /// The event-time column.
    pub column: String,
    /// The watermark expression, e.g. `ts - INTERVAL '5' SECOND`.
    pub expr: Box<ast::Expr>,
    /// Where the declaration starts.
    pub location: Location,
}

/// A statement with where it starts.
#[derive(Debug, Clone)]
pub struct Located<T = Statement> {
    /// The statement.
    pub statement: T,
    /// Its first token.
    pub location: Location,
}

/// A parsed script: its statements, and the lookup-join clauses the
/// parser rewrote on the way.
#[derive(Debug)]
pub struct Script {
    /// The statements, in order.
    pub statements: Vec<Located>,
    /// Every `FOR SYSTEM_TIME AS OF` clause, in order.
    pub lookups: Vec<LookupClause>,
    /// Every `/*+ OPTIONS(...) */` table hint, in order.
    pub hints: Vec<OptionsHint>,
}

/// One `dim FOR SYSTEM_TIME AS OF o.proc_time` of a script: the query
/// scans the table under the name [`LookupClause::scanned`] instead, and
/// the planner checks the time attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupClause {
    /// The name the query scans (`dim$lookup0`).
    pub scanned: String,
    /// The table looked up, as written (its last name part).
    pub table: String,
    /// The time attribute as written, `["o", "proc_time"]`.
    pub attribute: Vec<String>,
    /// Where the clause starts.
    pub location: Location,
}

/// Parses a whole script.
pub fn parse_script(sql: &str) -> Result<Script, SqlError> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| SqlError::from_parser(&ParserError::TokenizerError(e.to_string())))?;
    let (tokens, hints) = options_hints(tokens)?;
    let (tokens, lookups) = lookup_tables(map_type_brackets(window_tvf_tables(tokens)));
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let mut statements = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        let start = parser.peek_token();
        if start.token == Token::EOF {
            break;
        }
        let location = Location::from(start.span.start);
        let number = statements.len() + 1;
        let statement = match statement_set_opening(&mut parser) {
            Some(StatementSetSyntax::Execute) => parse_statement_set(&mut parser, false),
            Some(StatementSetSyntax::Begin) => parse_statement_set(&mut parser, true),
            None => parse_statement(&mut parser, location),
        }
        .map_err(|e| e.in_statement(|| format!("statement {number}")))?;
        statements.push(Located {
            statement,
            location,
        });
        expect_statement_end(&parser)?;
    }
    Ok(Script {
        statements,
        lookups,
        hints,
    })
}

/// The two spellings of a statement set.
enum StatementSetSyntax {
    /// `EXECUTE STATEMENT SET BEGIN INSERT ...; INSERT ...; END`
    Execute,
    /// `BEGIN STATEMENT SET; INSERT ...; INSERT ...; END`
    Begin,
}

/// Consumes the opening words of a statement set, if one starts here.
fn statement_set_opening(parser: &mut Parser<'_>) -> Option<StatementSetSyntax> {
    let words = |parser: &Parser<'_>, expected: &[&str]| {
        expected.iter().enumerate().all(|(i, w)| {
            matches!(&parser.peek_nth_token_ref(i).token, Token::Word(word) if word.value.eq_ignore_ascii_case(w))
        })
    };
    let (syntax, length) = if words(parser, &["EXECUTE", "STATEMENT", "SET", "BEGIN"]) {
        (StatementSetSyntax::Execute, 4)
    } else if words(parser, &["BEGIN", "STATEMENT", "SET"]) {
        (StatementSetSyntax::Begin, 3)
    } else {
        return None;
    };
    for _ in 0..length {
        parser.next_token();
    }
    Some(syntax)
}

/// Parses the inserts of a statement set up to and including its `END`.
fn parse_statement_set(
    parser: &mut Parser<'_>,
    semicolon_after_begin: bool,
) -> Result<Statement, SqlError> {
    if semicolon_after_begin {
        parser
            .expect_token(&Token::SemiColon)
            .map_err(|e| SqlError::from_parser(&e))?;
    }
    let mut inserts = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        let start = parser.peek_token();
        let location = Location::from(start.span.start);
        if parser.parse_keyword(Keyword::END) {
            break;
        }
        if start.token == Token::EOF {
            return Err(SqlError::at(
                location,
                "the statement set is not closed: expected END",
            ));
        }
        match parse_statement(parser, location)? {
            Statement::Insert(insert) => inserts.push(Located {
                statement: insert,
                location,
            }),
            _ => {
                return Err(SqlError::at(
                    location,
                    "a statement set holds only INSERT INTO statements",
                ));
            }
        }
        expect_statement_end(parser)?;
    }
    if inserts.is_empty() {
        return Err(SqlError::at(
            parser.peek_token().span.start.into(),
            "the statement set holds no INSERT INTO",
        ));
    }
    Ok(Statement::StatementSet(inserts))
}

/// A statement must be followed by `;` or the end of the script.
fn expect_statement_end(parser: &Parser<'_>) -> Result<(), SqlError> {
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
    Ok(())
}

/// Drops the `TABLE` of `TUMBLE(TABLE t, ...)` (and HOP, CUMULATE): Flink's
/// window TVFs take a table argument, which the SQL parser has no syntax
/// for; without the keyword the table is an identifier the planner finds.
/// Other tokens keep their positions.
fn window_tvf_tables(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let is_word = |token: &TokenWithSpan, words: &[&str]| matches!(&token.token, Token::Word(w) if words.iter().any(|x| w.value.eq_ignore_ascii_case(x)));
    let mut kept: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    for token in tokens {
        if is_word(&token, &["TABLE"]) {
            let mut significant = kept
                .iter()
                .rev()
                .filter(|t| !matches!(t.token, Token::Whitespace(_)));
            let opens_call = significant.next().is_some_and(|t| t.token == Token::LParen);
            if opens_call
                && significant
                    .next()
                    .is_some_and(|t| is_word(t, &["TUMBLE", "HOP", "CUMULATE"]))
            {
                continue;
            }
        }
        kept.push(token);
    }
    kept
}

/// Put between the name of a table a lookup join queries and the
/// clause's number (`dim$lookup0` for the first `JOIN dim FOR SYSTEM_TIME
/// AS OF o.proc_time` of a script): the planner registers the table under
/// that name too, and plans a join with a table so named as a lookup join.
const LOOKUP_SUFFIX: &str = "$lookup";

/// Rewrites Flink's lookup-join syntax, which the SQL parser has no syntax
/// for: `dim FOR SYSTEM_TIME AS OF o.proc_time [AS d]` becomes
/// `dim$lookup0 AS d` (`AS dim` without an alias, so columns keep their
/// qualifier); the clauses come back for the planner, which checks their
/// time attributes. Other tokens keep their positions.
fn lookup_tables(tokens: Vec<TokenWithSpan>) -> (Vec<TokenWithSpan>, Vec<LookupClause>) {
    let word = |token: &TokenWithSpan, expected: &str| matches!(&token.token, Token::Word(w) if w.value.eq_ignore_ascii_case(expected) && w.quote_style.is_none());
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    let mut dropped = vec![false; tokens.len()];
    let mut renamed: Vec<(usize, Option<Word>, usize)> = Vec::new();
    let mut clauses: Vec<LookupClause> = Vec::new();
    let mut at = 0;
    while at + 4 < significant.len() {
        let clause = &significant[at..at + 4];
        let opens = ["FOR", "SYSTEM_TIME", "AS", "OF"]
            .iter()
            .zip(clause)
            .all(|(expected, &i)| word(&tokens[i], expected));
        let table = at.checked_sub(1).map(|before| significant[before]);
        let Some(table) = table.filter(|&t| opens && matches!(tokens[t].token, Token::Word(_)))
        else {
            at += 1;
            continue;
        };
        for &i in clause {
            dropped[i] = true;
        }
        // The time attribute: `name` or `alias.name`.
        let mut attribute = Vec::new();
        let mut next = at + 4;
        while let Some(&i) = significant.get(next) {
            let expected_word = (next - at - 4) % 2 == 0;
            match &tokens[i].token {
                Token::Word(word) if expected_word => attribute.push(word.value.clone()),
                Token::Period if !expected_word => {}
                _ => break,
            }
            dropped[i] = true;
            next += 1;
        }
        let aliased = significant.get(next).is_some_and(|&i| {
            matches!(&tokens[i].token, Token::Word(w) if w.keyword == Keyword::AS || w.keyword == Keyword::NoKeyword)
        });
        let alias = match &tokens[table].token {
            Token::Word(name) if !aliased => Some(name.clone()),
            _ => None,
        };
        if let Token::Word(name) = &tokens[table].token {
            clauses.push(LookupClause {
                scanned: format!("{}{LOOKUP_SUFFIX}{}", name.value, clauses.len()),
                table: name.value.clone(),
                attribute,
                location: Location::from(tokens[clause[0]].span.start),
            });
        }
        renamed.push((table, alias, clauses.len() - 1));
        at = next;
    }
    let mut kept = Vec::with_capacity(tokens.len() + 2 * renamed.len());
    for (i, mut token) in tokens.into_iter().enumerate() {
        if dropped[i] {
            continue;
        }
        let Some((_, alias, clause)) = renamed.iter().find(|(t, _, _)| *t == i) else {
            kept.push(token);
            continue;
        };
        let span = token.span;
        if let Token::Word(name) = &mut token.token {
            name.value.clone_from(&clauses[*clause].scanned);
        }
        kept.push(token);
        if let Some(alias) = alias {
            kept.extend(alias_tokens(alias.clone(), span));
        }
    }
    (kept, clauses)
}

/// The tokens ` AS alias`, placed at `span`: a rewrite that renames a
/// table keeps the name queries qualify its columns with.
pub(crate) fn alias_tokens(alias: Word, span: Span) -> [TokenWithSpan; 4] {
    [
        Token::Whitespace(Whitespace::Space),
        Token::make_keyword("AS"),
        Token::Whitespace(Whitespace::Space),
        Token::Word(alias),
    ]
    .map(|token| TokenWithSpan { token, span })
}

/// Rewrites Flink's `MAP<K, V>` type into the parser's `MAP(K, V)`: the
/// angle brackets opened right after `MAP` become parentheses (a `>>` that
/// closes two brackets is split in two). Angle brackets nested in a map
/// type (`MAP<STRING, ARRAY<INT>>`) are kept; comparisons outside map
/// types are untouched. Every token keeps its position.
fn map_type_brackets(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let is_map = |token: &TokenWithSpan| matches!(&token.token, Token::Word(w) if w.value.eq_ignore_ascii_case("MAP"));
    let mut kept: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    // Per angle bracket open inside a map type: whether it opened the map.
    let mut open: Vec<bool> = Vec::new();
    let closing = |opened_map: bool, span| TokenWithSpan {
        token: if opened_map { Token::RParen } else { Token::Gt },
        span,
    };
    for token in tokens {
        match token.token {
            Token::Lt => {
                let after_map = kept
                    .iter()
                    .rev()
                    .find(|t| !matches!(t.token, Token::Whitespace(_)))
                    .is_some_and(is_map);
                if after_map || !open.is_empty() {
                    open.push(after_map);
                }
                if after_map {
                    kept.push(TokenWithSpan {
                        token: Token::LParen,
                        span: token.span,
                    });
                    continue;
                }
            }
            Token::Gt if !open.is_empty() => {
                let opened_map = open.pop().unwrap_or_default();
                kept.push(closing(opened_map, token.span));
                continue;
            }
            Token::ShiftRight if !open.is_empty() => {
                let start = token.span.start;
                let middle = TokenLocation::new(start.line, start.column + 1);
                for span in [Span::new(start, middle), Span::new(middle, token.span.end)] {
                    match open.pop() {
                        Some(opened_map) => kept.push(closing(opened_map, span)),
                        None => kept.push(TokenWithSpan {
                            token: Token::Gt,
                            span,
                        }),
                    }
                }
                continue;
            }
            _ => {}
        }
        kept.push(token);
    }
    kept
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
    if let Some(statement) = parse_catalog_statement(parser)? {
        return Ok(statement);
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
            Ok(Statement::Insert(Insert { table, query }))
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
                "unsupported statement '{}'; expected SET, CREATE TABLE, CREATE VIEW, CREATE CATALOG, CREATE DATABASE, USE or INSERT INTO",
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
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = object_name(&parser.parse_object_name(false).map_err(parse_err)?);
    parser.expect_token(&Token::LParen).map_err(parse_err)?;
    let mut fields = Vec::new();
    let mut columns: Vec<Column> = Vec::new();
    let mut watermark = None;
    let mut primary_key = Vec::new();
    let mut metadata = Vec::new();
    loop {
        let at: Location = parser.peek_token().span.start.into();
        if word_is(parser, 0, Keyword::CONSTRAINT) || word_is(parser, 0, Keyword::PRIMARY) {
            primary_key = parse_primary_key(parser)?;
        } else if matches!(&parser.peek_token_ref().token, Token::Word(w) if w.value.eq_ignore_ascii_case("WATERMARK"))
        {
            if watermark.is_some() {
                return Err(SqlError::at(
                    at,
                    format!("table '{name}' declares a second WATERMARK; a table has one"),
                ));
            }
            watermark = Some(parse_watermark(parser, at)?);
        } else {
            let column = parser.parse_identifier().map_err(parse_err)?;
            if columns.iter().any(|c| c.name() == column.value) {
                return Err(SqlError::at(
                    at,
                    format!("duplicate column '{}'", column.value),
                ));
            }
            if parser.parse_keyword(Keyword::AS) {
                let location = parser.peek_token().span.start.into();
                let expr = Box::new(parser.parse_expr().map_err(parse_err)?);
                if parser.parse_keyword(Keyword::COMMENT) {
                    parser.parse_literal_string().map_err(parse_err)?;
                }
                columns.push(Column::Computed {
                    name: column.value,
                    expr,
                    location,
                });
                if parser.consume_token(&Token::Comma) {
                    continue;
                }
                parser.expect_token(&Token::RParen).map_err(parse_err)?;
                break;
            }
            let type_at: Location = parser.peek_token().span.start.into();
            let sql_type = parser.parse_data_type().map_err(parse_err)?;
            let data_type = arrow_type(&sql_type).map_err(|m| SqlError::at(type_at, m))?;
            let _not_null = parser.parse_keywords(&[Keyword::NOT, Keyword::NULL]);
            if word_is(parser, 0, Keyword::METADATA) {
                parser.next_token();
                let key = if parser.parse_keyword(Keyword::FROM) {
                    parser.parse_literal_string().map_err(parse_err)?
                } else {
                    column.value.clone()
                };
                let is_virtual = parser.parse_keyword(Keyword::VIRTUAL);
                if parser.parse_keyword(Keyword::COMMENT) {
                    parser.parse_literal_string().map_err(parse_err)?;
                }
                columns.push(Column::Metadata(column.value.clone()));
                metadata.push(MetadataField {
                    column: column.value,
                    key,
                    data_type,
                    is_virtual,
                });
            } else {
                if parser.parse_keyword(Keyword::COMMENT) {
                    parser.parse_literal_string().map_err(parse_err)?;
                }
                columns.push(Column::Physical(column.value.clone()));
                // Columns stay nullable: NOT NULL is a constraint on the
                // data, not something a stream can promise every batch keeps.
                fields.push(Field::new(column.value, data_type, true));
            }
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
    let mut partition_keys = Vec::new();
    if word_is(parser, 0, Keyword::PARTITIONED) {
        parser.next_token();
        parser.expect_keyword_is(Keyword::BY).map_err(parse_err)?;
        parser.expect_token(&Token::LParen).map_err(parse_err)?;
        loop {
            let at: Location = parser.peek_token().span.start.into();
            let key = parser.parse_identifier().map_err(parse_err)?.value;
            if !fields.iter().any(|f: &Field| f.name() == &key) {
                return Err(SqlError::at(
                    at,
                    format!("partition column '{key}' of table '{name}' is not a physical column"),
                ));
            }
            partition_keys.push(key);
            if !parser.consume_token(&Token::Comma) {
                break;
            }
        }
        parser.expect_token(&Token::RParen).map_err(parse_err)?;
    }
    // A table of a catalog may have no options; a script's own table
    // needs its connector, which the planner checks.
    let options = if word_is(parser, 0, Keyword::WITH) {
        parse_with_options(parser)?
    } else {
        BTreeMap::new()
    };
    for key in &primary_key {
        if !fields.iter().any(|f: &Field| f.name() == key) {
            return Err(SqlError::script(format!(
                "primary key column '{key}' of table '{name}' is not a physical column"
            )));
        }
    }
    if let Some(w) = &watermark
        && !columns.iter().any(|c| c.name() == w.column)
    {
        return Err(SqlError::at(
            w.location,
            format!(
                "the WATERMARK is declared for '{}', which is not a column of table '{name}'",
                w.column
            ),
        ));
    }
    Ok(Statement::CreateTable(TableDefinition {
        descriptor: TableDescriptor {
            name,
            schema: Arc::new(Schema::new(fields)),
            options,
            primary_key,
            partition_keys,
            metadata,
        },
        columns,
        watermark,
        if_not_exists,
    }))
}

/// `CREATE CATALOG`, `CREATE DATABASE`, `USE CATALOG` and `USE`, as Flink
/// writes them; `None` for any other statement.
fn parse_catalog_statement(parser: &mut Parser<'_>) -> Result<Option<Statement>, SqlError> {
    let parse_err = |e: ParserError| SqlError::from_parser(&e);
    let name_parts = |parser: &mut Parser<'_>| -> Result<Vec<String>, SqlError> {
        let name = parser.parse_object_name(false).map_err(parse_err)?;
        Ok(object_name(&name).split('.').map(str::to_string).collect())
    };
    if word_is(parser, 0, Keyword::CREATE) && word_is(parser, 1, Keyword::CATALOG) {
        parser.next_token();
        parser.next_token();
        let name = parser.parse_identifier().map_err(parse_err)?.value;
        let options = parse_with_options(parser)?;
        return Ok(Some(Statement::CreateCatalog { name, options }));
    }
    if word_is(parser, 0, Keyword::CREATE)
        && (word_is(parser, 1, Keyword::DATABASE) || word_is(parser, 1, Keyword::SCHEMA))
    {
        parser.next_token();
        parser.next_token();
        let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
        let name = name_parts(parser)?;
        if parser.parse_keyword(Keyword::COMMENT) {
            parser.parse_literal_string().map_err(parse_err)?;
        }
        if word_is(parser, 0, Keyword::WITH) {
            parse_with_options(parser)?;
        }
        return Ok(Some(Statement::CreateDatabase {
            name,
            if_not_exists,
        }));
    }
    if word_is(parser, 0, Keyword::USE) {
        parser.next_token();
        if parser.parse_keyword(Keyword::CATALOG) {
            let name = parser.parse_identifier().map_err(parse_err)?.value;
            return Ok(Some(Statement::UseCatalog(name)));
        }
        return Ok(Some(Statement::UseDatabase(name_parts(parser)?)));
    }
    Ok(None)
}

/// `WATERMARK FOR column AS expression`, the `WATERMARK` word not yet read.
fn parse_watermark(
    parser: &mut Parser<'_>,
    location: Location,
) -> Result<WatermarkDeclaration, SqlError> {
    let parse_err = |e: ParserError| SqlError::from_parser(&e);
    parser.next_token();
    parser.expect_keyword_is(Keyword::FOR).map_err(parse_err)?;
    let column = parser.parse_identifier().map_err(parse_err)?.value;
    parser.expect_keyword_is(Keyword::AS).map_err(parse_err)?;
    let expr = Box::new(parser.parse_expr().map_err(parse_err)?);
    Ok(WatermarkDeclaration {
        column,
        expr,
        location,
    })
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
        let statements = parse_script(sql).unwrap().statements;
        assert_eq!(statements.len(), 4);
        assert!(
            matches!(&statements[0].statement, Statement::Set { key, value } if key == "parallelism.default" && value == "2")
        );
        let Statement::CreateTable(definition) = &statements[1].statement else {
            panic!("not a table")
        };
        let table = &definition.descriptor;
        assert_eq!(table.name, "src");
        assert_eq!(table.primary_key, ["id"]);
        assert_eq!(table.options["number-of-rows"], "10");
        assert_eq!(
            table.schema.field(2).data_type(),
            &arrow::datatypes::DataType::Decimal128(10, 2)
        );
        assert_eq!(statements[1].location, Location { line: 3, column: 1 });
        assert!(
            matches!(&statements[3].statement, Statement::Insert(insert) if insert.table == "out")
        );
    }

    #[test]
    fn catalog_statements_and_partitioned_tables_parse_as_flink_writes_them() {
        let sql = "CREATE CATALOG lake WITH ('type' = 'paimon', 'warehouse' = 'file:///w');\n\
                   CREATE DATABASE IF NOT EXISTS lake.ods;\n\
                   USE CATALOG lake;\n\
                   USE ods;\n\
                   CREATE TABLE IF NOT EXISTS orders (id BIGINT, dt STRING, hr STRING) PARTITIONED BY (dt, hr);\n\
                   INSERT INTO lake.ods.orders SELECT * FROM default_catalog.default_database.src;";
        let statements: Vec<Statement> = parse_script(sql)
            .unwrap()
            .statements
            .into_iter()
            .map(|s| s.statement)
            .collect();
        assert!(matches!(&statements[0],
            Statement::CreateCatalog { name, options } if name == "lake" && options["type"] == "paimon"));
        assert!(matches!(&statements[1],
            Statement::CreateDatabase { name, if_not_exists: true } if name == &["lake", "ods"]));
        assert!(matches!(&statements[2], Statement::UseCatalog(name) if name == "lake"));
        assert!(matches!(&statements[3], Statement::UseDatabase(name) if name == &["ods"]));
        let Statement::CreateTable(definition) = &statements[4] else {
            panic!("not a table")
        };
        assert!(definition.if_not_exists && definition.descriptor.options.is_empty());
        assert_eq!(definition.descriptor.partition_keys, ["dt", "hr"]);
        assert!(
            matches!(&statements[5], Statement::Insert(insert) if insert.table == "lake.ods.orders")
        );
        let error = parse_script(
            "CREATE TABLE t (id BIGINT) PARTITIONED BY (day) WITH ('connector' = 'x');",
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("partition column 'day'"),
            "{error}"
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

    #[test]
    fn map_types_are_written_as_in_flink_and_comparisons_stay_comparisons() {
        let sql = "CREATE TABLE t (h MAP<STRING, BYTES>, n MAP<STRING, MAP<STRING, INT>>, id BIGINT)\n\
                   WITH ('connector' = 'datagen');\n\
                   INSERT INTO t SELECT h, n, id FROM t WHERE id < 3 AND id > 1;";
        let statements = parse_script(sql).unwrap().statements;
        let Statement::CreateTable(definition) = &statements[0].statement else {
            panic!("not a table")
        };
        let schema = &definition.descriptor.schema;
        use arrow::datatypes::DataType;
        use rtdw_connector_core::types::map_type;
        assert_eq!(
            schema.field(0).data_type(),
            &map_type(DataType::Utf8, DataType::Binary)
        );
        assert_eq!(
            schema.field(1).data_type(),
            &map_type(DataType::Utf8, map_type(DataType::Utf8, DataType::Int32)),
            "a '>>' closes two maps"
        );
        assert!(matches!(&statements[1].statement, Statement::Insert(_)));
    }

    #[test]
    fn a_lookup_join_names_its_table_for_lookups_keeping_or_adding_the_alias() {
        let rewritten = |sql: &str| {
            let dialect = GenericDialect {};
            let tokens = Tokenizer::new(&dialect, sql)
                .tokenize_with_location()
                .unwrap();
            let (tokens, clauses) = lookup_tables(tokens);
            let text: String = tokens.iter().map(|t| t.token.to_string()).collect();
            let attributes: Vec<String> = clauses.iter().map(|c| c.attribute.join(".")).collect();
            (
                text.split_whitespace().collect::<Vec<_>>().join(" "),
                attributes,
            )
        };
        assert_eq!(
            rewritten("FROM o JOIN dim FOR SYSTEM_TIME AS OF o.proc_time AS d ON o.k = d.id"),
            (
                "FROM o JOIN dim$lookup0 AS d ON o.k = d.id".to_string(),
                vec!["o.proc_time".to_string()]
            )
        );
        assert_eq!(
            rewritten(
                "FROM o LEFT JOIN shop.dim FOR SYSTEM_TIME AS OF o.pt ON o.k = dim.id JOIN dim FOR SYSTEM_TIME AS OF pt d WHERE x"
            ),
            (
                "FROM o LEFT JOIN shop.dim$lookup0 AS dim ON o.k = dim.id JOIN dim$lookup1 d WHERE x"
                    .to_string(),
                vec!["o.pt".to_string(), "pt".to_string()]
            )
        );
        let plain = "SELECT SUBSTRING(s FROM 1 FOR 2) FROM t";
        assert_eq!(rewritten(plain), (plain.to_string(), Vec::new()));
        let script = parse_script(
            "INSERT INTO s SELECT * FROM o JOIN dim FOR SYSTEM_TIME AS OF o.pt AS d ON o.k = d.id;",
        )
        .unwrap();
        assert!(matches!(
            &script.statements[0].statement,
            Statement::Insert(_)
        ));
        assert_eq!(script.lookups[0].table, "dim");
        assert_eq!(
            script.lookups[0].location,
            Location {
                line: 1,
                column: 40
            }
        );
    }
}

#[cfg(test)]
mod declaration_tests {
    use super::*;

    #[test]
    fn computed_columns_and_the_watermark_are_kept_apart_from_physical_columns() {
        let sql = "CREATE TABLE orders (\n\
                   id BIGINT,\n\
                   amount_cents AS amount * 100,\n\
                   amount DECIMAL(10, 2),\n\
                   ts TIMESTAMP(3),\n\
                   WATERMARK FOR ts AS ts - INTERVAL '5' SECOND\n\
                   ) WITH ('connector' = 'datagen')";
        let statements = parse_script(sql).unwrap().statements;
        let Statement::CreateTable(table) = &statements[0].statement else {
            panic!("not a table")
        };
        let physical: Vec<&str> = table
            .descriptor
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(physical, ["id", "amount", "ts"]);
        let all: Vec<&str> = table.columns.iter().map(Column::name).collect();
        assert_eq!(all, ["id", "amount_cents", "amount", "ts"]);
        let watermark = table.watermark.as_ref().expect("watermark");
        assert_eq!(watermark.column, "ts");
        assert_eq!(watermark.expr.to_string(), "ts - INTERVAL '5' SECOND");
        assert_eq!(watermark.location, Location { line: 6, column: 1 });
    }

    #[test]
    fn a_watermark_on_an_unknown_column_is_refused_where_it_is_declared() {
        let sql = "CREATE TABLE t (ts TIMESTAMP(3),\n  WATERMARK FOR tss AS tss) WITH ('connector' = 'datagen')";
        let err = parse_script(sql).unwrap_err();
        assert_eq!(err.location, Some(Location { line: 2, column: 3 }), "{err}");
        assert!(err.message.contains("'tss'"), "{err}");
    }

    #[test]
    fn both_statement_set_spellings_collect_their_inserts() {
        for sql in [
            "EXECUTE STATEMENT SET BEGIN\nINSERT INTO a SELECT * FROM s;\nINSERT INTO b SELECT * FROM s;\nEND;",
            "BEGIN STATEMENT SET;\nINSERT INTO a SELECT * FROM s;\nINSERT INTO b SELECT * FROM s;\nEND;",
        ] {
            let statements = parse_script(sql).unwrap().statements;
            assert_eq!(statements.len(), 1, "{sql}");
            let Statement::StatementSet(inserts) = &statements[0].statement else {
                panic!("not a statement set: {sql}")
            };
            let targets: Vec<&str> = inserts.iter().map(|i| i.statement.table.as_str()).collect();
            assert_eq!(targets, ["a", "b"]);
            assert_eq!(inserts[1].location, Location { line: 3, column: 1 });
        }
    }

    #[test]
    fn a_statement_set_without_end_or_with_other_statements_is_refused() {
        let err = parse_script("BEGIN STATEMENT SET;\nINSERT INTO a SELECT * FROM s;").unwrap_err();
        assert!(err.message.contains("expected END"), "{err}");
        let err = parse_script("EXECUTE STATEMENT SET BEGIN\nSET 'a' = 'b';\nEND;").unwrap_err();
        assert_eq!(err.location, Some(Location { line: 2, column: 1 }), "{err}");
        assert!(err.message.contains("only INSERT INTO"), "{err}");
    }
}
