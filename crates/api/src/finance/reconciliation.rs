//! Reconciliation for a period: what the ledger charged against how much the account balance
//! cloro reported went down (`X-Credits-Remaining` observations, plus a fresh
//! `GET /v1/credits` when the period includes now), with the difference and the flagged
//! entries that explain it.

use super::filters::WindowParams;
use crate::alerts::Alerter;
use crate::auth::{Authenticated, Finance};
use crate::directory::Directory;
use crate::error::{ApiError, ErrorEnvelope};
use crate::ledger::Ledger;
use crate::telemetry::RequestId;
use crate::upstream::Upstream;
use accounting::reconciliation::{BalanceObservation, ExplainingEntry, Reconciliation};
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// Flagged entries listed at most.
const EXPLAINING_LIMIT: i64 = 1000;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BalanceView {
    pub observed_at: DateTime<Utc>,
    pub credits_remaining: i64,
    /// The request whose answer carried the balance; null for a `GET /v1/credits` reading.
    pub request_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExplainingEntryView {
    pub request_id: Uuid,
    pub team_id: Uuid,
    pub endpoint: String,
    pub created_at: DateTime<Utc>,
    pub status: String,
    pub estimate: i64,
    pub charged: Option<i64>,
    pub flag_reason: Option<String>,
    /// The real charge that arrived after the sweeper had expired the entry at its estimate.
    pub late_charge: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconciliationView {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// First and last balance observed in the window.
    pub opening: Option<BalanceView>,
    pub closing: Option<BalanceView>,
    /// How much the balance went down between them (rises are counted as top-ups).
    pub upstream_consumed: Option<i64>,
    pub top_ups: i64,
    /// Charged by entries settled between the opening and closing observations.
    pub ledger_charged: i64,
    /// Charged by entries created in the window.
    pub ledger_charged_in_period: i64,
    /// ledgerCharged - upstreamConsumed.
    pub difference: Option<i64>,
    /// The part of the difference explained by real charges that arrived after expiry.
    pub late_charges_delta: i64,
    /// Entries created before `to` still waiting for their charge.
    pub pending_at_close: i64,
    /// Flagged entries of the window (expired at their estimate, admitted past a soft budget...).
    pub explaining: Vec<ExplainingEntryView>,
    pub explaining_truncated: bool,
    /// Why no fresh `GET /v1/credits` reading was taken, when the window includes now.
    pub upstream_credits_error: Option<String>,
}

/// Ledger against upstream balance for a window (default: the current budget period).
#[utoipa::path(
    tag = "finance",
    params(WindowParams),
    responses(
        (status = 200, body = ReconciliationView),
        (status = 400, description = "Unknown parameter or bad window", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a finance or admin token", body = ErrorEnvelope),
        (status = 503, description = "The ledger cannot be read now (LEDGER_UNAVAILABLE, with Retry-After)", body = ErrorEnvelope),
    ),
    security(("finance_jwt" = []))
)]
#[get("/reconciliation")]
pub async fn reconciliation(
    _caller: Authenticated<Finance>,
    directory: web::Data<Directory>,
    ledger: web::Data<Ledger>,
    upstream: web::Data<Upstream>,
    alerts: web::Data<Alerter>,
    params: web::Query<WindowParams>,
) -> Result<HttpResponse, ApiError> {
    let (from, to) = params.window(&directory.current_period())?;
    let now = Utc::now();
    let upstream_credits_error = if from <= now && now < to {
        observe_balance(&ledger, &upstream, &alerts.into_inner())
            .await
            .err()
    } else {
        None
    };
    let report =
        accounting::reconciliation::reconcile(ledger.reads(), from, to, EXPLAINING_LIMIT).await?;
    Ok(HttpResponse::Ok().json(view(report, upstream_credits_error)))
}

/// Reads the account balance from cloro's `GET /v1/credits` and records it.
async fn observe_balance(
    ledger: &Ledger,
    upstream: &Upstream,
    alerts: &Arc<Alerter>,
) -> Result<(), String> {
    let remaining = upstream
        .account_balance(RequestId::mint().as_str())
        .await
        .map_err(|err| err.to_string())?;
    accounting::ledger::record_balance(ledger.pool(), None, remaining)
        .await
        .map_err(|err| err.to_string())?;
    alerts.check_balance(remaining);
    Ok(())
}

fn balance(observation: BalanceObservation) -> BalanceView {
    BalanceView {
        observed_at: observation.observed_at,
        credits_remaining: observation.credits_remaining,
        request_id: observation.request_id,
    }
}

fn explaining(entry: ExplainingEntry) -> ExplainingEntryView {
    ExplainingEntryView {
        request_id: entry.id,
        team_id: entry.team_id.as_uuid(),
        endpoint: entry.endpoint,
        created_at: entry.created_at,
        status: entry.status.as_str().to_owned(),
        estimate: entry.estimate,
        charged: entry.charged,
        flag_reason: entry.flag_reason,
        late_charge: entry.late_charge,
    }
}

fn view(report: Reconciliation, upstream_credits_error: Option<String>) -> ReconciliationView {
    ReconciliationView {
        from: report.from,
        to: report.to,
        opening: report.opening.map(balance),
        closing: report.closing.map(balance),
        upstream_consumed: report.upstream_consumed,
        top_ups: report.top_ups,
        ledger_charged: report.ledger_charged,
        ledger_charged_in_period: report.ledger_charged_in_period,
        difference: report.difference,
        late_charges_delta: report.late_charges_delta,
        pending_at_close: report.pending_at_close,
        explaining: report.explaining.into_iter().map(explaining).collect(),
        explaining_truncated: report.explaining_truncated,
        upstream_credits_error,
    }
}
