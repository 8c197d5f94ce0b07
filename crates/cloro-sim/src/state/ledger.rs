//! The account's credit balance: checked before work, charged only on success.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde_json::json;

use crate::error::{ApiError, ErrorCode};

/// The balance and what has been charged so far.
#[derive(Debug)]
pub struct Ledger {
    balance: i64,
    per_cycle: i64,
    cycle_resets_at: DateTime<Utc>,
    charged_total: u64,
}

impl Ledger {
    pub fn new(credits: i64) -> Self {
        Self {
            balance: credits,
            per_cycle: credits,
            cycle_resets_at: Utc::now() + ChronoDuration::days(30),
            charged_total: 0,
        }
    }

    pub fn balance(&self) -> i64 {
        self.balance
    }

    pub fn per_cycle(&self) -> i64 {
        self.per_cycle
    }

    pub fn cycle_resets_at(&self) -> DateTime<Utc> {
        self.cycle_resets_at
    }

    pub fn charged_total(&self) -> u64 {
        self.charged_total
    }

    /// Sets the balance (a `/_sim/config` knob); what was charged stays recorded.
    pub fn set_balance(&mut self, balance: i64) {
        self.balance = balance;
    }

    /// 403 INSUFFICIENT_CREDITS when `cost` exceeds the balance. Nothing is reserved.
    pub fn ensure_affordable(&self, cost: u64) -> Result<(), ApiError> {
        let cost_signed = i64::try_from(cost).unwrap_or(i64::MAX);
        if cost_signed <= self.balance {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorCode::InsufficientCredits,
            format!(
                "Insufficient credits: {cost} required, {} remaining",
                self.balance.max(0)
            ),
        )
        .with_details(json!({ "required": cost, "remaining": self.balance.max(0) })))
    }

    /// Charges a finished success and returns the new balance. Like the upstream, concurrent
    /// calls that each passed the check may take the balance below zero.
    pub fn charge(&mut self, cost: u64) -> i64 {
        self.balance = self
            .balance
            .saturating_sub(i64::try_from(cost).unwrap_or(i64::MAX));
        self.charged_total = self.charged_total.saturating_add(cost);
        self.balance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_only_what_is_charged_and_refuses_what_cannot_be_paid() {
        let mut ledger = Ledger::new(10);
        assert!(ledger.ensure_affordable(10).is_ok());
        assert_eq!(ledger.charge(7), 3);
        let error = ledger.ensure_affordable(4).unwrap_err();
        assert_eq!(error.code, ErrorCode::InsufficientCredits);
        assert_eq!(ledger.charged_total(), 7);
        assert!(ledger.ensure_affordable(0).is_ok());
    }
}
