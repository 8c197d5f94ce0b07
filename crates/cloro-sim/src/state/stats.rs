//! Totals behind `/_sim/stats`.

use serde::{Deserialize, Serialize};

/// Running counters not derivable from other state.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: u64,
    pub responses_429: u64,
    pub tasks_completed: u64,
    pub tasks_failed: u64,
    pub webhook_attempts: u64,
    pub webhooks_delivered: u64,
}

/// A snapshot of the simulator's totals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// HTTP requests served (not counting `/_sim`).
    pub requests: u64,
    /// Credits charged by sync calls and finished tasks.
    pub credits_charged: u64,
    pub peak_concurrency: u32,
    pub current_concurrency: u32,
    /// Every 429 sent (concurrency, rate, queue).
    pub responses_429: u64,
    pub balance: i64,
    pub tasks_queued: usize,
    pub tasks_processing: usize,
    pub tasks_completed: u64,
    pub tasks_failed: u64,
    pub webhook_attempts: u64,
    pub webhooks_delivered: u64,
}
