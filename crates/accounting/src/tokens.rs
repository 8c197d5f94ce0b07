//! The JWTs the gateway has minted, so admins can list them and revoke any by `jti` before it
//! expires (the revocation itself is kept in `revocations`, with every other token's).

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, Postgres, QueryBuilder};
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
    /// The (issuer, jti) of the token that minted it, if an API caller did: revoking that
    /// token revokes this one too.
    pub minted_by: Option<(String, String)>,
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
        "INSERT INTO issued_tokens \
           (jti, team_id, role, subject, expires_at, minted_by_issuer, minted_by_jti) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token.jti)
    .bind(token.team_id)
    .bind(token.role)
    .bind(&token.subject)
    .bind(token.expires_at)
    .bind(token.minted_by.as_ref().map(|(issuer, _)| issuer))
    .bind(token.minted_by.as_ref().map(|(_, jti)| jti))
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

/// A recorded token as listed to admins: never its text, which is not stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRecord {
    pub jti: Uuid,
    pub team_id: Option<TeamId>,
    /// The team's slug, for team tokens.
    pub team_slug: Option<String>,
    pub role: Role,
    pub subject: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Filters of [`list`]; they combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenFilter {
    pub team_id: Option<TeamId>,
    pub role: Option<Role>,
    /// Include revoked tokens (left out by default).
    pub include_revoked: bool,
    /// Leave out expired tokens.
    pub unexpired_only: bool,
}

/// The columns every read returns, as a literal so the SQL stays a static string.
macro_rules! token_columns {
    () => {
        "t.jti, t.team_id, teams.slug AS team_slug, t.role, t.subject, t.created_at, \
         t.expires_at, t.revoked_at"
    };
}

/// One recorded token by jti.
pub async fn get(
    db: impl PgExecutor<'_>,
    jti: Uuid,
) -> Result<Option<TokenRecord>, AccountingError> {
    let token = sqlx::query_as::<_, TokenRecord>(concat!(
        "SELECT ",
        token_columns!(),
        " FROM issued_tokens t LEFT JOIN teams ON teams.id = t.team_id WHERE t.jti = $1"
    ))
    .bind(jti)
    .fetch_optional(db)
    .await?;
    Ok(token)
}

/// Up to `limit` tokens matching `filter`, newest first (by creation time, then jti), strictly
/// after `after` (the keyset cursor: the previous page's last `(created_at, jti)`).
pub async fn list(
    db: impl PgExecutor<'_>,
    filter: &TokenFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u32,
) -> Result<Vec<TokenRecord>, AccountingError> {
    let mut query = QueryBuilder::<Postgres>::new(concat!(
        "SELECT ",
        token_columns!(),
        " FROM issued_tokens t LEFT JOIN teams ON teams.id = t.team_id WHERE true"
    ));
    if let Some(team_id) = filter.team_id {
        query.push(" AND t.team_id = ").push_bind(team_id);
    }
    if let Some(role) = filter.role {
        query.push(" AND t.role = ").push_bind(role);
    }
    if !filter.include_revoked {
        query.push(" AND t.revoked_at IS NULL");
    }
    if filter.unexpired_only {
        query.push(" AND t.expires_at > now()");
    }
    if let Some((created_at, jti)) = after {
        query
            .push(" AND (t.created_at, t.jti) < (")
            .push_bind(created_at)
            .push(", ")
            .push_bind(jti)
            .push(")");
    }
    query
        .push(" ORDER BY t.created_at DESC, t.jti DESC LIMIT ")
        .push_bind(i64::from(limit));
    let tokens = query.build_query_as::<TokenRecord>().fetch_all(db).await?;
    Ok(tokens)
}
