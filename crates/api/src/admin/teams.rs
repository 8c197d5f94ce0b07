//! `/admin/teams`: create, list, show, rename and suspend or resume teams.

use super::actions::Actor;
use super::actions::teams::{self as act, TeamPatch};
use super::apply_locally;
use super::views::{TeamList, TeamView};
use crate::auth::{Admin, Authenticated};
use crate::directory::Directory;
use crate::error::{ApiError, ErrorEnvelope};
use actix_web::{HttpResponse, get, patch, post, web};
use serde::Deserialize;
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTeam {
    /// Lower-case letters, digits and dashes, 2-63 characters, not starting with a dash.
    pub slug: String,
    /// Display name, 1-200 characters (defaults to the slug).
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTeam {
    /// New display name.
    pub name: Option<String>,
    /// `active` (resume) or `suspended` (every request refused with 403 TEAM_SUSPENDED).
    pub status: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TeamListQuery {
    /// Only teams with this status: `active` or `suspended`.
    pub status: Option<String>,
}

/// Create a team.
#[utoipa::path(
    tag = "admin",
    request_body = CreateTeam,
    responses(
        (status = 201, description = "Created, active", body = TeamView),
        (status = 400, description = "Bad slug or name (VALIDATION_ERROR naming the field)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
        (status = 409, description = "The slug is taken (RESOURCE_ALREADY_EXISTS)", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[post("/teams")]
pub async fn create_team(
    admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
    directory: web::Data<Directory>,
    body: web::Json<CreateTeam>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let team = act::create(
        db.get_ref(),
        &Actor::token(admin.principal()),
        &body.slug,
        body.name.as_deref(),
    )
    .await?;
    apply_locally(&directory).await;
    Ok(HttpResponse::Created().json(TeamView::from(&team)))
}

/// List teams, by slug.
#[utoipa::path(
    tag = "admin",
    params(TeamListQuery),
    responses(
        (status = 200, description = "The teams", body = TeamList),
        (status = 400, description = "Bad status filter", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[get("/teams")]
pub async fn list_teams(
    _admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
    query: web::Query<TeamListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let teams = act::list(db.get_ref(), query.status.as_deref()).await?;
    Ok(HttpResponse::Ok().json(TeamList {
        items: teams.iter().map(TeamView::from).collect(),
    }))
}

/// Show a team.
#[utoipa::path(
    tag = "admin",
    params(("slug" = String, Path, description = "The team's slug")),
    responses(
        (status = 200, description = "The team", body = TeamView),
        (status = 400, description = "Malformed slug", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
        (status = 404, description = "No such team (RESOURCE_NOT_FOUND)", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[get("/teams/{slug}")]
pub async fn get_team(
    _admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let team = act::find(db.get_ref(), &slug).await?;
    Ok(HttpResponse::Ok().json(TeamView::from(&team)))
}

/// Rename a team, or suspend or resume it.
///
/// A suspension is refused on every replica at once: this replica applies it before
/// answering and the others re-read on the change's notification.
#[utoipa::path(
    tag = "admin",
    params(("slug" = String, Path, description = "The team's slug")),
    request_body = UpdateTeam,
    responses(
        (status = 200, description = "The team after the change", body = TeamView),
        (status = 400, description = "Bad name or status, or neither given", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
        (status = 404, description = "No such team (RESOURCE_NOT_FOUND)", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[patch("/teams/{slug}")]
pub async fn update_team(
    admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
    directory: web::Data<Directory>,
    slug: web::Path<String>,
    body: web::Json<UpdateTeam>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let patch = TeamPatch {
        name: body.name,
        status: body.status,
    };
    let team = act::update(
        db.get_ref(),
        &Actor::token(admin.principal()),
        &slug,
        &patch,
    )
    .await?;
    apply_locally(&directory).await;
    Ok(HttpResponse::Ok().json(TeamView::from(&team)))
}
