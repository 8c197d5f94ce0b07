//! The result of settling a lease: its concurrency leases released and its credit hold
//! turned into the actual charge.

use crate::budget_state::BudgetTotals;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SettleOutcome {
    /// The hold was found and replaced by the actual charge.
    Settled,
    /// The lease had expired and been reclaimed (its hold already returned); the actual
    /// charge was still recorded. A long call should have renewed its lease.
    SettledAfterReclaim,
    /// Nothing to settle: settled before (settling is idempotent) or never admitted.
    AlreadySettled,
}

/// What `Limiter::settle` (and `release`) did to one lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseSettlement {
    pub outcome: SettleOutcome,
    /// This call removed the team's concurrency lease.
    pub released_team_slot: bool,
    /// This call removed the account's concurrency lease.
    pub released_account_slot: bool,
    /// Credits this call charged (0 when `AlreadySettled`).
    pub charged_now: i64,
    /// How much the team's budget left rose with this call: estimate - actual when
    /// `Settled`, -actual after a reclaim (the hold was already returned), 0 otherwise.
    pub returned_to_budget: i64,
    /// The lease's period after this call (raw `held`, as stored).
    pub totals: BudgetTotals,
    /// The team's budget left after this call (X-Credits-Remaining), from the budget carried
    /// in the lease; `None` without a budget.
    pub budget_left: Option<i64>,
}

/// What a backend's settle step found and left (settle.lua's reply, or the in-memory
/// twin's), before it is joined with the lease into a `LeaseSettlement`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SettleFacts {
    pub outcome: SettleOutcome,
    /// The estimate the hold held (0 unless `Settled`).
    pub estimate: i64,
    pub released_team: bool,
    pub released_account: bool,
    pub totals: BudgetTotals,
}

impl SettleFacts {
    /// The settlement of a lease charged `actual` whose team had `budget`.
    pub(crate) fn into_settlement(self, actual: i64, budget: Option<i64>) -> LeaseSettlement {
        let (charged_now, returned_to_budget) = match self.outcome {
            SettleOutcome::Settled => (actual, self.estimate - actual),
            SettleOutcome::SettledAfterReclaim => (actual, -actual),
            SettleOutcome::AlreadySettled => (0, 0),
        };
        LeaseSettlement {
            outcome: self.outcome,
            released_team_slot: self.released_team,
            released_account_slot: self.released_account,
            charged_now,
            returned_to_budget,
            totals: self.totals,
            budget_left: self.totals.left(budget),
        }
    }
}
