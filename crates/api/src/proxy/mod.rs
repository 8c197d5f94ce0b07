//! The cloro-compatible proxy: a team's sync call is priced, recorded PENDING in the
//! ledger (durably, before anything is sent), forwarded with the company key, settled from
//! what the upstream charged, and answered with the upstream's own status and body.

mod idempotency;
mod outcomes;
pub mod reference;
mod reply;
pub mod routes;
mod settle;

pub use outcomes::OutcomeCounters;
pub use reference::ReferenceData;

use crate::admission::{Admitted, Admitter, LimitHeaders};
use crate::alerts::{Alerter, BudgetUsage};
use crate::auth::TeamRef;
use crate::config::Settings;
use crate::directory::AccountSettings;
use crate::error::ApiError;
use crate::ledger::Ledger;
use crate::period::Period;
use crate::pricing::Endpoint;
use crate::request_body;
use crate::stage_timings::{Stage, StageTimings};
use crate::tasks::{BackgroundTasks, retry_after_failure};
use crate::telemetry::RequestId;
use crate::upstream::{Upstream, UpstreamFailure, UpstreamReply};
use accounting::idempotency::StoredResponse;
use accounting::ledger::{NewEntry, SettleRequest};
use accounting::{Credits, IdempotencyKey};
use actix_web::{HttpResponse, web};
use bytes::Bytes;
use reqwest::Method;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tracing::Instrument;
use uuid::Uuid;

/// The sync proxy: the services a team's call goes through, shared by all workers.
pub struct Proxy {
    ledger: Arc<Ledger>,
    upstream: Arc<Upstream>,
    admission: Arc<Admitter>,
    alerts: Arc<Alerter>,
    /// The price table in force (configured, or with an admin's override).
    account: Arc<AccountSettings>,
    /// Detached work shutdown waits for.
    tasks: BackgroundTasks,
    outcomes: Arc<OutcomeCounters>,
    /// Where each call's time goes, by stage.
    stages: Arc<StageTimings>,
    max_body_bytes: usize,
    /// How long a body may take to arrive in full.
    body_read_timeout: Duration,
    idempotency_ttl: Duration,
    /// The largest reply body kept for Idempotency-Key replays.
    idempotency_max_body_bytes: usize,
    /// How long an in-progress Idempotency-Key is leased: longer than a request can run.
    idempotency_lease: Duration,
}

/// The services the proxy is built on.
pub struct ProxyServices {
    pub ledger: Arc<Ledger>,
    pub upstream: Arc<Upstream>,
    pub admission: Arc<Admitter>,
    pub alerts: Arc<Alerter>,
    pub account: Arc<AccountSettings>,
    pub tasks: BackgroundTasks,
    pub outcomes: Arc<OutcomeCounters>,
    pub stages: Arc<StageTimings>,
}

impl Proxy {
    pub fn new(settings: &Settings, services: ProxyServices) -> Self {
        Self {
            ledger: services.ledger,
            upstream: services.upstream,
            admission: services.admission,
            alerts: services.alerts,
            account: services.account,
            tasks: services.tasks,
            outcomes: services.outcomes,
            stages: services.stages,
            max_body_bytes: settings.server.max_body_bytes,
            body_read_timeout: Duration::from_secs(settings.server.body_read_timeout_secs),
            idempotency_ttl: Duration::from_secs(settings.ledger.idempotency_ttl_hours * 3600),
            idempotency_max_body_bytes: settings.ledger.idempotency_max_body_bytes,
            idempotency_lease: Duration::from_secs(settings.upstream.request_timeout_secs)
                + IDEMPOTENCY_LEASE_MARGIN,
        }
    }
}

/// An in-progress Idempotency-Key outlives its request's deadline by this much.
const IDEMPOTENCY_LEASE_MARGIN: Duration = Duration::from_secs(60);

/// One team's sync call, validated and priced.
struct SyncCall {
    endpoint: Endpoint,
    team: TeamRef,
    entry_id: Uuid,
    request_id: RequestId,
    body: Bytes,
    estimate: Credits,
    idempotency_key: Option<IdempotencyKey>,
}

