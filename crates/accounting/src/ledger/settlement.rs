//! Settling a PENDING entry exactly once: POST the upstream's charge or VOID it. Each is one
//! guarded UPDATE, so retries are harmless and a race with the sweeper has exactly one winner.

use sqlx::{Acquire, PgConnection, Postgres};
use uuid::Uuid;

use super::entry::{NewEntry, created_at_of};
use super::reads::status_of;
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
    post_flagged(db, id, charged, Some(upstream_status), None).await
}

/// Settles the entry as POSTED although the gateway cannot know whether the upstream ran the
/// call (a timeout, a reset after the request was written, a body that broke off): booked at
/// `charged` (the upstream's `X-Credits-Charged` if it arrived, else the estimate) and
/// flagged [`OUTCOME_UNKNOWN_FLAG`]. Late on an EXPIRED entry, it is a late charge like
/// [`post`].
pub async fn post_unknown<'c>(
    db: impl Acquire<'c, Database = Postgres>,
    id: Uuid,
    charged: Credits,
    upstream_status: Option<i32>,
) -> Result<Settled, AccountingError> {
    post_flagged(db, id, charged, upstream_status, Some(OUTCOME_UNKNOWN_FLAG)).await
}

/// The `flag_reason` of entries booked without knowing the upstream's outcome.
pub const OUTCOME_UNKNOWN_FLAG: &str = "outcome_unknown";

async fn post_flagged<'c>(
    db: impl Acquire<'c, Database = Postgres>,
    id: Uuid,
    charged: Credits,
    upstream_status: Option<i32>,
    flag: Option<&str>,
) -> Result<Settled, AccountingError> {
    let mut conn = db.acquire().await?;
    post_on(&mut conn, id, charged, upstream_status, flag).await
}

/// The guarded POST on one connection (the caller's transaction, if it has one), with a flag
/// added to the entry's reasons (kept beside a flag already there), and the late charge when
/// the sweeper already expired the entry.
pub(crate) async fn post_on(
    conn: &mut PgConnection,
    id: Uuid,
    charged: Credits,
    upstream_status: Option<i32>,
    flag: Option<&str>,
) -> Result<Settled, AccountingError> {
    let updated = sqlx::query(
        "UPDATE ledger_entries \
         SET status = 'POSTED', charged = $3, upstream_status = $4, settled_at = now(), \
             flagged = flagged OR $5::text IS NOT NULL, \
             flag_reason = CASE WHEN $5::text IS NULL THEN flag_reason \
                                WHEN flag_reason IS NULL THEN $5::text \
                                ELSE flag_reason || ',' || $5::text END \
         WHERE id = $1 AND created_at = $2 AND status = 'PENDING'",
    )
    .bind(id)
    .bind(created_at_of(id))
    .bind(charged)
    .bind(upstream_status)
    .bind(flag)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        record_late_charges(conn, &[id], &[charged.get()], &[upstream_status], &[None]).await?;
    }
    outcome(conn, id, updated).await
}

/// Records the real charge of each entry that is already EXPIRED (the sweeper won the race
/// with its settlement) as a late charge: a POST's charge, or 0 with the reason for a VOID.
/// Entries in any other state are skipped, and so is an entry whose late charge is already
/// recorded (a retry). Returns how many were recorded.
pub(super) async fn record_late_charges(
    conn: &mut PgConnection,
    ids: &[Uuid],
    charges: &[i64],
    upstream_statuses: &[Option<i32>],
    void_reasons: &[Option<&str>],
) -> Result<u64, sqlx::Error> {
    let created_ats: Vec<_> = ids.iter().map(|id| created_at_of(*id)).collect();
    let recorded = sqlx::query(
        "INSERT INTO ledger_late_charges \
             (entry_id, entry_created_at, team_id, endpoint, estimate, charged, upstream_status, \
              void_reason) \
         SELECT l.id, l.created_at, l.team_id, l.endpoint, l.estimate, late.charged, \
                late.upstream_status, late.void_reason \
         FROM UNNEST($1::uuid[], $2::timestamptz[], $3::bigint[], $4::int[], $5::text[]) \
             AS late (id, created_at, charged, upstream_status, void_reason) \
         JOIN ledger_entries AS l ON l.id = late.id AND l.created_at = late.created_at \
         WHERE l.status = 'EXPIRED' \
         ORDER BY l.id \
         ON CONFLICT (entry_id) DO NOTHING",
    )
    .bind(ids)
    .bind(created_ats)
    .bind(charges)
    .bind(upstream_statuses)
    .bind(void_reasons)
    .execute(conn)
    .await?
    .rows_affected();
    if recorded > 0 {
        tracing::warn!(
            recorded,
            "settlements arrived for entries the sweeper had already expired; recorded as late charges"
        );
    }
    Ok(recorded)
}

