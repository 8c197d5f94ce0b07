//! The `Limiter` trait the gateway talks to; `RedisLimiter` shares limits across replicas,
//! `MemoryLimiter` keeps the same semantics in one process.

use std::time::Duration;

use async_trait::async_trait;

use crate::admission::Admission;
use crate::error::LimiterError;
use crate::lease::Lease;
use crate::reclaim_stats::ReclaimStats;
use crate::request::{AdmissionRequest, BudgetPeriod};
use crate::settlement::{BudgetPosition, Settlement};

#[async_trait]
pub trait Limiter: Send + Sync {
    /// Decides one request all or nothing: team bucket, account per-endpoint bucket, team
    /// lease, account lease (if `takes_account_slot`), credit hold. A refusal takes nothing.
    /// Expired leases found on the way are reclaimed first (see `Admission::reclaimed`).
    async fn admit(&self, request: &AdmissionRequest) -> Result<Admission, LimiterError>;

    /// `admit` with the team's `weight` in the account's fair share, and, if only the
    /// account's concurrency is full, a wait of up to `max_wait` in the account-wide fair
    /// queue (shared by every replica) instead of an immediate refusal. Free slots go to the
    /// waiting team with the fewest account slots per unit of weight (ties: the oldest
    /// waiter), each team's waiters in arrival order; a team's waiters count against its own
    /// concurrency. Any other refusal (budget, team rate or concurrency, and account rate at
    /// arrival) returns at once. At the deadline the request leaves the queue and is refused
    /// as `AccountConcurrency`. `max_wait` zero: a weighted `admit` that never waits. Plain
    /// `admit` counts as weight 1. `weight` must be within `1..=MAX_WEIGHT`.
    async fn admit_or_wait(
        &self,
        request: &AdmissionRequest,
        weight: u32,
        max_wait: Duration,
    ) -> Result<Admission, LimiterError>;

    /// Extends both leases to now + the lease TTL. `false` if the lease already expired or
    /// was settled: its slots (and hold) may have gone to someone else.
    async fn renew(&self, lease: &Lease) -> Result<bool, LimiterError>;

    /// Releases both leases and turns the hold into `actual_charge` (held -= estimate,
    /// charged += actual). Idempotent: a second call finds nothing and changes nothing.
    async fn settle(&self, lease: &Lease, actual_charge: i64) -> Result<Settlement, LimiterError>;

    /// Settles with no charge (the upstream call failed or was never made).
    async fn release(&self, lease: &Lease) -> Result<Settlement, LimiterError> {
        self.settle(lease, 0).await
    }

    /// A team's charged and live-held credits for a period (holds of expired, not yet
    /// reclaimed leases excluded). Read-only.
    async fn budget_position(
        &self,
        team_id: &str,
        period: &BudgetPeriod,
    ) -> Result<BudgetPosition, LimiterError>;

    /// Seeds a period's charged total from the ledger at start-up, only if this period has
    /// no charged total yet (so replicas starting while others settle cannot lose charges).
    /// Returns whether it seeded.
    async fn seed_charged(
        &self,
        team_id: &str,
        period: &BudgetPeriod,
        charged: i64,
    ) -> Result<bool, LimiterError>;

    /// Overwrites a period's charged total (reconciliation against the ledger); holds stay.
    async fn set_charged(
        &self,
        team_id: &str,
        period: &BudgetPeriod,
        charged: i64,
    ) -> Result<BudgetPosition, LimiterError>;

    /// Reclaim totals seen by this instance (for the metrics endpoint).
    fn reclaim_stats(&self) -> ReclaimStats;
}
