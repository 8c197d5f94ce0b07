//! `/admin/revocations` and `/admin/subject-cutoffs`: revoke any token by (issuer, jti),
//! whoever signed it (a partner key, the identity provider or the gateway), and refuse
//! everything a subject holds that was issued before a cut-off. Both reach every replica
//! within moments; revoking a token also revokes the tokens it minted.

use super::actions::Actor;
use super::actions::tokens as act;
use super::apply_locally;
use crate::auth::{Admin, Authenticated};
use crate::config::AuthSettings;
use crate::directory::Directory;
use crate::error::{ApiError, ErrorEnvelope, FieldError};
use crate::pagination::{decode_cursor, fetch_size, page_limit, trim_page};
use accounting::revocations::{Revocation, SubjectCutoff};
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevokeToken {
    /// The token's `iss` (default: the gateway's own issuer).
    pub issuer: Option<String>,
    /// The token's `jti`, 1-200 printable characters.
    pub jti: String,
    /// Why (kept with the revocation), at most 500 characters.
    pub reason: Option<String>,
}

/// A revoked token.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevocationView {
    pub issuer: String,
    pub jti: String,
    pub revoked_at: DateTime<Utc>,
    /// The subject of the admin token (or `cli`) that revoked it.
    pub revoked_by: String,
    pub reason: Option<String>,
}

impl From<Revocation> for RevocationView {
    fn from(r: Revocation) -> Self {
        Self {
            issuer: r.issuer,
            jti: r.jti,
            revoked_at: r.revoked_at,
            revoked_by: r.revoked_by,
            reason: r.reason,
        }
    }
}

/// A revocation and the tokens revoked with it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokedView {
    pub revocation: RevocationView,
    /// The jtis of the tokens it had minted (and they in turn), revoked with it.
    pub cascaded: Vec<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RevocationListQuery {
    /// Page size, 1-1000 (default 100).
    pub limit: Option<u32>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of revocations, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevocationPage {
    pub items: Vec<RevocationView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CutOffSubject {
    /// The tokens' `iss` (default: the gateway's own issuer).
    pub issuer: Option<String>,
    /// The tokens' `sub`, 1-200 printable characters.
    pub subject: String,
    /// RFC 3339; tokens issued (`iat`) before it are refused (default: now). Tokens without
    /// `iat` are refused once a cut-off exists.
    pub not_before: Option<String>,
}

/// A subject's cut-off.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubjectCutoffView {
    pub issuer: String,
    pub subject: String,
    pub not_before: DateTime<Utc>,
    pub set_at: DateTime<Utc>,
    pub set_by: String,
}

impl From<SubjectCutoff> for SubjectCutoffView {
    fn from(c: SubjectCutoff) -> Self {
        Self {
            issuer: c.issuer,
            subject: c.subject,
            not_before: c.not_before,
            set_at: c.set_at,
            set_by: c.set_by,
        }
    }
}

/// Every subject cut-off.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubjectCutoffList {
    pub items: Vec<SubjectCutoffView>,
}

/// Revoke any token by issuer and jti (and every token it minted).
#[utoipa::path(
    tag = "admin",
    request_body = RevokeToken,
    responses(
        (status = 201, description = "The token is revoked", body = RevokedView),
        (status = 400, description = "Bad issuer, jti or reason (VALIDATION_ERROR naming it)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
        (status = 409, description = "Already revoked (TOKEN_ALREADY_REVOKED)", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[post("/revocations")]
pub async fn revoke(
    admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
    directory: web::Data<Directory>,
    auth: web::Data<AuthSettings>,
    body: web::Json<RevokeToken>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let issuer = body.issuer.unwrap_or_else(|| auth.issuer.clone());
    let actor = Actor::token(admin.principal());
    let (revocation, cascaded) = act::revoke_any(
        db.get_ref(),
        auth.get_ref(),
        &actor,
        &issuer,
        &body.jti,
        body.reason.as_deref(),
    )
    .await?;
    directory.note_revoked(&revocation.issuer, &revocation.jti);
    for jti in &cascaded {
        directory.note_revoked(&auth.issuer, &jti.to_string());
    }
    apply_locally(&directory).await;
    Ok(HttpResponse::Created().json(RevokedView {
        revocation: revocation.into(),
        cascaded,
    }))
}

/// Revocations, newest first.
#[utoipa::path(
    tag = "admin",
    params(RevocationListQuery),
    responses(
        (status = 200, description = "A page of revocations", body = RevocationPage),
        (status = 400, description = "Bad limit or cursor", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[get("/revocations")]
pub async fn list_revocations(
    _admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
    query: web::Query<RevocationListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    let after = query
        .cursor
        .as_deref()
        .map(decode_cursor::<(DateTime<Utc>, String, String)>)
        .transpose()?;
    let mut rows = accounting::revocations::list(db.get_ref(), after, fetch_size(limit)).await?;
    let next_cursor = trim_page(&mut rows, limit, |r| {
        (r.revoked_at, r.issuer.clone(), r.jti.clone())
    });
    Ok(HttpResponse::Ok().json(RevocationPage {
        items: rows.into_iter().map(RevocationView::from).collect(),
        next_cursor,
    }))
}

/// Refuse every token a subject holds that was issued before a cut-off.
#[utoipa::path(
    tag = "admin",
    request_body = CutOffSubject,
    responses(
        (status = 200, description = "The cut-off in force", body = SubjectCutoffView),
        (status = 400, description = "Bad issuer, subject or notBefore (VALIDATION_ERROR naming it)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[post("/subject-cutoffs")]
pub async fn cut_off_subject(
    admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
    directory: web::Data<Directory>,
    auth: web::Data<AuthSettings>,
    body: web::Json<CutOffSubject>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let issuer = body.issuer.unwrap_or_else(|| auth.issuer.clone());
    let not_before = body
        .not_before
        .as_deref()
        .map(|text| {
            DateTime::parse_from_rfc3339(text)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::validation(vec![FieldError {
                        field: "notBefore".into(),
                        message: "must be an RFC 3339 time, e.g. 2026-11-28T20:00:00Z".into(),
                    }])
                })
        })
        .transpose()?;
    let actor = Actor::token(admin.principal());
    let cutoff =
        act::cut_off_subject(db.get_ref(), &actor, &issuer, &body.subject, not_before).await?;
    directory.note_cutoff(&cutoff.issuer, &cutoff.subject, cutoff.not_before);
    apply_locally(&directory).await;
    Ok(HttpResponse::Ok().json(SubjectCutoffView::from(cutoff)))
}

/// Every subject cut-off.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "The cut-offs, by issuer and subject", body = SubjectCutoffList),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[get("/subject-cutoffs")]
pub async fn list_subject_cutoffs(
    _admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
) -> Result<HttpResponse, ApiError> {
    let cutoffs = accounting::revocations::cutoffs(db.get_ref()).await?;
    Ok(HttpResponse::Ok().json(SubjectCutoffList {
        items: cutoffs.into_iter().map(SubjectCutoffView::from).collect(),
    }))
}
