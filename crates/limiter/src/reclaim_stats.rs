//! Counters of expired leases reclaimed by admissions (a crashed replica's or a call that
//! outlived its lease), for the gateway's metrics.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::admission::Reclaimed;
use crate::lease_settlement::SettleOutcome;

/// Totals since the limiter was created, on this replica.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReclaimStats {
    pub team_slots: u64,
    pub account_slots: u64,
    /// Credits of holds returned with reclaimed leases.
    pub hold_credits: u64,
    /// Settlements that arrived after their lease had been reclaimed.
    pub late_settlements: u64,
}

#[derive(Debug, Default)]
pub(crate) struct ReclaimCounters {
    team_slots: AtomicU64,
    account_slots: AtomicU64,
    hold_credits: AtomicU64,
    late_settlements: AtomicU64,
}

impl ReclaimCounters {
    pub(crate) fn record(&self, reclaimed: &Reclaimed) {
        if reclaimed.is_empty() {
            return;
        }
        self.team_slots
            .fetch_add(u64::from(reclaimed.team_slots), Ordering::Relaxed);
        self.account_slots
            .fetch_add(u64::from(reclaimed.account_slots), Ordering::Relaxed);
        self.hold_credits.fetch_add(
            u64::try_from(reclaimed.hold_credits).unwrap_or(0),
            Ordering::Relaxed,
        );
        tracing::info!(
            team_slots = reclaimed.team_slots,
            account_slots = reclaimed.account_slots,
            hold_credits = reclaimed.hold_credits,
            "reclaimed expired leases"
        );
    }

    /// Counts a settlement that arrived after its lease had been reclaimed.
    pub(crate) fn record_settlement(&self, outcome: SettleOutcome) {
        if outcome == SettleOutcome::SettledAfterReclaim {
            self.late_settlements.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> ReclaimStats {
        ReclaimStats {
            team_slots: self.team_slots.load(Ordering::Relaxed),
            account_slots: self.account_slots.load(Ordering::Relaxed),
            hold_credits: self.hold_credits.load(Ordering::Relaxed),
            late_settlements: self.late_settlements.load(Ordering::Relaxed),
        }
    }
}
