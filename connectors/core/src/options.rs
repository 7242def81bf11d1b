//! Declared options: each connector and format lists its options once, as
//! [`ConnectorOption`] constants; validation, the typed reader
//! ([`TableOptions`]), `rtdw connectors describe` and the docs all read that
//! one declaration.

use std::fmt::Write;
use std::time::Duration;

use crate::error::ConnectorError;
use crate::table::TableDescriptor;

/// What values an option takes, and how a value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionType {
    /// Any text.
    String,
    /// `true` or `false`, in any case.
    Boolean,
    /// A whole number (64 bits, signed).
    Integer,
    /// A number, possibly fractional.
    Double,
    /// A duration as Flink writes them: `500 ms`, `10 s`, `5 min`, `1 h`.
    Duration,
    /// Exactly one character (`\t` counts as one).
    Character,
    /// One of the listed words, compared without regard to case.
    Enum(&'static [&'static str]),
}

impl OptionType {
    /// The type's name in option tables, as Flink's docs write it.
    pub fn name(self) -> &'static str {
        match self {
            OptionType::String => "String",
            OptionType::Boolean => "Boolean",
            OptionType::Integer => "Integer",
            OptionType::Double => "Double",
            OptionType::Duration => "Duration",
            OptionType::Character => "Character",
            OptionType::Enum(_) => "Enum",
        }
    }

    /// What a valid value is, for error messages: `must be 'true' or 'false'`.
    pub fn expected(self) -> String {
        match self {
            OptionType::String => "must be text".into(),
            OptionType::Boolean => "must be 'true' or 'false'".into(),
            OptionType::Integer => "must be an integer".into(),
            OptionType::Double => "must be a number".into(),
            OptionType::Duration => "must be a duration such as '500 ms', '10 s' or '5 min'".into(),
            OptionType::Character => "must be a single character".into(),
            OptionType::Enum(choices) => one_of(choices),
        }
    }

    /// Whether `value` is of this type.
    pub fn accepts(self, value: &str) -> bool {
        let value = value.trim();
        match self {
            OptionType::String => true,
            OptionType::Boolean => parse_bool(value).is_some(),
            OptionType::Integer => value.parse::<i64>().is_ok(),
            OptionType::Double => value.parse::<f64>().is_ok_and(f64::is_finite),
            OptionType::Duration => rtdw_operators::time::parse_duration(value).is_some(),
            OptionType::Character => parse_char(value).is_some(),
            OptionType::Enum(choices) => choice(choices, value).is_some(),
        }
    }
}

/// `must be 'a', 'b' or 'c'`.
fn one_of(choices: &[&str]) -> String {
    let quoted: Vec<String> = choices.iter().map(|c| format!("'{c}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("must be {} or {last}", rest.join(", ")),
        _ => format!("must be {}", quoted.join("")),
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// One character, with `\t` written as an escape (as in Flink's CSV options).
fn parse_char(value: &str) -> Option<char> {
    if value == "\\t" {
        return Some('\t');
    }
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

fn choice(choices: &[&'static str], value: &str) -> Option<&'static str> {
    choices
        .iter()
        .find(|c| c.eq_ignore_ascii_case(value.trim()))
        .copied()
}

/// Which role of a table an option belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// Sources and sinks alike.
    Always,
    /// Only when the table is read.
    Source,
    /// Only when the table is written.
    Sink,
    /// Only when the table is queried by key in a lookup join.
    Lookup,
}

/// The role a table plays in a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Read by the job.
    Source,
    /// Written by the job.
    Sink,
    /// Queried by key as the dimension side of a lookup join
    /// (`FOR SYSTEM_TIME AS OF`).
    Lookup,
}

impl Role {
    /// `source`, `sink` or `lookup table`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Sink => "sink",
            Role::Lookup => "lookup table",
        }
    }
}

/// One option a connector or format understands.
///
/// A key may name a family: `#` stands for one dot-free segment chosen by
/// the user (`fields.#.kind`, one per column) and a trailing `*` for any
/// rest (`properties.*`, passed through to a client library).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectorOption {
    /// The key, as in `WITH ('key' = ...)`.
    pub key: &'static str,
    /// The values it takes.
    pub value_type: OptionType,
    /// The value when the option is not given.
    pub default: Option<&'static str>,
    /// Whether a table must give it.
    pub required: bool,
    /// The role it belongs to.
    pub applies: Applies,
    /// One line saying what it does.
    pub doc: &'static str,
}

impl ConnectorOption {
    /// An optional option without default, for sources and sinks alike.
    pub const fn new(key: &'static str, value_type: OptionType, doc: &'static str) -> Self {
        ConnectorOption {
            key,
            value_type,
            default: None,
            required: false,
            applies: Applies::Always,
            doc,
        }
    }

    /// The same option, required.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The same option, with a default value.
    pub const fn default_value(mut self, default: &'static str) -> Self {
        self.default = Some(default);
        self
    }

    /// The same option, for sources only.
    pub const fn source_only(mut self) -> Self {
        self.applies = Applies::Source;
        self
    }

    /// The same option, for sinks only.
    pub const fn sink_only(mut self) -> Self {
        self.applies = Applies::Sink;
        self
    }

    /// The same option, for lookup tables only.
    pub const fn lookup_only(mut self) -> Self {
        self.applies = Applies::Lookup;
        self
    }

    /// Whether the option belongs to a table in `role`.
    pub fn applies_to(&self, role: Role) -> bool {
        matches!(
            (self.applies, role),
            (Applies::Always, _)
                | (Applies::Source, Role::Source)
                | (Applies::Sink, Role::Sink)
                | (Applies::Lookup, Role::Lookup)
        )
    }

    /// Whether the key is a family (`#` or a trailing `*`).
    pub fn is_family(&self) -> bool {
        self.key.contains('#') || self.key.ends_with('*')
    }
}

/// An option as it applies to one table: the declaration and its full key
/// (a format's options carry the format's prefix, `json.ignore-parse-errors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredOption {
    /// The full key, family markers included.
    pub key: String,
    /// The declaration.
    pub option: &'static ConnectorOption,
}

