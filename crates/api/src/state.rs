//! What every handler can reach: the settings, the Postgres pool and the Redis pool.
//! Built once by `startup` and shared by reference across workers.

use crate::config::Settings;
use deadpool_redis::Pool as RedisPool;
use sqlx::PgPool;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: PgPool,
    pub redis: RedisPool,
}
