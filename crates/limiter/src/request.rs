//! What the gateway asks the limiter: one request's identity and credit estimate, and the
//! team quota and account limits to check it against (validated the same way by every backend).

use serde::{Deserialize, Serialize};

use crate::error::LimiterError;

/// cloro's per-endpoint rate limit for one account.
pub const DEFAULT_ACCOUNT_RPS_PER_ENDPOINT: f64 = 1000.0;

/// Largest credit amount (estimate, budget, charge) the limiter accepts. Redis Lua numbers
/// are doubles, exact to 2^53; sums of three such amounts stay exact.
pub const MAX_CREDITS: i64 = 1_000_000_000_000_000;

/// Longest lease the limiter grants (long async tasks included).
pub const MAX_LEASE_TTL_MS: u64 = 30 * 24 * 3600 * 1000;

/// Longest id (team, endpoint, lease, period) the limiter accepts, in bytes.
pub const MAX_ID_LEN: usize = 200;

/// One request to admit: all of it is checked and taken in one atomic step, or none of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdmissionRequest {
    pub team_id: String,
    /// The upstream endpoint, e.g. `chatgpt` or `/v1/monitor/chatgpt`: one account bucket each.
    pub endpoint: String,
    /// Unique per request (a UUID); names the concurrency leases and the credit hold.
    pub lease_id: String,
    /// Credits held against the team's budget until settlement.
    pub estimate: i64,
    pub team: TeamQuota,
    pub account: AccountLimits,
    /// False for requests that use no upstream concurrency slot (e.g. google/goto): they
    /// take no account lease, but still a team lease and account rate tokens.
    pub takes_account_slot: bool,
    /// True for sync calls. False for async tasks (cloro queues them and runs them on the
    /// account's shared concurrency later): they take no team lease and no account lease
    /// (whatever `takes_account_slot` says), never wait in the fair queue and are never
    /// refused by a concurrency limit, but still take team and account rate tokens and hold
    /// `estimate` against the budget until settled or expired (pass a long `lease_ttl_ms`,
    /// up to `MAX_LEASE_TTL_MS`). Absent when deserializing: true.
    #[serde(default = "sync_by_default")]
    pub takes_team_slot: bool,
    pub period: BudgetPeriod,
    /// How long the leases and the hold live unless renewed; a crashed replica's slots and
    /// holds return after this.
    pub lease_ttl_ms: u64,
}

/// Requests and leases serialized before `takes_team_slot` existed were all sync calls.
pub(crate) fn sync_by_default() -> bool {
    true
}

/// A team's share of the account, from the quotas table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamQuota {
    /// Sustained requests per second (token refill rate); must be > 0.
    pub rps: f64,
    /// Bucket size: requests allowed at once after idling; at least 1.
    pub burst: u32,
    /// Requests in flight at once; at least 1.
    pub concurrency: u32,
    /// Credits per period; `None` is unlimited.
    pub budget: Option<i64>,
    /// Hard budgets refuse a request that would exceed them; soft ones admit and flag it.
    pub hard_budget: bool,
}

/// The shared account's limits, as the gateway trusts them for this request (its
/// concurrency is lowered for a while after upstream concurrency 429s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountLimits {
    /// Per endpoint; cloro allows 1,000.
    pub rps_per_endpoint: f64,
    /// Keep this well under `rps_per_endpoint` so a burst plus a second of refill stays under
    /// the upstream's per-second window.
    pub burst: u32,
    /// The plan's concurrency limit (e.g. 10 or 50).
    pub concurrency: u32,
}

/// A budget period: the id names the Redis key, the end bounds the key's life and is the
/// Retry-After of a hard-budget refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetPeriod {
    /// E.g. `2026-11` for a calendar month.
    pub id: String,
    /// Unix milliseconds at which the period ends.
    pub ends_at_ms: i64,
}

impl BudgetPeriod {
    pub fn new(id: impl Into<String>, ends_at_ms: i64) -> Self {
        Self {
            id: id.into(),
            ends_at_ms,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), LimiterError> {
        validate_id("period id", &self.id)?;
        if self.ends_at_ms <= 0 {
            return Err(LimiterError::invalid(
                "period end must be a positive unix ms",
            ));
        }
        Ok(())
    }
}

impl AdmissionRequest {
    /// Whether an admission takes an account lease: only a request that takes a team slot
    /// and an upstream slot does.
    pub fn takes_account_lease(&self) -> bool {
        self.takes_team_slot && self.takes_account_slot
    }

