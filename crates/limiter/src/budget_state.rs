//! A team's budget for one period as the limiter keeps it: its charged and held totals, the
//! stored state the gateway's ledger reconciler reads (seeded or not, each hold), and the
//! result of the reconciler's compare-and-set correction.

/// A team's charged and held credits for one period (`Limiter::budget_totals`, and the
/// period after a settlement or a ledger write).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetTotals {
    /// Credits settled this period.
    pub charged: i64,
    /// Credits held for requests in flight.
    pub held: i64,
}

impl BudgetTotals {
    /// Budget left (negative once a soft budget is overrun); `None` without a budget.
    pub fn left(&self, budget: Option<i64>) -> Option<i64> {
        budget.map(|b| b - self.charged - self.held)
    }
}

/// A team's budget for one period as stored, read in one step (`Limiter::budget_state`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BudgetState {
    /// The ledger seeded this period's charged total (`seed_charged`). Until it does, an
    /// admission with a budget is refused as `RefusedBy::BudgetUnseeded`.
    pub seeded: bool,
    /// Credits settled this period (before seeding: only what settled since the state loss).
    pub charged: i64,
    /// The stored sum of the holds (raw: holds of expired, not yet reclaimed leases included).
    pub held: i64,
    /// Each hold: (lease id, estimate), ordered by lease id.
    pub holds: Vec<(String, i64)>,
}

/// The result of `Limiter::correct_charged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorrectCharged {
    /// The period was seeded and its charged total was still the expected one, so it now
    /// holds the new value. `false`: nothing changed (read again and retry).
    pub applied: bool,
    /// The period after the call (raw `held`, as in a `LeaseSettlement`).
    pub totals: BudgetTotals,
}
