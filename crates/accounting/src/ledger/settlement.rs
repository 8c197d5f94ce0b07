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
/// keeps the estimate and its flag, for reconciliation; the caller should log it.
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
    outcome(&mut conn, id, updated).await
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
