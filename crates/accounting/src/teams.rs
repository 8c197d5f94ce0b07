//! Teams: the tenants sharing the cloro account. Created and suspended by admins.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::{AccountingError, TeamId, TeamSlug, TeamStatus};

/// A team as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Team {
    pub id: TeamId,
    pub slug: TeamSlug,
    pub name: String,
    pub status: TeamStatus,
    pub created_at: DateTime<Utc>,
}

const MAX_NAME_CHARS: usize = 200;

/// Creates an active team. A slug already in use gives [`AccountingError::DuplicateSlug`].
pub async fn create(
    db: impl PgExecutor<'_>,
    slug: &TeamSlug,
    name: &str,
) -> Result<Team, AccountingError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(AccountingError::Invalid(format!(
            "team name must be 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    sqlx::query_as::<_, Team>(
        "INSERT INTO teams (id, slug, name, status) VALUES ($1, $2, $3, 'active') \
         RETURNING id, slug, name, status, created_at",
    )
    .bind(TeamId::generate())
    .bind(slug)
    .bind(name)
    .fetch_one(db)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(db_error) if db_error.is_unique_violation() => {
            AccountingError::DuplicateSlug
        }
        _ => AccountingError::Database(error),
    })
}

pub async fn by_slug(
    db: impl PgExecutor<'_>,
    slug: &TeamSlug,
) -> Result<Option<Team>, AccountingError> {
    let team = sqlx::query_as::<_, Team>(
        "SELECT id, slug, name, status, created_at FROM teams WHERE slug = $1",
    )
    .bind(slug)
    .fetch_optional(db)
    .await?;
    Ok(team)
}

pub async fn by_id(db: impl PgExecutor<'_>, id: TeamId) -> Result<Option<Team>, AccountingError> {
    let team = sqlx::query_as::<_, Team>(
        "SELECT id, slug, name, status, created_at FROM teams WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(team)
}

/// Suspends or resumes a team; `None` if no team has this slug.
pub async fn set_status(
    db: impl PgExecutor<'_>,
    slug: &TeamSlug,
    status: TeamStatus,
) -> Result<Option<Team>, AccountingError> {
    let team = sqlx::query_as::<_, Team>(
        "UPDATE teams SET status = $2 WHERE slug = $1 \
         RETURNING id, slug, name, status, created_at",
    )
    .bind(slug)
    .bind(status)
    .fetch_optional(db)
    .await?;
    Ok(team)
}

/// Every team, ordered by slug.
pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<Team>, AccountingError> {
    let teams = sqlx::query_as::<_, Team>(
        "SELECT id, slug, name, status, created_at FROM teams ORDER BY slug",
    )
    .fetch_all(db)
    .await?;
    Ok(teams)
}
