//! The audit log: one append-only row per admin change, written by the caller in the same
//! transaction as the change, and read back newest first with bound filters.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, Postgres, QueryBuilder};

use crate::AccountingError;

/// What a change writes: who, what, to which target, and the target before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry<'a> {
    pub actor: &'a str,
    /// The (issuer, jti) of the token the change was made with; `None` from the command line.
    pub actor_token: Option<(&'a str, &'a str)>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub actor_issuer: Option<String>,
    pub actor_jti: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Filters of [`list`]; every one is optional and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// Changes made with this token (its `jti`).
    pub actor_jti: Option<String>,
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
}

/// Appends one row; pass the transaction that makes the change.
pub async fn append(
    db: impl PgExecutor<'_>,
    entry: &NewAuditEntry<'_>,
) -> Result<AuditEntry, AccountingError> {
    let row = sqlx::query_as::<_, AuditEntry>(
        "INSERT INTO audit_log \
           (actor, action, target_type, target_id, before, after, actor_issuer, actor_jti) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         RETURNING id, at, actor, actor_issuer, actor_jti, action, target_type, target_id, \
           before, after",
    )
    .bind(entry.actor)
    .bind(entry.action)
    .bind(entry.target_type)
    .bind(entry.target_id)
    .bind(&entry.before)
    .bind(&entry.after)
    .bind(entry.actor_token.map(|(issuer, _)| issuer))
    .bind(entry.actor_token.map(|(_, jti)| jti))
    .fetch_one(db)
    .await?;
    Ok(row)
}

/// Up to `limit` rows matching `filter`, newest first, strictly older than `before_id` when
/// given (the keyset cursor: the last id of the previous page).
pub async fn list(
    db: impl PgExecutor<'_>,
    filter: &AuditFilter,
    before_id: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEntry>, AccountingError> {
    let mut query = QueryBuilder::<Postgres>::new(
        "SELECT id, at, actor, actor_issuer, actor_jti, action, target_type, target_id, \
           before, after FROM audit_log WHERE true",
    );
    if let Some(actor) = &filter.actor {
        query.push(" AND actor = ").push_bind(actor);
    }
    if let Some(jti) = &filter.actor_jti {
        query.push(" AND actor_jti = ").push_bind(jti);
    }
    if let Some(action) = &filter.action {
        query.push(" AND action = ").push_bind(action);
    }
    if let Some(target_type) = &filter.target_type {
        query.push(" AND target_type = ").push_bind(target_type);
    }
    if let Some(target_id) = &filter.target_id {
        query.push(" AND target_id = ").push_bind(target_id);
    }
    if let Some(from) = filter.from {
        query.push(" AND at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" AND at < ").push_bind(to);
    }
    if let Some(before_id) = before_id {
        query.push(" AND id < ").push_bind(before_id);
    }
    query
        .push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(limit));
    let rows = query.build_query_as::<AuditEntry>().fetch_all(db).await?;
    Ok(rows)
}
