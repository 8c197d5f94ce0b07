//! The in-memory limiter's data and decisions, step for step the same as the Lua scripts,
//! with the time passed in (so the logic is unit-testable without sleeping).

use std::collections::HashMap;

use super::bucket::Bucket;
use super::budget::{BudgetKey, PeriodBudget, budget_key};
use super::fair_queue::FairQueue;
use crate::admission::{AdmissionFacts, Reclaimed, RefusedBy};
use crate::budget_state::BudgetTotals;
use crate::fair_queue::{QueueMode, QueueState};
use crate::lease::{Lease, Renewal};
use crate::lease_settlement::{SettleFacts, SettleOutcome};
use crate::request::{AdmissionRequest, BudgetPeriod};

/// Everything a `MemoryLimiter` knows, behind its mutex.
#[derive(Debug, Default)]
pub(super) struct State {
    team_buckets: HashMap<String, Bucket>,
    account_buckets: HashMap<String, Bucket>,
    team_leases: HashMap<String, HashMap<String, i64>>,
    /// Team -> lease id -> expiry of leases that take no slot (async tasks: a hold only).
    async_leases: HashMap<String, HashMap<String, i64>>,
    account_leases: HashMap<String, i64>,
    /// Account lease id -> team (account slots in use per team).
    slot_teams: HashMap<String, String>,
    fair_queue: FairQueue,
    pub(super) budgets: HashMap<BudgetKey, PeriodBudget>,
}

/// What admission needs from the state besides the request (the Redis side's ARGV extras).
#[derive(Debug, Clone, Copy)]
pub(super) struct Timing {
    pub now_ms: i64,
    pub budget_grace_ms: i64,
    pub min_budget_life_ms: i64,
    /// A waiter that stops polling is dropped after this.
    pub waiter_ttl_ms: i64,
}

impl Timing {
    /// `budget_expiry` in prelude.lua: the period end + grace, and at least `lease_ttl_ms` +
    /// the minimum life from now (admission and renewal pass the lease TTL, the rest 0).
    pub(super) fn budget_expiry(&self, period: &BudgetPeriod, lease_ttl_ms: i64) -> i64 {
        let min_life = lease_ttl_ms.saturating_add(self.min_budget_life_ms);
        (period.ends_at_ms.saturating_add(self.budget_grace_ms))
            .max(self.now_ms.saturating_add(min_life))
    }
}

