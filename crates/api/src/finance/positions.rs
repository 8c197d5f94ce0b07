//! Where each team stands in the current budget period (budget, charged, held, left) and the
//! quota the limiter applies to it: `/finance/positions` for every team, `/team/position`
//! and `/team/quota` for the caller's own.

use super::views::PositionView;
use super::{finance_scope, team_scope};
use crate::admin::views::QuotaView;
use crate::auth::Principal;
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::proxy::Proxy;
use crate::state::AppState;
use accounting::ledger::Scope;
use actix_web::{HttpResponse, get, web};

/// Every team's position in the current budget period, by slug.
#[utoipa::path(
    tag = "finance",
    responses(
        (status = 200, body = Vec<PositionView>),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a finance or admin token", body = ErrorEnvelope),
    ),
    security(("finance_jwt" = []))
)]
#[get("/finance/positions")]
pub async fn finance_positions(
    proxy: web::Data<Proxy>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let scope = finance_scope(&principal)?;
    Ok(HttpResponse::Ok().json(positions(&proxy, scope).await?))
}

/// The calling team's position in the current budget period.
#[utoipa::path(
    tag = "team",
    responses(
        (status = 200, body = PositionView),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a team token", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[get("/team/position")]
pub async fn team_position(
    proxy: web::Data<Proxy>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let scope = team_scope(&principal, None)?;
    let mut all = positions(&proxy, scope).await?;
    let own = all
        .pop()
        .ok_or_else(|| ApiError::new(ErrorCode::ResourceNotFound, "Team not found"))?;
    Ok(HttpResponse::Ok().json(own))
}

async fn positions(proxy: &Proxy, scope: Scope) -> Result<Vec<PositionView>, ApiError> {
    let period = proxy.admission.current_period();
    let usage = accounting::ledger::period_usage(&proxy.db, scope, period.start, period.end)
        .await
        .map_err(ApiError::internal)?;
    let teams = accounting::teams::list(&proxy.db)
        .await
        .map_err(ApiError::internal)?;
    Ok(teams
        .iter()
        .filter(|team| match scope {
            Scope::All => true,
            Scope::Team(id) => team.id == id,
        })
        .map(|team| {
            let quota = proxy.admission.quota_of(team.id);
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
#[get("/team/quota")]
pub async fn team_quota(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let team = principal.require_team()?;
    let default = state.settings.limits.team_default.values();
    let quota = crate::admin::actions::quotas::show(&state.db, team.slug.as_str(), &default)
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Ok().json(quota))
}
