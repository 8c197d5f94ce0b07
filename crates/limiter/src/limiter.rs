//! The `Limiter` trait the gateway talks to; `RedisLimiter` shares limits across replicas,
//! `MemoryLimiter` keeps the same semantics in one process.

use std::time::Duration;

use async_trait::async_trait;

use crate::admission::Admission;
use crate::budget_state::{BudgetState, BudgetTotals, CorrectCharged};
use crate::error::LimiterError;
use crate::lease::{Lease, Renewal};
use crate::lease_settlement::LeaseSettlement;
use crate::reclaim_stats::ReclaimStats;
use crate::request::{AdmissionRequest, BudgetPeriod};

#[async_trait]
pub trait Limiter: Send + Sync {
    /// Decides one request all or nothing: team bucket, account per-endpoint bucket, team
    /// lease, account lease (if `takes_account_slot`), credit hold. A request that takes no
    /// team slot (an async task) takes neither lease and no concurrency limit refuses it; it
    /// holds its credits until settled or expired. A refusal takes nothing.
    /// Expired leases found on the way are reclaimed first (see `Admission::reclaimed`).
    /// A request with a budget is refused as `BudgetUnseeded` until the period is seeded.
    async fn admit(&self, request: &AdmissionRequest) -> Result<Admission, LimiterError>;

    /// `admit` with the team's `weight`, and, if only the account's concurrency is full, a
    /// wait of up to `max_wait` in the account's fair queue (shared by every replica) instead
    /// of an immediate refusal. Free slots go to the waiting team with the lowest (account
    /// slots in use + ½) ÷ weight (ties: the oldest waiter), each team's waiters in arrival
    /// order; a team's waiters count against its own concurrency. Any other refusal (budget,
    /// team rate or concurrency, and account rate at arrival) returns at once. At the
    /// deadline the request leaves the queue and is refused as `AccountConcurrency`. A request
    /// that takes no team slot (an async task) never waits.
    /// `max_wait` zero: a weighted `admit` that never waits. Plain `admit` counts as weight 1.
    /// `weight` must be within `1..=MAX_WEIGHT`.
    async fn admit_or_wait(
        &self,
        request: &AdmissionRequest,
        weight: u32,
        max_wait: Duration,
    ) -> Result<Admission, LimiterError>;

    /// Extends both leases to now + the lease TTL, re-creating whatever is missing (Redis
    /// lost its state, or the lease expired and was reclaimed): the team lease, the account
    /// lease (if it holds one) and the hold, unless the hold was reclaimed (then settlement
    /// charges through the reclaimed path). Re-created slots are taken back even if the limit
    /// is full meanwhile. A lease without a team slot (an async task) only keeps (or gets
    /// back) its hold. It cannot tell a settled lease from a lost one: never renew a lease
    /// after settling it.
    async fn renew(&self, lease: &Lease) -> Result<Renewal, LimiterError>;

    /// Releases both leases (an async task has none: no slot is freed) and turns the hold
    /// into `actual_charge` (held -= estimate, charged += actual). Idempotent: a second call
    /// finds nothing and changes nothing.
    async fn settle(
        &self,
        lease: &Lease,
        actual_charge: i64,
    ) -> Result<LeaseSettlement, LimiterError>;

    /// Settles with no charge (the upstream call failed or was never made).
    async fn release(&self, lease: &Lease) -> Result<LeaseSettlement, LimiterError> {
        self.settle(lease, 0).await
    }

    /// A team's charged and live-held credits for a period (holds of expired, not yet
    /// reclaimed leases excluded). Read-only.
    async fn budget_totals(
        &self,
        team_id: &str,
        period: &BudgetPeriod,
    ) -> Result<BudgetTotals, LimiterError>;

    /// Seeds a period's charged total from the ledger (the period's posted total), once: if
    /// the period is not seeded yet, sets its charged total to `charged` (replacing whatever
    /// settlements added since Redis lost its state) and marks it seeded; holds stay. If it
    /// is already seeded, changes nothing (a replica starting while others settle cannot
    /// erase their charges). Returns whether this call seeded. Admissions with a budget are
    /// refused as `BudgetUnseeded` until a period is seeded.
    async fn seed_charged(
        &self,
        team_id: &str,
        period: &BudgetPeriod,
        charged: i64,
    ) -> Result<bool, LimiterError>;

    /// Compare-and-set for the ledger reconciler: sets a period's charged total to `charged`
    /// only if the period is seeded and its charged total is still `expected` (as read from
    /// `budget_state`), so a settlement in between is never lost. Holds stay.
    async fn correct_charged(
        &self,
        team_id: &str,
        period: &BudgetPeriod,
        expected: i64,
        charged: i64,
    ) -> Result<CorrectCharged, LimiterError>;

    /// A period's budget as stored: seeded or not, charged, held and each hold. Read-only.
    async fn budget_state(
        &self,
        team_id: &str,
        period: &BudgetPeriod,
    ) -> Result<BudgetState, LimiterError>;

    /// `true` if the backend kept its state since the previous call, `false` on the first
    /// call or after Redis lost its data (restart without persistence, FLUSHDB, failover);
    /// either way the marker is there again afterwards. Poll it (every second) to notice a
    /// loss and reconcile at once. On Redis the marker is shared: after a loss, only the
    /// first replica to call sees `false`.
    async fn state_marker(&self) -> Result<bool, LimiterError>;

    /// Reclaim totals seen by this instance (for the metrics endpoint).
    fn reclaim_stats(&self) -> ReclaimStats;
}