impl State {
    /// The admission decision and where the request stands with the fair queue; `None`
    /// means the lease id is already in use.
    pub(super) fn admit(
        &mut self,
        r: &AdmissionRequest,
        weight: u32,
        mode: QueueMode,
        t: Timing,
    ) -> Option<(AdmissionFacts, QueueState)> {
        let now = t.now_ms;
        let budget_key = budget_key(&r.team_id, &r.period.id);

        // 1. Reclaim expired leases, with or without a slot (holds of this period go back,
        //    remembered as reclaimed).
        let mut reclaimed = Reclaimed::default();
        let mut budget = self.budgets.get_mut(&budget_key);
        if let Some(leases) = self.team_leases.get_mut(&r.team_id) {
            let (count, credits) = reclaim_expired(leases, budget.as_deref_mut(), now);
            reclaimed.team_slots += count;
            reclaimed.hold_credits += credits;
        }
        if let Some(leases) = self.async_leases.get_mut(&r.team_id) {
            let (_, credits) = reclaim_expired(leases, budget, now);
            reclaimed.hold_credits += credits;
        }
        let before = self.account_leases.len();
        let slot_teams = &mut self.slot_teams;
        self.account_leases.retain(|id, &mut expiry| {
            let live = expiry > now;
            if !live {
                slot_teams.remove(id);
            }
            live
        });
        reclaimed.account_slots = u32::try_from(before - self.account_leases.len()).unwrap_or(0);
        self.fair_queue.prune(now);

        // 2. Read everything.
        let team_bucket = self.team_buckets.get(&r.team_id);
        let team_tokens = Bucket::level(team_bucket, now, r.team.rps, r.team.burst);
        let account_bucket = self.account_buckets.get(&r.endpoint);
        let account_rps = r.account.rps_per_endpoint;
        let account_tokens = Bucket::level(account_bucket, now, account_rps, r.account.burst);
        let team_leases = self.team_leases.entry(r.team_id.clone()).or_default();
        let team_in_flight = team_leases.len();
        let account_in_flight = self.account_leases.len();
        let budget = self.budgets.get(&budget_key);
        let totals = budget.map(PeriodBudget::totals).unwrap_or_default();
        let queued = self.fair_queue.contains(&r.lease_id);
        let team_waiting = self.fair_queue.team_waiting(&r.team_id, &r.lease_id);
        let duplicate = (mode != QueueMode::Claim && queued)
            || team_leases.contains_key(&r.lease_id)
            || self
                .async_leases
                .get(&r.team_id)
                .is_some_and(|leases| leases.contains_key(&r.lease_id))
            || self.account_leases.contains_key(&r.lease_id)
            || budget.is_some_and(|b| {
                b.holds.contains_key(&r.lease_id) || b.reclaimed.contains_key(&r.lease_id)
            });
        if duplicate {
            return None;
        }

        // A budget counts only once the ledger seeded the period.
        let unseeded = r.team.budget.is_some() && !budget.is_some_and(|b| b.seeded);

        // 3. Decide, team limits before account limits.
        let over_budget = !unseeded
            && r.team
                .budget
                .is_some_and(|b| totals.charged + totals.held + r.estimate > b);
        let refusal = if unseeded {
            Some((RefusedBy::BudgetUnseeded, None))
        } else if over_budget && r.team.hard_budget {
            Some((
                RefusedBy::Budget,
                Some((r.period.ends_at_ms - now).max(0) as u64),
            ))
        } else if !Bucket::has_token(team_tokens) {
            let wait = Bucket::ms_to_token(team_tokens, r.team.rps);
            Some((RefusedBy::TeamRate, Some(wait)))
        } else if r.takes_team_slot && team_in_flight + team_waiting >= r.team.concurrency as usize
        {
            Some((RefusedBy::TeamConcurrency, None))
        } else if !Bucket::has_token(account_tokens) {
            let wait = Bucket::ms_to_token(account_tokens, account_rps);
            Some((RefusedBy::AccountRate, Some(wait)))
        } else if r.takes_account_lease()
            && !self.account_slot_is_ours(r, weight, account_in_flight)
        {
            Some((RefusedBy::AccountConcurrency, None))
        } else {
            None
        };
        let gone = mode == QueueMode::Claim && !queued;
        let refusal = if gone {
            Some((RefusedBy::AccountConcurrency, None))
        } else {
            refusal
        };

        let mut facts = AdmissionFacts {
            refused_by: refusal.map(|(by, _)| by),
            retry_after_ms: refusal.and_then(|(_, wait)| wait),
            team_tokens: team_tokens.floor() as u64,
            account_tokens: account_tokens.floor() as u64,
            team_in_flight: u32::try_from(team_in_flight).unwrap_or(u32::MAX),
            account_in_flight: u32::try_from(account_in_flight).unwrap_or(u32::MAX),
            charged: totals.charged,
            held: totals.held,
            over_budget,
            reclaimed,
            now_ms: now,
            lease_expires_at_ms: 0,
        };
        if let Some((by, _)) = refusal {
            let state = self.after_refusal(r, weight, mode, by, gone, t);
            return Some((facts, state));
        }
        if mode == QueueMode::Claim {
            self.fair_queue.leave(&r.lease_id);
        }

        // 4. Take everything.
        let expires_at = now.saturating_add(ttl_ms(r.lease_ttl_ms));
        let team_bucket = Bucket::after_taking(team_tokens, now, r.team.rps, r.team.burst);
        self.team_buckets.insert(r.team_id.clone(), team_bucket);
        let account_bucket =
            Bucket::after_taking(account_tokens, now, account_rps, r.account.burst);
        self.account_buckets
            .insert(r.endpoint.clone(), account_bucket);
        // A request that takes no slot and holds nothing (rate tokens only) leaves no lease.
        let records_lease = r.takes_team_slot || r.estimate > 0;
        if r.takes_team_slot {
            let team_leases = self.team_leases.entry(r.team_id.clone()).or_default();
            team_leases.insert(r.lease_id.clone(), expires_at);
            facts.team_in_flight += 1;
        } else if records_lease {
            let async_leases = self.async_leases.entry(r.team_id.clone()).or_default();
            async_leases.insert(r.lease_id.clone(), expires_at);
        }
        if r.takes_account_lease() {
            self.account_leases.insert(r.lease_id.clone(), expires_at);
            self.slot_teams
                .insert(r.lease_id.clone(), r.team_id.clone());
            facts.account_in_flight += 1;
        }
        if records_lease {
            let budget = self.budgets.entry(budget_key).or_default();
            budget.held += r.estimate;
            budget.holds.insert(r.lease_id.clone(), r.estimate);
            budget.extend_until(t.budget_expiry(&r.period, ttl_ms(r.lease_ttl_ms)));
            facts.held += r.estimate;
        }
        facts.team_tokens = (team_tokens - 1.0).max(0.0).floor() as u64;
        facts.account_tokens = (account_tokens - 1.0).max(0.0).floor() as u64;
        facts.lease_expires_at_ms = expires_at;
        Some((facts, QueueState::NotWaiting))
    }

