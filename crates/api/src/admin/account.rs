//! `/admin/account`: the account's effective upstream limits and price table, and the
//! admin's overrides of them (stored once for every replica; DELETE returns to the
//! configuration). The limits feed admission (the account concurrency is the base of the
//! adaptive limit); the price table makes the estimates held before each call.

use super::actions::account::{self as act, LimitsInput};
use super::apply_locally;
use super::views::AccountView;
use crate::auth::Principal;
use crate::error::{ApiError, ErrorEnvelope};
use crate::pricing::PriceOverride;
use crate::proxy::Proxy;
use crate::state::AppState;
use actix_web::{HttpResponse, Result, delete, get, put, web};
use serde::Deserialize;
use utoipa::ToSchema;

/// The account's upstream limits.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutLimits {
    /// The plan's concurrency, shared by every team and replica, 1-100000.
    pub concurrency: i64,
    /// Requests per second per endpoint, above 0 and at most 1000000.
    pub rps_per_endpoint: f64,
    /// Token-bucket burst per endpoint, 1-1000000.
    pub burst: i64,
}

fn view(state: &AppState, proxy: &Proxy) -> AccountView {
    AccountView::new(
        &state.account.current(),
        Some(proxy.admission.stats().account_limit),
    )
}

/// The effective account settings, each with where it comes from (config or override).
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "The settings in force", body = AccountView),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[get("/admin/account")]
pub async fn get_account(
    principal: Principal,
    state: web::Data<AppState>,
    proxy: web::Data<Proxy>,
) -> Result<HttpResponse> {
    principal.require_admin()?;
    Ok(HttpResponse::Ok().json(view(&state, &proxy)))
}

/// Override the account's upstream limits.
#[utoipa::path(
    tag = "admin",
    request_body = PutLimits,
    responses(
        (status = 200, description = "The settings now in force", body = AccountView),
        (status = 400, description = "A value out of range (VALIDATION_ERROR naming each field)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[put("/admin/account/limits")]
pub async fn put_limits(
    principal: Principal,
    state: web::Data<AppState>,
    proxy: web::Data<Proxy>,
    body: Result<web::Json<PutLimits>>,
) -> Result<HttpResponse> {
    principal.require_admin()?;
    let body = body?.into_inner();
    let input = LimitsInput {
        concurrency: body.concurrency,
        rps_per_endpoint: body.rps_per_endpoint,
        burst: body.burst,
    };
    act::set_limits(&state.db, &principal.subject, input)
        .await
        .map_err(ApiError::from)?;
    apply_locally(&state).await;
    Ok(HttpResponse::Ok().json(view(&state, &proxy)))
}

/// Drop the limits override: the configured limits apply again.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "The settings now in force", body = AccountView),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
        (status = 404, description = "The limits are not overridden (RESOURCE_NOT_FOUND)", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[delete("/admin/account/limits")]
pub async fn delete_limits(
    principal: Principal,
    state: web::Data<AppState>,
    proxy: web::Data<Proxy>,
) -> Result<HttpResponse> {
    principal.require_admin()?;
    act::clear_limits(&state.db, &principal.subject)
        .await
        .map_err(ApiError::from)?;
    apply_locally(&state).await;
    Ok(HttpResponse::Ok().json(view(&state, &proxy)))
}

/// Override some prices of the `[pricing]` table (replacing any previous override).
///
/// Any subset of the table's prices, in camelCase, `base.<endpoint>` included, e.g.
/// `{"syncSurcharge": 3, "base": {"chatgpt": 6}}`. Unknown fields and prices outside
/// 0-100000 are refused with 400.
#[utoipa::path(
    tag = "admin",
    request_body = PriceOverride,
    responses(
        (status = 200, description = "The settings now in force", body = AccountView),
        (status = 400, description = "Unknown field, negative or absurd price, or no price at all", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[put("/admin/account/pricing")]
pub async fn put_pricing(
    principal: Principal,
    state: web::Data<AppState>,
    proxy: web::Data<Proxy>,
    body: Result<web::Json<PriceOverride>>,
) -> Result<HttpResponse> {
    principal.require_admin()?;
    let body = body?.into_inner();
    act::set_pricing(&state.db, &principal.subject, &body)
        .await
        .map_err(ApiError::from)?;
    apply_locally(&state).await;
    Ok(HttpResponse::Ok().json(view(&state, &proxy)))
}

/// Drop the pricing override: the `[pricing]` table applies again.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "The settings now in force", body = AccountView),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
        (status = 404, description = "The pricing is not overridden (RESOURCE_NOT_FOUND)", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[delete("/admin/account/pricing")]
pub async fn delete_pricing(
    principal: Principal,
    state: web::Data<AppState>,
    proxy: web::Data<Proxy>,
) -> Result<HttpResponse> {
    principal.require_admin()?;
    act::clear_pricing(&state.db, &principal.subject)
        .await
        .map_err(ApiError::from)?;
    apply_locally(&state).await;
    Ok(HttpResponse::Ok().json(view(&state, &proxy)))
}
