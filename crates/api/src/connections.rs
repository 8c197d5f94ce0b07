//! Opening the gateway's connections: the Postgres pool (creating the database if asked
//! and running migrations) and the Redis pool, each with bounded timeouts.

use crate::config::{DatabaseSettings, RedisSettings};
use anyhow::Context;
use deadpool_redis::{Pool as RedisPool, Runtime, Timeouts};
use sqlx::PgPool;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// Connects to Postgres; creates the database first when `create_if_missing` is set.
pub async fn connect_postgres(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    let url = settings.url.expose();
    if settings.create_if_missing
        && !sqlx::Postgres::database_exists(url)
            .await
            .context("checking that the database exists")?
    {
        sqlx::Postgres::create_database(url)
            .await
            .context("creating the database")?;
    }
    let options = PgConnectOptions::from_str(url).context("parsing database.url")?;
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_secs))
        .connect_with(options)
        .await
        .context("connecting to Postgres")
}

/// Applies every pending migration from `migrations/`.
pub async fn migrate(db: &PgPool) -> anyhow::Result<()> {
    accounting::migrate(db).await.context("running migrations")
}

/// Builds the Redis pool. Connections are made lazily; `readyz` tells whether Redis answers.
pub fn redis_pool(settings: &RedisSettings) -> anyhow::Result<RedisPool> {
    let timeout = Duration::from_millis(settings.timeout_ms);
    let mut config = deadpool_redis::Config::from_url(settings.url.expose());
    let mut pool_config = deadpool_redis::PoolConfig::new(settings.pool_size);
    pool_config.timeouts = Timeouts {
        wait: Some(timeout),
        create: Some(timeout),
        recycle: Some(timeout),
    };
    config.pool = Some(pool_config);
    config
        .create_pool(Some(Runtime::Tokio1))
        .context("building the Redis pool")
}