    /// A free account slot this request may take: one is free, and fewer waiters than free
    /// slots come before it in the fair order.
    fn account_slot_is_ours(&self, r: &AdmissionRequest, weight: u32, in_flight: usize) -> bool {
        let free = (r.account.concurrency as usize).saturating_sub(in_flight);
        if free == 0 {
            return false;
        }
        if self.fair_queue.len() == 0 {
            return true;
        }
        let mut usage: HashMap<&str, u32> = HashMap::new();
        for id in self.account_leases.keys() {
            if let Some(team) = self.slot_teams.get(id) {
                *usage.entry(team.as_str()).or_default() += 1;
            }
        }
        self.fair_queue
            .rank(&r.lease_id, &r.team_id, weight, &usage, free)
            < free
    }

    /// Joins, stays in or leaves the fair queue after a refusal.
    fn after_refusal(
        &mut self,
        r: &AdmissionRequest,
        weight: u32,
        mode: QueueMode,
        by: RefusedBy,
        gone: bool,
        t: Timing,
    ) -> QueueState {
        let now = t.now_ms;
        match mode {
            _ if gone => QueueState::Gone,
            QueueMode::Join { max_wait_ms } if by == RefusedBy::AccountConcurrency => {
                let deadline = now.saturating_add(i64::try_from(max_wait_ms).unwrap_or(i64::MAX));
                let alive_until = now.saturating_add(t.waiter_ttl_ms);
                self.fair_queue
                    .join(&r.lease_id, &r.team_id, weight, deadline, alive_until);
                QueueState::Waiting
            }
            QueueMode::Claim if by.is_account_limit() => {
                self.fair_queue
                    .keep_alive(&r.lease_id, now, t.waiter_ttl_ms);
                QueueState::Waiting
            }
            QueueMode::Claim => {
                self.fair_queue.leave(&r.lease_id);
                QueueState::NotWaiting
            }
            _ => QueueState::NotWaiting,
        }
    }

    pub(super) fn leave_fair_queue(&mut self, lease_id: &str) -> bool {
        self.fair_queue.leave(lease_id)
    }

    /// settle.lua: releases both leases (or the async one) and turns the hold into the
    /// actual charge.
    pub(super) fn settle(&mut self, lease: &Lease, actual: i64, t: Timing) -> SettleFacts {
        let (team_id, lease_id, period) = (lease.team_id(), lease.lease_id(), lease.period());
        let released_team = self
            .team_leases
            .get_mut(team_id)
            .is_some_and(|leases| leases.remove(lease_id).is_some());
        if let Some(leases) = self.async_leases.get_mut(team_id) {
            leases.remove(lease_id);
        }
        let released_account = self.account_leases.remove(lease_id).is_some();
        self.slot_teams.remove(lease_id);
        let key = budget_key(team_id, &period.id);
        let mut outcome = SettleOutcome::AlreadySettled;
        let mut estimate = 0;
        if let Some(budget) = self.budgets.get_mut(&key) {
            if let Some(hold) = budget.holds.remove(lease_id) {
                budget.held -= hold;
                estimate = hold;
                outcome = SettleOutcome::Settled;
            } else if budget.reclaimed.remove(lease_id).is_some() {
                outcome = SettleOutcome::SettledAfterReclaim;
            }
            if outcome != SettleOutcome::AlreadySettled {
                budget.charged += actual;
                budget.extend_until(t.budget_expiry(period, 0));
            }
        }
        SettleFacts {
            outcome,
            estimate,
            released_team,
            released_account,
            totals: self.totals(&key),
        }
    }

