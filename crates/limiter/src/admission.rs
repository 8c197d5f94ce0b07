//! The answer to one admission: admitted with a lease, or refused by a named limit, plus every
//! number the response headers need (X-RateLimit-*, X-Concurrent-*, X-Credits-Remaining).

use crate::lease::Lease;
use crate::request::AdmissionRequest;

/// The limit that refused a request. Checked in this order, so a request is reported against
/// the team's own limits first and `AccountConcurrency` means "only the shared account's
/// concurrency is full" (the case where waiting in the fair queue helps). A request that
/// takes no team slot (an async task) is never refused by a concurrency limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusedBy {
    /// The request has a budget (soft or hard) but the period's charged total was never
    /// seeded from the ledger, or Redis lost it: what the team spent is unknown. Seed it
    /// (`Limiter::seed_charged`) and admit again. No Retry-After.
    BudgetUnseeded,
    /// Hard budget: charged + held + estimate would exceed the period's budget.
    Budget,
    TeamRate,
    TeamConcurrency,
    AccountRate,
    AccountConcurrency,
}

impl RefusedBy {
    /// True for the account-wide limits (shared by all teams).
    pub fn is_account_limit(self) -> bool {
        matches!(self, Self::AccountRate | Self::AccountConcurrency)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum AdmissionOutcome {
    Admitted(Lease),
    Refused {
        by: RefusedBy,
        /// When waiting helps: the bucket's time to the next token for rate limits, the period
        /// end for a hard budget; `None` for concurrency (a slot frees when a request ends).
        retry_after_ms: Option<u64>,
    },
}

/// A token bucket's numbers after this decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSnapshot {
    pub rps: f64,
    pub burst: u32,
    /// Whole tokens left (after taking this request's token, if admitted).
    pub remaining: u64,
}

/// A concurrency limit's numbers after this decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConcurrencySnapshot {
    pub limit: u32,
    /// Leases in flight, this request's included if admitted with a slot (an async task,
    /// `takes_team_slot: false`, takes none).
    pub current: u32,
}

impl ConcurrencySnapshot {
    pub fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.current)
    }
}

/// The team's budget numbers for the current period after this decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetSnapshot {
    pub budget: Option<i64>,
    pub hard: bool,
    /// Credits settled this period.
    pub charged: i64,
    /// Credits held by requests in flight, this request's estimate included if admitted.
    pub held: i64,
    /// The request takes (or would take) the team past its budget: refused when hard,
    /// admitted and flagged when soft.
    pub over_budget: bool,
}

impl BudgetSnapshot {
    /// Budget left (X-Credits-Remaining); negative once a soft budget is overrun.
    pub fn left(&self) -> Option<i64> {
        self.budget.map(|b| b - self.charged - self.held)
    }
}

/// Expired leases this call found and returned (slots and the holds that went with them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reclaimed {
    pub team_slots: u32,
    pub account_slots: u32,
    pub hold_credits: i64,
}

impl Reclaimed {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    pub outcome: AdmissionOutcome,
    pub team_rate: RateSnapshot,
    pub account_rate: RateSnapshot,
    pub team_concurrency: ConcurrencySnapshot,
    pub account_concurrency: ConcurrencySnapshot,
    pub budget: BudgetSnapshot,
    pub reclaimed: Reclaimed,
    /// The backend's clock (Redis `TIME`) at the decision, unix ms.
    pub now_ms: i64,
}

impl Admission {
    pub fn is_admitted(&self) -> bool {
        matches!(self.outcome, AdmissionOutcome::Admitted(_))
    }

    pub fn lease(&self) -> Option<&Lease> {
        match &self.outcome {
            AdmissionOutcome::Admitted(lease) => Some(lease),
            AdmissionOutcome::Refused { .. } => None,
        }
    }

    pub fn into_lease(self) -> Option<Lease> {
        match self.outcome {
            AdmissionOutcome::Admitted(lease) => Some(lease),
            AdmissionOutcome::Refused { .. } => None,
        }
    }

    pub fn refused_by(&self) -> Option<RefusedBy> {
        match self.outcome {
            AdmissionOutcome::Admitted(_) => None,
            AdmissionOutcome::Refused { by, .. } => Some(by),
        }
    }

    pub fn retry_after_ms(&self) -> Option<u64> {
        match self.outcome {
            AdmissionOutcome::Admitted(_) => None,
            AdmissionOutcome::Refused { retry_after_ms, .. } => retry_after_ms,
        }
    }

    /// Budget left after this decision (X-Credits-Remaining); `None` without a budget.
    pub fn budget_left(&self) -> Option<i64> {
        self.budget.left()
    }