/// Settles the entry as VOIDED (nothing charged): the upstream refused the call, or it was
/// never sent. `upstream_status` is `None` when there was no upstream response. Late on an
/// EXPIRED entry, it is recorded as a late charge of 0, so the entry's effective charge is 0.
pub async fn void<'c>(
    db: impl Acquire<'c, Database = Postgres>,
    id: Uuid,
    upstream_status: Option<i32>,
    reason: &str,
) -> Result<Settled, AccountingError> {
    check_void_reason(reason)?;
    let mut conn = db.acquire().await?;
    void_on(&mut conn, id, upstream_status, reason).await
}

pub(crate) fn check_void_reason(reason: &str) -> Result<(), AccountingError> {
    if reason.trim().is_empty() {
        return Err(AccountingError::Invalid("a void needs a reason".to_owned()));
    }
    Ok(())
}

/// The guarded VOID on one connection (the caller's transaction, if it has one), with the
/// late charge of 0 when the sweeper already expired the entry. The reason is checked by the
/// caller ([`check_void_reason`]).
pub(crate) async fn void_on(
    conn: &mut PgConnection,
    id: Uuid,
    upstream_status: Option<i32>,
    reason: &str,
) -> Result<Settled, AccountingError> {
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
    if updated == 0 {
        record_late_charges(conn, &[id], &[0], &[upstream_status], &[Some(reason)]).await?;
    }
    outcome(conn, id, updated).await
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
    Ok(match status_of(conn, id).await? {
        Some(status) => Settled::AlreadySettled(status),
        None => Settled::NotFound,
    })
}

/// Ends an entry whose PENDING write failed ambiguously (it may have committed, or may still
/// commit) as VOIDED with `reason` ("not sent"), so the sweeper never books a call that was
/// never made. The entry is inserted VOIDED if absent (a PENDING insert landing later then
/// conflicts and changes nothing), or voided if PENDING; a settled entry is left as it is.
/// Idempotent: retry it until it returns.
pub async fn void_unsent(
    pool: &sqlx::PgPool,
    entry: &NewEntry,
    reason: &str,
) -> Result<Settled, AccountingError> {
    check_void_reason(reason)?;
    entry.check()?;
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO ledger_entries \
             (id, created_at, team_id, endpoint, client_request_id, idempotency_key, estimate, \
              status, charged, flagged, flag_reason, void_reason, settled_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'VOIDED', 0, $8::text IS NOT NULL, $8, $9, now()) \
         ON CONFLICT (id, created_at) DO NOTHING",
    )
    .bind(entry.id)
    .bind(created_at_of(entry.id))
    .bind(entry.team_id)
    .bind(&entry.endpoint)
    .bind(entry.client_request_id.as_deref())
    .bind(entry.idempotency_key.as_ref())
    .bind(entry.estimate)
    .bind(entry.flag_reason.as_deref())
    .bind(reason)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let settled = if inserted == 1 {
        Settled::Applied
    } else {
        void_on(&mut tx, entry.id, None, reason).await?
    };
    tx.commit().await?;
    Ok(settled)
}
