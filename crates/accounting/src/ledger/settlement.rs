//! Settling a PENDING entry exactly once: POST the upstream's charge or VOID it. Each is one
//! guarded UPDATE, so retries are harmless and a race with the sweeper has exactly one winner.

use sqlx::{Acquire, PgConnection, Postgres};
use uuid::Uuid;

use super::entry::created_at_of;
use crate::{AccountingError, Credits, EntryStatus};

/// Outcome of a settlement attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// This call settled the entry.
    Applied,
    /// The entry was already final (a retry, or the sweeper expired it first); it is unchanged.
    AlreadySettled(EntryStatus),
    NotFound,
}

/// Settles the entry as POSTED with what the upstream charged (`X-Credits-Charged`).
///
/// If the sweeper already EXPIRED the entry, this returns `AlreadySettled(Expired)`: the entry
/// keeps the estimate and its flag, and the real charge is recorded in `ledger_late_charges`
/// (once per entry) for reconciliation. Given the caller's transaction, the late charge is
/// part of it; given a pool, the attempt changed nothing, and the late charge is one
/// statement of its own.
pub async fn post<'c>(
    db: impl Acquire<'c, Database = Postgres>,
    id: Uuid,
    charged: Credits,
    upstream_status: i32,
) -> Result<Settled, AccountingError> {
    let mut conn = db.acquire().await?;
    let updated = sqlx::query(
        "UPDATE ledger_entries \
         SET status = 'POSTED', charged = $3, upstream_status = $4, settled_at = now() \
         WHERE id = $1 AND created_at = $2 AND status = 'PENDING'",
    )
    .bind(id)
    .bind(created_at_of(id))
    .bind(charged)
    .bind(upstream_status)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        record_late_charges(&mut conn, &[id], &[charged.get()], &[upstream_status]).await?;
    }
    outcome(&mut conn, id, updated).await
}

/// Records the real charge of each entry that is already EXPIRED (the sweeper won the race
/// with its POST) as a late charge. Entries in any other state are skipped, and so is an
/// entry whose late charge is already recorded (a retry). Returns how many were recorded.
pub(super) async fn record_late_charges(
    conn: &mut PgConnection,
    ids: &[Uuid],
    charges: &[i64],
    upstream_statuses: &[i32],
) -> Result<u64, sqlx::Error> {
    let created_ats: Vec<_> = ids.iter().map(|id| created_at_of(*id)).collect();
    let recorded = sqlx::query(
        "INSERT INTO ledger_late_charges \
             (entry_id, entry_created_at, team_id, endpoint, estimate, charged, upstream_status) \
         SELECT l.id, l.created_at, l.team_id, l.endpoint, l.estimate, late.charged, \
                late.upstream_status \
         FROM UNNEST($1::uuid[], $2::timestamptz[], $3::bigint[], $4::int[]) \
             AS late (id, created_at, charged, upstream_status) \
         JOIN ledger_entries AS l ON l.id = late.id AND l.created_at = late.created_at \
         WHERE l.status = 'EXPIRED' \
         ORDER BY l.id \
         ON CONFLICT (entry_id) DO NOTHING",
    )
    .bind(ids)
    .bind(created_ats)
    .bind(charges)
    .bind(upstream_statuses)
    .execute(conn)
    .await?
    .rows_affected();
    if recorded > 0 {
        tracing::warn!(
            recorded,
            "upstream charges arrived for entries the sweeper had already expired; recorded as late charges"
        );
    }
    Ok(recorded)
}

/// Settles the entry as VOIDED (nothing charged): the upstream refused the call, or it was
/// never sent. `upstream_status` is `None` when there was no upstream response.
pub async fn void<'c>(
    db: impl Acquire<'c, Database = Postgres>,
    id: Uuid,
    upstream_status: Option<i32>,
    reason: &str,
) -> Result<Settled, AccountingError> {
    if reason.trim().is_empty() {
        return Err(AccountingError::Invalid("a void needs a reason".to_owned()));
    }
    let mut conn = db.acquire().await?;
    let updated = sqlx::query(
        "UPDATE ledger_entries \
         SET status = 'VOIDED', charged = 0, upstream_status = $3, void_reason = $4, \
             settled_at = now() \
         WHERE id = $1 AND created_at = $2 AND status = 'PENDING'",
    )
    .bind(id)
    .bind(created_at_of(id))
    .bind(upstream_status)
    .bind(reason)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    outcome(&mut conn, id, updated).await
}

/// Turns the guarded UPDATE's row count into an outcome. When it matched nothing, a second
/// statement (with a fresh snapshot under READ COMMITTED) reads the state that won.
pub(super) async fn outcome(
    conn: &mut PgConnection,
    id: Uuid,
    rows_updated: u64,
) -> Result<Settled, AccountingError> {
    if rows_updated > 0 {
        return Ok(Settled::Applied);
    }
    let status = sqlx::query_scalar::<_, EntryStatus>(
        "SELECT status FROM ledger_entries WHERE id = $1 AND created_at = $2",
    )
    .bind(id)
    .bind(created_at_of(id))
    .fetch_optional(conn)
    .await?;
    Ok(match status {
        Some(status) => Settled::AlreadySettled(status),
        None => Settled::NotFound,
    })
}