impl DeclaredOption {
    /// The declaration under its own key.
    pub fn plain(option: &'static ConnectorOption) -> Self {
        DeclaredOption {
            key: option.key.to_string(),
            option,
        }
    }

    /// The declaration under `prefix` + its key.
    pub fn prefixed(prefix: &str, option: &'static ConnectorOption) -> Self {
        DeclaredOption {
            key: format!("{prefix}{}", option.key),
            option,
        }
    }

    /// Whether a key a user wrote is this option (or a member of its family).
    pub fn matches(&self, key: &str) -> bool {
        key_matches(&self.key, key)
    }
}

/// Whether `key` fits `pattern`: `#` takes one dot-free, non-empty segment;
/// a trailing `*` takes any non-empty rest.
fn key_matches(pattern: &str, key: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        return key.len() > prefix.len() && key.starts_with(prefix);
    }
    let mut pattern_parts = pattern.split('.');
    let mut key_parts = key.split('.');
    loop {
        match (pattern_parts.next(), key_parts.next()) {
            (None, None) => return true,
            (Some("#"), Some(part)) if !part.is_empty() => {}
            (Some(p), Some(k)) if p == k => {}
            _ => return false,
        }
    }
}

/// The options every connector takes, handled by the framework: the
/// connector's name and the parallelism of the table's source or sink.
pub const COMMON_OPTIONS: &[ConnectorOption] = &[
    ConnectorOption::new(
        "connector",
        OptionType::String,
        "The connector that reads or writes the table.",
    )
    .required(),
    ConnectorOption::new(
        "source.parallelism",
        OptionType::Integer,
        "Parallelism of the table's source; the job's default when unset.",
    )
    .source_only(),
    ConnectorOption::new(
        "sink.parallelism",
        OptionType::Integer,
        "Parallelism of the table's sink; its input's when unset.",
    )
    .sink_only(),
];

