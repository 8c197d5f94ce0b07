//! Creating, renaming, suspending and resuming teams.

use super::{ActionError, Actor, Change, announce, audit, to_json};
use crate::admin::views::TeamView;
use accounting::teams::Team;
use accounting::{TeamSlug, TeamStatus};
use sqlx::PgPool;

/// A slug from the caller, or a 400 naming `field`.
pub fn parse_slug(field: &str, text: &str) -> Result<TeamSlug, ActionError> {
    TeamSlug::parse(text).map_err(|e| ActionError::invalid(field, e.to_string()))
}

/// A status from the caller (`active` or `suspended`), or a 400 naming `status`.
pub fn parse_status(text: &str) -> Result<TeamStatus, ActionError> {
    TeamStatus::parse(text).map_err(|e| ActionError::invalid("status", e.to_string()))
}

fn check_name(name: &str) -> Result<&str, ActionError> {
    accounting::teams::check_name(name).map_err(|e| match e {
        accounting::AccountingError::Invalid(message) => ActionError::invalid("name", message),
        other => other.into(),
    })
}

fn not_found(slug: &str) -> ActionError {
    ActionError::NotFound(format!("No team {slug}"))
}

/// The team, or a 404.
pub async fn find(db: &PgPool, slug: &str) -> Result<Team, ActionError> {
    let parsed = parse_slug("slug", slug)?;
    accounting::teams::by_slug(db, &parsed)
        .await?
        .ok_or_else(|| not_found(slug))
}

/// Teams, optionally only those with one status.
pub async fn list(db: &PgPool, status: Option<&str>) -> Result<Vec<Team>, ActionError> {
    let status = status.map(parse_status).transpose()?;
    Ok(accounting::teams::list_with_status(db, status).await?)
}

/// Creates an active team (the name defaults to the slug).
pub async fn create(
    db: &PgPool,
    actor: &Actor,
    slug: &str,
    name: Option<&str>,
) -> Result<Team, ActionError> {
    let slug = parse_slug("slug", slug)?;
    let name = check_name(name.unwrap_or(slug.as_str()))?;
    let mut tx = db.begin().await?;
    let team = accounting::teams::create(&mut *tx, &slug, name).await?;
    audit(
        &mut tx,
        actor,
        Change {
            action: "team.create",
            target_type: "team",
            target_id: slug.as_str(),
            before: None,
            after: to_json(&TeamView::from(&team)),
        },
    )
    .await?;
    announce(&mut tx, "team").await?;
    tx.commit().await?;
    Ok(team)
}

/// What a team update changes; `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct TeamPatch {
    pub name: Option<String>,
    pub status: Option<String>,
}

/// Renames and/or suspends or resumes a team.
pub async fn update(
    db: &PgPool,
    actor: &Actor,
    slug: &str,
    patch: &TeamPatch,
) -> Result<Team, ActionError> {
    let parsed = parse_slug("slug", slug)?;
    if patch.name.is_none() && patch.status.is_none() {
        return Err(ActionError::invalid(
            "body",
            "name at least one of `name` and `status`",
        ));
    }
    let name = patch.name.as_deref().map(check_name).transpose()?;
    let status = patch.status.as_deref().map(parse_status).transpose()?;
    let mut tx = db.begin().await?;
    let before = accounting::teams::lock_by_slug(&mut *tx, &parsed)
        .await?
        .ok_or_else(|| not_found(slug))?;
    let after = accounting::teams::update(&mut *tx, &parsed, name, status)
        .await?
        .ok_or_else(|| not_found(slug))?;
    audit(
        &mut tx,
        actor,
        Change {
            action: "team.update",
            target_type: "team",
            target_id: parsed.as_str(),
            before: to_json(&TeamView::from(&before)),
            after: to_json(&TeamView::from(&after)),
        },
    )
    .await?;
    announce(&mut tx, "team").await?;
    tx.commit().await?;
    Ok(after)
}
