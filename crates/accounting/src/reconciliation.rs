//! Reconciliation: does what the ledger charged match what the upstream account lost? Compares
//! the balances the upstream reported (`X-Credits-Remaining`) with the ledger over a window,
//! and lists the flagged entries that usually explain a difference.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::{AccountingError, EntryStatus, TeamId};

/// The most flagged entries one reconciliation lists.
pub const MAX_EXPLAINING: i64 = 10_000;

/// How long an entry can stay PENDING at most, for bounding scans by `settled_at`: entries
/// settle within the gateway's pending deadline (minutes), far less than a day, so an entry
/// settled in a window was created at most a day before the window opened. The bound keeps
/// those scans on the partitions (and the `(created_at, id)` index) instead of needing an
/// index on `settled_at`.
const SETTLEMENT_BOUND: TimeDelta = TimeDelta::days(1);

/// One `X-Credits-Remaining` the upstream reported.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Serialize)]
pub struct BalanceObservation {
    pub observed_at: DateTime<Utc>,
    pub credits_remaining: i64,
    /// The ledger entry whose response carried it, if any.
    pub request_id: Option<Uuid>,
}

/// A flagged entry that may explain part of a difference.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, Serialize)]
pub struct ExplainingEntry {
    pub id: Uuid,
    pub team_id: TeamId,
    pub endpoint: String,
    pub created_at: DateTime<Utc>,
    pub status: EntryStatus,
    pub estimate: i64,
    pub charged: Option<i64>,
    pub flag_reason: Option<String>,
    /// The real charge recorded after the entry expired, if one arrived.
    pub late_charge: Option<i64>,
}

/// The ledger against the upstream's balance over `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The first and last observation in `[from, to)`.
    pub opening: Option<BalanceObservation>,
    pub closing: Option<BalanceObservation>,
    /// Sum of the drops between consecutive observations in the window (None with fewer than
    /// two observations).
    pub upstream_consumed: Option<i64>,
    /// Sum of the rises between consecutive observations (credits added to the account).
    pub top_ups: i64,
    /// Charged by entries settled in `(opening.observed_at, closing.observed_at]` (0 without
    /// two observations).
    pub ledger_charged: i64,
    /// Charged by the settled entries created in `[from, to)`.
    pub ledger_charged_in_period: i64,
    /// `ledger_charged - upstream_consumed`.
    pub difference: Option<i64>,
    /// `sum(late.charged - late.estimate)` over the late charges of entries settled in the
    /// same window as `ledger_charged`: the part of the difference they explain
    /// (`difference + late_charges_delta` is what remains unexplained).
    pub late_charges_delta: i64,
    /// Entries still PENDING that were created before `to`.
    pub pending_at_close: i64,
    /// Flagged entries created in `[from, to)` (EXPIRED, soft budget, ...), newest first, at
    /// most `limit`.
    pub explaining: Vec<ExplainingEntry>,
    pub explaining_truncated: bool,
}

/// Reconciles `[from, to)` (`from < to`, else Invalid), listing at most `limit` (0..=10_000)
/// explaining entries. Every figure is read from one REPEATABLE READ snapshot.
pub async fn reconcile(
    db: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Reconciliation, AccountingError> {
    if from >= to {
        return Err(AccountingError::Invalid(
            "the window must end after it starts".to_owned(),
        ));
    }
    if !(0..=MAX_EXPLAINING).contains(&limit) {
        return Err(AccountingError::Invalid(format!(
            "limit must be between 0 and {MAX_EXPLAINING}"
        )));
    }
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;

    let opening = observation(&mut tx, from, to, true).await?;
    let closing = observation(&mut tx, from, to, false).await?;
    let (observations, consumed, top_ups) = sqlx::query_as::<_, (i64, i64, i64)>(
        "SELECT count(*), \
             COALESCE(sum(GREATEST(previous - credits_remaining, 0)), 0)::bigint, \
             COALESCE(sum(GREATEST(credits_remaining - previous, 0)), 0)::bigint \
         FROM ( \
             SELECT credits_remaining, \
                 lag(credits_remaining) OVER (ORDER BY observed_at, id) AS previous \
             FROM account_balance_observations \
             WHERE observed_at >= $1 AND observed_at < $2 \
         ) AS o",
    )
    .bind(from)
    .bind(to)
    .fetch_one(&mut *tx)
    .await?;
    let upstream_consumed = (observations >= 2).then_some(consumed);

    let (ledger_charged, late_charges_delta) = match (&opening, &closing) {
        (Some(opening), Some(closing)) if observations >= 2 => {
            settled_between(&mut tx, opening.observed_at, closing.observed_at).await?
        }
        _ => (0, 0),
    };
    let ledger_charged_in_period = charged_in_period(&mut tx, from, to).await?;
    let pending_at_close = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM ledger_entries WHERE status = 'PENDING' AND created_at < $1",
    )
    .bind(to)
    .fetch_one(&mut *tx)
    .await?;

    let mut explaining = sqlx::query_as::<_, ExplainingEntry>(
        "SELECT e.id, e.team_id, e.endpoint, e.created_at, e.status, e.estimate, e.charged, \
             e.flag_reason, late.charged AS late_charge \
         FROM ledger_entries AS e \
         LEFT JOIN ledger_late_charges AS late ON late.entry_id = e.id \
         WHERE e.flagged AND e.created_at >= $1 AND e.created_at < $2 \
         ORDER BY e.created_at DESC, e.id DESC \
         LIMIT $3",
    )
    .bind(from)
    .bind(to)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    let explaining_truncated = i64::try_from(explaining.len()).map_or(true, |len| len > limit);
    explaining.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(Reconciliation {
        from,
        to,
        opening,
        closing,
        upstream_consumed,
        top_ups,
        ledger_charged,
        ledger_charged_in_period,
        difference: upstream_consumed.map(|consumed| ledger_charged - consumed),
        late_charges_delta,
        pending_at_close,
        explaining,
        explaining_truncated,
    })
}

