//! Admission on the request path: the team's quota and the account's limits are decided in
//! one limiter call before anything is recorded or sent (waiting in the weighted fair queue
//! when only the account's concurrency is full); a refusal answers in cloro's terms
//! (429 RATE_LIMIT_EXCEEDED / CONCURRENT_LIMIT_EXCEEDED, 403 INSUFFICIENT_CREDITS) naming
//! the limit that refused. Settlement turns the hold into the real charge. Redis failures
//! follow the configured policy.

mod adaptive;
mod headers;

pub use adaptive::AdaptiveLimit;

pub use headers::{LimitHeaders, limit_headers};

use crate::account::AccountState;
use crate::auth::Directory;
use crate::config::{FailurePolicy, LimitSettings};
use crate::error::{ApiError, ErrorCode};
use crate::period::Period;
use crate::pricing::Endpoint;
use accounting::TeamId;
use limiter::{
    AccountLimits, Admission, AdmissionRequest, BudgetPeriod, Lease, Limiter, LimiterError,
    RefusedBy, TeamQuota,
};
use sqlx::PgPool;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// What `/metrics` reports about admission.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionStats {
    pub account_limit: u32,
    pub upstream_concurrency_429s: u64,
    pub soft_budget_overruns: u64,
    pub reclaimed: limiter::ReclaimStats,
}

/// A request let through: its lease (none when Redis was down and the policy is open) and
/// the headers to send with the answer.
pub struct Admitted {
    pub lease: Option<Lease>,
    pub headers: LimitHeaders,
    /// The team's budget left with this request's estimate held; `None` without a budget.
    pub budget_left: Option<i64>,
    pub estimate: i64,
    /// Admitted past a soft budget: the entry is flagged and an alert logged.
    pub over_budget: bool,
    /// The quota's budget and alert threshold (percent) this admission used, when both set.
    pub alert_line: Option<(i64, i16)>,
}

impl Admitted {
    /// The headers to answer with once the real charge is known: the hold is replaced by
    /// the charge in `X-Credits-Remaining`.
    pub fn final_headers(&self, charged: i64) -> LimitHeaders {
        let mut headers = self.headers.clone();
        if let Some(left) = self.budget_left {
            let after = (left + self.estimate - charged).max(0);
            headers.push(("x-credits-remaining", after.to_string()));
        }
        headers
    }
}

pub struct Admitter {
    limiter: Arc<dyn Limiter>,
    directory: Arc<Directory>,
    db: PgPool,
    settings: LimitSettings,
    /// The account's limits in force (configured, or an admin's override).
    account: Arc<AccountState>,
    account_limit: AdaptiveLimit,
    /// Calls cloro refused for concurrency after the gateway admitted them.
    upstream_concurrency_429s: AtomicU64,
    /// Requests admitted past a soft budget.
    soft_budget_overruns: AtomicU64,
    /// (team, period) pairs whose charged total this replica has seeded from the ledger.
    seeded: Mutex<HashSet<(Uuid, String)>>,
}

impl Admitter {
    pub fn new(
        limiter: Arc<dyn Limiter>,
        directory: Arc<Directory>,
        db: PgPool,
        settings: LimitSettings,
        account: Arc<AccountState>,
    ) -> Self {
        let account_limit = AdaptiveLimit::new(
            account.current().limits.concurrency,
            Duration::from_secs(settings.adaptive_recover_secs),
        );
        Self {
            limiter,
            directory,
            db,
            settings,
            account,
            account_limit,
            upstream_concurrency_429s: AtomicU64::new(0),
            soft_budget_overruns: AtomicU64::new(0),
            seeded: Mutex::new(HashSet::new()),
        }
    }

    /// The budget period (`limits.budget_period`) containing now.
    pub fn current_period(&self) -> Period {
        crate::period::current(self.settings.budget_period, chrono::Utc::now())
    }

    /// The team's quota, or the configured default when it has none.
    pub fn quota_of(&self, team: TeamId) -> accounting::quotas::QuotaValues {
        self.directory
            .quota(team)
            .unwrap_or_else(|| self.settings.team_default.values())
    }

    pub fn lease_renew_every(&self) -> Duration {
        Duration::from_secs(self.settings.lease_renew_secs)
    }

