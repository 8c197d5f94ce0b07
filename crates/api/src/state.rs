//! What every handler can reach: the settings, the Postgres pool, the Redis limiter, the
//! directory and the account's effective settings.
//! Built once by `startup` and shared by reference across workers.

use crate::account::AccountState;
use crate::auth::Directory;
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
    /// Refreshed by the replica making an admin change before it answers.
    pub directory: Arc<Directory>,
    pub account: Arc<AccountState>,
}
