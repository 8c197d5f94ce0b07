//! The in-memory twin of a `team:<t>:budget:<period>` hash, and the ledger-facing calls on it
//! (seed once, compare-and-set correction, raw state), step for step as their Lua scripts.

use std::collections::HashMap;

use super::state::{State, Timing};
use crate::budget_state::{BudgetState, BudgetTotals, CorrectCharged};
use crate::request::BudgetPeriod;

/// (team id, period id).
pub(super) type BudgetKey = (String, String);

pub(super) fn budget_key(team_id: &str, period_id: &str) -> BudgetKey {
    (team_id.to_owned(), period_id.to_owned())
}

#[derive(Debug, Default)]
pub(super) struct PeriodBudget {
    /// Seeded from the ledger (`seed_charged`); admissions with a budget are refused until.
    pub(super) seeded: bool,
    pub(super) charged: i64,
    pub(super) held: i64,
    pub(super) holds: HashMap<String, i64>,
    pub(super) reclaimed: HashMap<String, i64>,
    pub(super) expires_at_ms: i64,
}

impl PeriodBudget {
    pub(super) fn totals(&self) -> BudgetTotals {
        BudgetTotals {
            charged: self.charged,
            held: self.held,
        }
    }

    /// Never shortens the budget's life (as `extend_until` in prelude.lua).
    pub(super) fn extend_until(&mut self, at_ms: i64) {
        self.expires_at_ms = self.expires_at_ms.max(at_ms);
    }

    fn state(&self) -> BudgetState {
        let mut holds: Vec<(String, i64)> = self
            .holds
            .iter()
            .map(|(id, &estimate)| (id.clone(), estimate))
            .collect();
        holds.sort();
        BudgetState {
            seeded: self.seeded,
            charged: self.charged,
            held: self.held,
            holds,
        }
    }
}

impl State {
    /// seed_charged.lua: sets charged and marks the period seeded, only if it is not yet.
    pub(super) fn seed_charged(
        &mut self,
        team_id: &str,
        period: &BudgetPeriod,
        charged: i64,
        t: Timing,
    ) -> bool {
        let budget = self
            .budgets
            .entry(budget_key(team_id, &period.id))
            .or_default();
        if budget.seeded {
            return false;
        }
        budget.charged = charged;
        budget.seeded = true;
        budget.extend_until(t.budget_expiry(period, 0));
        true
    }

    /// correct_charged.lua: sets charged only if seeded and still `expected`.
    pub(super) fn correct_charged(
        &mut self,
        team_id: &str,
        period: &BudgetPeriod,
        expected: i64,
        charged: i64,
        t: Timing,
    ) -> CorrectCharged {
        let key = budget_key(team_id, &period.id);
        let mut applied = false;
        if let Some(budget) = self.budgets.get_mut(&key)
            && budget.seeded
            && budget.charged == expected
        {
            budget.charged = charged;
            budget.extend_until(t.budget_expiry(period, 0));
            applied = true;
        }
        CorrectCharged {
            applied,
            totals: self.totals(&key),
        }
    }

    /// budget_state.lua: the period's budget as stored.
    pub(super) fn budget_state(&self, team_id: &str, period_id: &str) -> BudgetState {
        self.budgets
            .get(&budget_key(team_id, period_id))
            .map(PeriodBudget::state)
            .unwrap_or_default()
    }

    pub(super) fn totals(&self, key: &BudgetKey) -> BudgetTotals {
        self.budgets
            .get(key)
            .map(PeriodBudget::totals)
            .unwrap_or_default()
    }
}
