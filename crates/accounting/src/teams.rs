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

/// The longest display name, as the `teams_name_length` constraint allows.
pub const MAX_NAME_CHARS: usize = 200;

/// A display name trimmed, or why it is refused (empty, too long, control characters).
pub fn check_name(name: &str) -> Result<&str, AccountingError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(AccountingError::Invalid(format!(
            "team name must be 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(AccountingError::Invalid(
            "team name must not contain control characters".into(),
        ));
    }
    Ok(name)
}

/// The columns every read returns, as a literal so the SQL stays a static string.
macro_rules! team_columns {
    () => {
        "id, slug, name, status, created_at"
    };
}

/// `SELECT` of every team column `FROM teams`, then `$rest` (its WHERE and ORDER BY).
macro_rules! select_teams {
    ($rest:literal) => {
        concat!("SELECT ", team_columns!(), " FROM teams ", $rest)
    };
}

/// Creates an active team. A slug already in use gives [`AccountingError::DuplicateSlug`].
pub async fn create(
    db: impl PgExecutor<'_>,
    slug: &TeamSlug,
    name: &str,
) -> Result<Team, AccountingError> {
    let name = check_name(name)?;
    sqlx::query_as::<_, Team>(concat!(
        "INSERT INTO teams (id, slug, name, status) VALUES ($1, $2, $3, 'active') RETURNING ",
        team_columns!()
    ))
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
    let team = sqlx::query_as::<_, Team>(select_teams!("WHERE slug = $1"))
        .bind(slug)
        .fetch_optional(db)
        .await?;
    Ok(team)
}

/// The team by slug, its row locked until the transaction ends (so a change and the audit
/// of what it replaced cannot interleave with another change).
pub async fn lock_by_slug(
    db: impl PgExecutor<'_>,
    slug: &TeamSlug,
) -> Result<Option<Team>, AccountingError> {
    let team = sqlx::query_as::<_, Team>(select_teams!("WHERE slug = $1 FOR UPDATE"))
        .bind(slug)
        .fetch_optional(db)
        .await?;
    Ok(team)
}

pub async fn by_id(db: impl PgExecutor<'_>, id: TeamId) -> Result<Option<Team>, AccountingError> {
    let team = sqlx::query_as::<_, Team>(select_teams!("WHERE id = $1"))
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
    let team = sqlx::query_as::<_, Team>(concat!(
        "UPDATE teams SET status = $2 WHERE slug = $1 RETURNING ",
        team_columns!()
    ))
    .bind(slug)
    .bind(status)
    .fetch_optional(db)
    .await?;
    Ok(team)
}

/// Renames and/or suspends or resumes a team (`None` leaves a field as it is); `None` if no
/// team has this slug.
pub async fn update(
    db: impl PgExecutor<'_>,
    slug: &TeamSlug,
    name: Option<&str>,
    status: Option<TeamStatus>,
) -> Result<Option<Team>, AccountingError> {
    let name = name.map(check_name).transpose()?;
    let team = sqlx::query_as::<_, Team>(concat!(
        "UPDATE teams SET name = COALESCE($2, name), status = COALESCE($3, status) \
         WHERE slug = $1 RETURNING ",
        team_columns!()
    ))
    .bind(slug)
    .bind(name)
    .bind(status)
    .fetch_optional(db)
    .await?;
    Ok(team)
}

/// The teams with `status` (every team when `None`), ordered by slug.
pub async fn list_with_status(
    db: impl PgExecutor<'_>,
    status: Option<TeamStatus>,
) -> Result<Vec<Team>, AccountingError> {
    let teams = sqlx::query_as::<_, Team>(select_teams!(
        "WHERE $1::text IS NULL OR status = $1 ORDER BY slug"
    ))
    .bind(status)
    .fetch_all(db)
    .await?;
    Ok(teams)
}

/// Every team, ordered by slug.
pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<Team>, AccountingError> {
    let teams = sqlx::query_as::<_, Team>(select_teams!("ORDER BY slug"))
        .fetch_all(db)
        .await?;
    Ok(teams)
}