    /// Checks everything a backend relies on; both backends call it first.
    pub fn validate(&self) -> Result<(), LimiterError> {
        validate_id("team id", &self.team_id)?;
        validate_id("endpoint", &self.endpoint)?;
        validate_id("lease id", &self.lease_id)?;
        self.period.validate()?;
        validate_credits("estimate", self.estimate)?;
        validate_rate("team rps", self.team.rps, self.team.burst)?;
        validate_rate(
            "account rps",
            self.account.rps_per_endpoint,
            self.account.burst,
        )?;
        if self.team.concurrency == 0 || self.account.concurrency == 0 {
            return Err(LimiterError::invalid(
                "concurrency limits must be at least 1",
            ));
        }
        if let Some(budget) = self.team.budget {
            validate_credits("budget", budget)?;
        }
        if self.lease_ttl_ms == 0 || self.lease_ttl_ms > MAX_LEASE_TTL_MS {
            return Err(LimiterError::invalid(format!(
                "lease ttl must be within 1..={MAX_LEASE_TTL_MS} ms"
            )));
        }
        Ok(())
    }
}

/// Ids become parts of Redis keys: printable ASCII without `{`, `}` (hash tags) or `:`
/// (the key separator, so two ids can never produce the same key).
pub(crate) fn validate_id(what: &str, id: &str) -> Result<(), LimiterError> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(LimiterError::invalid(format!(
            "{what} must be 1..={MAX_ID_LEN} bytes"
        )));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'{' | b'}' | b':'))
    {
        return Err(LimiterError::invalid(format!(
            "{what} must be printable ASCII without '{{', '}}' or ':'"
        )));
    }
    Ok(())
}

/// The checks of every call that names a team's budget period.
pub(crate) fn validate_team_period(
    team_id: &str,
    period: &BudgetPeriod,
) -> Result<(), LimiterError> {
    validate_id("team id", team_id)?;
    period.validate()
}

pub(crate) fn validate_credits(what: &str, credits: i64) -> Result<(), LimiterError> {
    if (0..=MAX_CREDITS).contains(&credits) {
        Ok(())
    } else {
        Err(LimiterError::invalid(format!(
            "{what} must be within 0..={MAX_CREDITS} credits"
        )))
    }
}

fn validate_rate(what: &str, rps: f64, burst: u32) -> Result<(), LimiterError> {
    if !(rps.is_finite() && rps > 0.0) {
        return Err(LimiterError::invalid(format!(
            "{what} must be finite and > 0"
        )));
    }
    if burst == 0 {
        return Err(LimiterError::invalid(format!(
            "{what}: burst must be at least 1"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> AdmissionRequest {
        AdmissionRequest {
            team_id: "team-a".into(),
            endpoint: "/v1/monitor/chatgpt".into(),
            lease_id: "6f1c0e4e-2b47-4e8a-9a0c-4d7f0c1e9b11".into(),
            estimate: 5,
            team: TeamQuota {
                rps: 10.0,
                burst: 10,
                concurrency: 2,
                budget: Some(100),
                hard_budget: true,
            },
            account: AccountLimits {
                rps_per_endpoint: DEFAULT_ACCOUNT_RPS_PER_ENDPOINT,
                burst: 100,
                concurrency: 10,
            },
            takes_account_slot: true,
            takes_team_slot: true,
            period: BudgetPeriod::new("2026-11", 1_796_083_200_000),
            lease_ttl_ms: 30_000,
        }
    }

    fn rejected(change: impl FnOnce(&mut AdmissionRequest)) -> bool {
        let mut r = request();
        change(&mut r);
        matches!(r.validate(), Err(LimiterError::InvalidRequest(_)))
    }

    #[test]
    fn a_well_formed_request_passes() {
        assert!(request().validate().is_ok());
    }

    #[test]
    fn ids_that_could_break_the_key_layout_are_refused() {
        assert!(rejected(|r| r.team_id = String::new()));
        assert!(rejected(|r| r.team_id = "a:b".into()));
        assert!(rejected(|r| r.team_id = "{a}".into()));
        assert!(rejected(|r| r.endpoint = "with space".into()));
        assert!(rejected(|r| r.lease_id = "x".repeat(MAX_ID_LEN + 1)));
        assert!(rejected(|r| r.period.id = "2026:11".into()));
    }

    #[test]
    fn numbers_out_of_range_are_refused() {
        assert!(rejected(|r| r.estimate = -1));
        assert!(rejected(|r| r.estimate = MAX_CREDITS + 1));
        assert!(rejected(|r| r.team.rps = 0.0));
        assert!(rejected(|r| r.team.rps = f64::NAN));
        assert!(rejected(|r| r.account.rps_per_endpoint = f64::INFINITY));
        assert!(rejected(|r| r.team.burst = 0));
        assert!(rejected(|r| r.account.concurrency = 0));
        assert!(rejected(|r| r.team.budget = Some(-5)));
        assert!(rejected(|r| r.lease_ttl_ms = 0));
        assert!(rejected(|r| r.period.ends_at_ms = 0));
    }
}
