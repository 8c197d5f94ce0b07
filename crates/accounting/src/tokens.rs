//! The JWTs the gateway has minted, so any of them can be revoked by `jti` before it expires.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::{AccountingError, Role, TeamId};

/// A token as minted: team tokens name their team, admin and finance tokens do not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub jti: Uuid,
    pub team_id: Option<TeamId>,
    pub role: Role,
    pub subject: String,
    pub expires_at: DateTime<Utc>,
}

/// Records a freshly minted token. A team token must carry a team id and an admin or finance
/// token must not ([`AccountingError::Invalid`] otherwise).
pub async fn record_issued(
    db: impl PgExecutor<'_>,
    token: &IssuedToken,
) -> Result<(), AccountingError> {
    if token.role.is_team_scoped() != token.team_id.is_some() {
        return Err(AccountingError::Invalid(format!(
            "a {} token {} a team id",
            token.role,
            if token.role.is_team_scoped() {
                "needs"
            } else {
                "must not have"
            }
        )));
    }
    sqlx::query(
        "INSERT INTO issued_tokens (jti, team_id, role, subject, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token.jti)
    .bind(token.team_id)
    .bind(token.role)
    .bind(&token.subject)
    .bind(token.expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Revokes a token. `false` if the jti is unknown or was already revoked.
pub async fn revoke(db: impl PgExecutor<'_>, jti: Uuid) -> Result<bool, AccountingError> {
    let result = sqlx::query(
        "UPDATE issued_tokens SET revoked_at = now() WHERE jti = $1 AND revoked_at IS NULL",
    )
    .bind(jti)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Whether the token was revoked. An unknown jti is not revoked.
pub async fn is_revoked(db: impl PgExecutor<'_>, jti: Uuid) -> Result<bool, AccountingError> {
    let revoked = sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM issued_tokens WHERE jti = $1 AND revoked_at IS NOT NULL)",
    )
    .bind(jti)
    .fetch_one(db)
    .await?;
    Ok(revoked)
}

/// Tokens revoked at or after `since`, oldest first, for a cache that refreshes every few
/// seconds. Use the last returned time minus a safety margin (a few seconds) as the next
/// cursor: `revoked_at` is the revoking transaction's start time, so a slow transaction can
/// commit a time slightly older than rows already seen. Repeats are harmless.
pub async fn revoked_jtis_since(
    db: impl PgExecutor<'_>,
    since: DateTime<Utc>,
) -> Result<Vec<(Uuid, DateTime<Utc>)>, AccountingError> {
    let revoked = sqlx::query_as::<_, (Uuid, DateTime<Utc>)>(
        "SELECT jti, revoked_at FROM issued_tokens \
         WHERE revoked_at IS NOT NULL AND revoked_at >= $1 ORDER BY revoked_at, jti",
    )
    .bind(since)
    .fetch_all(db)
    .await?;
    Ok(revoked)
}
