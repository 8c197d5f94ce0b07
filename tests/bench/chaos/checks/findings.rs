//! What the checks found: per-team money rows, the async side as cloro saw it, and the
//! violations the report prints and the exit code follows.

use crate::chaos::load::BudgetKind;
use std::collections::BTreeMap;

/// Entries whose difference is accounted for, and by how much.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub count: u64,
    pub diff: i64,
}

impl Tally {
    pub(super) fn add(&mut self, diff: i64) {
        self.count += 1;
        self.diff += diff;
    }
}

#[derive(Debug)]
pub struct TeamRow {
    pub slug: String,
    pub kind: BudgetKind,
    pub budget: Option<i64>,
    pub sent: u64,
    pub entries: u64,
    pub ledger: i64,
    pub upstream: i64,
    pub killed: Tally,
    pub unknown: Tally,
    /// Entries that differ without an explanation, plus upstream charges with no entry.
    pub unexplained: Tally,
}

impl TeamRow {
    pub fn diff(&self) -> i64 {
        self.ledger - self.upstream
    }

    /// Hard budgets only: what cloro charged the team stayed within its budget.
    pub fn budget_held(&self) -> Option<bool> {
        match (self.kind, self.budget) {
            (BudgetKind::Hard, Some(budget)) => Some(self.upstream <= budget),
            _ => None,
        }
    }
}

/// The async side of the run, as cloro saw it.
#[derive(Debug, Default)]
pub struct Tasks {
    /// Tasks the clients submitted (single or in a batch).
    pub submitted: u64,
    /// Tasks cloro ran to the end, and how many of those FAILED (charged 0).
    pub ran: u64,
    pub failed: u64,
    pub charged: i64,
    /// Completion webhooks cloro attempted, and acknowledged by the gateway.
    pub webhook_attempts: u64,
    pub webhooks_delivered: u64,
    /// Tasks voided unsent because their record failed (no task row, nothing charged).
    pub unrecorded: u64,
}

#[derive(Debug, Default)]
pub struct Findings {
    pub rows: Vec<TeamRow>,
    /// Entries by mode, status and flag_reason.
    pub by_status: BTreeMap<(String, String, String), u64>,
    pub pending: u64,
    /// Async entries still PENDING, never sent: the replica was killed between recording the
    /// task and forwarding it (cloro never had it). Explained; they wait for
    /// `async_tasks.hold_hours`, then the sweeper books their estimate, flagged.
    pub pending_unsent_killed: u64,
    pub tasks: Tasks,
    pub late_charges: u64,
    /// Upstream calls cloro logged as abandoned (the gateway hung up), outside the killed
    /// replica's window.
    pub upstream_abandoned: u64,
    /// Requests the gateway answered 504 (its upstream deadline passed).
    pub gateway_timeouts: u64,
    pub live_account_leases: u64,
    pub live_team_leases: u64,
    pub readiness: Vec<(String, String)>,
    pub foreign: Vec<String>,
    pub examples: Vec<String>,
    pub violations: Vec<String>,
}
