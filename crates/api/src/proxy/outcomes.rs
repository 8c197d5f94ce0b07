//! How upstream calls ended that the ledger treats specially, counted for `/metrics`.

use std::sync::atomic::AtomicU64;

#[derive(Debug, Default)]
pub struct OutcomeCounters {
    /// Booked without knowing whether cloro ran the call (flagged `outcome_unknown`).
    pub unknown: AtomicU64,
    /// Refused because their PENDING entry could not be recorded in time (then VOIDED).
    pub not_recorded: AtomicU64,
}
