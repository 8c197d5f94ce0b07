//! Monthly partitions of `ledger_entries`, created ahead of time so inserts never lack one.

use chrono::{DateTime, Datelike, Utc};
use sqlx::PgExecutor;

use crate::AccountingError;

/// The most months [`ensure_partitions`] creates ahead in one call (the SQL function's limit).
pub const MAX_MONTHS_AHEAD: u32 = 120;

/// Creates the partitions for the month containing `now` (UTC) and the `months_ahead` months
/// after it, skipping those that exist; returns how many it created. Idempotent and safe to
/// run from several replicas at once. Call it at start-up and daily.
pub async fn ensure_partitions(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    months_ahead: u32,
) -> Result<u32, AccountingError> {
    if months_ahead > MAX_MONTHS_AHEAD {
        return Err(AccountingError::Invalid(format!(
            "months ahead must be at most {MAX_MONTHS_AHEAD}"
        )));
    }
    let months_ahead = i32::try_from(months_ahead)
        .map_err(|_| AccountingError::Invalid("months ahead is too large".to_owned()))?;
    let created = sqlx::query_scalar::<_, i32>("SELECT ensure_ledger_partitions($1, $2)")
        .bind(now)
        .bind(months_ahead)
        .fetch_one(db)
        .await?;
    Ok(u32::try_from(created).unwrap_or(0))
}

/// The name of the partition holding entries created at `at`, e.g. `ledger_entries_y2026m11`.
pub fn partition_name(at: DateTime<Utc>) -> String {
    format!("ledger_entries_y{:04}m{:02}", at.year(), at.month())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_partitions_by_utc_year_and_month() {
        let at = DateTime::parse_from_rfc3339("2027-03-31T23:59:59+00:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(partition_name(at), "ledger_entries_y2027m03");
        let next_month_in_utc = DateTime::parse_from_rfc3339("2027-03-31T23:30:00-01:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(partition_name(next_month_in_utc), "ledger_entries_y2027m04");
    }
}
