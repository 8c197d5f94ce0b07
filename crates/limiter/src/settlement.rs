//! The result of settling a lease (leases released, hold turned into the actual charge) and a
//! team's budget position for a period.

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
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
    /// The lease's period after this call.
    pub position: BudgetPosition,
    /// The team's budget left after this call (X-Credits-Remaining), from the budget carried
    /// in the lease; `None` without a budget.
    pub budget_left: Option<i64>,
}

/// A team's numbers for one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetPosition {
    /// Credits settled this period.
    pub charged: i64,
    /// Credits held by live requests (holds of expired leases not counted).
    pub held: i64,
}

impl BudgetPosition {
    pub fn left(&self, budget: Option<i64>) -> Option<i64> {
        budget.map(|b| b - self.charged - self.held)
    }
}

/// How a settle call's reply turns into a `Settlement`, shared by both backends.
pub(crate) fn settlement_from(
    outcome: SettleOutcome,
    estimate: i64,
    actual: i64,
    released: (bool, bool),
    position: BudgetPosition,
    budget: Option<i64>,
) -> Settlement {
    let (charged_now, returned_to_budget) = match outcome {
        SettleOutcome::Settled => (actual, estimate - actual),
        SettleOutcome::SettledAfterReclaim => (actual, -actual),
        SettleOutcome::AlreadySettled => (0, 0),
    };
    Settlement {
        outcome,
        released_team_slot: released.0,
        released_account_slot: released.1,
        charged_now,
        returned_to_budget,
        position,
        budget_left: position.left(budget),
    }
}
