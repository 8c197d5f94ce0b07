//! A granted admission: what `renew`, `settle` and `release` need to find the request's
//! concurrency leases and credit hold again, on any replica (it serializes, e.g. for async tasks).

use serde::{Deserialize, Serialize};

use crate::error::LimiterError;
use crate::request::{
    AdmissionRequest, BudgetPeriod, MAX_LEASE_TTL_MS, sync_by_default, validate_id,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    team_id: String,
    lease_id: String,
    endpoint: String,
    period: BudgetPeriod,
    estimate: i64,
    /// False for an async task's lease: a hold (and its expiry) only, no concurrency lease.
    #[serde(default = "sync_by_default")]
    holds_team_slot: bool,
    holds_account_slot: bool,
    lease_ttl_ms: u64,
    budget: Option<i64>,
    expires_at_ms: i64,
}

impl Lease {
    /// The lease `request` holds (or would hold) if admitted. Use it to `release` after an
    /// `Unavailable` admission, whose outcome is unknown: releasing a lease that was never
    /// granted changes nothing.
    pub fn for_request(request: &AdmissionRequest) -> Self {
        Self::granted(request, 0)
    }

    pub(crate) fn granted(request: &AdmissionRequest, expires_at_ms: i64) -> Self {
        Self {
            team_id: request.team_id.clone(),
            lease_id: request.lease_id.clone(),
            endpoint: request.endpoint.clone(),
            period: request.period.clone(),
            estimate: request.estimate,
            holds_team_slot: request.takes_team_slot,
            holds_account_slot: request.takes_account_lease(),
            lease_ttl_ms: request.lease_ttl_ms,
            budget: request.team.budget,
            expires_at_ms,
        }
    }

    pub fn team_id(&self) -> &str {
        &self.team_id
    }

    pub fn lease_id(&self) -> &str {
        &self.lease_id
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The period the hold was taken in; settlement charges this period.
    pub fn period(&self) -> &BudgetPeriod {
        &self.period
    }

    /// Credits held for this request.
    pub fn estimate(&self) -> i64 {
        self.estimate
    }

    /// False for an async task (`takes_team_slot: false`): the lease holds credits only.
    pub fn holds_team_slot(&self) -> bool {
        self.holds_team_slot
    }

    /// Never without a team slot.
    pub fn holds_account_slot(&self) -> bool {
        self.holds_account_slot
    }

    /// Each `renew` extends the leases by this much from the backend's current time.
    pub fn lease_ttl_ms(&self) -> u64 {
        self.lease_ttl_ms
    }

    /// The team's budget at admission, used to report the budget left after settlement.
    pub fn budget(&self) -> Option<i64> {
        self.budget
    }

    /// Backend time (unix ms) at which the leases expire unless renewed; 0 when unknown.
    pub fn expires_at_ms(&self) -> i64 {
        self.expires_at_ms
    }

    /// A lease may come back from storage (async tasks): check it like a request.
    pub(crate) fn validate(&self) -> Result<(), LimiterError> {
        validate_id("team id", &self.team_id)?;
        validate_id("lease id", &self.lease_id)?;
        self.period.validate()?;
        if self.lease_ttl_ms == 0 || self.lease_ttl_ms > MAX_LEASE_TTL_MS {
            return Err(LimiterError::invalid("lease ttl out of range"));
        }
        if self.holds_account_slot && !self.holds_team_slot {
            return Err(LimiterError::invalid(
                "a lease without a team slot holds no account slot",
            ));
        }
        Ok(())
    }
}

/// What `Limiter::renew` found missing and put back. All `false` on an ordinary renewal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Renewal {
    /// The team lease was gone (reclaimed after expiring, or Redis lost its state) and was
    /// added again: the request holds a team slot again. Never for a lease without a team
    /// slot (an async task's: only its hold can be restored).
    pub recreated_team_lease: bool,
    /// The same for the account lease (only for a lease that holds an account slot).
    pub recreated_account_lease: bool,
    /// The hold was gone without having been reclaimed (Redis lost its state) and holds the
    /// lease's estimate again.
    pub restored_hold: bool,
}

impl Renewal {
    /// Something had to be re-created (worth a log line or a metric).
    pub fn recreated(&self) -> bool {
        self.recreated_team_lease || self.recreated_account_lease || self.restored_hold
    }
}
