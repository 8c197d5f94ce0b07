//! Team quotas: each team's rate, burst, concurrency, fair-share weight, credit budget per
//! period and caps on its use of cloro's shared async queue. Checked by the database's constraints and by [`QuotaValues::validate`] before any
//! write, so an absurd value is refused with a message naming the field.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::{AccountingError, TeamId};

/// What an admin sets for a team.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct QuotaValues {
    pub rps: f64,
    #[sqlx(try_from = "i32")]
    pub burst: u32,
    #[sqlx(try_from = "i32")]
    pub concurrency: u32,
    #[sqlx(try_from = "i32")]
    pub weight: u32,
    /// Credits per period; `None` is unlimited.
    pub budget: Option<i64>,
    pub hard_budget: bool,
    /// Percent of the budget at which an alert is raised.
    pub alert_threshold_pct: Option<i16>,
    /// The highest async priority (1-10, higher runs first) the team's tasks may ask for.
    #[sqlx(try_from = "i16")]
    pub max_priority: u8,
    /// The most async tasks the team may have queued at once (submitted or queued upstream,
    /// not yet running).
    #[sqlx(try_from = "i32")]
    pub max_queued_tasks: u32,
}

/// The async priority cap of a quota that does not name one: every priority cloro has.
pub const DEFAULT_MAX_PRIORITY: u8 = 10;
/// The queued-task cap of a quota that does not name one.
pub const DEFAULT_MAX_QUEUED_TASKS: u32 = 1_000;

/// A team's stored quota.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TeamQuota {
    pub team_id: TeamId,
    #[sqlx(flatten)]
    pub values: QuotaValues,
    pub updated_at: DateTime<Utc>,
}

impl QuotaValues {
    /// The first out-of-range field, as `(field, reason)`.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if !(self.rps.is_finite() && self.rps > 0.0 && self.rps <= 100_000.0) {
            return Err(("rps", "must be above 0 and at most 100000"));
        }
        if !(1..=100_000).contains(&self.burst) {
            return Err(("burst", "must be from 1 to 100000"));
        }
        if !(1..=10_000).contains(&self.concurrency) {
            return Err(("concurrency", "must be from 1 to 10000"));
        }
        if !(1..=1_000).contains(&self.weight) {
            return Err(("weight", "must be from 1 to 1000"));
        }
        if self.budget.is_some_and(|b| b < 0) {
            return Err(("budget", "must be 0 or more"));
        }
        if self
            .alert_threshold_pct
            .is_some_and(|p| !(1..=100).contains(&p))
        {
            return Err(("alert_threshold_pct", "must be from 1 to 100"));
        }
        if !(1..=10).contains(&self.max_priority) {
            return Err(("max_priority", "must be from 1 to 10"));
        }
        if !(1..=1_000_000).contains(&self.max_queued_tasks) {
            return Err(("max_queued_tasks", "must be from 1 to 1000000"));
        }
        Ok(())
    }
}

/// A count as its `integer` column stores it.
pub(crate) fn int4(field: &str, value: u32) -> Result<i32, AccountingError> {
    i32::try_from(value).map_err(|_| AccountingError::Invalid(format!("{field} is too large")))
}

/// The columns every read returns, as a literal so the SQL stays a static string.
macro_rules! quota_columns {
    () => {
        "team_id, rps, burst, concurrency, weight, budget, hard_budget, alert_threshold_pct, \
         max_priority, max_queued_tasks, updated_at"
    };
}

