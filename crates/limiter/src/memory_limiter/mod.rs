//! `MemoryLimiter`: the Redis limiter's semantics in one process, without Redis (the
//! behaviour tests run on both). One mutex makes each call atomic, as one Lua script is in
//! Redis.

mod bucket;
mod budget;
mod fair_queue;
mod state;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::admission::{Admission, AdmissionFacts};
use crate::budget_state::{BudgetState, BudgetTotals, CorrectCharged};
use crate::error::LimiterError;
use crate::fair_queue::{FairQueueBackend, QueueMode, QueueState};
use crate::lease::{Lease, Renewal};
use crate::lease_settlement::LeaseSettlement;
use crate::limiter::Limiter;
use crate::reclaim_stats::{ReclaimCounters, ReclaimStats};
use crate::request::{AdmissionRequest, BudgetPeriod, validate_credits, validate_team_period};
use state::{State, Timing};

/// How often (in admissions) the state forgets what Redis would have expired.
const PRUNE_EVERY: u64 = 1024;

#[derive(Debug)]
pub struct MemoryLimiter {
    state: Mutex<State>,
    budget_grace: Duration,
    min_budget_life: Duration,
    admissions: AtomicU64,
    reclaims: ReclaimCounters,
    /// Set by the first `state_marker` call (this process never loses its state).
    marker: AtomicBool,
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryLimiter {
    pub fn new() -> Self {
        Self::with_budget_grace(crate::redis_limiter::DEFAULT_BUDGET_GRACE)
    }

    /// Budget numbers of a period are forgotten `grace` after its end.
    pub fn with_budget_grace(grace: Duration) -> Self {
        Self {
            state: Mutex::new(State::default()),
            budget_grace: grace,
            min_budget_life: crate::redis_limiter::DEFAULT_LEASE_SET_MARGIN,
            admissions: AtomicU64::new(0),
            reclaims: ReclaimCounters::default(),
            marker: AtomicBool::new(false),
        }
    }

    fn timing(&self) -> Timing {
        Timing {
            now_ms: now_ms(),
            budget_grace_ms: millis(self.budget_grace),
            min_budget_life_ms: millis(self.min_budget_life),
            waiter_ttl_ms: millis(crate::redis_limiter::DEFAULT_WAITER_TTL),
        }
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A panic while holding the lock cannot leave a half-applied decision visible in a
        // way the Redis side could not either; keep serving.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut state)
    }
}

#[async_trait]
impl Limiter for MemoryLimiter {
    async fn admit(&self, request: &AdmissionRequest) -> Result<Admission, LimiterError> {
        crate::fair_queue::admit(self, request).await
    }

    async fn admit_or_wait(
        &self,
        request: &AdmissionRequest,
        weight: u32,
        max_wait: Duration,
    ) -> Result<Admission, LimiterError> {
        crate::fair_queue::admit_or_wait(self, request, weight, max_wait).await
    }

    async fn renew(&self, lease: &Lease) -> Result<Renewal, LimiterError> {
        lease.validate()?;
        let timing = self.timing();
        Ok(self.with_state(|state| state.renew(lease, timing)))
    }

    async fn settle(
        &self,
        lease: &Lease,
        actual_charge: i64,
    ) -> Result<LeaseSettlement, LimiterError> {
        lease.validate()?;
        validate_credits("actual charge", actual_charge)?;
        let timing = self.timing();
        let facts = self.with_state(|state| state.settle(lease, actual_charge, timing));
        self.reclaims.record_settlement(facts.outcome);
        Ok(facts.into_settlement(actual_charge, lease.budget()))
    }

    async fn budget_totals(
        &self,
        team_id: &str,
        period: &BudgetPeriod,
    ) -> Result<BudgetTotals, LimiterError> {
        validate_team_period(team_id, period)?;
        let now = now_ms();
        Ok(self.with_state(|state| state.budget_totals(team_id, &period.id, now)))
    }

    async fn seed_charged(
        &self,
        team_id: &str,
        period: &BudgetPeriod,
        charged: i64,
    ) -> Result<bool, LimiterError> {
        validate_team_period(team_id, period)?;
        validate_credits("charged", charged)?;
        let timing = self.timing();
        Ok(self.with_state(|state| state.seed_charged(team_id, period, charged, timing)))
    }

    async fn correct_charged(
        &self,
        team_id: &str,
        period: &BudgetPeriod,
        expected: i64,
        charged: i64,
    ) -> Result<CorrectCharged, LimiterError> {
        validate_team_period(team_id, period)?;
        validate_credits("expected charged", expected)?;
        validate_credits("charged", charged)?;
        let timing = self.timing();
        Ok(self
            .with_state(|state| state.correct_charged(team_id, period, expected, charged, timing)))
    }

    async fn budget_state(
        &self,
        team_id: &str,
        period: &BudgetPeriod,
    ) -> Result<BudgetState, LimiterError> {
        validate_team_period(team_id, period)?;
        Ok(self.with_state(|state| state.budget_state(team_id, &period.id)))
    }

    async fn state_marker(&self) -> Result<bool, LimiterError> {
        Ok(self.marker.swap(true, Ordering::Relaxed))
    }

    fn reclaim_stats(&self) -> ReclaimStats {
        self.reclaims.snapshot()
    }
}

#[async_trait]
impl FairQueueBackend for MemoryLimiter {
    async fn decide(
        &self,
        request: &AdmissionRequest,
        weight: u32,
        mode: QueueMode,
    ) -> Result<Option<(AdmissionFacts, QueueState)>, LimiterError> {
        let timing = self.timing();
        let prune = self.admissions.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == 0;
        Ok(self.with_state(|state| {
            if prune {
                state.prune(timing.now_ms);
            }
            state.admit(request, weight, mode, timing)
        }))
    }

    async fn leave_fair_queue(&self, request: &AdmissionRequest) -> Result<(), LimiterError> {
        self.with_state(|state| state.leave_fair_queue(&request.lease_id));
        Ok(())
    }

    fn reclaim_counters(&self) -> &ReclaimCounters {
        &self.reclaims
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(millis)
        .unwrap_or(0)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
