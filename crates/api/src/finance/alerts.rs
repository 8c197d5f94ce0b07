//! Alerts raised (team thresholds, account balance floor), newest first:
//! `/finance/alerts` for all, `/team/alerts` for the caller's own team.

use super::filters::{invalid, team_id};
use super::team_scope;
use crate::auth::{Authenticated, Finance, Team};
use crate::directory::Directory;
use crate::directory::TeamNames;
use crate::error::{ApiError, ErrorEnvelope};
use crate::ledger::Ledger;
use crate::pagination::{decode_cursor, fetch_size, page_limit, trim_page};
use accounting::alerts::{Alert, AlertFilter, AlertKind};
use accounting::ledger::Scope;
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AlertParams {
    /// `team_budget_threshold` or `account_balance_floor`.
    pub kind: Option<String>,
    /// Team slug (finance route only).
    pub team: Option<String>,
    /// Raised at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Raised before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertView {
    pub id: i64,
    pub kind: String,
    pub team: Option<String>,
    pub team_id: Option<Uuid>,
    pub raised_at: DateTime<Utc>,
    /// For a team: budget, used, thresholdPct and the period; for the account:
    /// creditsRemaining and floor.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertPage {
    pub items: Vec<AlertView>,
    pub next_cursor: Option<String>,
}

/// Every alert raised, newest first.
#[utoipa::path(
    tag = "finance",
    params(AlertParams),
    responses(
        (status = 200, body = AlertPage),
        (status = 400, description = "Unknown parameter, kind or team; bad time, limit or cursor", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a finance or admin token", body = ErrorEnvelope),
        (status = 503, description = "The ledger cannot be read now (LEDGER_UNAVAILABLE, with Retry-After)", body = ErrorEnvelope),
    ),
    security(("finance_jwt" = []))
)]
#[get("/alerts")]
pub async fn finance_alerts(
    _caller: Authenticated<Finance>,
    directory: web::Data<Directory>,
    ledger: web::Data<Ledger>,
    params: web::Query<AlertParams>,
) -> Result<HttpResponse, ApiError> {
    let scope = Scope::All;
    list(&directory, &ledger, scope, &params).await
}

/// The calling team's own alerts, newest first.
#[utoipa::path(
    tag = "team",
    params(AlertParams),
    responses(
        (status = 200, body = AlertPage),
        (status = 400, description = "Unknown parameter or kind; bad time, limit or cursor", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a team token, or another team named", body = ErrorEnvelope),
        (status = 503, description = "The ledger cannot be read now (LEDGER_UNAVAILABLE, with Retry-After)", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[get("/alerts")]
pub async fn team_alerts(
    caller: Authenticated<Team>,
    directory: web::Data<Directory>,
    ledger: web::Data<Ledger>,
    params: web::Query<AlertParams>,
) -> Result<HttpResponse, ApiError> {
    let scope = team_scope(&caller, params.team.as_deref())?;
    list(&directory, &ledger, scope, &params).await
}

async fn list(
    directory: &Directory,
    ledger: &Ledger,
    scope: Scope,
    params: &AlertParams,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(params.limit)?;
    let before = params
        .cursor
        .as_deref()
        .map(decode_cursor::<i64>)
        .transpose()?;
    let teams = directory.team_names();
    let filter = AlertFilter {
        kind: params
            .kind
            .as_deref()
            .map(AlertKind::parse)
            .transpose()
            .map_err(|err| invalid("kind", err.reason()))?,
        team: team_id(&teams, params.team.as_deref())?,
        from: params.from,
        to: params.to,
    };
    let mut alerts = accounting::alerts::list(
        ledger.reads(),
        scope.team(),
        &filter,
        before,
        i64::from(fetch_size(limit)),
    )
    .await?;
    let next_cursor = trim_page(&mut alerts, limit, |alert| alert.id);
    Ok(HttpResponse::Ok().json(AlertPage {
        items: alerts.into_iter().map(|a| view(a, &teams)).collect(),
        next_cursor,
    }))
}

fn view(alert: Alert, teams: &TeamNames) -> AlertView {
    AlertView {
        id: alert.id,
        kind: alert.kind.as_str().to_owned(),
        team: alert.team_id.map(|id| teams.slug(id)),
        team_id: alert.team_id.map(|id| id.as_uuid()),
        raised_at: alert.raised_at,
        details: alert.details.0,
    }
}