/// The whole life of a sync request after authentication.
pub async fn handle_sync(
    proxy: web::Data<Proxy>,
    endpoint: Endpoint,
    team: TeamRef,
    request_id: RequestId,
    idempotency_header: Option<&actix_web::http::header::HeaderValue>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let idempotency_key = idempotency::parse(idempotency_header)?;
    let body =
        request_body::read_limited(payload, proxy.max_body_bytes, proxy.body_read_timeout).await?;
    let json = request_body::parse_json(&body)?;
    let estimate = proxy.account.price_table().estimate_sync(endpoint, &json)?;
    let estimate = Credits::new(estimate).map_err(ApiError::internal)?;
    let entry_id = ledger_id(&request_id);
    let span = tracing::info_span!(
        "sync_call",
        request_id = request_id.as_str(),
        team = team.slug.as_str(),
        entry = %entry_id,
        endpoint = endpoint.name(),
    );
    let call = SyncCall {
        endpoint,
        team,
        entry_id,
        request_id,
        body,
        estimate,
        idempotency_key,
    };

    // From here on the request runs detached from the team's connection: a half-taken
    // idempotency key or a recorded entry must never be abandoned because the team hung up,
    // and the upstream charges for completed work whether or not anyone is listening. The
    // task is tracked, so a graceful shutdown waits for it.
    let proxy = proxy.into_inner();
    let tasks = proxy.tasks.clone();
    let stages = proxy.stages.clone();
    // Boxed: the detached future is about 10 KB, and the task's cell would otherwise hold it
    // inline and copy it whole at each change of the task's stage (spawn, finish, join).
    let detached = Box::pin(async move { run_detached(&proxy, call).await }.instrument(span));
    let answer = tasks.spawn(detached).await.map_err(ApiError::internal)??;
    stages.observe(Stage::Call, started.elapsed());
    match answer {
        Answer::Replay(stored) => Ok(idempotency::replay(stored)),
        Answer::Upstream(outcome, headers) => reply::to_response(outcome, headers),
    }
}

/// What the detached part produced; turned into the HTTP response on the worker.
enum Answer {
    Replay(StoredResponse),
    Upstream(Result<UpstreamReply, UpstreamFailure>, LimitHeaders),
}

/// Admission, idempotency, the durable PENDING entry, the upstream call and its settlement.
/// Admission comes first: a team over its limits is refused without a write to Postgres.
async fn run_detached(proxy: &Arc<Proxy>, call: SyncCall) -> Result<Answer, ApiError> {
    let period = proxy.admission.current_period();
    let admitted = proxy
        .stages
        .time(
            Stage::Admission,
            proxy.admission.admit(
                call.team.id,
                call.endpoint,
                call.entry_id,
                call.estimate,
                &period,
            ),
        )
        .await?;
    let release = || async {
        if let Some(lease) = &admitted.lease {
            proxy.admission.settle(lease, 0).await;
        }
    };
    let claim = idempotency::start(
        proxy.ledger.pool(),
        call.team.id,
        call.idempotency_key.clone(),
        (call.endpoint.path(), &call.body),
        call.entry_id,
        (proxy.idempotency_ttl, proxy.idempotency_lease),
        proxy.ledger.write_timeout(),
    );
    let claimed = match call.idempotency_key {
        Some(_) => proxy.stages.time(Stage::IdempotencyClaim, claim).await,
        None => claim.await,
    };
    let held = match claimed {
        Ok(idempotency::Start::Held(held)) => Some(held),
        Ok(idempotency::Start::NoKey) => None,
        Ok(idempotency::Start::Replay(stored)) => {
            release().await;
            return Ok(Answer::Replay(stored));
        }
        Err(err) => {
            release().await;
            return Err(err);
        }
    };
    check_threshold(proxy, &call.team, &period, &admitted);
    // The lease is renewed (and re-created if Redis lost it) from admission on, through the
    // PENDING write and the upstream call.
    let (outcome, settlement) = match proxy
        .admission
        .hold_during(
            admitted.lease.as_ref(),
            record_then_forward(proxy, &call, &admitted),
        )
        .await
    {
        Ok(done) => done,
        Err(err) => {
            if let Some(lease) = &admitted.lease {
                proxy.admission.settle(lease, 0).await;
            }
            if let Some(held) = held {
                idempotency::finish(proxy.ledger.pool(), held, idempotency::Finish::Release).await;
            }
            return Err(err);
        }
    };
    // The call is over: its ledger settlement and the lease's release (slots back, the charge
    // booked against the team's budget) need nothing from each other, so they run together.
    let charged = settlement.settlement.charged();
    let apply = settle::apply(proxy.ledger.settlements(), &proxy.tasks, settlement);
    let release = async {
        if let Some(lease) = &admitted.lease {
            let release = proxy.admission.settle(lease, charged);
            proxy.stages.time(Stage::Release, release).await;
        }
    };
    tokio::join!(proxy.stages.time(Stage::Settlement, apply), release);
    let headers = admitted.final_headers(charged);
    if let Some(held) = held {
        let finish = match &outcome {
            // A reply too large to keep is replaced by a small refusal: the key still
            // stands, so a retry is never sent (and charged) again.
            Ok(reply) if reply.status.is_success() => {
                idempotency::Finish::Store(idempotency::kept(
                    reply.status.as_u16(),
                    reply::stored_headers(reply),
                    &reply.body,
                    proxy.idempotency_max_body_bytes,
                ))
            }
            // cloro may have charged: the key stays bound to this entry, and a retry gets
            // the same 504 instead of running (and being charged) again.
            Err(failure @ UpstreamFailure::Unknown { .. }) => idempotency::Finish::Store(
                reply::unknown_outcome(failure, headers.clone()).stored(),
            ),
            _ => idempotency::Finish::Release,
        };
        idempotency::finish(proxy.ledger.pool(), held, finish).await;
    }
    Ok(Answer::Upstream(outcome, headers))
}

