//! Admission on the request path: the team's quota and the account's limits are decided in
//! one limiter call before anything is recorded or sent (waiting in the weighted fair queue
//! when only the account's concurrency is full); a refusal answers in cloro's terms
//! (429 RATE_LIMIT_EXCEEDED / CONCURRENT_LIMIT_EXCEEDED, 403 INSUFFICIENT_CREDITS) naming
//! the limit that refused. Settlement turns the hold into the real charge. Redis failures
//! follow the configured policy. A budget Redis no longer knows is re-seeded from the ledger
//! before anyone is admitted against it.

mod adaptive;
mod budget_book;
mod headers;
mod reconciler;
mod refusal_cache;

pub use adaptive::AdaptiveLimit;
pub use budget_book::{BookStats, BudgetBook, Reconciled};
pub use reconciler::spawn_reconciler;

pub use headers::{LimitHeaders, limit_headers};

use crate::config::{FailurePolicy, LimitSettings};
use crate::directory::{AccountSettings, Directory};
use crate::error::{ApiError, ErrorCode};
use crate::period::Period;
use crate::pricing::Endpoint;
use crate::tasks::{BackgroundTasks, retry_after_failure};
use crate::team_metrics::TeamMetrics;
use accounting::{Credits, TeamId};
use limiter::{
    AccountLimits, Admission, AdmissionRequest, BudgetPeriod, Lease, Limiter, LimiterError,
    RefusedBy, TeamQuota,
};
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tracing::Instrument;
use uuid::Uuid;

/// What `/metrics` reports about admission.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionStats {
    pub account_limit: u32,
    pub upstream_concurrency_429s: u64,
    pub soft_budget_overruns: u64,
    /// Rate refusals answered from memory (the team's bucket known empty), without Redis.
    pub rate_refusals_remembered: u64,
    pub reclaimed: limiter::ReclaimStats,
    /// Leases (and holds) a renewal found gone and re-created.
    pub leases_recreated: u64,
    pub holds_restored: u64,
    /// Limiter settlements that failed and were retried in the background.
    pub settle_retries: u64,
    pub budget: BookStats,
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
    /// The quota's budget and alert threshold this admission used, when both are set.
    pub alert_line: Option<AlertLine>,
}

/// Where a team's budget alert fires: `threshold_pct` percent of `budget`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertLine {
    pub budget: i64,
    pub threshold_pct: i16,
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
    settings: LimitSettings,
    /// The account's limits in force (configured, or an admin's override).
    account: Arc<AccountSettings>,
    account_limit: AdaptiveLimit,
    /// Calls cloro refused for concurrency after the gateway admitted them.
    upstream_concurrency_429s: AtomicU64,
    /// Requests admitted past a soft budget.
    soft_budget_overruns: AtomicU64,
    rate_refusals_remembered: AtomicU64,
    leases_recreated: AtomicU64,
    holds_restored: AtomicU64,
    settle_retries: AtomicU64,
    /// Budgets seeded and reconciled from the ledger.
    book: BudgetBook,
    tasks: BackgroundTasks,
    /// Refusals, waits and charges per team, for `/metrics`.
    metrics: Arc<TeamMetrics>,
    /// Teams whose rate bucket is empty, refused without asking Redis until it can refill.
    refusals: refusal_cache::RefusalCache,
}

/// What an admission takes besides rate tokens and the budget hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A sync call: team and account concurrency slots, renewed while it runs.
    Sync,
    /// An async task: no slot; the hold lives for `hold`.
    Async { hold: Duration },
}

/// Attempts at one admission: the first may find the budget unseeded; seeding then admits.
const ADMISSION_ATTEMPTS: usize = 3;

impl Admitter {
    pub fn new(
        limiter: Arc<dyn Limiter>,
        directory: Arc<Directory>,
        db: PgPool,
        settings: LimitSettings,
        account: Arc<AccountSettings>,
        ledger_timeout: Duration,
        tasks: BackgroundTasks,
    ) -> Self {
        let account_limit = AdaptiveLimit::new(
            account.current().limits.concurrency,
            Duration::from_secs(settings.adaptive_recover_secs),
        );
        Self {
            book: BudgetBook::new(limiter.clone(), db, ledger_timeout),
            limiter,
            directory,
            settings,
            account,
            account_limit,
            upstream_concurrency_429s: AtomicU64::new(0),
            soft_budget_overruns: AtomicU64::new(0),
            rate_refusals_remembered: AtomicU64::new(0),
            leases_recreated: AtomicU64::new(0),
            holds_restored: AtomicU64::new(0),
            settle_retries: AtomicU64::new(0),
            tasks,
            metrics: Arc::default(),
            refusals: refusal_cache::RefusalCache::default(),
        }
    }