    /// Decides the request, all or nothing.
    pub async fn admit(
        &self,
        team: TeamId,
        endpoint: Endpoint,
        lease_id: Uuid,
        estimate: i64,
        period: &Period,
    ) -> Result<Admitted, ApiError> {
        let quota = self.quota_of(team);
        let account = self.account.current().limits;
        self.account_limit.rebase(account.concurrency);
        let budget_period = budget_period(period);
        if quota.budget.is_some() {
            self.seed_from_ledger(team, &budget_period, period).await;
        }
        let request = AdmissionRequest {
            team_id: team.as_uuid().to_string(),
            endpoint: endpoint.name().to_owned(),
            lease_id: lease_id.to_string(),
            estimate,
            team: TeamQuota {
                rps: quota.rps,
                burst: u32::try_from(quota.burst).unwrap_or(1),
                concurrency: u32::try_from(quota.concurrency).unwrap_or(1),
                budget: quota.budget,
                hard_budget: quota.hard_budget,
            },
            account: AccountLimits {
                rps_per_endpoint: account.rps_per_endpoint,
                burst: account.burst,
                concurrency: self.account_limit.current(),
            },
            takes_account_slot: endpoint.takes_concurrency_slot(),
            period: budget_period,
            lease_ttl_ms: self.settings.lease_ttl_secs * 1000,
        };
        let weight = u32::try_from(quota.weight).unwrap_or(1);
        let max_wait = Duration::from_millis(self.settings.account_queue_wait_ms);
        match self.limiter.admit_or_wait(&request, weight, max_wait).await {
            Ok(admission) => {
                let mut admitted = decide(admission, estimate)?;
                admitted.alert_line = quota.budget.zip(quota.alert_threshold_pct);
                if admitted.over_budget {
                    self.soft_budget_overruns.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(alert = true, team = %team.as_uuid(), "team admitted past its soft credit budget");
                }
                Ok(admitted)
            }
            Err(err) => self.on_failure(&request, err).await,
        }
    }

    /// cloro refused a call for concurrency although the gateway admitted it: something else
    /// uses the plan's slots, so trust a lower account limit for a while.
    pub fn upstream_refused_for_concurrency(&self) {
        self.upstream_concurrency_429s
            .fetch_add(1, Ordering::Relaxed);
        self.account_limit.on_concurrency_429();
    }

    /// Counters for `/metrics`.
    pub fn stats(&self) -> AdmissionStats {
        self.account_limit
            .rebase(self.account.current().limits.concurrency);
        AdmissionStats {
            account_limit: self.account_limit.current(),
            upstream_concurrency_429s: self.upstream_concurrency_429s.load(Ordering::Relaxed),
            soft_budget_overruns: self.soft_budget_overruns.load(Ordering::Relaxed),
            reclaimed: self.limiter.reclaim_stats(),
        }
    }

    /// Keeps a long call's leases alive; `false` once they are gone.
    pub async fn renew(&self, lease: &Lease) -> bool {
        match self.limiter.renew(lease).await {
            Ok(alive) => alive,
            Err(err) => {
                tracing::warn!(error = %err, "lease renewal failed");
                true
            }
        }
    }

    /// Runs `work` while renewing the lease every `lease_renew_secs`, so a long upstream call
    /// keeps its slots.
    pub async fn hold_during<F: std::future::Future>(
        &self,
        lease: Option<&Lease>,
        work: F,
    ) -> F::Output {
        let Some(lease) = lease else {
            return work.await;
        };
        tokio::pin!(work);
        let mut tick = tokio::time::interval(self.lease_renew_every());
        tick.tick().await;
        loop {
            tokio::select! {
                output = &mut work => return output,
                _ = tick.tick() => {
                    if !self.renew(lease).await {
                        tracing::warn!("a running request's lease expired before it was renewed");
                    }
                }
            }
        }
    }

    /// Releases the slots and books `charged` against the team's period budget. A limiter
    /// that cannot be reached lets the lease expire instead (its slots come back by TTL).
    pub async fn settle(&self, lease: &Lease, charged: i64) {
        if let Err(err) = self.limiter.settle(lease, charged).await {
            tracing::error!(error = %err, "limiter settlement failed; the lease will expire");
        }
    }

