//! `/admin/tokens`: mint (the token's text is shown in that answer only), list (never the
//! text: it is not stored) and revoke (refused on every replica within moments).

use super::actions::tokens::{self as act, MintInput};
use super::actions::{ActionError, Actor};
use super::apply_locally;
use super::views::{MintedTokenView, TokenView};
use crate::auth::key_policy::{ADMIN_SUBJECT_PREFIX, is_reserved_subject};
use crate::auth::{Admin, Authenticated};
use crate::config::AuthSettings;
use crate::directory::Directory;
use crate::error::{ApiError, ErrorEnvelope};
use crate::pagination::{decode_cursor, fetch_size, page_limit, trim_page};
use accounting::tokens::TokenFilter;
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MintToken {
    /// `team`, `admin` or `finance`.
    pub role: String,
    /// The team's slug: required for a team token, refused otherwise.
    pub team: Option<String>,
    /// The token's `sub` (default `admin:<your token's sub>`), 1-200 printable characters;
    /// `cli`, `cli:*` and `admin:*` are reserved for the gateway's own defaults.
    pub subject: Option<String>,
    /// Lifetime: `90s`, `15m`, `1h`, `30d`; at most 366 days for a team token and
    /// `auth.max_admin_token_ttl_secs` (7 days by default) for an admin or finance token.
    pub ttl: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TokenListQuery {
    /// Only this team's tokens (by slug).
    pub team: Option<String>,
    /// Only tokens of this role: `team`, `admin` or `finance`.
    pub role: Option<String>,
    /// Include revoked tokens (default `false`).
    pub include_revoked: Option<bool>,
    /// Only tokens that still work: neither revoked nor expired (default `false`).
    pub active_only: Option<bool>,
    /// Page size, 1-1000 (default 100).
    pub limit: Option<u32>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of tokens, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenPage {
    pub items: Vec<TokenView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Mint a token. Its text is in this answer only: it is not stored.
#[utoipa::path(
    tag = "admin",
    request_body = MintToken,
    responses(
        (status = 201, description = "The token, shown once", body = MintedTokenView),
        (status = 400, description = "Bad role, team, subject or ttl (VALIDATION_ERROR naming the field)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
        (status = 404, description = "No such team (RESOURCE_NOT_FOUND)", body = ErrorEnvelope),
        (status = 503, description = "The gateway has no signing secret to mint with", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[post("/tokens")]
pub async fn mint_token(
    admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
    auth: web::Data<AuthSettings>,
    body: web::Json<MintToken>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let role = act::parse_role("role", &body.role)?;
    let ttl = act::parse_ttl_field(&body.ttl)?;
    let subject = match body.subject {
        Some(subject) if is_reserved_subject(subject.trim()) => {
            return Err(ActionError::invalid(
                "subject",
                "`cli`, `cli:*` and `admin:*` are reserved for the gateway's own defaults",
            )
            .into());
        }
        Some(subject) => subject,
        None => format!("{ADMIN_SUBJECT_PREFIX}{}", admin.subject()),
    };
    let (minted, record) = act::mint(
        db.get_ref(),
        auth.get_ref(),
        &Actor::token(admin.principal()),
        MintInput {
            role,
            team: body.team.as_deref(),
            subject,
            ttl,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(MintedTokenView {
        token: minted.token,
        jti: minted.jti,
        expires_at: minted.expires_at,
        role: record.role.as_str().to_owned(),
        team: record.team_slug,
        subject: record.subject,
    }))
}

/// List tokens, newest first (never their text).
#[utoipa::path(
    tag = "admin",
    params(TokenListQuery),
    responses(
        (status = 200, description = "A page of tokens", body = TokenPage),
        (status = 400, description = "Bad filter, limit or cursor", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[get("/tokens")]
pub async fn list_tokens(
    _admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
    query: web::Query<TokenListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = page_limit(query.limit)?;
    let after = query
        .cursor
        .as_deref()
        .map(decode_cursor::<(DateTime<Utc>, Uuid)>)
        .transpose()?;
    let role = query
        .role
        .as_deref()
        .map(|r| act::parse_role("role", r))
        .transpose()?;
    let team_id = match query.team.as_deref() {
        None => None,
        Some(slug) => match super::actions::teams::find(db.get_ref(), slug).await {
            Ok(team) => Some(team.id),
            // An unknown team has no tokens.
            Err(super::actions::ActionError::NotFound(_)) => {
                return Ok(HttpResponse::Ok().json(TokenPage {
                    items: Vec::new(),
                    next_cursor: None,
                }));
            }
            Err(err) => return Err(rename_slug_field(err)),
        },
    };
    let filter = TokenFilter {
        team_id,
        role,
        include_revoked: query.include_revoked.unwrap_or(false),
        unexpired_only: query.active_only.unwrap_or(false),
    };
    if filter.include_revoked && filter.unexpired_only {
        return Err(ApiError::from(super::actions::ActionError::invalid(
            "activeOnly",
            "cannot be combined with includeRevoked",
        )));
    }
    let mut rows =
        accounting::tokens::list(db.get_ref(), &filter, after, fetch_size(limit)).await?;
    let next_cursor = trim_page(&mut rows, limit, |token| (token.created_at, token.jti));
    Ok(HttpResponse::Ok().json(TokenPage {
        items: rows.iter().map(TokenView::from).collect(),
        next_cursor,
    }))
}

/// A bad `team` filter is a 400 naming `team`, not `slug`.
fn rename_slug_field(err: super::actions::ActionError) -> ApiError {
    match err {
        super::actions::ActionError::Invalid(mut fields) => {
            for f in &mut fields {
                f.field = "team".into();
            }
            ApiError::validation(fields)
        }
        other => other.into(),
    }
}

/// Revoke a minted token, and every token it minted; every replica refuses them within
/// moments. Tokens signed by other keys are revoked with `POST /admin/revocations`.
#[utoipa::path(
    tag = "admin",
    params(("jti" = Uuid, Path, description = "The token's `jti`")),
    responses(
        (status = 200, description = "The token, now revoked", body = TokenView),
        (status = 400, description = "The jti is not a UUID", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
        (status = 404, description = "No such token (RESOURCE_NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "Already revoked (TOKEN_ALREADY_REVOKED)", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[delete("/tokens/{jti}")]
pub async fn revoke_token(
    admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
    directory: web::Data<Directory>,
    auth: web::Data<AuthSettings>,
    jti: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let jti = jti.into_inner();
    let actor = Actor::token(admin.principal());
    let (record, cascaded) = act::revoke(db.get_ref(), auth.get_ref(), &actor, jti).await?;
    for revoked in std::iter::once(jti).chain(cascaded) {
        directory.note_revoked(&auth.issuer, &revoked.to_string());
    }
    apply_locally(&directory).await;
    Ok(HttpResponse::Ok().json(TokenView::from(&record)))
}
