//! A fresh, migrated database for each test, dropped when the test finishes cleanly.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, PgPool};
use uuid::Uuid;

const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct TestDatabase {
    pub pool: PgPool,
    name: String,
    admin_url: String,
}

impl TestDatabase {
    /// Creates `accounting_test_<uuid>` and runs the migrations in it.
    pub async fn new() -> Self {
        let admin_url =
            std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
        let name = format!("accounting_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("connect to DATABASE_URL");
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .expect("create the test database");
        admin.close().await.expect("close the admin connection");

        let options = PgConnectOptions::from_str(&admin_url)
            .expect("parse DATABASE_URL")
            .database(&name);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .expect("connect to the test database");
        accounting::migrate(&pool).await.expect("run migrations");
        Self {
            pool,
            name,
            admin_url,
        }
    }

    /// Drops the database. A failing test skips this and leaves its database for inspection.
    pub async fn drop(self) {
        self.pool.close().await;
        let mut admin = PgConnection::connect(&self.admin_url)
            .await
            .expect("connect to DATABASE_URL");
        admin
            .execute(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            )))
            .await
            .expect("drop the test database");
    }
}

/// The SQLSTATE of a database error, e.g. `23001` for the ledger's append-only trigger.
pub fn sqlstate(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(error) => error.code().map(|code| code.into_owned()),
        _ => None,
    }
}
