//! JDBC URLs as Flink users write them (`jdbc:mysql://host:3306/shop`,
//! `jdbc:mariadb://...`, `jdbc:postgresql://host/db?user=u`), parsed into
//! what rtdw's native clients need.

use std::fmt;

/// The database family a URL names: it decides the protocol and the SQL
/// dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// MySQL and MariaDB (`jdbc:mysql:`, `jdbc:mariadb:`).
    MySql,
    /// PostgreSQL (`jdbc:postgresql:`).
    Postgres,
}

impl Dialect {
    /// The port when the URL gives none.
    fn default_port(self) -> u16 {
        match self {
            Dialect::MySql => 3306,
            Dialect::Postgres => 5432,
        }
    }
}

/// A parsed JDBC URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct JdbcUrl {
    /// Which protocol and dialect.
    pub dialect: Dialect,
    /// The server's host.
    pub host: String,
    /// The server's port.
    pub port: u16,
    /// The database the connection opens.
    pub database: String,
    /// The user (`username`, or `user=` in the URL).
    pub user: Option<String>,
    /// The password (`password`, or `password=` in the URL).
    pub password: Option<String>,
}

impl fmt::Debug for JdbcUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JdbcUrl")
            .field("dialect", &self.dialect)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl JdbcUrl {
    /// Parses `jdbc:<mysql|mariadb|postgresql>://host[:port]/database[?k=v&...]`;
    /// the error says what was expected.
    pub fn parse(text: &str) -> Result<JdbcUrl, String> {
        const EXPECTED: &str = "must look like 'jdbc:mysql://host:port/database', 'jdbc:mariadb://host:port/database' or 'jdbc:postgresql://host:port/database'";
        let rest = text
            .trim()
            .strip_prefix("jdbc:")
            .ok_or_else(|| EXPECTED.to_string())?;
        let (scheme, rest) = rest.split_once("://").ok_or_else(|| EXPECTED.to_string())?;
        let dialect = match scheme {
            "mysql" | "mariadb" => Dialect::MySql,
            "postgresql" => Dialect::Postgres,
            other => {
                return Err(format!(
                    "names the database '{other}', which rtdw cannot reach; it {EXPECTED}"
                ));
            }
        };
        let (address, rest) = rest.split_once('/').unwrap_or((rest, ""));
        let (database, query) = rest.split_once('?').unwrap_or((rest, ""));
        if address.contains(',') {
            return Err("names several hosts; rtdw connects to one: give one host".into());
        }
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| format!("has the port '{port}', which is not a port number"))?,
            ),
            None => (address, dialect.default_port()),
        };
        if host.is_empty() {
            return Err(format!("has no host; it {EXPECTED}"));
        }
        if database.is_empty() {
            return Err(format!("names no database; it {EXPECTED}"));
        }
        let mut url = JdbcUrl {
            dialect,
            host: host.trim_matches(['[', ']']).to_string(),
            port,
            database: database.to_string(),
            user: None,
            password: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("user", value)) => url.user = Some(value.to_string()),
                Some(("password", value)) => url.password = Some(value.to_string()),
                _ => {}
            }
        }
        Ok(url)
    }

    /// `host:port/database`, for messages (no credentials).
    pub fn describe(&self) -> String {
        format!("{}:{}/{}", self.host, self.port, self.database)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_as_flink_users_write_them() {
        let url = JdbcUrl::parse("jdbc:mysql://db.local:3307/shop?useSSL=false&user=app").unwrap();
        assert_eq!(url.dialect, Dialect::MySql);
        assert_eq!((url.host.as_str(), url.port), ("db.local", 3307));
        assert_eq!(url.database, "shop");
        assert_eq!(url.user.as_deref(), Some("app"));
        let url = JdbcUrl::parse("jdbc:mariadb://10.0.0.1/shop").unwrap();
        assert_eq!((url.dialect, url.port), (Dialect::MySql, 3306));
        let url = JdbcUrl::parse("jdbc:postgresql://pg:5433/dws?password=secret-pw").unwrap();
        assert_eq!((url.dialect, url.port), (Dialect::Postgres, 5433));
        assert_eq!(url.password.as_deref(), Some("secret-pw"));
        assert!(!format!("{url:?}").contains("secret-pw"), "{url:?}");
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let error = JdbcUrl::parse("mysql://h/db").unwrap_err();
        assert!(error.contains("jdbc:mysql://host:port/database"), "{error}");
        let error = JdbcUrl::parse("jdbc:oracle:thin://h/db").unwrap_err();
        assert!(error.contains("'oracle:thin'"), "{error}");
        let error = JdbcUrl::parse("jdbc:mysql://h:port/db").unwrap_err();
        assert!(error.contains("'port'"), "{error}");
        let error = JdbcUrl::parse("jdbc:postgresql://h:5432/").unwrap_err();
        assert!(error.contains("no database"), "{error}");
        let error = JdbcUrl::parse("jdbc:mysql://a,b/db").unwrap_err();
        assert!(error.contains("several hosts"), "{error}");
    }
}