/// The latest balance the upstream reported, if any.
pub async fn latest_balance(
    db: impl PgExecutor<'_>,
) -> Result<Option<BalanceObservation>, AccountingError> {
    let latest = sqlx::query_as::<_, BalanceObservation>(
        "SELECT observed_at, credits_remaining, request_id FROM account_balance_observations \
         ORDER BY observed_at DESC, id DESC LIMIT 1",
    )
    .fetch_optional(db)
    .await?;
    Ok(latest)
}

/// The first (or last) observation in `[from, to)`.
async fn observation(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    first: bool,
) -> Result<Option<BalanceObservation>, AccountingError> {
    let query = if first {
        "SELECT observed_at, credits_remaining, request_id FROM account_balance_observations \
         WHERE observed_at >= $1 AND observed_at < $2 ORDER BY observed_at, id LIMIT 1"
    } else {
        "SELECT observed_at, credits_remaining, request_id FROM account_balance_observations \
         WHERE observed_at >= $1 AND observed_at < $2 ORDER BY observed_at DESC, id DESC LIMIT 1"
    };
    let found = sqlx::query_as::<_, BalanceObservation>(query)
        .bind(from)
        .bind(to)
        .fetch_optional(conn)
        .await?;
    Ok(found)
}

/// What entries settled in `(after, until]` charged, and the late-charge delta of those.
async fn settled_between(
    conn: &mut PgConnection,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<(i64, i64), AccountingError> {
    let created_after = after - SETTLEMENT_BOUND;
    let charged = sqlx::query_scalar::<_, i64>(
        "SELECT COALESCE(sum(charged), 0)::bigint FROM ledger_entries \
         WHERE settled_at > $1 AND settled_at <= $2 \
             AND created_at >= $3 AND created_at <= $2",
    )
    .bind(after)
    .bind(until)
    .bind(created_after)
    .fetch_one(&mut *conn)
    .await?;
    let late_delta = sqlx::query_scalar::<_, i64>(
        "SELECT COALESCE(sum(late.charged - late.estimate), 0)::bigint \
         FROM ledger_late_charges AS late \
         JOIN ledger_entries AS e ON e.id = late.entry_id AND e.created_at = late.entry_created_at \
         WHERE e.settled_at > $1 AND e.settled_at <= $2 \
             AND late.entry_created_at >= $3 AND late.entry_created_at <= $2 \
             AND e.created_at >= $3 AND e.created_at <= $2",
    )
    .bind(after)
    .bind(until)
    .bind(created_after)
    .fetch_one(conn)
    .await?;
    Ok((charged, late_delta))
}

/// Charged by the settled entries created in `[from, to)`: whole UTC days come from the
/// rollups, only the partial days at either end from the ledger itself.
async fn charged_in_period(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64, AccountingError> {
    let first_whole = next_midnight(from)?;
    let end_whole = midnight_of(to.date_naive());
    let (days, head, tail) = if first_whole < end_whole {
        (
            (first_whole.date_naive(), end_whole.date_naive()),
            (from, first_whole),
            (end_whole, to),
        )
    } else {
        // No whole day inside: everything from the ledger, and an empty range of days.
        let day = from.date_naive();
        ((day, day), (from, to), (to, to))
    };
    let charged = sqlx::query_scalar::<_, i64>(
        "SELECT ( \
             (SELECT COALESCE(sum(charged), 0) FROM ledger_daily_rollups \
              WHERE day >= $1 AND day < $2) \
             + (SELECT COALESCE(sum(charged), 0) FROM ledger_entries \
                WHERE created_at >= $3 AND created_at < $4) \
             + (SELECT COALESCE(sum(charged), 0) FROM ledger_entries \
                WHERE created_at >= $5 AND created_at < $6) \
         )::bigint",
    )
    .bind(days.0)
    .bind(days.1)
    .bind(head.0)
    .bind(head.1)
    .bind(tail.0)
    .bind(tail.1)
    .fetch_one(conn)
    .await?;
    Ok(charged)
}

fn midnight_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// `at` itself if it is a UTC midnight, else the next one.
fn next_midnight(at: DateTime<Utc>) -> Result<DateTime<Utc>, AccountingError> {
    let day = at.date_naive();
    if at == midnight_of(day) {
        return Ok(at);
    }
    day.succ_opt()
        .map(midnight_of)
        .ok_or_else(|| AccountingError::Invalid("the window ends beyond the calendar".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_midnight_of_a_midnight_is_itself() {
        let midnight: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().unwrap();
        assert_eq!(next_midnight(midnight).unwrap(), midnight);
        let later: DateTime<Utc> = "2026-11-01T00:00:00.001Z".parse().unwrap();
        assert_eq!(
            next_midnight(later).unwrap(),
            "2026-11-02T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