/// Checks a table's options for its use in `role`: every key declared
/// (else the error lists the supported keys and names the nearest one),
/// every option `role` requires given, every value of its type.
///
/// As in Flink, a key of the connector's other role is accepted and
/// ignored: one `CREATE TABLE` serves the job that writes a topic and the
/// one that reads it.
pub fn validate(
    table: &TableDescriptor,
    connector: &str,
    role: Role,
    declared: &[DeclaredOption],
) -> Result<(), ConnectorError> {
    let applicable: Vec<&DeclaredOption> = declared
        .iter()
        .filter(|d| d.option.applies_to(role))
        .collect();
    let unsupported: Vec<&String> = table
        .options
        .keys()
        .filter(|key| !declared.iter().any(|d| d.matches(key)))
        .collect();
    if let Some(first) = unsupported.first() {
        let mut supported: Vec<&str> = declared.iter().map(|d| d.key.as_str()).collect();
        supported.sort_unstable();
        supported.dedup();
        return Err(ConnectorError::UnsupportedOptions {
            table: table.name.clone(),
            connector: connector.to_string(),
            role: role.name(),
            unsupported: format!(
                "{}{}",
                unsupported
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                nearest(first, &supported)
                    .map(|k| format!(" (did you mean '{k}'?)"))
                    .unwrap_or_default()
            ),
            supported: supported.join(", "),
        });
    }
    for declared in &applicable {
        if declared.option.required
            && !declared.option.is_family()
            && !table.options.contains_key(&declared.key)
        {
            return Err(ConnectorError::MissingOption {
                table: table.name.clone(),
                key: declared.key.clone(),
            });
        }
    }
    for (key, value) in &table.options {
        if let Some(declared) = declared.iter().find(|d| d.matches(key))
            && !declared.option.value_type.accepts(value)
        {
            return Err(invalid(
                table,
                key,
                value,
                &declared.option.value_type.expected(),
            ));
        }
    }
    Ok(())
}

fn invalid(table: &TableDescriptor, key: &str, value: &str, expected: &str) -> ConnectorError {
    ConnectorError::InvalidOption {
        table: table.name.clone(),
        key: key.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    }
}

/// The name closest to a misspelt one, if any is close enough to be a
/// likely typo. In a family key `#` stands for the segment the user wrote
/// at that place.
pub fn nearest<'a>(wrong: &str, supported: &[&'a str]) -> Option<&'a str> {
    let wrong_parts: Vec<&str> = wrong.split('.').collect();
    supported
        .iter()
        .map(|&candidate| {
            let concrete: Vec<&str> = candidate
                .split('.')
                .enumerate()
                .map(|(i, part)| match (part, wrong_parts.get(i)) {
                    ("#", Some(user)) => *user,
                    _ => part,
                })
                .collect();
            (edit_distance(wrong, &concrete.join(".")), candidate)
        })
        .filter(|(distance, _)| *distance > 0 && *distance <= (wrong.len() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// Typed access to a validated table's options, by their declarations:
/// absent options read as their declared default.
#[derive(Debug, Clone, Copy)]
pub struct TableOptions<'a> {
    table: &'a TableDescriptor,
}

impl<'a> TableOptions<'a> {
    /// Reads `table`'s options.
    pub fn new(table: &'a TableDescriptor) -> Self {
        TableOptions { table }
    }

    /// The table, for error messages.
    pub fn table(&self) -> &'a TableDescriptor {
        self.table
    }

    /// The value given for `key`, else `default`.
    fn raw(&self, key: &str, default: Option<&'static str>) -> Option<&'a str> {
        self.table.options.get(key).map(String::as_str).or(default)
    }

    /// A string option, or its default.
    pub fn string(&self, option: &ConnectorOption) -> Option<&'a str> {
        self.raw(option.key, option.default)
    }

    /// A string option that must have a value.
    pub fn require_string(&self, option: &ConnectorOption) -> Result<&'a str, ConnectorError> {
        self.string(option)
            .ok_or_else(|| ConnectorError::MissingOption {
                table: self.table.name.clone(),
                key: option.key.to_string(),
            })
    }

    /// A boolean option, or its default (false without one).
    pub fn boolean(&self, option: &ConnectorOption) -> Result<bool, ConnectorError> {
        self.boolean_at(option.key, option)
    }

    /// A boolean option under `key` (a family member or a prefixed key)
    /// declared by `option`.
    pub fn boolean_at(&self, key: &str, option: &ConnectorOption) -> Result<bool, ConnectorError> {
        self.typed(key, option, parse_bool)
            .map(|v| v.unwrap_or(false))
    }

    /// An integer option, or its default.
    pub fn integer(&self, option: &ConnectorOption) -> Result<Option<i64>, ConnectorError> {
        self.integer_at(option.key, option)
    }

    /// An integer option under `key`, declared by `option`.
    pub fn integer_at(
        &self,
        key: &str,
        option: &ConnectorOption,
    ) -> Result<Option<i64>, ConnectorError> {
        self.typed(key, option, |v| v.parse().ok())
    }

    /// A number option, or its default.
    pub fn double(&self, option: &ConnectorOption) -> Result<Option<f64>, ConnectorError> {
        self.double_at(option.key, option)
    }

    /// A number option under `key`, declared by `option`.
    pub fn double_at(
        &self,
        key: &str,
        option: &ConnectorOption,
    ) -> Result<Option<f64>, ConnectorError> {
        self.typed(key, option, |v| {
            v.parse().ok().filter(|f: &f64| f.is_finite())
        })
    }

    /// A duration option, or its default.
    pub fn duration(&self, option: &ConnectorOption) -> Result<Option<Duration>, ConnectorError> {
        self.typed(option.key, option, rtdw_operators::time::parse_duration)
    }

    /// A character option under `key`, declared by `option`.
    pub fn character_at(
        &self,
        key: &str,
        option: &ConnectorOption,
    ) -> Result<Option<char>, ConnectorError> {
        self.typed(key, option, parse_char)
    }

    /// An enum option, or its default, as the declared spelling.
    pub fn choice(&self, option: &ConnectorOption) -> Result<Option<&'static str>, ConnectorError> {
        self.choice_at(option.key, option)
    }

    /// An enum option under `key`, declared by `option`.
    pub fn choice_at(
        &self,
        key: &str,
        option: &ConnectorOption,
    ) -> Result<Option<&'static str>, ConnectorError> {
        let OptionType::Enum(choices) = option.value_type else {
            return Err(self.invalid(key, "", "is not an enumerated option"));
        };
        self.typed(key, option, |v| choice(choices, v))
    }

    /// The value under `key` (else the declared default) parsed by `parse`;
    /// a value `parse` rejects is an error naming the key and the type.
    fn typed<T>(
        &self,
        key: &str,
        option: &ConnectorOption,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ConnectorError> {
        match self.raw(key, option.default) {
            None => Ok(None),
            Some(value) => parse(value.trim())
                .map(Some)
                .ok_or_else(|| self.invalid(key, value, &option.value_type.expected())),
        }
    }

    /// The key of a family member: `fields.#.kind` for column `id` is
    /// `fields.id.kind`.
    pub fn family_key(option: &ConnectorOption, segment: &str) -> String {
        option.key.replacen('#', segment, 1)
    }

    /// The error for a value that is of the right type but not acceptable
    /// (out of range, inconsistent with another option).
    pub fn invalid(&self, key: &str, value: &str, expected: &str) -> ConnectorError {
        invalid(self.table, key, value, expected)
    }
}