    pub(crate) fn from_facts(request: &AdmissionRequest, facts: AdmissionFacts) -> Self {
        let outcome = match facts.refused_by {
            None => AdmissionOutcome::Admitted(Lease::granted(request, facts.lease_expires_at_ms)),
            Some(by) => AdmissionOutcome::Refused {
                by,
                retry_after_ms: match by {
                    RefusedBy::BudgetUnseeded
                    | RefusedBy::TeamConcurrency
                    | RefusedBy::AccountConcurrency => None,
                    _ => facts.retry_after_ms,
                },
            },
        };
        Self {
            outcome,
            team_rate: RateSnapshot {
                rps: request.team.rps,
                burst: request.team.burst,
                remaining: facts.team_tokens,
            },
            account_rate: RateSnapshot {
                rps: request.account.rps_per_endpoint,
                burst: request.account.burst,
                remaining: facts.account_tokens,
            },
            team_concurrency: ConcurrencySnapshot {
                limit: request.team.concurrency,
                current: facts.team_in_flight,
            },
            account_concurrency: ConcurrencySnapshot {
                limit: request.account.concurrency,
                current: facts.account_in_flight,
            },
            budget: BudgetSnapshot {
                budget: request.team.budget,
                hard: request.team.hard_budget,
                charged: facts.charged,
                held: facts.held,
                over_budget: facts.over_budget,
            },
            reclaimed: facts.reclaimed,
            now_ms: facts.now_ms,
        }
    }
}

/// The backend's raw decision (the admission script's reply, or the in-memory twin's),
/// before it is joined with the request into an `Admission`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdmissionFacts {
    pub refused_by: Option<RefusedBy>,
    pub retry_after_ms: Option<u64>,
    pub team_tokens: u64,
    pub account_tokens: u64,
    pub team_in_flight: u32,
    pub account_in_flight: u32,
    pub charged: i64,
    pub held: i64,
    pub over_budget: bool,
    pub reclaimed: Reclaimed,
    pub now_ms: i64,
    pub lease_expires_at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{AccountLimits, BudgetPeriod, TeamQuota};

    fn request() -> AdmissionRequest {
        AdmissionRequest {
            team_id: "t".into(),
            endpoint: "e".into(),
            lease_id: "l".into(),
            estimate: 12,
            team: TeamQuota {
                rps: 5.0,
                burst: 10,
                concurrency: 4,
                budget: Some(100),
                hard_budget: false,
            },
            account: AccountLimits {
                rps_per_endpoint: 1000.0,
                burst: 100,
                concurrency: 10,
            },
            takes_account_slot: true,
            takes_team_slot: true,
            period: BudgetPeriod::new("p", 5_000),
            lease_ttl_ms: 1_000,
        }
    }

    fn facts(refused_by: Option<RefusedBy>) -> AdmissionFacts {
        AdmissionFacts {
            refused_by,
            retry_after_ms: Some(40),
            team_tokens: 7,
            account_tokens: 90,
            team_in_flight: 3,
            account_in_flight: 9,
            charged: 50,
            held: 30,
            over_budget: false,
            reclaimed: Reclaimed::default(),
            now_ms: 1_000,
            lease_expires_at_ms: 2_000,
        }
    }

    #[test]
    fn header_numbers_come_from_the_request_and_the_backend() {
        let admission = Admission::from_facts(&request(), facts(None));
        assert!(admission.is_admitted());
        assert_eq!(admission.lease().map(Lease::expires_at_ms), Some(2_000));
        assert_eq!(
            (admission.team_rate.burst, admission.team_rate.remaining),
            (10, 7)
        );
        assert_eq!(admission.team_concurrency.remaining(), 1);
        assert_eq!(admission.account_concurrency.remaining(), 1);
        assert_eq!(admission.budget_left(), Some(20));
        assert_eq!(admission.retry_after_ms(), None);
    }

    #[test]
    fn concurrency_refusals_carry_no_retry_after() {
        let refused = Admission::from_facts(&request(), facts(Some(RefusedBy::TeamConcurrency)));
        assert_eq!(refused.refused_by(), Some(RefusedBy::TeamConcurrency));
        assert_eq!(refused.retry_after_ms(), None);
        let rate = Admission::from_facts(&request(), facts(Some(RefusedBy::AccountRate)));
        assert_eq!(rate.retry_after_ms(), Some(40));
        assert!(rate.refused_by().is_some_and(RefusedBy::is_account_limit));
        assert!(rate.lease().is_none());
    }

    #[test]
    fn an_unseeded_budget_is_the_teams_refusal_without_retry_after() {
        let refused = Admission::from_facts(&request(), facts(Some(RefusedBy::BudgetUnseeded)));
        assert_eq!(refused.refused_by(), Some(RefusedBy::BudgetUnseeded));
        assert_eq!(refused.retry_after_ms(), None);
        assert!(!RefusedBy::BudgetUnseeded.is_account_limit());
    }
}
