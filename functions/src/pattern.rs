//! Java date-time patterns (`yyyy-MM-dd HH:mm:ss`), which Flink's
//! DATE_FORMAT, TO_TIMESTAMP, TO_DATE, FROM_UNIXTIME and UNIX_TIMESTAMP
//! take, translated to chrono, and Flink's default date-time texts.

use std::fmt::Write as _;

use chrono::format::{Item, Parsed, StrftimeItems, parse, parse_and_remainder};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};

/// Flink's default pattern for timestamps.
pub(super) const DEFAULT_TIMESTAMP: &str = "yyyy-MM-dd HH:mm:ss";

/// The pattern letters supported, for error messages.
const SUPPORTED: &str = "y M d D H h m s S a E Z X";

/// A Java date-time pattern, ready to format and parse.
#[derive(Debug)]
pub(super) struct DatePattern {
    items: Vec<Item<'static>>,
}

/// How much of a text a pattern must match when parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Match {
    /// All of it, as java.time's DateTimeFormatter requires.
    Whole,
    /// A prefix; the rest is ignored, as java.text.SimpleDateFormat does.
    Prefix,
}

/// A parsed date-time: its fields, and the UTC offset the text gave, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reading {
    /// The date and time as written.
    pub local: NaiveDateTime,
    /// The offset from UTC in seconds, when the pattern has a zone.
    pub offset: Option<i32>,
}

impl Reading {
    /// The instant, as a UTC date-time; a text without an offset is taken
    /// to be in UTC.
    pub fn utc(self) -> Option<NaiveDateTime> {
        self.local
            .checked_sub_signed(TimeDelta::seconds(i64::from(self.offset.unwrap_or(0))))
    }
}

impl DatePattern {
    /// Translates a Java pattern; the error says what is unsupported.
    pub fn new(java: &str) -> Result<Self, String> {
        let strftime = translate(java)?;
        let items = StrftimeItems::new(&strftime)
            .parse_to_owned()
            .map_err(|_| format!("invalid date-time pattern '{java}'"))?;
        Ok(DatePattern { items })
    }

    /// Formats a date-time; `None` if the pattern needs what the value
    /// lacks.
    pub fn format(&self, value: NaiveDateTime) -> Option<String> {
        let mut out = String::new();
        write!(
            out,
            "{}",
            value.and_utc().format_with_items(self.items.iter())
        )
        .ok()?;
        Some(out)
    }

    /// Parses a text. Fields the pattern lacks take Flink's defaults:
    /// 1970-01-01 00:00:00.
    pub fn parse(&self, text: &str, extent: Match) -> Option<Reading> {
        let mut parsed = Parsed::new();
        match extent {
            Match::Whole => parse(&mut parsed, text, self.items.iter()).ok()?,
            Match::Prefix => {
                parse_and_remainder(&mut parsed, text, self.items.iter()).ok()?;
            }
        }
        complete(parsed)
    }
}

fn complete(mut parsed: Parsed) -> Option<Reading> {
    if parsed.year().is_none() && parsed.year_mod_100().is_none() {
        parsed.set_year(1970).ok()?;
    }
    if parsed.ordinal().is_none() {
        if parsed.month().is_none() {
            parsed.set_month(1).ok()?;
        }
        if parsed.day().is_none() {
            parsed.set_day(1).ok()?;
        }
    }
    if parsed.hour_div_12().is_none() {
        parsed.set_ampm(false).ok()?;
    }
    if parsed.hour_mod_12().is_none() {
        parsed.set_hour12(12).ok()?;
    }
    if parsed.minute().is_none() {
        parsed.set_minute(0).ok()?;
    }
    let local = parsed
        .to_naive_date()
        .ok()?
        .and_time(parsed.to_naive_time().ok()?);
    Some(Reading {
        local,
        offset: parsed.offset(),
    })
}

/// Java pattern to strftime: runs of a letter are fields, text in single
/// quotes is literal (`''` is a quote), anything else is literal.
fn translate(java: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.next_if_eq(&'\'').is_some() {
                out.push('\'');
                continue;
            }
            loop {
                match chars.next() {
                    None => {
                        return Err(format!("unterminated quote in date-time pattern '{java}'"));
                    }
                    Some('\'') if chars.next_if_eq(&'\'').is_some() => out.push('\''),
                    Some('\'') => break,
                    Some(literal) => push_literal(&mut out, literal),
                }
            }
        } else if c.is_ascii_alphabetic() {
            let mut count = 1;
            while chars.next_if_eq(&c).is_some() {
                count += 1;
            }
            let field = field(c, count).ok_or_else(|| {
                format!(
                    "'{}' in date-time pattern '{java}' is not supported; supported letters: {SUPPORTED}",
                    c.to_string().repeat(count)
                )
            })?;
            out.push_str(field);
        } else {
            push_literal(&mut out, c);
        }
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

/// The strftime field for `count` repetitions of a Java pattern letter.
fn field(letter: char, count: usize) -> Option<&'static str> {
    Some(match (letter, count) {
        ('y', 2) => "%y",
        ('y', _) => "%Y",
        ('M', 1) => "%-m",
        ('M', 2) => "%m",
        ('M', 3) => "%b",
        ('M', _) => "%B",
        ('d', 1) => "%-d",
        ('d', 2) => "%d",
        ('D', 1 | 2) => "%-j",
        ('D', 3) => "%j",
        ('H', 1) => "%-H",
        ('H', 2) => "%H",
        ('h', 1) => "%-I",
        ('h', 2) => "%I",
        ('m', 1) => "%-M",
        ('m', 2) => "%M",
        ('s', 1) => "%-S",
        ('s', 2) => "%S",
        ('S', 3) => "%3f",
        ('S', 6) => "%6f",
        ('S', 9) => "%9f",
        ('a', 1) => "%p",
        ('E', 1..=3) => "%a",
        ('E', _) => "%A",
        ('Z' | 'X', 1..=3) => "%z",
        _ => return None,
    })
}

