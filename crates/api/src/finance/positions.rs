//! Where each team stands in the current budget period (budget, charged, held, left) and the
//! quota the limiter applies to it: `/finance/positions` for every team, `/team/position`
//! and `/team/quota` for the caller's own.

use super::team_scope;
use super::views::PositionView;
use crate::admin::views::QuotaView;
use crate::auth::{Authenticated, Finance, Team};
use crate::directory::Directory;
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::ledger::Ledger;
use accounting::ledger::Scope;
use actix_web::{HttpResponse, get, web};
use sqlx::PgPool;

/// Every team's position in the current budget period, by slug.
#[utoipa::path(
    tag = "finance",
    responses(
        (status = 200, body = Vec<PositionView>),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a finance or admin token", body = ErrorEnvelope),
        (status = 503, description = "The ledger cannot be read now (LEDGER_UNAVAILABLE, with Retry-After)", body = ErrorEnvelope),
    ),
    security(("finance_jwt" = []))
)]
#[get("/positions")]
pub async fn finance_positions(
    _caller: Authenticated<Finance>,
    directory: web::Data<Directory>,
    ledger: web::Data<Ledger>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(positions(&directory, &ledger, Scope::All).await?))
}

/// The calling team's position in the current budget period.
#[utoipa::path(
    tag = "team",
    responses(
        (status = 200, body = PositionView),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a team token", body = ErrorEnvelope),
        (status = 503, description = "The ledger cannot be read now (LEDGER_UNAVAILABLE, with Retry-After)", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[get("/position")]
pub async fn team_position(
    caller: Authenticated<Team>,
    directory: web::Data<Directory>,
    ledger: web::Data<Ledger>,
) -> Result<HttpResponse, ApiError> {
    let scope = team_scope(&caller, None)?;
    let mut all = positions(&directory, &ledger, scope).await?;
    let own = all
        .pop()
        .ok_or_else(|| ApiError::new(ErrorCode::ResourceNotFound, "Team not found"))?;
    Ok(HttpResponse::Ok().json(own))
}

/// Each team's position in the current budget period (`scope` picks one or all).
pub async fn positions(
    directory: &Directory,
    ledger: &Ledger,
    scope: Scope,
) -> Result<Vec<PositionView>, ApiError> {
    let period = directory.current_period();
    let usage =
        accounting::ledger::period_usage(ledger.reads(), scope, period.start, period.end).await?;
    Ok(directory
        .teams()
        .iter()
        .filter(|team| match scope {
            Scope::All => true,
            Scope::Team(id) => team.id == id,
        })
        .map(|team| {
            let quota = directory.quota_of(team.id);
            let used = usage.iter().find(|u| u.team_id == team.id);
            PositionView::new(team, &period, &quota, used)
        })
        .collect())
}

/// The quota the limiter applies to the calling team (the admin API's quota shape).
#[utoipa::path(
    tag = "team",
    responses(
        (status = 200, body = QuotaView),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a team token", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[get("/quota")]
pub async fn team_quota(
    caller: Authenticated<Team>,
    directory: web::Data<Directory>,
    db: web::Data<PgPool>,
) -> Result<HttpResponse, ApiError> {
    let quota = crate::admin::actions::quotas::show(
        db.get_ref(),
        caller.team().slug.as_str(),
        directory.default_quota(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(quota))
}
