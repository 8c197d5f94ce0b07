//! `GET /admin/audit`: the audit log, newest first, filtered and paged by keyset.

use crate::auth::{Admin, Authenticated};
use crate::error::{ApiError, ErrorEnvelope, FieldError};
use crate::pagination::{decode_cursor, fetch_size, page_limit, trim_page};
use accounting::audit::{AuditEntry, AuditFilter};
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only changes by this actor (an admin token's `sub`, or `cli`).
    pub actor: Option<String>,
    /// Only changes made with this token (its `jti`).
    pub actor_jti: Option<String>,
    /// Only this action, e.g. `team.update`, `quota.set`, `token.revoke`.
    pub action: Option<String>,
    /// Only this kind of target: `team`, `quota`, `account`, `token`.
    pub target_type: Option<String>,
    /// Only this target (a team slug, `limits`/`pricing`, a jti).
    pub target_id: Option<String>,
    /// RFC 3339; changes at or after it.
    pub from: Option<String>,
    /// RFC 3339; changes before it.
    pub to: Option<String>,
    /// Page size, 1-1000 (default 100).
    pub limit: Option<u32>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// One audited change.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    /// The issuer of the token the change was made with (`null` from the command line).
    pub actor_issuer: Option<String>,
    /// The `jti` of the token the change was made with (`null` from the command line).
    pub actor_jti: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    /// The target before the change (`null` when it did not exist).
    pub before: Option<serde_json::Value>,
    /// The target after the change (`null` when it was removed).
    pub after: Option<serde_json::Value>,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            actor_issuer: e.actor_issuer,
            actor_jti: e.actor_jti,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            before: e.before,
            after: e.after,
        }
    }
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub items: Vec<AuditView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

fn instant(field: &str, text: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    text.map(|t| {
        DateTime::parse_from_rfc3339(t)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|_| {
                ApiError::validation(vec![FieldError {
                    field: field.to_owned(),
                    message: "must be an RFC 3339 time, e.g. 2026-11-28T20:00:00Z".into(),
                }])
            })
    })
    .transpose()
}

/// The audit log, newest first.
#[utoipa::path(
    tag = "admin",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of audited changes", body = AuditPage),
        (status = 400, description = "Bad time, limit or cursor (VALIDATION_ERROR naming it)", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[get("/audit")]
pub async fn list_audit(
    _admin: Authenticated<Admin>,
    db: web::Data<PgPool>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = page_limit(query.limit)?;
    let before_id = query
        .cursor
        .as_deref()
        .map(decode_cursor::<i64>)
        .transpose()?;
    let filter = AuditFilter {
        from: instant("from", query.from.as_deref())?,
        to: instant("to", query.to.as_deref())?,
        actor: query.actor,
        actor_jti: query.actor_jti,
        action: query.action,
        target_type: query.target_type,
        target_id: query.target_id,
    };
    let mut rows =
        accounting::audit::list(db.get_ref(), &filter, before_id, fetch_size(limit)).await?;
    let next_cursor = trim_page(&mut rows, limit, |entry| entry.id);
    Ok(HttpResponse::Ok().json(AuditPage {
        items: rows.into_iter().map(AuditView::from).collect(),
        next_cursor,
    }))
}