/// Sets a team's quota (insert or replace) after validating it.
pub async fn set(
    db: impl PgExecutor<'_>,
    team_id: TeamId,
    values: &QuotaValues,
) -> Result<TeamQuota, AccountingError> {
    values
        .validate()
        .map_err(|(field, reason)| AccountingError::Invalid(format!("{field} {reason}")))?;
    let quota = sqlx::query_as::<_, TeamQuota>(concat!(
        "INSERT INTO team_quotas (team_id, rps, burst, concurrency, weight, budget, hard_budget, \
             alert_threshold_pct, max_priority, max_queued_tasks) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (team_id) DO UPDATE SET rps = $2, burst = $3, concurrency = $4, \
             weight = $5, budget = $6, hard_budget = $7, alert_threshold_pct = $8, \
             max_priority = $9, max_queued_tasks = $10, updated_at = now() \
         RETURNING ",
        quota_columns!()
    ))
    .bind(team_id)
    .bind(values.rps)
    .bind(int4("burst", values.burst)?)
    .bind(int4("concurrency", values.concurrency)?)
    .bind(int4("weight", values.weight)?)
    .bind(values.budget)
    .bind(values.hard_budget)
    .bind(values.alert_threshold_pct)
    .bind(i16::from(values.max_priority))
    .bind(int4("max_queued_tasks", values.max_queued_tasks)?)
    .fetch_one(db)
    .await?;
    Ok(quota)
}

/// The team's quota, if one was set.
pub async fn get(
    db: impl PgExecutor<'_>,
    team_id: TeamId,
) -> Result<Option<TeamQuota>, AccountingError> {
    let quota = sqlx::query_as::<_, TeamQuota>(concat!(
        "SELECT ",
        quota_columns!(),
        " FROM team_quotas WHERE team_id = $1"
    ))
    .bind(team_id)
    .fetch_optional(db)
    .await?;
    Ok(quota)
}

/// Removes the team's own quota (the configured default applies again); returns what was
/// removed, `None` if the team had none.
pub async fn clear(
    db: impl PgExecutor<'_>,
    team_id: TeamId,
) -> Result<Option<TeamQuota>, AccountingError> {
    let quota = sqlx::query_as::<_, TeamQuota>(concat!(
        "DELETE FROM team_quotas WHERE team_id = $1 RETURNING ",
        quota_columns!()
    ))
    .bind(team_id)
    .fetch_optional(db)
    .await?;
    Ok(quota)
}

/// Every quota that was set (teams without one use the configured defaults).
pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<TeamQuota>, AccountingError> {
    let quotas =
        sqlx::query_as::<_, TeamQuota>(concat!("SELECT ", quota_columns!(), " FROM team_quotas"))
            .fetch_all(db)
            .await?;
    Ok(quotas)
}

#[cfg(test)]
mod tests {
    use super::QuotaValues;

    fn values() -> QuotaValues {
        QuotaValues {
            rps: 10.0,
            burst: 20,
            concurrency: 5,
            weight: 1,
            budget: Some(1000),
            hard_budget: true,
            alert_threshold_pct: Some(80),
            max_priority: 10,
            max_queued_tasks: 1000,
        }
    }

    #[test]
    fn sane_values_pass_and_each_absurd_one_is_named() {
        assert_eq!(values().validate(), Ok(()));
        type Breaker = fn(&mut QuotaValues);
        let cases: [(Breaker, &str); 11] = [
            (|v| v.rps = 0.0, "rps"),
            (|v| v.rps = f64::NAN, "rps"),
            (|v| v.burst = 0, "burst"),
            (|v| v.concurrency = 0, "concurrency"),
            (|v| v.weight = 5000, "weight"),
            (|v| v.budget = Some(-5), "budget"),
            (|v| v.alert_threshold_pct = Some(101), "alert_threshold_pct"),
            (|v| v.max_priority = 0, "max_priority"),
            (|v| v.max_priority = 11, "max_priority"),
            (|v| v.max_queued_tasks = 0, "max_queued_tasks"),
            (|v| v.max_queued_tasks = 1_000_001, "max_queued_tasks"),
        ];
        for (break_it, field) in cases {
            let mut v = values();
            break_it(&mut v);
            assert_eq!(v.validate().map_err(|(f, _)| f), Err(field));
        }
    }

    #[test]
    fn the_async_caps_accept_their_whole_range() {
        for (max_priority, max_queued_tasks) in [(1, 1), (10, 1_000_000)] {
            let v = QuotaValues {
                max_priority,
                max_queued_tasks,
                ..values()
            };
            assert_eq!(v.validate(), Ok(()));
        }
    }
}
