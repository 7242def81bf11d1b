//! Places in the binlog: a file and an offset in it ([`BinlogPosition`]),
//! and the transactions read so far by GTID ([`GtidSet`]: MariaDB's
//! `domain-server-sequence` per domain, MySQL's `uuid:intervals`).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// An offset in a binlog file. Positions order by file (by the sequence
/// number the server appends to its names), then offset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct BinlogPosition {
    /// The file's name (`mariadb-bin.000003`).
    pub file: String,
    /// The offset of an event in it (4 is the first).
    pub pos: u64,
}

impl BinlogPosition {
    /// `pos` in `file`.
    pub(crate) fn new(file: impl Into<String>, pos: u64) -> Self {
        BinlogPosition {
            file: file.into(),
            pos,
        }
    }

    /// The number after the last dot of the file's name.
    fn sequence(&self) -> u64 {
        self.file
            .rsplit('.')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl Ord for BinlogPosition {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.sequence(), &self.file, self.pos).cmp(&(other.sequence(), &other.file, other.pos))
    }
}

impl PartialOrd for BinlogPosition {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for BinlogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}

/// The transactions read, by GTID.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) enum GtidSet {
    /// No GTIDs seen (a server without them).
    #[default]
    Empty,
    /// MariaDB: the last transaction of each replication domain, as
    /// `(server id, sequence)`.
    MariaDb(BTreeMap<u32, (u32, u64)>),
    /// MySQL: the transaction numbers of each source server uuid, as
    /// inclusive intervals.
    MySql(BTreeMap<String, Vec<(u64, u64)>>),
}

impl GtidSet {
    /// Parses MariaDB's `0-1-46,1-2-9` or MySQL's `uuid:1-5:7,uuid2:1-3`.
    pub(crate) fn parse(text: &str) -> Option<GtidSet> {
        let text = text.trim();
        if text.is_empty() {
            return Some(GtidSet::Empty);
        }
        if text.contains(':') {
            let mut sets = BTreeMap::new();
            for part in text.split(',').map(str::trim) {
                let mut pieces = part.split(':');
                let uuid = pieces.next()?.to_ascii_lowercase();
                let mut intervals = Vec::new();
                for interval in pieces {
                    let (start, end) = match interval.split_once('-') {
                        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                        None => {
                            let n = interval.parse().ok()?;
                            (n, n)
                        }
                    };
                    intervals.push((start, end));
                }
                sets.insert(uuid, intervals);
            }
            return Some(GtidSet::MySql(sets));
        }
        let mut domains = BTreeMap::new();
        for part in text.split(',').map(str::trim) {
            let mut numbers = part.split('-');
            let domain = numbers.next()?.parse().ok()?;
            let server = numbers.next()?.parse().ok()?;
            let sequence = numbers.next()?.parse().ok()?;
            if numbers.next().is_some() {
                return None;
            }
            domains.insert(domain, (server, sequence));
        }
        Some(GtidSet::MariaDb(domains))
    }

    /// Notes a MariaDB transaction as read.
    pub(crate) fn add_mariadb(&mut self, domain: u32, server: u32, sequence: u64) {
        if !matches!(self, GtidSet::MariaDb(_)) {
            *self = GtidSet::MariaDb(BTreeMap::new());
        }
        if let GtidSet::MariaDb(domains) = self {
            domains.insert(domain, (server, sequence));
        }
    }

    /// Notes a MySQL transaction as read.
    pub(crate) fn add_mysql(&mut self, uuid: &str, number: u64) {
        if !matches!(self, GtidSet::MySql(_)) {
            *self = GtidSet::MySql(BTreeMap::new());
        }
        let GtidSet::MySql(sets) = self else {
            return;
        };
        let intervals = sets.entry(uuid.to_ascii_lowercase()).or_default();
        match intervals.last_mut() {
            Some((_, end)) if *end + 1 == number => *end = number,
            Some((_, end)) if *end >= number => {}
            _ => intervals.push((number, number)),
        }
    }

    /// Whether no GTID was noted.
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            GtidSet::Empty => true,
            GtidSet::MariaDb(d) => d.is_empty(),
            GtidSet::MySql(s) => s.is_empty(),
        }
    }
}

impl fmt::Display for GtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GtidSet::Empty => Ok(()),
            GtidSet::MariaDb(domains) => {
                let parts: Vec<String> = domains
                    .iter()
                    .map(|(d, (s, n))| format!("{d}-{s}-{n}"))
                    .collect();
                f.write_str(&parts.join(","))
            }
            GtidSet::MySql(sets) => {
                let parts: Vec<String> = sets
                    .iter()
                    .map(|(uuid, intervals)| {
                        let mut text = uuid.clone();
                        for (a, b) in intervals {
                            if a == b {
                                text.push_str(&format!(":{a}"));
                            } else {
                                text.push_str(&format!(":{a}-{b}"));
                            }
                        }
                        text
                    })
                    .collect();
                f.write_str(&parts.join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_by_file_sequence_then_offset() {
        let a = BinlogPosition::new("mariadb-bin.000009", 900);
        let b = BinlogPosition::new("mariadb-bin.000010", 4);
        let c = BinlogPosition::new("mariadb-bin.000010", 5);
        assert!(a < b && b < c);
        assert_eq!(b.to_string(), "mariadb-bin.000010:4");
    }

    #[test]
    fn gtid_sets_round_trip_and_grow() {
        let mut set = GtidSet::parse("0-1-46,1-2-9").unwrap();
        set.add_mariadb(0, 1, 47);
        assert_eq!(set.to_string(), "0-1-47,1-2-9");
        let mut mysql = GtidSet::parse("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:7").unwrap();
        mysql.add_mysql("3e11fa47-71ca-11e1-9e33-c80aa9429562", 8);
        mysql.add_mysql("3e11fa47-71ca-11e1-9e33-c80aa9429562", 10);
        assert_eq!(
            mysql.to_string(),
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7-8:10"
        );
        assert_eq!(GtidSet::parse("0-1"), None);
        assert!(GtidSet::parse("").unwrap().is_empty());
    }
}
