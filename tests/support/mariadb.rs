//! Databases of a test's own on a real MariaDB with a row binlog
//! (`services.sh up mariadb`: the run's shared server, else one of the
//! test's own), written and queried with a client of the test's own
//! (`mysql_async` as root), independent of the connector under test.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use mysql_async::prelude::{FromRow, Queryable};
use mysql_async::{Conn, Opts};

use crate::support::services::Service;

/// Databases made by this process so far, to name each one uniquely.
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// A database of this test's own; the server stays up while it lives.
pub struct Database {
    /// Its unique name.
    pub name: String,
    service: Service,
    runtime: tokio::runtime::Runtime,
    url: String,
}

impl Database {
    /// Creates a database named after `base` on the shared server.
    pub fn create(base: &str) -> Database {
        Database::create_on(Service::shared_or_own("mariadb"), base)
    }

    /// Creates a database named after `base` on `service`.
    pub fn create_on(service: Service, base: &str) -> Database {
        let name = format!(
            "{base}_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the MariaDB client");
        let url = service.var("RTDW_MARIADB_URL").to_string();
        let database = Database {
            name,
            service,
            runtime,
            url,
        };
        database.on_server(&format!("CREATE DATABASE `{}`", database.name));
        database
    }

    /// The server's service (to stop and start it).
    pub fn service(&self) -> &Service {
        &self.service
    }

    fn connect(&self, url: &str) -> Conn {
        let opts = Opts::from_url(url).expect("a MariaDB URL");
        self.runtime
            .block_on(Conn::new(opts))
            .unwrap_or_else(|e| panic!("connect to MariaDB: {e}\n{}", self.service.log()))
    }

    /// Runs statements (separated by `;`) in this database.
    pub fn execute(&self, statements: &str) {
        self.run(&format!("{}/{}", self.url, self.name), statements);
    }

    /// Runs statements outside any database (as root: `FLUSH`, `PURGE`,
    /// `CREATE USER`).
    pub fn on_server(&self, statements: &str) {
        self.run(&self.url, statements);
    }

    fn run(&self, url: &str, statements: &str) {
        let mut conn = self.connect(url);
        self.runtime
            .block_on(conn.query_drop(statements))
            .unwrap_or_else(|e| panic!("{statements}: {e}"));
        let _ = self.runtime.block_on(conn.disconnect());
    }

    /// The rows of a query in this database.
    pub fn query<T: FromRow + Send + 'static>(&self, query: &str) -> Vec<T> {
        let mut conn = self.connect(&format!("{}/{}", self.url, self.name));
        let rows = self
            .runtime
            .block_on(conn.query(query))
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        let _ = self.runtime.block_on(conn.disconnect());
        rows
    }

    /// The `WITH` options a `mysql-cdc` table needs to read `tables` (a
    /// pattern) of this database as the CDC user.
    pub fn cdc_options(&self, tables: &str) -> String {
        format!(
            "'connector' = 'mysql-cdc', 'hostname' = '{}', 'port' = '{}', 'username' = '{}', 'password' = '{}', 'database-name' = '{}', 'table-name' = '{tables}'",
            self.service.var("RTDW_MARIADB_HOST"),
            self.service.var("RTDW_MARIADB_PORT"),
            self.service.var("RTDW_MARIADB_CDC_USER"),
            self.service.var("RTDW_MARIADB_CDC_PASSWORD"),
            self.name
        )
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        self.on_server(&format!("DROP DATABASE IF EXISTS `{}`", self.name));
    }
}
