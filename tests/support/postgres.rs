//! Databases of a test's own on a real PostgreSQL (`services.sh up
//! postgres`: the run's shared server, else one of the test's own),
//! written and queried with a client of the test's own (`tokio-postgres`
//! as the `postgres` superuser), independent of the connector under test.

#![allow(dead_code)]

use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use crate::support::services::{Service, client_runtime, unique_name};

/// A database of this test's own; the server stays up while it lives.
pub struct PgDatabase {
    /// Its unique name.
    pub name: String,
    service: Service,
    runtime: tokio::runtime::Runtime,
}

impl PgDatabase {
    /// Creates a database named after `base` on the shared server.
    pub fn create(base: &str) -> PgDatabase {
        let name = unique_name(base, '_');
        let runtime = client_runtime("PostgreSQL");
        let database = PgDatabase {
            name,
            service: Service::shared_or_own("postgres"),
            runtime,
        };
        database.run_in(
            "postgres",
            &format!("CREATE DATABASE \"{}\"", database.name),
        );
        database
    }

    fn connect(&self, database: &str) -> Client {
        let url = format!(
            "host={} port={} user={} dbname={database}",
            self.service.var("RTDW_POSTGRES_HOST"),
            self.service.var("RTDW_POSTGRES_PORT"),
            self.service.var("RTDW_POSTGRES_USER"),
        );
        let (client, driver) = self
            .runtime
            .block_on(tokio_postgres::connect(&url, NoTls))
            .unwrap_or_else(|e| panic!("connect to PostgreSQL: {e}\n{}", self.service.log()));
        self.runtime.spawn(driver);
        client
    }

    fn run_in(&self, database: &str, statements: &str) -> Vec<Vec<Option<String>>> {
        let client = self.connect(database);
        let messages = self
            .runtime
            .block_on(client.simple_query(statements))
            .unwrap_or_else(|e| panic!("{statements}: {e}"));
        messages
            .into_iter()
            .filter_map(|message| match message {
                SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    }

    /// Runs statements (separated by `;`) in this database.
    pub fn execute(&self, statements: &str) {
        self.run_in(&self.name, statements);
    }

    /// The rows of a query in this database, every value as text.
    pub fn query(&self, query: &str) -> Vec<Vec<Option<String>>> {
        self.run_in(&self.name, query)
    }

    /// The JDBC URL of this database, as a Flink user writes it.
    pub fn jdbc_url(&self) -> String {
        format!(
            "jdbc:postgresql://{}:{}/{}",
            self.service.var("RTDW_POSTGRES_HOST"),
            self.service.var("RTDW_POSTGRES_PORT"),
            self.name
        )
    }

    /// The user the tests connect as.
    pub fn user(&self) -> &str {
        self.service.var("RTDW_POSTGRES_USER")
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        self.run_in(
            "postgres",
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        );
    }
}
