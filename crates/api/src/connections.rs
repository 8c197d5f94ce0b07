//! Opening the gateway's connections: the Postgres pool (creating the database if asked
//! and running migrations) and the Redis limiter, each with bounded timeouts.

use crate::config::{DatabaseSettings, LimitSettings, RedisSettings};
use anyhow::Context;
use limiter::{RedisLimiter, RedisLimiterSettings};
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

/// The Redis limiter: one Redis at `redis.url`, or a Redis Cluster when `redis.cluster_nodes`
/// lists some of its nodes. Connections are made lazily; `readyz` tells whether Redis answers.
pub fn redis_limiter(
    redis: &RedisSettings,
    limits: &LimitSettings,
) -> anyhow::Result<RedisLimiter> {
    let mut settings =
        RedisLimiterSettings::new(redis.key_prefix.clone(), limits.account_name.clone());
    settings.command_timeout = Duration::from_millis(redis.timeout_ms);
    settings.connections = redis.connections;
    settings.pool_size = redis.pool_size;
    let limiter = if redis.cluster_nodes.is_empty() {
        RedisLimiter::connect(redis.url.expose(), settings)
    } else {
        let nodes: Vec<String> = redis
            .cluster_nodes
            .iter()
            .map(|n| n.expose().to_owned())
            .collect();
        RedisLimiter::connect_cluster(&nodes, settings)
    };
    limiter.context("building the Redis limiter")
}
