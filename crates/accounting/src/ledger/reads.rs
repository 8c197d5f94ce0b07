//! Reading the ledger: one entry (team-scoped), a team's totals, and the PENDING backlog.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::entry::{LedgerEntry, created_at_of};
use crate::{AccountingError, Credits, EntryStatus, TeamId};

/// The entry with this id, only if it belongs to `team_id`: another team's entry is `None`.
pub async fn get(
    db: impl PgExecutor<'_>,
    team_id: TeamId,
    id: Uuid,
) -> Result<Option<LedgerEntry>, AccountingError> {
    let entry = sqlx::query_as::<_, LedgerEntry>(
        "SELECT id, created_at, team_id, endpoint, client_request_id, idempotency_key, \
             estimate, status, charged, flagged, flag_reason, upstream_status, void_reason, \
             settled_at, mode, task_id, batch_id \
         FROM ledger_entries WHERE team_id = $1 AND id = $2 AND created_at = $3",
    )
    .bind(team_id)
    .bind(id)
    .bind(created_at_of(id))
    .fetch_optional(db)
    .await?;
    Ok(entry)
}

/// The status of the entry with this id, whichever team's: for callers that hold the id from
/// their own records (a settlement, an Idempotency-Key's holder).
pub(crate) async fn status_of(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<EntryStatus>, AccountingError> {
    let status = sqlx::query_scalar::<_, EntryStatus>(
        "SELECT status FROM ledger_entries WHERE id = $1 AND created_at = $2",
    )
    .bind(id)
    .bind(created_at_of(id))
    .fetch_optional(db)
    .await?;
    Ok(status)
}

/// A team's ledger, summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamTotals {
    /// Sum charged by POSTED entries.
    pub posted: Credits,
    /// Sum of estimates of entries still PENDING.
    pub pending_estimate: Credits,
    /// Sum charged by every settled entry (POSTED + EXPIRED; VOIDED is 0).
    pub charged: Credits,
    /// Number of entries in each status (every status present, zero if none).
    pub entries_by_status: BTreeMap<EntryStatus, i64>,
}

#[derive(sqlx::FromRow)]
struct StatusTotals {
    status: EntryStatus,
    entries: i64,
    charged: i64,
    estimate: i64,
}

/// A team's totals over all time, or over entries created in `[from, to)` when a window
/// is given (a budget period: the partition key bounds the scan to its months).
pub async fn team_totals(
    db: impl PgExecutor<'_>,
    team_id: TeamId,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Result<TeamTotals, AccountingError> {
    let (from, to) = window.unzip();
    let rows = sqlx::query_as::<_, StatusTotals>(
        "SELECT status, count(*) AS entries, \
             COALESCE(sum(charged), 0)::bigint AS charged, \
             COALESCE(sum(estimate), 0)::bigint AS estimate \
         FROM ledger_entries WHERE team_id = $1 \
             AND ($2::timestamptz IS NULL OR created_at >= $2) \
             AND ($3::timestamptz IS NULL OR created_at < $3) \
         GROUP BY status",
    )
    .bind(team_id)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await?;

    let mut totals = TeamTotals {
        posted: Credits::ZERO,
        pending_estimate: Credits::ZERO,
        charged: Credits::ZERO,
        entries_by_status: EntryStatus::ALL.iter().map(|status| (*status, 0)).collect(),
    };
    for row in rows {
        totals.entries_by_status.insert(row.status, row.entries);
        let charged = Credits::new(row.charged)?;
        match row.status {
            EntryStatus::Pending => totals.pending_estimate = Credits::new(row.estimate)?,
            EntryStatus::Posted => totals.posted = charged,
            EntryStatus::Voided | EntryStatus::Expired => {}
        }
        totals.charged = totals
            .charged
            .checked_add(charged)
            .ok_or_else(|| AccountingError::Invalid("team total overflows".to_owned()))?;
    }
    Ok(totals)
}

/// How many entries are PENDING right now, across all teams (a health metric).
pub async fn count_pending(db: impl PgExecutor<'_>) -> Result<i64, AccountingError> {
    let pending = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM ledger_entries WHERE status = 'PENDING'",
    )
    .fetch_one(db)
    .await?;
    Ok(pending)
}

/// A team's budget period as the ledger has it, to seed or reconcile the limiter's budget:
/// what settled entries charged (late settlements included) and the entries still PENDING.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BudgetLedger {
    /// Effective charges of POSTED and EXPIRED entries: an entry's late settlement, if any,
    /// replaces what it was booked at.
    pub settled: i64,
    /// Open PENDING entries: (entry id, estimate).
    pub pending: Vec<(Uuid, i64)>,
}

impl BudgetLedger {
    /// Settled charges plus every open estimate: the most the period may have cost.
    pub fn used(&self) -> i64 {
        self.settled
            + self
                .pending
                .iter()
                .map(|(_, estimate)| estimate)
                .sum::<i64>()
    }
}

/// The team's entries created in `[from, to)` (a budget period), for the limiter's budget.
pub async fn budget_ledger(
    db: impl PgExecutor<'_> + Copy,
    team_id: TeamId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<BudgetLedger, AccountingError> {
    let settled = sqlx::query_scalar::<_, i64>(
        "SELECT COALESCE(sum(COALESCE(late.charged, l.charged)), 0)::bigint \
         FROM ledger_entries AS l \
         LEFT JOIN ledger_late_charges AS late \
             ON late.entry_id = l.id AND late.entry_created_at = l.created_at \
         WHERE l.team_id = $1 AND l.created_at >= $2 AND l.created_at < $3 \
             AND l.status IN ('POSTED', 'EXPIRED')",
    )
    .bind(team_id)
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await?;
    let pending = sqlx::query_as::<_, (Uuid, i64)>(
        "SELECT id, estimate FROM ledger_entries \
         WHERE team_id = $1 AND created_at >= $2 AND created_at < $3 AND status = 'PENDING'",
    )
    .bind(team_id)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await?;
    Ok(BudgetLedger { settled, pending })
}
