//! The cloro-compatible proxy: a team's sync call is priced, recorded PENDING in the
//! ledger (durably, before anything is sent), forwarded with the company key, settled from
//! what the upstream charged, and answered with the upstream's own status and body.

mod body;
mod idempotency;
mod reply;
pub mod routes;
mod settle;
pub mod upstream;

use crate::account::AccountState;
use crate::admission::{Admitted, Admitter, LimitHeaders};
use crate::alerts::{Alerter, BudgetPosition};
use crate::auth::TeamRef;
use crate::config::Settings;
use crate::error::{ApiError, ErrorCode};
use crate::period::Period;
use crate::pricing::Endpoint;
use crate::telemetry::RequestId;
use accounting::idempotency::StoredResponse;
use accounting::ledger::{GroupCommitConfig, LedgerWriter, NewEntry, Settlement, SettlementWriter};
use accounting::{Credits, IdempotencyKey};
use actix_web::{HttpResponse, web};
use bytes::Bytes;
use reqwest::Method;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use upstream::{Upstream, UpstreamFailure, UpstreamReply};
use uuid::Uuid;

/// Everything the proxy path needs, shared by all workers.
pub struct Proxy {
    pub upstream: Upstream,
    pub ledger: LedgerWriter,
    pub settlements: SettlementWriter,
    pub db: PgPool,
    /// The price table in force (configured, or with an admin's override).
    pub account: Arc<AccountState>,
    pub max_body_bytes: usize,
    pub idempotency_ttl: Duration,
    pub admission: Admitter,
    pub alerts: Arc<Alerter>,
}

impl Proxy {
    /// The proxy with its own group-commit writers for entries and settlements.
    pub fn new(
        settings: &Settings,
        db: PgPool,
        admission: Admitter,
        account: Arc<AccountState>,
    ) -> anyhow::Result<Self> {
        let group_commit = GroupCommitConfig {
            max_batch: settings.ledger.group_commit_max_batch,
            max_wait: Duration::from_millis(settings.ledger.group_commit_max_wait_ms),
        };
        let db_for_alerts = db.clone();
        Ok(Self {
            upstream: Upstream::new(&settings.upstream)?,
            ledger: LedgerWriter::spawn(db.clone(), group_commit),
            settlements: SettlementWriter::spawn(db.clone(), group_commit),
            db,
            account,
            max_body_bytes: settings.server.max_body_bytes,
            idempotency_ttl: Duration::from_secs(settings.ledger.idempotency_ttl_hours * 3600),
            admission,
            alerts: Alerter::new(db_for_alerts, &settings.alerts)?,
        })
    }
}

