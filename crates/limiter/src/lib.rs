//! Shares one cloro account's rate, concurrency and credits between teams: each admission is
//! one atomic, all-or-nothing decision (a Redis Lua script, or its in-memory twin), with
//! crash-safe concurrency leases and credit holds. See README.md.

mod admission;
mod budget_state;
mod error;
mod fair_queue;
mod lease;
mod lease_settlement;
mod limiter;
mod memory_limiter;
mod reclaim_stats;
mod redis_limiter;
mod request;

pub use admission::{
    Admission, AdmissionOutcome, BudgetSnapshot, ConcurrencySnapshot, RateSnapshot, Reclaimed,
    RefusedBy,
};
pub use budget_state::{BudgetState, BudgetTotals, CorrectCharged};
pub use error::{BoxError, LimiterError};
pub use fair_queue::MAX_WEIGHT;
pub use lease::{Lease, Renewal};
pub use lease_settlement::{LeaseSettlement, SettleOutcome};
pub use limiter::Limiter;
pub use memory_limiter::MemoryLimiter;
pub use reclaim_stats::ReclaimStats;
pub use redis_limiter::{
    DEFAULT_BUCKET_MARGIN, DEFAULT_BUDGET_GRACE, DEFAULT_COMMAND_TIMEOUT, DEFAULT_LEASE_SET_MARGIN,
    DEFAULT_WAITER_TTL, RedisLimiter, RedisLimiterSettings, cluster_hash_slot,
};
pub use request::{
    AccountLimits, AdmissionRequest, BudgetPeriod, DEFAULT_ACCOUNT_RPS_PER_ENDPOINT, MAX_CREDITS,
    MAX_ID_LEN, MAX_LEASE_TTL_MS, TeamQuota,
};
