//! Setting and clearing a team's own quota; reading the quota in force.

use super::teams::parse_slug;
use super::{ActionError, Actor, Change, announce, audit, to_json};
use crate::admin::views::QuotaView;
use accounting::quotas::{DEFAULT_MAX_PRIORITY, DEFAULT_MAX_QUEUED_TASKS, QuotaValues};
use serde::Deserialize;
use sqlx::PgPool;
use utoipa::ToSchema;

/// The largest budget accepted: a trillion credits per period is already no budget at all.
pub const MAX_BUDGET: i64 = 1_000_000_000_000;

/// A team's own quota, as an admin sends it (HTTP body and CLI): integers wide enough that an
/// out-of-range value is refused by name here rather than by the JSON parser.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = PutQuota)]
pub struct QuotaInput {
    /// Requests per second, above 0 and at most 100000.
    pub rps: f64,
    /// Token-bucket burst, 1-100000.
    pub burst: i64,
    /// Requests in flight at once, 1-10000.
    pub concurrency: i64,
    /// Share of the account's slots when they are contended, 1-1000 (default 1).
    pub weight: Option<i64>,
    /// Credits per budget period, 0 to 10^12; `null` or absent: no budget.
    pub budget: Option<i64>,
    /// `true` (default): refuse with 403 INSUFFICIENT_CREDITS beyond the budget;
    /// `false`: allow, flag the entries and alert.
    pub hard_budget: Option<bool>,
    /// Percent of the budget (1-100) at which an alert is raised; needs a budget.
    pub alert_threshold_pct: Option<i64>,
    /// The highest async priority the team's tasks may use, 1-10 (default 10); a task asking
    /// for more is refused with 400 VALIDATION_ERROR naming `priority`.
    pub max_priority: Option<i64>,
    /// The most async tasks the team may have queued at once (submitted or queued upstream,
    /// not yet running), 1-1000000 (default 1000).
    pub max_queued_tasks: Option<i64>,
}

fn narrow<T: TryFrom<i64>>(field: &str, value: i64, range: &str) -> Result<T, ActionError> {
    T::try_from(value).map_err(|_| ActionError::invalid(field, format!("must be {range}")))
}

/// The API's name of a `QuotaValues` field.
fn wire_name(field: &str) -> &str {
    match field {
        "hard_budget" => "hardBudget",
        "alert_threshold_pct" => "alertThresholdPct",
        "max_priority" => "maxPriority",
        "max_queued_tasks" => "maxQueuedTasks",
        other => other,
    }
}

impl QuotaInput {
    /// The values to store, or a 400 naming the first bad field.
    pub fn to_values(&self) -> Result<QuotaValues, ActionError> {
        let values = QuotaValues {
            rps: self.rps,
            burst: narrow("burst", self.burst, "from 1 to 100000")?,
            concurrency: narrow("concurrency", self.concurrency, "from 1 to 10000")?,
            weight: narrow("weight", self.weight.unwrap_or(1), "from 1 to 1000")?,
            budget: self.budget,
            hard_budget: self.hard_budget.unwrap_or(true),
            alert_threshold_pct: self
                .alert_threshold_pct
                .map(|p| narrow("alertThresholdPct", p, "from 1 to 100"))
                .transpose()?,
            max_priority: narrow(
                "maxPriority",
                self.max_priority.unwrap_or(DEFAULT_MAX_PRIORITY.into()),
                "from 1 to 10",
            )?,
            max_queued_tasks: narrow(
                "maxQueuedTasks",
                self.max_queued_tasks
                    .unwrap_or(DEFAULT_MAX_QUEUED_TASKS.into()),
                "from 1 to 1000000",
            )?,
        };
        values
            .validate()
            .map_err(|(field, reason)| ActionError::invalid(wire_name(field), reason))?;
        if values.budget.is_some_and(|b| b > MAX_BUDGET) {
            return Err(ActionError::invalid(
                "budget",
                format!("must be at most {MAX_BUDGET}"),
            ));
        }
        if values.alert_threshold_pct.is_some() && values.budget.is_none() {
            return Err(ActionError::invalid(
                "alertThresholdPct",
                "needs a budget to be a percentage of",
            ));
        }
        Ok(values)
    }
}

/// The team's quota in force: its own, or `default` marked as such.
pub async fn show(
    db: &PgPool,
    slug: &str,
    default: &QuotaValues,
) -> Result<QuotaView, ActionError> {
    let team = super::teams::find(db, slug).await?;
    Ok(match accounting::quotas::get(db, team.id).await? {
        Some(quota) => QuotaView::of_team(team.slug.as_str(), &quota),
        None => QuotaView::default_for(team.slug.as_str(), default),
    })
}

