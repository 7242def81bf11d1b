//! Flink's dynamic table options: `FROM orders /*+ OPTIONS('scan.mode' =
//! 'latest') */` reads `orders` with those options on top of its own. The
//! parser drops comments, so a token rewrite finds each such hint after a
//! table name and has the query scan
//! `default_catalog.default_database.orders$options0` instead (aliased
//! `orders`, so the query's column references stay right); the planner
//! declares that table as the hinted one with the hint's options.

use std::collections::BTreeMap;

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

use crate::error::{Location, SqlError};
use crate::script::alias_tokens;
use crate::{DEFAULT_CATALOG, DEFAULT_DATABASE};

/// What a hinted table is scanned as: `{table}$options{n}`.
const HINT_SUFFIX: &str = "$options";

/// One `table /*+ OPTIONS(...) */` of a script.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionsHint {
    /// The name the query scans instead (`orders$options0`).
    pub scanned: String,
    /// The table as written (`orders`, `lake.ods.orders`).
    pub table: String,
    /// The hint's options.
    pub options: BTreeMap<String, String>,
    /// Where the hint starts.
    pub location: Location,
}

/// The tokens with every hinted table renamed, and the hints.
pub fn options_hints(
    tokens: Vec<TokenWithSpan>,
) -> Result<(Vec<TokenWithSpan>, Vec<OptionsHint>), SqlError> {
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    let mut hints = Vec::new();
    // Per hinted name: its tokens, and whether an alias must be added.
    let mut renamed: Vec<(Vec<usize>, bool)> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let Token::Whitespace(Whitespace::MultiLineComment(text)) = &token.token else {
            continue;
        };
        let Some(body) = text.trim_start().strip_prefix('+') else {
            continue;
        };
        let location = Location::from(token.span.start);
        let options = hint_options(body, location)?;
        // The name before the hint: `a`, `a.b` or `a.b.c`.
        let before = significant.partition_point(|&s| s < i);
        let mut name = Vec::new();
        let mut at = before;
        while at > 0 {
            let index = significant[at - 1];
            let expect_word = name.len() % 2 == 0;
            match &tokens[index].token {
                Token::Word(_) if expect_word => name.insert(0, index),
                Token::Period if !expect_word => name.insert(0, index),
                _ => break,
            }
            at -= 1;
        }
        if name.len() % 2 == 0 {
            name.remove(0);
        }
        if name.is_empty() {
            return Err(SqlError::at(
                location,
                "a table hint must follow a table name",
            ));
        }
        let parts: Vec<String> = name
            .iter()
            .filter_map(|&n| match &tokens[n].token {
                Token::Word(w) => Some(w.value.clone()),
                _ => None,
            })
            .collect();
        let aliased = significant.get(before).is_some_and(|&next| {
            matches!(&tokens[next].token, Token::Word(w) if w.keyword == Keyword::AS || w.keyword == Keyword::NoKeyword)
        });
        let last_name = parts.last().cloned().unwrap_or_default();
        hints.push(OptionsHint {
            scanned: format!("{last_name}{HINT_SUFFIX}{}", hints.len()),
            table: parts.join("."),
            options,
            location,
        });
        renamed.push((name, !aliased));
    }
    if hints.is_empty() {
        return Ok((tokens, hints));
    }
    let mut kept = Vec::with_capacity(tokens.len() + 4 * hints.len());
    for (i, mut token) in tokens.into_iter().enumerate() {
        let Some((hint, (name, add_alias))) = hints
            .iter()
            .zip(&renamed)
            .find(|(_, (name, _))| name.contains(&i))
        else {
            kept.push(token);
            continue;
        };
        if name[0] != i {
            continue;
        }
        let span = token.span;
        let Token::Word(word) = &mut token.token else {
            continue;
        };
        let mut alias = word.clone();
        alias.value = hint
            .table
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_string();
        word.value.clone_from(&hint.scanned);
        word.quote_style = Some('`');
        for part in [DEFAULT_CATALOG, DEFAULT_DATABASE] {
            let mut qualifier = word.clone();
            qualifier.value = part.to_string();
            qualifier.quote_style = None;
            for piece in [Token::Word(qualifier), Token::Period] {
                kept.push(TokenWithSpan { token: piece, span });
            }
        }
        kept.push(token);
        if *add_alias {
            kept.extend(alias_tokens(alias, span));
        }
    }
    Ok((kept, hints))
}

