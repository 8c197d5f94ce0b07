//! How a `RedisLimiter` names its keys and how long it waits for Redis.

use std::time::Duration;

/// Budget keys outlive their period by this much (late settlements, reconciliation).
pub const DEFAULT_BUDGET_GRACE: Duration = Duration::from_secs(24 * 3600);
/// Lease sets outlive their longest lease by this much.
pub const DEFAULT_LEASE_SET_MARGIN: Duration = Duration::from_secs(60);
/// Buckets outlive a full refill by this much (after that, a missing bucket is a full one).
pub const DEFAULT_BUCKET_MARGIN: Duration = Duration::from_secs(5);
/// A queued waiter that stops polling (its replica died) is dropped after this.
pub const DEFAULT_WAITER_TTL: Duration = Duration::from_secs(1);
/// A Redis call (pool wait included) that takes longer is `Unavailable`.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisLimiterSettings {
    /// Prepended to every key (e.g. `cg:`, or `test:<uuid>:`); no `{` or `}`.
    pub key_prefix: String,
    /// The shared account's name: the Redis Cluster hash tag of every key.
    pub account: String,
    pub command_timeout: Duration,
    pub budget_grace: Duration,
    pub lease_set_margin: Duration,
    pub bucket_margin: Duration,
    /// A waiter that has not polled for this long is dropped from the fair queue (it polls
    /// every 10–25 ms; keep this well above the command timeout).
    pub waiter_ttl: Duration,
    /// Multiplexed connections `RedisLimiter::connect` opens to one Redis (taken in turn).
    /// One is the fastest: Redis runs one command at a time whatever the number of
    /// connections, and on one connection concurrent calls share its reads and writes.
    pub connections: usize,
    /// The size of the Redis Cluster pool (`RedisLimiter::connect_cluster`).
    pub pool_size: usize,
}

impl RedisLimiterSettings {
    pub fn new(key_prefix: impl Into<String>, account: impl Into<String>) -> Self {
        Self {
            key_prefix: key_prefix.into(),
            account: account.into(),
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            budget_grace: DEFAULT_BUDGET_GRACE,
            lease_set_margin: DEFAULT_LEASE_SET_MARGIN,
            bucket_margin: DEFAULT_BUCKET_MARGIN,
            waiter_ttl: DEFAULT_WAITER_TTL,
            connections: 1,
            pool_size: 16,
        }
    }
}