/// Sets (inserts or replaces) the team's own quota.
pub async fn set(
    db: &PgPool,
    actor: &Actor,
    slug: &str,
    input: &QuotaInput,
) -> Result<QuotaView, ActionError> {
    let parsed = parse_slug("slug", slug)?;
    let values = input.to_values()?;
    let mut tx = db.begin().await?;
    let team = accounting::teams::lock_by_slug(&mut *tx, &parsed)
        .await?
        .ok_or_else(|| ActionError::NotFound(format!("No team {slug}")))?;
    let before = accounting::quotas::get(&mut *tx, team.id).await?;
    let after = accounting::quotas::set(&mut *tx, team.id, &values).await?;
    let view = QuotaView::of_team(parsed.as_str(), &after);
    audit(
        &mut tx,
        actor,
        Change {
            action: "quota.set",
            target_type: "quota",
            target_id: parsed.as_str(),
            before: before
                .as_ref()
                .and_then(|q| to_json(&QuotaView::of_team(parsed.as_str(), q))),
            after: to_json(&view),
        },
    )
    .await?;
    announce(&mut tx, "quota").await?;
    tx.commit().await?;
    Ok(view)
}

/// Removes the team's own quota; the default applies again (and is returned). A 404 when
/// the team is unknown or has no quota of its own.
pub async fn clear(
    db: &PgPool,
    actor: &Actor,
    slug: &str,
    default: &QuotaValues,
) -> Result<QuotaView, ActionError> {
    let parsed = parse_slug("slug", slug)?;
    let mut tx = db.begin().await?;
    let team = accounting::teams::lock_by_slug(&mut *tx, &parsed)
        .await?
        .ok_or_else(|| ActionError::NotFound(format!("No team {slug}")))?;
    let removed = accounting::quotas::clear(&mut *tx, team.id)
        .await?
        .ok_or_else(|| ActionError::NotFound(format!("Team {slug} has no quota of its own")))?;
    audit(
        &mut tx,
        actor,
        Change {
            action: "quota.clear",
            target_type: "quota",
            target_id: parsed.as_str(),
            before: to_json(&QuotaView::of_team(parsed.as_str(), &removed)),
            after: None,
        },
    )
    .await?;
    announce(&mut tx, "quota").await?;
    tx.commit().await?;
    Ok(QuotaView::default_for(parsed.as_str(), default))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> QuotaInput {
        QuotaInput {
            rps: 5.0,
            burst: 10,
            concurrency: 2,
            weight: None,
            budget: Some(100),
            hard_budget: None,
            alert_threshold_pct: Some(80),
            max_priority: None,
            max_queued_tasks: None,
        }
    }

    fn field_of(input: QuotaInput) -> String {
        match input.to_values() {
            Err(ActionError::Invalid(fields)) => fields[0].field.clone(),
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn defaults_fill_in_and_bad_fields_are_named_in_camel_case() {
        let values = input().to_values().unwrap();
        assert_eq!(values.weight, 1);
        assert!(values.hard_budget);
        assert_eq!((values.max_priority, values.max_queued_tasks), (10, 1000));
        assert_eq!(
            field_of(QuotaInput {
                burst: 1 << 40,
                ..input()
            }),
            "burst"
        );
        assert_eq!(
            field_of(QuotaInput {
                rps: -1.0,
                ..input()
            }),
            "rps"
        );
        assert_eq!(
            field_of(QuotaInput {
                alert_threshold_pct: Some(101),
                ..input()
            }),
            "alertThresholdPct"
        );
        for (max_priority, max_queued_tasks, field) in [
            (Some(0), None, "maxPriority"),
            (Some(11), None, "maxPriority"),
            (Some(1 << 40), None, "maxPriority"),
            (None, Some(0), "maxQueuedTasks"),
            (None, Some(1_000_001), "maxQueuedTasks"),
            (None, Some(1 << 40), "maxQueuedTasks"),
        ] {
            assert_eq!(
                field_of(QuotaInput {
                    max_priority,
                    max_queued_tasks,
                    ..input()
                }),
                field
            );
        }
        let caps = QuotaInput {
            max_priority: Some(3),
            max_queued_tasks: Some(1_000_000),
            ..input()
        }
        .to_values()
        .unwrap();
        assert_eq!((caps.max_priority, caps.max_queued_tasks), (3, 1_000_000));
        assert_eq!(
            field_of(QuotaInput {
                budget: Some(MAX_BUDGET + 1),
                ..input()
            }),
            "budget"
        );
        assert_eq!(
            field_of(QuotaInput {
                budget: None,
                ..input()
            }),
            "alertThresholdPct"
        );
    }
}