/// Flink's default timestamp text, `yyyy-M-d` optionally followed by
/// ` H:m:s` and a fraction of up to nine digits.
pub(super) fn parse_default_timestamp(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .map(|date| date.and_time(NaiveTime::MIN))
        })
}

/// Flink's default date text: `y[-M[-d]]` with years 0 to 9999, ignoring
/// anything after a space (so a timestamp text gives its date).
pub(super) fn parse_default_date(text: &str) -> Option<NaiveDate> {
    let text = match text.find(' ') {
        Some(space) if space > 0 => &text[..space],
        _ => text,
    };
    let mut parts = text.splitn(3, '-');
    let mut number = || -> Option<u32> {
        match parts.next() {
            None => Some(1),
            Some(part) => {
                let part = part.trim();
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                part.parse().ok()
            }
        }
    };
    let (year, month, day) = (number()?, number()?, number()?);
    if year > 9999 {
        return None;
    }
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    #[test]
    fn java_patterns_format_like_java() {
        let t = at("2024-03-05 07:08:09.123456");
        let cases = [
            ("yyyy-MM-dd HH:mm:ss", "2024-03-05 07:08:09"),
            ("yyyy/M/d H:m:s", "2024/3/5 7:8:9"),
            ("yy.MM.dd 'at' hh:mm a", "24.03.05 at 07:08 AM"),
            ("dd MMM yyyy, EEE", "05 Mar 2024, Tue"),
            ("EEEE d MMMM", "Tuesday 5 March"),
            ("HH:mm:ss.SSS", "07:08:09.123"),
            ("ss.SSSSSS", "09.123456"),
            ("D", "65"),
            ("'100%' yyyy", "100% 2024"),
            ("''yy''", "'24'"),
            ("yyyyMMddHHmmss Z", "20240305070809 +0000"),
        ];
        for (pattern, expected) in cases {
            let formatted = DatePattern::new(pattern).unwrap().format(t);
            assert_eq!(formatted.as_deref(), Some(expected), "{pattern}");
        }
    }

    #[test]
    fn unsupported_letters_are_named() {
        let err = DatePattern::new("yyyy-ww").unwrap_err();
        assert!(
            err.contains("'ww' in date-time pattern 'yyyy-ww' is not supported"),
            "{err}"
        );
        let err = DatePattern::new("yyyy 'at").unwrap_err();
        assert!(err.contains("unterminated quote"), "{err}");
    }

    #[test]
    fn parsing_fills_missing_fields_with_the_epoch() {
        let pattern = DatePattern::new("yyyy-MM-dd").unwrap();
        let reading = pattern.parse("2024-03-05", Match::Whole).unwrap();
        assert_eq!(reading.local, at("2024-03-05 00:00:00"));
        let pattern = DatePattern::new("HH:mm").unwrap();
        let reading = pattern.parse("10:30", Match::Whole).unwrap();
        assert_eq!(reading.local, at("1970-01-01 10:30:00"));
    }

    #[test]
    fn a_prefix_match_ignores_the_rest() {
        let pattern = DatePattern::new(DEFAULT_TIMESTAMP).unwrap();
        let text = "2024-03-05 07:08:09.123";
        assert_eq!(pattern.parse(text, Match::Whole), None);
        let reading = pattern.parse(text, Match::Prefix).unwrap();
        assert_eq!(reading.local, at("2024-03-05 07:08:09"));
    }

    #[test]
    fn an_offset_in_the_text_moves_the_instant() {
        let pattern = DatePattern::new("yyyy-MM-dd HH:mm:ss.SSS X").unwrap();
        let reading = pattern
            .parse("1970-01-01 08:00:01.001 +0800", Match::Whole)
            .unwrap();
        assert_eq!(reading.offset, Some(8 * 3600));
        assert_eq!(reading.utc(), Some(at("1970-01-01 00:00:01.001")));
    }

    #[test]
    fn default_texts() {
        assert_eq!(
            parse_default_timestamp("2024-3-5 7:08:09.123456789"),
            Some(at("2024-03-05 07:08:09.123456789"))
        );
        assert_eq!(
            parse_default_timestamp("2024-03-05"),
            Some(at("2024-03-05 00:00:00"))
        );
        assert_eq!(parse_default_timestamp("2024-03-05T07:08:09"), None);
        assert_eq!(parse_default_timestamp("yesterday"), None);
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(parse_default_date("2024-03-05"), date(2024, 3, 5));
        assert_eq!(parse_default_date("2024-03-05 10:00:00"), date(2024, 3, 5));
        assert_eq!(parse_default_date("2024-3"), date(2024, 3, 1));
        assert_eq!(parse_default_date("2024"), date(2024, 1, 1));
        assert_eq!(parse_default_date("2023-02-29"), None);
        assert_eq!(parse_default_date("2024-03-05-01"), None);
        assert_eq!(parse_default_date("03/05/2024"), None);
    }
}