    /// Feeds `metrics` (shared with `/metrics`) instead of a series of its own.
    pub fn with_metrics(mut self, metrics: Arc<TeamMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The per-team series admission and settlement feed.
    pub fn metrics(&self) -> &Arc<TeamMetrics> {
        &self.metrics
    }

    /// The budgets' ledger book (seeding and reconciliation).
    pub fn book(&self) -> &BudgetBook {
        &self.book
    }

    pub fn limiter(&self) -> &Arc<dyn Limiter> {
        &self.limiter
    }

    pub fn directory(&self) -> &Arc<Directory> {
        &self.directory
    }

    /// The budget period (`limits.budget_period`) containing now.
    pub fn current_period(&self) -> Period {
        self.directory.current_period()
    }

    /// The team's quota, or the configured default when it has none.
    pub fn quota_of(&self, team: TeamId) -> accounting::quotas::QuotaValues {
        self.directory.quota_of(team)
    }

    pub fn lease_renew_every(&self) -> Duration {
        Duration::from_secs(self.settings.lease_renew_secs)
    }

    /// Decides the request, all or nothing. A budget Redis does not know (it lost its state,
    /// or the period is new) is seeded from the ledger first; if the ledger cannot be read,
    /// a budgeted team is refused (503), never admitted on an empty budget.
    #[tracing::instrument(level = "debug", name = "admit", skip_all, fields(endpoint = endpoint.name(), estimate = estimate.get()))]
    pub async fn admit(
        &self,
        team: TeamId,
        endpoint: Endpoint,
        lease_id: Uuid,
        estimate: Credits,
        period: &Period,
    ) -> Result<Admitted, ApiError> {
        let target = (endpoint.name(), endpoint.takes_concurrency_slot());
        self.admit_as(team, target, lease_id, estimate, period, Kind::Sync)
            .await
    }

    /// Admits an async task: team and account rate, and a hold of `estimate` that lives for
    /// `hold` (until the task settles), without any concurrency slot or queue wait.
    #[tracing::instrument(level = "debug", name = "admit_async", skip_all, fields(endpoint = endpoint.name(), estimate = estimate.get()))]
    pub async fn admit_async(
        &self,
        team: TeamId,
        endpoint: Endpoint,
        lease_id: Uuid,
        estimate: Credits,
        period: &Period,
        hold: Duration,
    ) -> Result<Admitted, ApiError> {
        let target = (endpoint.name(), false);
        self.admit_as(
            team,
            target,
            lease_id,
            estimate,
            period,
            Kind::Async { hold },
        )
        .await
    }

    /// Admits a free reference call (`/v1/countries`, `/v1/states`): the team's rate and the
    /// account's bucket for `name`, nothing held (a zero hold that lapses within a second).
    pub async fn admit_reference(&self, team: TeamId, name: &'static str) -> Result<(), ApiError> {
        let period = self.current_period();
        let hold = Duration::from_secs(1);
        self.admit_as(
            team,
            (name, false),
            Uuid::now_v7(),
            Credits::ZERO,
            &period,
            Kind::Async { hold },
        )
        .await
        .map(|_| ())
    }

    /// `target`: the account bucket's name, and whether a sync call takes a concurrency slot.
    async fn admit_as(
        &self,
        team: TeamId,
        (endpoint, takes_slot): (&str, bool),
        lease_id: Uuid,
        estimate: Credits,
        period: &Period,
        kind: Kind,
    ) -> Result<Admitted, ApiError> {
        let estimate = estimate.get();
        let quota = self.quota_of(team);
        let rate_quota = (quota.rps, quota.burst);
        let started = Instant::now();
        if let Some(refused) = self.refusals.team_rate(team, rate_quota, started) {
            self.rate_refusals_remembered
                .fetch_add(1, Ordering::Relaxed);
            self.metrics.admission_waited(team, started.elapsed());
            self.metrics
                .refused(team, refusal_reason(RefusedBy::TeamRate));
            return decide(refused, estimate);
        }
        let account = self.account.current().limits;
        self.account_limit.rebase(account.concurrency);
        let budget_period = budget_period(period);
        let request = AdmissionRequest {
            team_id: team.as_uuid().to_string(),
            endpoint: endpoint.to_owned(),
            lease_id: lease_id.to_string(),
            estimate,
            team: TeamQuota {
                rps: quota.rps,
                burst: quota.burst,
                concurrency: quota.concurrency,
                budget: quota.budget,
                hard_budget: quota.hard_budget,
            },
            account: AccountLimits {
                rps_per_endpoint: account.rps_per_endpoint,
                burst: account.burst,
                concurrency: self.account_limit.current(),
            },
            takes_account_slot: kind == Kind::Sync && takes_slot,
            takes_team_slot: kind == Kind::Sync,
            period: budget_period,
            lease_ttl_ms: match kind {
                Kind::Sync => self.settings.lease_ttl_secs * 1000,
                // `async_tasks.hold_hours` is validated to fit the limiter's longest lease.
                Kind::Async { hold } => {
                    u64::try_from(hold.as_millis()).unwrap_or(limiter::MAX_LEASE_TTL_MS)
                }
            },
        };
        let weight = quota.weight;
        let max_wait = Duration::from_millis(self.settings.account_queue_wait_ms);
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            let sent_at = Instant::now();
            let outcome = self.limiter.admit_or_wait(&request, weight, max_wait).await;
            if let Ok(admission) = &outcome {
                self.refusals.note(team, rate_quota, sent_at, admission);
            }
            let unseeded =
                matches!(&outcome, Ok(a) if a.refused_by() == Some(RefusedBy::BudgetUnseeded));
            if !unseeded || attempt >= ADMISSION_ATTEMPTS {
                break outcome;
            }
            match self.book.seed(team, &request.period, period).await {
                Ok(_) => {}
                Err(budget_book::BookError::Limiter(err)) => {
                    return self.on_failure(team, &request, err).await;
                }
                Err(budget_book::BookError::Ledger(reason)) => {
                    return Err(ApiError::ledger_unavailable(
                        "The team's budget cannot be checked against the ledger now",
                    )
                    .with_cause(anyhow::anyhow!(reason)));
                }
            }
        };
        self.metrics.admission_waited(team, started.elapsed());
        match outcome {
            Ok(admission) => {
                if let Some(by) = admission.refused_by() {
                    self.metrics.refused(team, refusal_reason(by));
                }
                let mut admitted = decide(admission, estimate)?;
                admitted.alert_line =
                    quota
                        .budget
                        .zip(quota.alert_threshold_pct)
                        .map(|(budget, threshold_pct)| AlertLine {
                            budget,
                            threshold_pct,
                        });
                if admitted.over_budget {
                    self.soft_budget_overruns.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(alert = true, team = %team.as_uuid(), "team admitted past its soft credit budget");
                }
                Ok(admitted)
            }
            Err(err) => self.on_failure(team, &request, err).await,
        }
    }