/// The options as a Markdown table (key, required, default, type,
/// description): what `rtdw connectors describe --markdown` prints and the
/// docs pages hold.
pub fn markdown_table(options: &[DeclaredOption]) -> String {
    let mut text = String::from(
        "| Option | Required | Default | Type | Description |\n|---|---|---|---|---|\n",
    );
    for declared in options {
        let option = declared.option;
        let type_name = match option.value_type {
            OptionType::Enum(choices) => format!("Enum: {}", choices.join(", ")),
            other => other.name().to_string(),
        };
        let role = match option.applies {
            Applies::Always => "",
            Applies::Source => " (source)",
            Applies::Sink => " (sink)",
            Applies::Lookup => " (lookup)",
        };
        let _ = writeln!(
            text,
            "| `{}` | {} | {} | {type_name} | {}{role} |",
            declared.key,
            if option.required { "yes" } else { "no" },
            option
                .default
                .map(|d| format!("`{d}`"))
                .unwrap_or_else(|| "(none)".into()),
            option.doc,
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use arrow::datatypes::Schema;

    use super::*;

    static PATH: ConnectorOption =
        ConnectorOption::new("path", OptionType::String, "Where.").required();
    static RATE: ConnectorOption =
        ConnectorOption::new("rows-per-second", OptionType::Double, "Rate.").default_value("10000");
    static KIND: ConnectorOption = ConnectorOption::new(
        "fields.#.kind",
        OptionType::Enum(&["sequence", "random"]),
        "Kind.",
    );
    static PROPERTIES: ConnectorOption =
        ConnectorOption::new("properties.*", OptionType::String, "Client options.").sink_only();
    static FLUSH_ROWS: ConnectorOption =
        ConnectorOption::new("sink.flush-rows", OptionType::Integer, "Rows.").sink_only();

    fn table(options: &[(&str, &str)]) -> TableDescriptor {
        TableDescriptor {
            name: "t".into(),
            schema: Arc::new(Schema::empty()),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            primary_key: vec![],
            partition_keys: vec![],
            metadata: vec![],
        }
    }

    fn declared() -> Vec<DeclaredOption> {
        [&PATH, &RATE, &KIND, &PROPERTIES, &FLUSH_ROWS]
            .into_iter()
            .chain(COMMON_OPTIONS)
            .map(DeclaredOption::plain)
            .collect()
    }

    #[test]
    fn families_match_one_segment_or_any_rest() {
        assert!(key_matches("fields.#.kind", "fields.id.kind"));
        assert!(!key_matches("fields.#.kind", "fields.a.b.kind"));
        assert!(!key_matches("fields.#.kind", "fields..kind"));
        assert!(key_matches("properties.*", "properties.bootstrap.servers"));
        assert!(!key_matches("properties.*", "properties."));
        assert!(!key_matches("path", "paths"));
    }

    #[test]
    fn an_unknown_key_is_refused_with_the_nearest_supported_one() {
        let t = table(&[("connector", "x"), ("path", "/p"), ("rows-per-secnd", "5")]);
        let message = validate(&t, "x", Role::Source, &declared())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("connector 'x': rows-per-secnd ("),
            "{message}"
        );
        assert!(
            message.contains("did you mean 'rows-per-second'?"),
            "{message}"
        );
        assert!(
            message.contains(
                "supported options: connector, fields.#.kind, path, properties.*, rows-per-second, sink.flush-rows, sink.parallelism, source.parallelism"
            ),
            "{message}"
        );
    }

    #[test]
    fn a_family_member_typo_is_matched_against_the_family() {
        let t = table(&[
            ("connector", "x"),
            ("path", "/p"),
            ("fields.id.knd", "random"),
        ]);
        let message = validate(&t, "x", Role::Source, &declared())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("did you mean 'fields.#.kind'?"),
            "{message}"
        );
    }

    #[test]
    fn options_of_the_other_role_are_accepted_as_flink_does() {
        let t = table(&[("connector", "x"), ("path", "/p"), ("properties.a", "1")]);
        assert!(validate(&t, "x", Role::Sink, &declared()).is_ok());
        assert!(validate(&t, "x", Role::Source, &declared()).is_ok());
        // Still checked for their type.
        let t = table(&[
            ("connector", "x"),
            ("path", "/p"),
            ("sink.flush-rows", "many"),
        ]);
        let message = validate(&t, "x", Role::Source, &declared())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("option 'sink.flush-rows' must be an integer"),
            "{message}"
        );
    }

    #[test]
    fn missing_required_and_wrongly_typed_values_name_the_key() {
        let missing = validate(
            &table(&[("connector", "x")]),
            "x",
            Role::Source,
            &declared(),
        );
        assert_eq!(
            missing.unwrap_err().to_string(),
            "table 't': missing required option 'path'"
        );
        let wrong = table(&[
            ("connector", "x"),
            ("path", "/p"),
            ("fields.id.kind", "odd"),
        ]);
        assert_eq!(
            validate(&wrong, "x", Role::Source, &declared())
                .unwrap_err()
                .to_string(),
            "table 't': option 'fields.id.kind' must be 'sequence' or 'random', got 'odd'"
        );
        let rate = table(&[
            ("connector", "x"),
            ("path", "/p"),
            ("rows-per-second", "fast"),
        ]);
        assert_eq!(
            validate(&rate, "x", Role::Source, &declared())
                .unwrap_err()
                .to_string(),
            "table 't': option 'rows-per-second' must be a number, got 'fast'"
        );
    }

    #[test]
    fn typed_reads_fall_back_to_the_declared_default() {
        let t = table(&[("fields.id.kind", "SEQUENCE")]);
        let options = TableOptions::new(&t);
        assert_eq!(options.double(&RATE).unwrap(), Some(10000.0));
        let key = TableOptions::family_key(&KIND, "id");
        assert_eq!(options.choice_at(&key, &KIND).unwrap(), Some("sequence"));
        assert_eq!(options.string(&PATH), None);
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("path", "path"), 0);
        assert_eq!(edit_distance("paht", "path"), 2);
        assert_eq!(edit_distance("formt", "format"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