/// One team's sync call, validated and priced.
struct SyncCall {
    endpoint: Endpoint,
    team: TeamRef,
    entry_id: Uuid,
    request_id: RequestId,
    body: Bytes,
    estimate: i64,
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
    let idempotency_key = idempotency::parse(idempotency_header)?;
    let body = body::read_limited(payload, proxy.max_body_bytes).await?;
    let json = body::parse_json(&body)?;
    let estimate = proxy.account.price_table().estimate_sync(endpoint, &json)?;
    let entry_id = ledger_id(&request_id);
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
    // and the upstream charges for completed work whether or not anyone is listening.
    let proxy = proxy.into_inner();
    let answer = tokio::spawn(async move { run_detached(&proxy, call).await })
        .await
        .map_err(ApiError::internal)??;
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

/// Idempotency, the durable PENDING entry, the upstream call and its settlement.
async fn run_detached(proxy: &Arc<Proxy>, call: SyncCall) -> Result<Answer, ApiError> {
    let fingerprint = idempotency::fingerprint(call.endpoint.path(), &call.body);
    let held = match idempotency::start(
        &proxy.db,
        call.team.id,
        call.idempotency_key.clone(),
        &fingerprint,
        call.entry_id,
        proxy.idempotency_ttl,
    )
    .await?
    {
        idempotency::Start::Replay(stored) => return Ok(Answer::Replay(stored)),
        idempotency::Start::Held(held) => Some(held),
        idempotency::Start::NoKey => None,
    };
    let period = proxy.admission.current_period();
    let admitted = match proxy
        .admission
        .admit(
            call.team.id,
            call.endpoint,
            call.entry_id,
            call.estimate,
            &period,
        )
        .await
    {
        Ok(admitted) => admitted,
        Err(err) => {
            if let Some(held) = held {
                idempotency::finish(&proxy.db, held, None).await;
            }
            return Err(err);
        }
    };
    check_threshold(proxy, &call.team, &period, &admitted);
    if let Err(err) = record_pending(proxy, &call, admitted.over_budget).await {
        if let Some(lease) = &admitted.lease {
            proxy.admission.settle(lease, 0).await;
        }
        if let Some(held) = held {
            idempotency::finish(&proxy.db, held, None).await;
        }
        return Err(err);
    }
    let (outcome, charged) = proxy
        .admission
        .hold_during(admitted.lease.as_ref(), forward_and_settle(proxy, &call))
        .await;
    if let Some(lease) = &admitted.lease {
        proxy.admission.settle(lease, charged).await;
    }
    if let Some(held) = held {
        let stored = outcome
            .as_ref()
            .ok()
            .filter(|r| r.status.is_success())
            .map(|r| StoredResponse {
                status: r.status.as_u16(),
                headers: reply::stored_headers(r),
                body: r.body.to_vec(),
            });
        idempotency::finish(&proxy.db, held, stored).await;
    }
    Ok(Answer::Upstream(outcome, admitted.final_headers(charged)))
}

/// Raises the team's alert when this admission took its usage to the alert threshold.
fn check_threshold(proxy: &Arc<Proxy>, team: &TeamRef, period: &Period, admitted: &Admitted) {
    if let (Some((budget, threshold_pct)), Some(left)) = (admitted.alert_line, admitted.budget_left)
    {
        proxy.alerts.check_team(BudgetPosition {
            team,
            period,
            budget,
            used: budget - left,
            threshold_pct,
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

async fn record_pending(proxy: &Proxy, call: &SyncCall, over_budget: bool) -> Result<(), ApiError> {
    let estimate = Credits::new(call.estimate).map_err(ApiError::internal)?;
    let entry = NewEntry {
        id: call.entry_id,
        team_id: call.team.id,
        endpoint: call.endpoint.path().to_owned(),
        client_request_id: (!call.request_id.minted).then(|| call.request_id.as_str().to_owned()),
        idempotency_key: call.idempotency_key.clone(),
        estimate,
        flag_reason: over_budget.then(|| "soft_budget_exceeded".to_owned()),
    };
    proxy.ledger.record_pending(entry).await.map_err(|e| {
        ApiError::new(
            ErrorCode::LedgerUnavailable,
            "The ledger cannot record this request now",
        )
        .with_cause(e)
        .with_retry_after(1)
    })?;
    Ok(())
}

/// The upstream call and its ledger settlement; returns the outcome and what it charged.
async fn forward_and_settle(
    proxy: &Arc<Proxy>,
    call: &SyncCall,
) -> (Result<UpstreamReply, UpstreamFailure>, i64) {
    let outcome = proxy
        .upstream
        .send(
            Method::POST,
            call.endpoint.path(),
            Some(call.body.clone()),
            call.request_id.as_str(),
        )
        .await;
    if outcome
        .as_ref()
        .is_ok_and(|reply| reply.concurrency_429s > 0)
    {
        proxy.admission.upstream_refused_for_concurrency();
    }
    let settlement = settle::decide(call.entry_id, &outcome, call.estimate);
    if let Some(remaining) = settlement.balance_observed {
        proxy.alerts.check_balance(remaining);
    }
    let charged = match &settlement.settlement {
        Settlement::Post { charged, .. } => charged.get(),
        Settlement::Void { .. } => 0,
    };
    settle::apply(&proxy.settlements, settlement).await;
    (outcome, charged)
}

/// Free reference data (countries, states): forwarded without a ledger entry.
pub async fn forward_free(
    proxy: &Proxy,
    path_and_query: &str,
    request_id: &RequestId,
) -> Result<HttpResponse, ApiError> {
    let outcome = proxy
        .upstream
        .send(Method::GET, path_and_query, None, request_id.as_str())
        .await;
    reply::to_response(outcome, Vec::new())
}