    /// renew.lua: extends the leases to now + ttl, re-creating what is missing (the team
    /// lease, the account lease and its owner, the hold unless it was reclaimed). A lease
    /// without a team slot is re-scored (or re-created) among the async leases, taking no
    /// slot.
    pub(super) fn renew(&mut self, lease: &Lease, t: Timing) -> Renewal {
        let (team_id, lease_id) = (lease.team_id(), lease.lease_id());
        let ttl = ttl_ms(lease.lease_ttl_ms());
        let expires_at = t.now_ms.saturating_add(ttl);
        let leases = if lease.holds_team_slot() {
            &mut self.team_leases
        } else {
            &mut self.async_leases
        };
        let recreated = leases
            .entry(team_id.to_owned())
            .or_default()
            .insert(lease_id.to_owned(), expires_at)
            .is_none();
        let recreated_team_lease = recreated && lease.holds_team_slot();
        let mut recreated_account_lease = false;
        if lease.holds_team_slot() && lease.holds_account_slot() {
            recreated_account_lease = self
                .account_leases
                .insert(lease_id.to_owned(), expires_at)
                .is_none();
            self.slot_teams
                .insert(lease_id.to_owned(), team_id.to_owned());
        }
        let budget = self
            .budgets
            .entry(budget_key(team_id, &lease.period().id))
            .or_default();
        let restored_hold =
            !budget.holds.contains_key(lease_id) && !budget.reclaimed.contains_key(lease_id);
        if restored_hold {
            budget.holds.insert(lease_id.to_owned(), lease.estimate());
            budget.held += lease.estimate();
        }
        budget.extend_until(t.budget_expiry(lease.period(), ttl));
        Renewal {
            recreated_team_lease,
            recreated_account_lease,
            restored_hold,
        }
    }

    /// Charged and live-held credits (holds of expired, unreclaimed leases left out).
    pub(super) fn budget_totals(
        &self,
        team_id: &str,
        period_id: &str,
        now_ms: i64,
    ) -> BudgetTotals {
        let key = budget_key(team_id, period_id);
        let mut totals = self.totals(&key);
        let Some(budget) = self.budgets.get(&key) else {
            return totals;
        };
        for leases in [&self.team_leases, &self.async_leases] {
            if let Some(leases) = leases.get(team_id) {
                totals.held -= leases
                    .iter()
                    .filter(|&(_, &expiry)| expiry <= now_ms)
                    .filter_map(|(id, _)| budget.holds.get(id))
                    .sum::<i64>();
            }
        }
        totals
    }

    /// Forgets what Redis would have let expire: full buckets, budgets past their expiry,
    /// empty lease maps.
    pub(super) fn prune(&mut self, now_ms: i64) {
        self.team_buckets.retain(|_, b| !b.is_full_at(now_ms));
        self.account_buckets.retain(|_, b| !b.is_full_at(now_ms));
        self.budgets.retain(|_, b| b.expires_at_ms > now_ms);
        self.team_leases.retain(|_, leases| !leases.is_empty());
        self.async_leases.retain(|_, leases| !leases.is_empty());
    }
}

