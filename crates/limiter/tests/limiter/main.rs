//! Integration tests for the limiter: the behaviour tests run against both backends
//! (`RedisLimiter` on a real Redis from `REDIS_URL`, default `redis://127.0.0.1:6379`, with a
//! fresh `test:<uuid>:` key prefix per test; and `MemoryLimiter`), plus Redis-only checks.

// Helpers outside `#[test]` functions fail the test the same way, by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod support;

mod all_or_nothing;
mod async_tasks;
mod budgets;
mod cluster;
mod concurrency;
mod fair_queue_shares;
mod fair_queue_waiters;
mod leases;
mod rate_limits;
mod redis_failures;
mod redis_keys;
mod state_loss;