    async fn on_failure(
        &self,
        request: &AdmissionRequest,
        err: LimiterError,
    ) -> Result<Admitted, ApiError> {
        if !err.is_unavailable() {
            return Err(ApiError::internal(err));
        }
        match self.settings.redis_failure_policy {
            FailurePolicy::Closed => Err(ApiError::new(
                ErrorCode::LimiterUnavailable,
                "Limits cannot be checked right now; retry shortly",
            )
            .with_retry_after(1)
            .with_cause(err)),
            FailurePolicy::Open => {
                tracing::error!(alert = true, error = %err, "limiter unavailable: letting the request through unlimited (fail-open)");
                // The admission may have landed before the failure: undo it if so.
                let maybe_granted = Lease::for_request(request);
                let limiter = self.limiter.clone();
                tokio::spawn(async move {
                    let _ = limiter.release(&maybe_granted).await;
                });
                Ok(Admitted {
                    lease: None,
                    headers: Vec::new(),
                    budget_left: None,
                    estimate: request.estimate,
                    over_budget: false,
                    alert_line: None,
                })
            }
        }
    }

    /// A period's charged total starts from the ledger, so a fresh or flushed Redis does not
    /// forget what was already spent. Once per team and period on each replica.
    async fn seed_from_ledger(&self, team: TeamId, budget_period: &BudgetPeriod, period: &Period) {
        let key = (team.as_uuid(), budget_period.id.clone());
        if self
            .seeded
            .lock()
            .map(|s| s.contains(&key))
            .unwrap_or(false)
        {
            return;
        }
        let totals =
            match accounting::ledger::team_totals(&self.db, team, Some((period.start, period.end)))
                .await
            {
                Ok(totals) => totals,
                Err(err) => {
                    tracing::warn!(error = %err, "could not read the ledger to seed a budget");
                    return;
                }
            };
        let team_id = team.as_uuid().to_string();
        match self
            .limiter
            .seed_charged(&team_id, budget_period, totals.charged.get())
            .await
        {
            Ok(_) => {
                if let Ok(mut seeded) = self.seeded.lock() {
                    seeded.insert(key);
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not seed a budget"),
        }
    }
}

fn budget_period(period: &Period) -> BudgetPeriod {
    BudgetPeriod::new(period.id.clone(), period.end.timestamp_millis())
}

/// An admitted request's lease and headers, or the refusal in cloro's terms.
fn decide(admission: Admission, estimate: i64) -> Result<Admitted, ApiError> {
    let mut headers = limit_headers(&admission);
    let budget_left = admission.budget_left();
    let Some(by) = admission.refused_by() else {
        let over_budget = admission.budget.over_budget;
        return Ok(Admitted {
            lease: admission.into_lease(),
            headers,
            budget_left,
            estimate,
            over_budget,
            alert_line: None,
        });
    };
    if let Some(left) = budget_left {
        headers.push(("x-credits-remaining", left.max(0).to_string()));
    }
    let scope = if by.is_account_limit() {
        "account"
    } else {
        "team"
    };
    let (code, message, limit) = match by {
        RefusedBy::Budget => (
            ErrorCode::InsufficientCredits,
            "The team's credit budget for this period is spent",
            admission.budget.budget.unwrap_or(0),
        ),
        RefusedBy::TeamRate | RefusedBy::AccountRate => (
            ErrorCode::RateLimitExceeded,
            "Rate limit exceeded",
            if by == RefusedBy::TeamRate {
                admission.team_rate.rps.ceil() as i64
            } else {
                admission.account_rate.rps.ceil() as i64
            },
        ),
        RefusedBy::TeamConcurrency | RefusedBy::AccountConcurrency => (
            ErrorCode::ConcurrentLimitExceeded,
            "Concurrent request limit reached",
            i64::from(if by == RefusedBy::TeamConcurrency {
                admission.team_concurrency.limit
            } else {
                admission.account_concurrency.limit
            }),
        ),
    };
    let mut error = ApiError::new(code, format!("{message} ({scope} limit)"))
        .with_details(serde_json::json!({ "scope": scope, "limit": limit }))
        .with_headers(headers);
    // Waiting helps for rate (next token) and concurrency (a slot frees soon); a spent
    // budget only comes back with the next period.
    let retry_after_secs = match (by, admission.retry_after_ms()) {
        (_, Some(ms)) => Some(ms.div_ceil(1000).max(1)),
        (RefusedBy::TeamConcurrency | RefusedBy::AccountConcurrency, None) => Some(1),
        _ => None,
    };
    if let Some(secs) = retry_after_secs {
        error = error.with_retry_after(secs);
    }
    Err(error)
}