/// The options of a hint's body (after `/*+`): `OPTIONS('k' = 'v', ...)`.
fn hint_options(body: &str, location: Location) -> Result<BTreeMap<String, String>, SqlError> {
    let expected = |what: &str| {
        SqlError::at(
            location,
            format!(
                "expected {what} in the table hint /*+{body}*/, as in /*+ OPTIONS('scan.mode' = 'latest') */"
            ),
        )
    };
    let tokens: Vec<Token> = Tokenizer::new(&GenericDialect {}, body)
        .tokenize()
        .map_err(|_| expected("OPTIONS('key' = 'value', ...)"))?
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let mut tokens = tokens.into_iter();
    match (tokens.next(), tokens.next()) {
        (Some(Token::Word(w)), Some(Token::LParen)) if w.value.eq_ignore_ascii_case("OPTIONS") => {}
        _ => return Err(expected("OPTIONS(")),
    }
    let mut options = BTreeMap::new();
    loop {
        let (
            Some(Token::SingleQuotedString(key)),
            Some(Token::Eq),
            Some(Token::SingleQuotedString(value)),
        ) = (tokens.next(), tokens.next(), tokens.next())
        else {
            return Err(expected("'key' = 'value'"));
        };
        options.insert(key, value);
        match tokens.next() {
            Some(Token::Comma) => continue,
            Some(Token::RParen) if tokens.next().is_none() => return Ok(options),
            _ => return Err(expected("',' or ')'")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(sql: &str) -> Result<(String, Vec<OptionsHint>), SqlError> {
        let tokens = Tokenizer::new(&GenericDialect {}, sql)
            .tokenize_with_location()
            .unwrap();
        let (tokens, hints) = options_hints(tokens)?;
        let text: String = tokens.iter().map(|t| t.token.to_string()).collect();
        Ok((text, hints))
    }

    #[test]
    fn a_hinted_table_is_scanned_under_its_own_name_with_the_options() {
        let (text, hints) = rewrite(
            "SELECT o.id FROM lake.ods.orders /*+ OPTIONS('scan.mode' = 'latest', 'scan.bounded' = 'false') */ AS o \
             JOIN users /*+ OPTIONS('scan.bounded'='true') */ ON o.id = users.id",
        )
        .unwrap();
        assert_eq!(
            text,
            "SELECT o.id FROM default_catalog.default_database.`orders$options0` /*+ OPTIONS('scan.mode' = 'latest', 'scan.bounded' = 'false') */ AS o \
             JOIN default_catalog.default_database.`users$options1` AS users /*+ OPTIONS('scan.bounded'='true') */ ON o.id = users.id"
        );
        assert_eq!(hints[0].table, "lake.ods.orders");
        assert_eq!(hints[0].options["scan.mode"], "latest");
        assert_eq!(hints[1].options["scan.bounded"], "true");
        assert_eq!(
            hints[1].location,
            Location {
                line: 1,
                column: 115
            }
        );
    }

    #[test]
    fn malformed_hints_name_what_was_expected() {
        let error = rewrite("SELECT * FROM t /*+ OPTIONS('a' 'b') */").unwrap_err();
        assert!(
            error.to_string().contains("expected 'key' = 'value'"),
            "{error}"
        );
        let error = rewrite("SELECT * FROM t /*+ INDEX(x) */").unwrap_err();
        assert!(error.to_string().contains("expected OPTIONS("), "{error}");
        assert!(
            rewrite("SELECT * FROM t /* a comment */")
                .unwrap()
                .1
                .is_empty()
        );
    }
}