/// Removes the expired leases of one team set; returns how many, and the credits of the
/// holds they had in `budget` (moved to its reclaimed holds).
fn reclaim_expired(
    leases: &mut HashMap<String, i64>,
    mut budget: Option<&mut PeriodBudget>,
    now: i64,
) -> (u32, i64) {
    let expired: Vec<String> = leases
        .iter()
        .filter(|&(_, &expiry)| expiry <= now)
        .map(|(id, _)| id.clone())
        .collect();
    let mut credits = 0;
    for id in &expired {
        leases.remove(id);
        if let Some(budget) = budget.as_deref_mut()
            && let Some(hold) = budget.holds.remove(id)
        {
            budget.held -= hold;
            budget.reclaimed.insert(id.clone(), hold);
            credits += hold;
        }
    }
    (u32::try_from(expired.len()).unwrap_or(u32::MAX), credits)
}

fn ttl_ms(lease_ttl_ms: u64) -> i64 {
    i64::try_from(lease_ttl_ms).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{AccountLimits, TeamQuota};

    fn request(lease: &str) -> AdmissionRequest {
        AdmissionRequest {
            team_id: "t".into(),
            endpoint: "e".into(),
            lease_id: lease.into(),
            estimate: 10,
            team: TeamQuota {
                rps: 2.0,
                burst: 2,
                concurrency: 5,
                budget: Some(100),
                hard_budget: true,
            },
            account: AccountLimits {
                rps_per_endpoint: 100.0,
                burst: 100,
                concurrency: 5,
            },
            takes_account_slot: true,
            takes_team_slot: true,
            period: BudgetPeriod::new("p", 10_000_000),
            lease_ttl_ms: 1_000,
        }
    }

    fn at(now_ms: i64) -> Timing {
        Timing {
            now_ms,
            budget_grace_ms: 0,
            min_budget_life_ms: 0,
            waiter_ttl_ms: 1_000,
        }
    }

    /// A state whose test period is seeded with nothing charged.
    fn seeded() -> State {
        let mut state = State::default();
        assert!(state.seed_charged("t", &request("x").period, 0, at(0)));
        state
    }

    #[test]
    fn refill_is_exact_on_an_injected_clock() {
        let mut state = seeded();
        assert!(
            state
                .admit(&request("a"), 1, QueueMode::Refuse, at(0))
                .unwrap()
                .0
                .refused_by
                .is_none()
        );
        let b = state
            .admit(&request("b"), 1, QueueMode::Refuse, at(0))
            .unwrap()
            .0;
        assert_eq!(b.team_tokens, 0);
        let c = state
            .admit(&request("c"), 1, QueueMode::Refuse, at(250))
            .unwrap()
            .0;
        assert_eq!(c.refused_by, Some(RefusedBy::TeamRate));
        assert_eq!(c.retry_after_ms, Some(250), "half a token at 2 rps");
        // A budget of 25 with a (10) + b (10) held: a third 10 would overrun, and the
        // budget is checked first even though the bucket has a token again.
        let mut d = request("d");
        d.team.budget = Some(25);
        let d = state.admit(&d, 1, QueueMode::Refuse, at(500)).unwrap().0;
        assert_eq!(d.refused_by, Some(RefusedBy::Budget));
        assert_eq!(d.retry_after_ms, Some(10_000_000 - 500));
    }

    #[test]
    fn an_expired_lease_returns_its_slot_and_hold_once() {
        let mut state = seeded();
        state
            .admit(&request("a"), 1, QueueMode::Refuse, at(0))
            .unwrap();
        assert_eq!(state.budget_totals("t", "p", 999).held, 10);
        assert_eq!(
            state.budget_totals("t", "p", 1_000).held,
            0,
            "expired at its ttl"
        );
        let b = state
            .admit(&request("b"), 1, QueueMode::Refuse, at(1_000))
            .unwrap()
            .0;
        assert_eq!(b.reclaimed.team_slots, 1);
        assert_eq!(b.reclaimed.account_slots, 1);
        assert_eq!(b.reclaimed.hold_credits, 10);
        assert_eq!((b.team_in_flight, b.held), (1, 10));
        let a = Lease::for_request(&request("a"));
        let late = state.settle(&a, 3, at(1_100));
        assert_eq!(late.outcome, SettleOutcome::SettledAfterReclaim);
        let again = state.settle(&a, 3, at(1_200));
        assert_eq!(again.outcome, SettleOutcome::AlreadySettled);
        assert_eq!(
            again.totals,
            BudgetTotals {
                charged: 3,
                held: 10
            }
        );
    }
}
