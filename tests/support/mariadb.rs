//! Databases of a test's own on a real MariaDB with a row binlog
//! (`services.sh up mariadb`: the run's shared server, else one of the
//! test's own), written and queried with a client of the test's own
//! (`mysql_async` as root), independent of the connector under test.

#![allow(dead_code)]

use mysql_async::prelude::{FromRow, Queryable};
use mysql_async::{Conn, Opts};

use crate::support::services::{Service, client_runtime, unique_name};

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
        let name = unique_name(base, '_');
        let runtime = client_runtime("MariaDB");
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

    /// Restarts the server (a service of the test's own).
    pub fn restart_server(&mut self) {
        self.service.restart();
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

    /// The rows of a query in this database over the binary protocol
    /// (typed, exact values).
    pub fn query_typed(&self, query: &str) -> Vec<mysql_async::Row> {
        let mut conn = self.connect(&format!("{}/{}", self.url, self.name));
        let rows = self
            .runtime
            .block_on(conn.exec(query, ()))
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        let _ = self.runtime.block_on(conn.disconnect());
        rows
    }

    /// The `WITH` options a `mysql-cdc` table needs to read `tables` (a
    /// pattern) of this database as the CDC user.
    pub fn cdc_options(&self, tables: &str) -> String {
        self.cdc_options_for(&self.name, tables)
    }

    /// The `WITH` options a `mysql-cdc` table needs to read the `tables`
    /// of the `databases` (patterns) as the CDC user.
    pub fn cdc_options_for(&self, databases: &str, tables: &str) -> String {
        self.cdc_options_as(
            self.service.var("RTDW_MARIADB_CDC_USER"),
            self.service.var("RTDW_MARIADB_CDC_PASSWORD"),
            databases,
            tables,
        )
    }

    /// The `WITH` options of a `mysql-cdc` table reading as `user`.
    pub fn cdc_options_as(
        &self,
        user: &str,
        password: &str,
        databases: &str,
        tables: &str,
    ) -> String {
        format!(
            "'connector' = 'mysql-cdc', 'hostname' = '{}', 'port' = '{}', 'username' = '{user}', 'password' = '{password}', 'database-name' = '{databases}', 'table-name' = '{tables}'",
            self.service.var("RTDW_MARIADB_HOST"),
            self.service.var("RTDW_MARIADB_PORT"),
        )
    }

    /// The `WITH` options of a `jdbc` table `table` of this database,
    /// connecting as root (`jdbc:mariadb://...`, as a Flink user writes it).
    pub fn jdbc_options(&self, table: &str) -> String {
        format!(
            "'connector' = 'jdbc', 'url' = 'jdbc:mariadb://{}:{}/{}', 'table-name' = '{table}', 'username' = '{}', 'password' = '{}'",
            self.service.var("RTDW_MARIADB_HOST"),
            self.service.var("RTDW_MARIADB_PORT"),
            self.name,
            self.service.var("RTDW_MARIADB_USER"),
            self.service.var("RTDW_MARIADB_PASSWORD"),
        )
    }

    /// The current binlog file (`SHOW MASTER STATUS`).
    pub fn binlog_file(&self) -> String {
        let rows: Vec<mysql_async::Row> = self.query("SHOW MASTER STATUS");
        rows.first()
            .and_then(|row| row.get::<String, _>(0))
            .expect("the server writes a binlog")
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
