//! Revoked tokens by (issuer, jti), whoever signed them, and per-subject cut-offs ("revoke
//! everything this subject holds"). Revoking a token also revokes every token it minted,
//! and theirs in turn.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::AccountingError;

/// One revocation as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Revocation {
    pub issuer: String,
    pub jti: String,
    pub revoked_at: DateTime<Utc>,
    pub revoked_by: String,
    pub reason: Option<String>,
}

/// One subject's cut-off.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubjectCutoff {
    pub issuer: String,
    pub subject: String,
    pub not_before: DateTime<Utc>,
    pub set_at: DateTime<Utc>,
    pub set_by: String,
}

/// Who revokes and why.
#[derive(Debug, Clone, Copy)]
pub struct RevokedBy<'a> {
    pub actor: &'a str,
    pub reason: Option<&'a str>,
}

/// Revokes (issuer, jti). `None` if it was already revoked.
pub async fn revoke(
    db: impl PgExecutor<'_>,
    issuer: &str,
    jti: &str,
    by: RevokedBy<'_>,
) -> Result<Option<Revocation>, AccountingError> {
    let revocation = sqlx::query_as::<_, Revocation>(
        "INSERT INTO token_revocations (issuer, jti, revoked_by, reason) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING \
         RETURNING issuer, jti, revoked_at, revoked_by, reason",
    )
    .bind(issuer)
    .bind(jti)
    .bind(by.actor)
    .bind(by.reason)
    .fetch_optional(db)
    .await?;
    Ok(revocation)
}

/// Revokes every token minted by (issuer, jti), and the tokens those minted, all the way
/// down. Minted tokens carry the gateway's own issuer (`own_issuer`). Returns the jtis this
/// call revoked (those already revoked are left as they were).
pub async fn revoke_minted_by(
    db: impl PgExecutor<'_>,
    own_issuer: &str,
    issuer: &str,
    jti: &str,
    by: RevokedBy<'_>,
) -> Result<Vec<Uuid>, AccountingError> {
    let revoked = sqlx::query_scalar::<_, Uuid>(
        "WITH RECURSIVE minted (jti) AS ( \
             SELECT t.jti FROM issued_tokens t \
             WHERE t.minted_by_issuer = $2 AND t.minted_by_jti = $3 \
           UNION \
             SELECT t.jti FROM issued_tokens t JOIN minted m \
               ON t.minted_by_issuer = $1 AND t.minted_by_jti = m.jti::text \
         ), listed AS ( \
             UPDATE issued_tokens SET revoked_at = now() \
             WHERE jti IN (SELECT jti FROM minted) AND revoked_at IS NULL \
         ) \
         INSERT INTO token_revocations (issuer, jti, revoked_by, reason) \
         SELECT $1, m.jti::text, $4, $5 FROM minted m \
         ON CONFLICT DO NOTHING RETURNING jti::uuid",
    )
    .bind(own_issuer)
    .bind(issuer)
    .bind(jti)
    .bind(by.actor)
    .bind(by.reason)
    .fetch_all(db)
    .await?;
    Ok(revoked)
}

/// Revocations at or after `since`, oldest first, for the cache every replica refreshes:
/// the table's rows and, under `own_issuer`, minted tokens revoked in `issued_tokens`. Use
/// the last time returned minus a margin as the next cursor (see `tokens::revoked_jtis_since`).
pub async fn revoked_since(
    db: impl PgExecutor<'_>,
    own_issuer: &str,
    since: DateTime<Utc>,
) -> Result<Vec<(String, String, DateTime<Utc>)>, AccountingError> {
    let rows = sqlx::query_as::<_, (String, String, DateTime<Utc>)>(
        "SELECT issuer, jti, revoked_at FROM token_revocations WHERE revoked_at >= $1 \
         UNION ALL \
         SELECT $2, jti::text, revoked_at FROM issued_tokens \
         WHERE revoked_at IS NOT NULL AND revoked_at >= $1 \
         ORDER BY 3",
    )
    .bind(since)
    .bind(own_issuer)
    .fetch_all(db)
    .await?;
    Ok(rows)
}

/// Up to `limit` revocations, newest first, strictly before the cursor `after` (the previous
/// page's last `(revoked_at, issuer, jti)`).
pub async fn list(
    db: impl PgExecutor<'_>,
    after: Option<(DateTime<Utc>, String, String)>,
    limit: u32,
) -> Result<Vec<Revocation>, AccountingError> {
    let (at, issuer, jti) = match after {
        Some((at, issuer, jti)) => (Some(at), issuer, jti),
        None => (None, String::new(), String::new()),
    };
    let rows = sqlx::query_as::<_, Revocation>(
        "SELECT issuer, jti, revoked_at, revoked_by, reason FROM token_revocations \
         WHERE $1::timestamptz IS NULL OR (revoked_at, issuer, jti) < ($1, $2, $3) \
         ORDER BY revoked_at DESC, issuer DESC, jti DESC LIMIT $4",
    )
    .bind(at)
    .bind(issuer)
    .bind(jti)
    .bind(i64::from(limit))
    .fetch_all(db)
    .await?;
    Ok(rows)
}

/// Sets (or moves) a subject's cut-off.
pub async fn set_cutoff(
    db: impl PgExecutor<'_>,
    issuer: &str,
    subject: &str,
    not_before: DateTime<Utc>,
    set_by: &str,
) -> Result<SubjectCutoff, AccountingError> {
    let cutoff = sqlx::query_as::<_, SubjectCutoff>(
        "INSERT INTO subject_cutoffs (issuer, subject, not_before, set_by) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (issuer, subject) DO UPDATE \
           SET not_before = EXCLUDED.not_before, set_at = now(), set_by = EXCLUDED.set_by \
         RETURNING issuer, subject, not_before, set_at, set_by",
    )
    .bind(issuer)
    .bind(subject)
    .bind(not_before)
    .bind(set_by)
    .fetch_one(db)
    .await?;
    Ok(cutoff)
}

/// One subject's cut-off, if set.
pub async fn cutoff(
    db: impl PgExecutor<'_>,
    issuer: &str,
    subject: &str,
) -> Result<Option<SubjectCutoff>, AccountingError> {
    let cutoff = sqlx::query_as::<_, SubjectCutoff>(
        "SELECT issuer, subject, not_before, set_at, set_by FROM subject_cutoffs \
         WHERE issuer = $1 AND subject = $2",
    )
    .bind(issuer)
    .bind(subject)
    .fetch_optional(db)
    .await?;
    Ok(cutoff)
}

/// Every cut-off (a short table: one row per subject ever cut off).
pub async fn cutoffs(db: impl PgExecutor<'_>) -> Result<Vec<SubjectCutoff>, AccountingError> {
    let cutoffs = sqlx::query_as::<_, SubjectCutoff>(
        "SELECT issuer, subject, not_before, set_at, set_by FROM subject_cutoffs \
         ORDER BY issuer, subject",
    )
    .fetch_all(db)
    .await?;
    Ok(cutoffs)
}