    /// cloro refused a call for concurrency although the gateway admitted it: something else
    /// uses the plan's slots, so trust a lower account limit for a while.
    pub fn upstream_refused_for_concurrency(&self) {
        self.upstream_concurrency_429s
            .fetch_add(1, Ordering::Relaxed);
        self.account_limit.on_concurrency_429();
    }

    /// cloro reported this many async tasks running on the plan's slots: sync calls are
    /// admitted against what is left.
    pub fn note_async_running(&self, running: u32) {
        self.account_limit.note_async_running(running);
    }

    /// Counters for `/metrics`.
    pub fn stats(&self) -> AdmissionStats {
        self.account_limit
            .rebase(self.account.current().limits.concurrency);
        AdmissionStats {
            account_limit: self.account_limit.current(),
            upstream_concurrency_429s: self.upstream_concurrency_429s.load(Ordering::Relaxed),
            soft_budget_overruns: self.soft_budget_overruns.load(Ordering::Relaxed),
            rate_refusals_remembered: self.rate_refusals_remembered.load(Ordering::Relaxed),
            reclaimed: self.limiter.reclaim_stats(),
            leases_recreated: self.leases_recreated.load(Ordering::Relaxed),
            holds_restored: self.holds_restored.load(Ordering::Relaxed),
            settle_retries: self.settle_retries.load(Ordering::Relaxed),
            budget: self.book.stats(),
        }
    }

