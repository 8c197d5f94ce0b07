//! `/admin/teams/{slug}/quota`: a team's quota in force, setting its own, and going back to
//! the configured default. Every replica's limiter uses the change from the next request.

use super::actions::Actor;
use super::actions::quotas::{self as act, QuotaInput};
use super::apply_locally;
use super::views::QuotaView;
use crate::auth::{Admin, Authenticated};
use crate::directory::Directory;
use crate::error::{ApiError, ErrorEnvelope};
use actix_web::{HttpResponse, delete, get, put, web};
use sqlx::PgPool;

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
#[get("/teams/{slug}/quota")]
pub async fn get_quota(
    _admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
    directory: web::Data<Directory>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let default = directory.default_quota();
    let quota = act::show(db.get_ref(), &slug, default).await?;
    Ok(HttpResponse::Ok().json(quota))
}

/// Set the team's own quota (insert or replace).
#[utoipa::path(
    tag = "admin",
    params(("slug" = String, Path, description = "The team's slug")),
    request_body = QuotaInput,
    responses(
        (status = 200, description = "The quota now in force", body = QuotaView),
        (status = 400, description = "A value out of range (VALIDATION_ERROR naming the field)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
        (status = 404, description = "No such team (RESOURCE_NOT_FOUND)", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[put("/teams/{slug}/quota")]
pub async fn put_quota(
    admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
    directory: web::Data<Directory>,
    slug: web::Path<String>,
    body: web::Json<QuotaInput>,
) -> Result<HttpResponse, ApiError> {
    let quota = act::set(db.get_ref(), &Actor::token(admin.principal()), &slug, &body).await?;
    apply_locally(&directory).await;
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
#[delete("/teams/{slug}/quota")]
pub async fn delete_quota(
    admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
    directory: web::Data<Directory>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let default = directory.default_quota();
    let quota = act::clear(
        db.get_ref(),
        &Actor::token(admin.principal()),
        &slug,
        default,
    )
    .await?;
    apply_locally(&directory).await;
    Ok(HttpResponse::Ok().json(quota))
}
