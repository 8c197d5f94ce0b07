//! `/admin/teams/{slug}/quota`: a team's quota in force, setting its own, and going back to
//! the configured default. Every replica's limiter uses the change from the next request.

use super::actions::quotas::{self as act, QuotaInput};
use super::apply_locally;
use super::views::QuotaView;
use crate::auth::Principal;
use crate::error::{ApiError, ErrorEnvelope};
use crate::state::AppState;
use actix_web::{HttpResponse, Result, delete, get, put, web};
use serde::Deserialize;
use utoipa::ToSchema;

/// A team's own quota.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutQuota {
    /// Requests per second, above 0 and at most 100000.
    pub rps: f64,
    /// Token-bucket burst, 1-100000.
    pub burst: i64,
    /// Requests in flight at once, 1-10000.
    pub concurrency: i64,
    /// Share of the account's slots when they are contended, 1-1000 (default 1).
    pub weight: Option<i64>,
    /// Credits per budget period, 0 to 10^12; `null` or absent: no budget.
    pub budget: Option<i64>,
    /// `true` (default): refuse with 403 INSUFFICIENT_CREDITS beyond the budget;
    /// `false`: allow, flag the entries and alert.
    pub hard_budget: Option<bool>,
    /// Percent of the budget (1-100) at which an alert is raised; needs a budget.
    pub alert_threshold_pct: Option<i64>,
}

/// The team's quota in force: its own, or the configured default (`"source": "default"`).
#[utoipa::path(
    tag = "admin",
    params(("slug" = String, Path, description = "The team's slug")),
    responses(
        (status = 200, description = "The quota in force", body = QuotaView),
        (status = 400, description = "Malformed slug", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
        (status = 404, description = "No such team (RESOURCE_NOT_FOUND)", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[get("/admin/teams/{slug}/quota")]
pub async fn get_quota(
    principal: Principal,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse> {
    principal.require_admin()?;
    let default = state.settings.limits.team_default.values();
    let quota = act::show(&state.db, &slug, &default)
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(quota))
}

/// Set the team's own quota (insert or replace).
#[utoipa::path(
    tag = "admin",
    params(("slug" = String, Path, description = "The team's slug")),
    request_body = PutQuota,
    responses(
        (status = 200, description = "The quota now in force", body = QuotaView),
        (status = 400, description = "A value out of range (VALIDATION_ERROR naming the field)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
        (status = 404, description = "No such team (RESOURCE_NOT_FOUND)", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[put("/admin/teams/{slug}/quota")]
pub async fn put_quota(
    principal: Principal,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    body: Result<web::Json<PutQuota>>,
) -> Result<HttpResponse> {
    principal.require_admin()?;
    let body = body?.into_inner();
    let input = QuotaInput {
        rps: body.rps,
        burst: body.burst,
        concurrency: body.concurrency,
        weight: body.weight,
        budget: body.budget,
        hard_budget: body.hard_budget,
        alert_threshold_pct: body.alert_threshold_pct,
    };
    let quota = act::set(&state.db, &principal.subject, &slug, &input)
        .await
        .map_err(ApiError::from)?;
    apply_locally(&state).await;
    Ok(HttpResponse::Ok().json(quota))
}

/// Remove the team's own quota: the configured default applies again.
#[utoipa::path(
    tag = "admin",
    params(("slug" = String, Path, description = "The team's slug")),
    responses(
        (status = 200, description = "The default quota, now in force", body = QuotaView),
        (status = 400, description = "Malformed slug", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
        (status = 404, description = "No such team, or it has no quota of its own", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[delete("/admin/teams/{slug}/quota")]
pub async fn delete_quota(
    principal: Principal,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse> {
    principal.require_admin()?;
    let default = state.settings.limits.team_default.values();
    let quota = act::clear(&state.db, &principal.subject, &slug, &default)
        .await
        .map_err(ApiError::from)?;
    apply_locally(&state).await;
    Ok(HttpResponse::Ok().json(quota))
}
