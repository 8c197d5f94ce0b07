//! `/admin/account`: the account's effective upstream limits and price table, and the
//! admin's overrides of them (stored once for every replica; DELETE returns to the
//! configuration). The limits feed admission (the account concurrency is the base of the
//! adaptive limit); the price table makes the estimates held before each call.

use super::actions::Actor;
use super::actions::account_settings::{self as act, LimitsInput};
use super::apply_locally;
use super::views::AccountView;
use crate::admission::Admitter;
use crate::auth::{Admin, Authenticated};
use crate::directory::AccountSettings;
use crate::directory::Directory;
use crate::error::{ApiError, ErrorEnvelope};
use crate::pricing::PriceOverride;
use actix_web::{HttpResponse, delete, get, put, web};
use sqlx::PgPool;

/// The settings in force once this replica has applied a change it just made.
async fn applied(
    directory: &Directory,
    account: &AccountSettings,
    admission: &Admitter,
) -> HttpResponse {
    apply_locally(directory).await;
    HttpResponse::Ok().json(view(account, admission))
}

fn view(account: &AccountSettings, admission: &Admitter) -> AccountView {
    AccountView::new(&account.current(), Some(admission.stats().account_limit))
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
#[get("/account")]
pub async fn get_account(
    _admin: Authenticated<Admin>,
    account: web::Data<AccountSettings>,
    admission: web::Data<Admitter>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(view(&account, &admission)))
}

/// Override the account's upstream limits.
#[utoipa::path(
    tag = "admin",
    request_body = LimitsInput,
    responses(
        (status = 200, description = "The settings now in force", body = AccountView),
        (status = 400, description = "A value out of range (VALIDATION_ERROR naming each field)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[put("/account/limits")]
pub async fn put_limits(
    admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
    directory: web::Data<Directory>,
    account: web::Data<AccountSettings>,
    admission: web::Data<Admitter>,
    body: web::Json<LimitsInput>,
) -> Result<HttpResponse, ApiError> {
    act::set_limits(
        db.get_ref(),
        &Actor::token(admin.principal()),
        body.into_inner(),
    )
    .await?;
    Ok(applied(&directory, &account, &admission).await)
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
#[delete("/account/limits")]
pub async fn delete_limits(
    admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
    directory: web::Data<Directory>,
    account: web::Data<AccountSettings>,
    admission: web::Data<Admitter>,
) -> Result<HttpResponse, ApiError> {
    act::clear_limits(db.get_ref(), &Actor::token(admin.principal())).await?;
    Ok(applied(&directory, &account, &admission).await)
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
#[put("/account/pricing")]
pub async fn put_pricing(
    admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
    directory: web::Data<Directory>,
    account: web::Data<AccountSettings>,
    admission: web::Data<Admitter>,
    body: web::Json<PriceOverride>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    act::set_pricing(db.get_ref(), &Actor::token(admin.principal()), &body).await?;
    Ok(applied(&directory, &account, &admission).await)
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
#[delete("/account/pricing")]
pub async fn delete_pricing(
    admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
    directory: web::Data<Directory>,
    account: web::Data<AccountSettings>,
    admission: web::Data<Admitter>,
) -> Result<HttpResponse, ApiError> {
    act::clear_pricing(db.get_ref(), &Actor::token(admin.principal())).await?;
    Ok(applied(&directory, &account, &admission).await)
}