    /// Keeps a running call's leases alive, re-creating them (and the hold) if Redis lost
    /// them, so the account's concurrency and the team's holds are whole again within one
    /// renewal period.
    pub async fn renew(&self, lease: &Lease) {
        match self.limiter.renew(lease).await {
            Ok(renewal) if renewal.recreated() => {
                self.leases_recreated.fetch_add(1, Ordering::Relaxed);
                if renewal.restored_hold {
                    self.holds_restored.fetch_add(1, Ordering::Relaxed);
                }
                tracing::warn!(
                    lease = lease.lease_id(),
                    restored_hold = renewal.restored_hold,
                    "a running request's lease was gone from Redis; re-created it"
                );
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "lease renewal failed"),
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
        // The first renewal is one period from now. (Not `interval`'s immediate first tick:
        // the timer wheel rounds it up to its next millisecond, and the call would wait it.)
        let every = self.lease_renew_every();
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                output = &mut work => return output,
                _ = tick.tick() => self.renew(lease).await,
            }
        }
    }

    /// Releases the slots and books `charged` against the team's period budget. Settling is
    /// idempotent, so one that fails is retried in a tracked background task until it lands
    /// (meanwhile the lease's TTL gives the slots back and the hold is reclaimed; the charge
    /// then lands as a late settlement).
    pub async fn settle(&self, lease: &Lease, charged: i64) {
        let Err(err) = self.limiter.settle(lease, charged).await else {
            return;
        };
        self.settle_retries.fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = %err, "limiter settlement failed; retrying in the background");
        let limiter = self.limiter.clone();
        let lease = lease.clone();
        self.tasks.spawn(
            async move {
                let settled = retry_after_failure(SETTLE_RETRIES, RETRY_FIRST, RETRY_CAP, || {
                    limiter_call_ok(limiter.settle(&lease, charged), "limiter settlement")
                })
                .await;
                if settled {
                    return;
                }
                tracing::error!(
                    lease = lease.lease_id(),
                    charged,
                    "limiter settlement given up; the budget reconciler will correct the charge"
                );
            }
            .in_current_span(),
        );
    }

    /// Gives a maybe-granted admission back in the background: an admission whose reply was
    /// lost may still have run in Redis. Releasing one that never ran changes nothing.
    fn release_in_background(&self, request: &AdmissionRequest) {
        let maybe_granted = Lease::for_request(request);
        let limiter = self.limiter.clone();
        self.tasks.spawn(
            async move {
                let release = || limiter_call_ok(limiter.release(&maybe_granted), "release");
                let released = release().await
                    || retry_after_failure(SETTLE_RETRIES, RETRY_FIRST, RETRY_CAP, release).await;
                if released {
                    // The admission may still be queued behind it (a slow or paused Redis):
                    // release once more after it has surely run or failed.
                    tokio::time::sleep(LATE_ADMISSION_GRACE).await;
                    let _ = limiter.release(&maybe_granted).await;
                }
            }
            .in_current_span(),
        );
    }

    async fn on_failure(
        &self,
        team: TeamId,
        request: &AdmissionRequest,
        err: LimiterError,
    ) -> Result<Admitted, ApiError> {
        if !err.is_unavailable() {
            return Err(err.into());
        }
        self.metrics.limiter_unavailable();
        // The admission may have landed before the failure (a timeout): undo it if so.
        self.release_in_background(request);
        match self.settings.redis_failure_policy {
            FailurePolicy::Closed => {
                self.metrics.refused(team, "limiter_unavailable");
                Err(err.into())
            }
            FailurePolicy::Open => {
                tracing::error!(alert = true, error = %err, "limiter unavailable: letting the request through unlimited (fail-open)");
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
}

/// Background retries of a failed limiter settlement or release, and their backoff.
const SETTLE_RETRIES: usize = 8;
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_CAP: Duration = Duration::from_secs(5);

/// Whether a limiter call succeeded; a failure is logged.
async fn limiter_call_ok<T>(
    call: impl std::future::Future<Output = Result<T, LimiterError>>,
    what: &str,
) -> bool {
    match call.await {
        Ok(_) => true,
        Err(err) => {
            tracing::warn!(error = %err, "{what} failed; retrying");
            false
        }
    }
}

/// After releasing a maybe-granted admission, how long until it is released once more.
const LATE_ADMISSION_GRACE: Duration = Duration::from_secs(2);

/// The `reason` label of a refusal in `/metrics`.
fn refusal_reason(by: RefusedBy) -> &'static str {
    match by {
        RefusedBy::BudgetUnseeded => "budget_unseeded",
        RefusedBy::Budget => "budget",
        RefusedBy::TeamRate => "team_rate",
        RefusedBy::TeamConcurrency => "team_concurrency",
        RefusedBy::AccountRate => "account_rate",
        RefusedBy::AccountConcurrency => "account_concurrency",
    }
}

pub fn budget_period(period: &Period) -> BudgetPeriod {
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
        RefusedBy::BudgetUnseeded => {
            // Seeding kept losing to Redis losing its state again: refuse rather than guess.
            return Err(ApiError::limiter_unavailable(
                "The team's budget is being restored; retry shortly",
            ));
        }
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
