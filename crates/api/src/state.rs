//! What every handler can reach: the settings, the Postgres pool and the Redis limiter.
//! Built once by `startup` and shared by reference across workers.

use crate::config::Settings;
use limiter::RedisLimiter;
use sqlx::PgPool;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: PgPool,
    /// The Redis limiter, also the readiness probe's way to Redis.
    pub limiter: Arc<RedisLimiter>,
}
