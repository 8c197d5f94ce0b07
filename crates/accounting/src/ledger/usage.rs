//! Usage for finance and for teams, answered from the daily rollups (never the raw ledger),
//! so a year of usage costs a few thousand rows however large the ledger grows.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;

use super::entry::EntryMode;
use super::scope::Scope;
use crate::{AccountingError, TeamId};

/// The longest range one usage query may cover.
pub const MAX_USAGE_DAYS: i64 = 400;

/// What usage rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UsageDimension {
    Team,
    Endpoint,
    /// Sync calls apart from async tasks.
    Mode,
    Day,
    Month,
}

/// Usage over the days `[from, to)` (UTC), optionally narrowed to a team, an endpoint and a
/// mode.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageQuery {
    pub from: NaiveDate,
    /// Exclusive.
    pub to: NaiveDate,
    pub group_by: Vec<UsageDimension>,
    pub team: Option<TeamId>,
    pub endpoint: Option<String>,
    /// Only sync calls or only async tasks.
    pub mode: Option<EntryMode>,
}

/// One group's usage; the dimensions not grouped by are `None`. Counts and sums cover
/// settled entries only (POSTED, VOIDED, EXPIRED).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Serialize)]
pub struct UsageRow {
    pub team_id: Option<TeamId>,
    pub endpoint: Option<String>,
    pub mode: Option<EntryMode>,
    pub day: Option<NaiveDate>,
    /// The first day of the month.
    pub month: Option<NaiveDate>,
    pub entries: i64,
    pub posted: i64,
    pub voided: i64,
    pub expired: i64,
    pub flagged: i64,
    pub estimate: i64,
    pub charged: i64,
}

/// Aggregates from `ledger_daily_rollups` only (never the raw ledger). Dimensions not grouped
/// are `None`. Rows are ordered by team, endpoint, mode, then day or month (the dimensions
/// grouped, in that fixed order). Day and Month together is Invalid; `from >= to` is Invalid; a range
/// longer than 400 days is Invalid.
pub async fn usage(
    db: impl PgExecutor<'_>,
    scope: Scope,
    query: &UsageQuery,
) -> Result<Vec<UsageRow>, AccountingError> {
    let by = |dimension| query.group_by.contains(&dimension);
    if by(UsageDimension::Day) && by(UsageDimension::Month) {
        return Err(AccountingError::Invalid(
            "usage can be grouped by day or by month, not both".to_owned(),
        ));
    }
    check_range(query.from, query.to)?;
    // One static statement for every grouping: a dimension not grouped by is a constant NULL,
    // so it neither splits groups nor changes the order.
    let rows = sqlx::query_as::<_, UsageRow>(
        "SELECT CASE WHEN $1 THEN team_id END AS team_id, \
             CASE WHEN $2 THEN endpoint END AS endpoint, \
             CASE WHEN $3 THEN mode END AS mode, \
             CASE WHEN $4 THEN day END AS day, \
             CASE WHEN $5 THEN date_trunc('month', day::timestamp)::date END AS month, \
             sum(entries)::bigint AS entries, sum(posted)::bigint AS posted, \
             sum(voided)::bigint AS voided, sum(expired)::bigint AS expired, \
             sum(flagged)::bigint AS flagged, sum(estimate)::bigint AS estimate, \
             sum(charged)::bigint AS charged \
         FROM ledger_daily_rollups \
         WHERE day >= $6 AND day < $7 \
             AND ($8::uuid IS NULL OR team_id = $8) \
             AND ($9::uuid IS NULL OR team_id = $9) \
             AND ($10::text IS NULL OR endpoint = $10) \
             AND ($11::text IS NULL OR mode = $11) \
         GROUP BY 1, 2, 3, 4, 5 \
         ORDER BY 1, 2, 3, 4, 5",
    )
    .bind(by(UsageDimension::Team))
    .bind(by(UsageDimension::Endpoint))
    .bind(by(UsageDimension::Mode))
    .bind(by(UsageDimension::Day))
    .bind(by(UsageDimension::Month))
    .bind(query.from)
    .bind(query.to)
    .bind(scope.team())
    .bind(query.team)
    .bind(query.endpoint.as_deref())
    .bind(query.mode)
    .fetch_all(db)
    .await?;
    Ok(rows)
}