/// The PENDING entry, then the upstream call and the settlement it calls for. An entry that
/// cannot be recorded in time is refused (503) and nothing is sent.
async fn record_then_forward(
    proxy: &Arc<Proxy>,
    call: &SyncCall,
    admitted: &Admitted,
) -> Result<(Result<UpstreamReply, UpstreamFailure>, SettleRequest), ApiError> {
    let pending = record_pending(proxy, call, admitted.over_budget);
    proxy.stages.time(Stage::PendingCommit, pending).await?;
    Ok(forward(proxy, call).await)
}

/// Raises the team's alert when this admission took its usage to the alert threshold.
fn check_threshold(proxy: &Arc<Proxy>, team: &TeamRef, period: &Period, admitted: &Admitted) {
    if let (Some(line), Some(left)) = (admitted.alert_line, admitted.budget_left) {
        proxy.alerts.check_team(BudgetUsage {
            team,
            period,
            budget: line.budget,
            used: line.budget - left,
            threshold_pct: line.threshold_pct,
        });
    }
}

/// A minted request id is a UUIDv7 and doubles as the ledger id; a caller's own id is
/// kept beside a fresh one.
fn ledger_id(request_id: &RequestId) -> Uuid {
    if request_id.minted
        && let Ok(id) = Uuid::parse_str(request_id.as_str())
    {
        return id;
    }
    Uuid::now_v7()
}

/// Records the PENDING entry durably, within `ledger.write_timeout_ms`. A write that failed
/// or timed out may still land: the entry is then VOIDED as "not sent" (retried in the
/// background until it holds), so the sweeper never books a call that was never made.
#[tracing::instrument(level = "debug", name = "record_pending", skip_all)]
async fn record_pending(
    proxy: &Arc<Proxy>,
    call: &SyncCall,
    over_budget: bool,
) -> Result<(), ApiError> {
    let entry = NewEntry {
        id: call.entry_id,
        team_id: call.team.id,
        endpoint: call.endpoint.path().to_owned(),
        client_request_id: (!call.request_id.minted).then(|| call.request_id.as_str().to_owned()),
        idempotency_key: call.idempotency_key.clone(),
        estimate: call.estimate,
        flag_reason: over_budget.then(|| "soft_budget_exceeded".to_owned()),
    };
    let timeout = proxy.ledger.write_timeout();
    let failure = match tokio::time::timeout(
        timeout,
        proxy.ledger.entries().record_pending(entry.clone()),
    )
    .await
    {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(err)) => anyhow::Error::new(err),
        Err(_) => anyhow::anyhow!("no answer within {} ms", timeout.as_millis()),
    };
    proxy.outcomes.not_recorded.fetch_add(1, Ordering::Relaxed);
    void_unsent_in_background(proxy, entry);
    Err(
        ApiError::ledger_unavailable("The ledger cannot record this request now")
            .with_cause(failure),
    )
}

/// Retries of voiding an entry whose PENDING write failed (about ten minutes).
const VOID_UNSENT_RETRIES: usize = 63;

fn void_unsent_in_background(proxy: &Arc<Proxy>, entry: NewEntry) {
    let db = proxy.ledger.pool().clone();
    proxy.tasks.spawn(
        async move {
            let void = || async {
                let reason = "not sent: the PENDING write failed";
                match accounting::ledger::void_unsent(&db, &entry, reason).await {
                    Ok(_) => true,
                    Err(err) => {
                        tracing::warn!(error = %err, "voiding an unrecorded entry failed; retrying");
                        false
                    }
                }
            };
            let first = Duration::from_millis(100);
            let cap = Duration::from_secs(10);
            let voided =
                void().await || retry_after_failure(VOID_UNSENT_RETRIES, first, cap, void).await;
            if !voided {
                tracing::error!(
                    alert = true,
                    "an entry whose PENDING write failed could not be voided; the sweeper may book it"
                );
            }
        }
        .in_current_span(),
    );
}

/// The upstream call; returns its outcome and the settlement it calls for.
async fn forward(
    proxy: &Arc<Proxy>,
    call: &SyncCall,
) -> (Result<UpstreamReply, UpstreamFailure>, SettleRequest) {
    let send = proxy.upstream.send(
        Method::POST,
        call.endpoint.path(),
        Some(call.body.clone()),
        call.request_id.as_str(),
    );
    let sent = Instant::now();
    let outcome = send.await;
    let took = sent.elapsed();
    proxy.stages.observe(Stage::Upstream, took);
    let metrics = proxy.admission.metrics();
    metrics.upstream_took(call.endpoint.path(), took);
    if outcome
        .as_ref()
        .is_ok_and(|reply| reply.concurrency_429s > 0)
    {
        proxy.admission.upstream_refused_for_concurrency();
    }
    if matches!(outcome, Err(UpstreamFailure::Unknown { .. })) {
        proxy.outcomes.unknown.fetch_add(1, Ordering::Relaxed);
    }
    let settlement = settle::decide(call.entry_id, &outcome, call.estimate);
    if let Some(remaining) = settlement.balance_observed {
        proxy.alerts.check_balance(remaining);
    }
    metrics.charged(
        call.team.id,
        call.endpoint.path(),
        settlement.settlement.charged(),
    );
    (outcome, settlement)
}