/// One team's usage over a period.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Serialize)]
pub struct PeriodUsage {
    pub team_id: TeamId,
    /// Charged by the entries created in the period that have settled.
    pub charged: i64,
    /// Estimates of the entries created in the period that are still PENDING.
    pub held: i64,
    pub settled_entries: i64,
    pub pending_entries: i64,
}

/// Per team, for the period `[from, to)` (day-aligned UTC bounds, else Invalid): charged from
/// the rollups, held = sum of estimates of PENDING entries created in the window (read through
/// the partial PENDING index). Teams with no entries are omitted. Ordered by team.
pub async fn period_usage(
    db: impl PgExecutor<'_>,
    scope: Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<PeriodUsage>, AccountingError> {
    let (first_day, end_day) = (day_aligned(from)?, day_aligned(to)?);
    check_range(first_day, end_day)?;
    let rows = sqlx::query_as::<_, PeriodUsage>(
        "WITH settled AS ( \
             SELECT team_id, sum(charged)::bigint AS charged, sum(entries)::bigint AS entries \
             FROM ledger_daily_rollups \
             WHERE day >= $1 AND day < $2 AND ($5::uuid IS NULL OR team_id = $5) \
             GROUP BY team_id \
         ), pending AS ( \
             SELECT team_id, sum(estimate)::bigint AS held, count(*) AS entries \
             FROM ledger_entries \
             WHERE status = 'PENDING' AND created_at >= $3 AND created_at < $4 \
                 AND ($5::uuid IS NULL OR team_id = $5) \
             GROUP BY team_id \
         ) \
         SELECT COALESCE(s.team_id, p.team_id) AS team_id, \
             COALESCE(s.charged, 0) AS charged, COALESCE(p.held, 0) AS held, \
             COALESCE(s.entries, 0) AS settled_entries, COALESCE(p.entries, 0) AS pending_entries \
         FROM settled AS s FULL JOIN pending AS p ON p.team_id = s.team_id \
         ORDER BY 1",
    )
    .bind(first_day)
    .bind(end_day)
    .bind(from)
    .bind(to)
    .bind(scope.team())
    .fetch_all(db)
    .await?;
    Ok(rows)
}

fn check_range(from: NaiveDate, to: NaiveDate) -> Result<(), AccountingError> {
    if from >= to {
        return Err(AccountingError::Invalid(
            "the range must end after it starts".to_owned(),
        ));
    }
    if (to - from).num_days() > MAX_USAGE_DAYS {
        return Err(AccountingError::Invalid(format!(
            "the range may cover at most {MAX_USAGE_DAYS} days"
        )));
    }
    Ok(())
}

/// The UTC date of a midnight, or Invalid for any other instant.
fn day_aligned(at: DateTime<Utc>) -> Result<NaiveDate, AccountingError> {
    if at.time() != NaiveTime::MIN {
        return Err(AccountingError::Invalid(format!(
            "{at} is not a UTC midnight; periods are whole days"
        )));
    }
    Ok(at.date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_must_be_forward_and_at_most_400_days() {
        assert!(check_range(date("2026-01-01"), date("2026-01-02")).is_ok());
        assert!(check_range(date("2026-01-01"), date("2027-02-05")).is_ok());
        assert!(check_range(date("2026-01-01"), date("2027-02-06")).is_err());
        assert!(check_range(date("2026-01-02"), date("2026-01-02")).is_err());
        assert!(check_range(date("2026-01-03"), date("2026-01-02")).is_err());
    }

    #[test]
    fn periods_are_whole_utc_days() {
        let midnight: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().unwrap();
        assert_eq!(day_aligned(midnight).unwrap(), date("2026-11-01"));
        let later: DateTime<Utc> = "2026-11-01T00:00:01Z".parse().unwrap();
        assert!(day_aligned(later).is_err());
    }

    #[test]
    fn dimensions_serialize_in_lowercase() {
        let json = serde_json::to_string(&[
            UsageDimension::Team,
            UsageDimension::Mode,
            UsageDimension::Month,
        ])
        .unwrap();
        assert_eq!(json, r#"["team","mode","month"]"#);
    }
}
