//! What happens to a recorded task: cloro accepts or refuses it, it is seen queued or running,
//! and it is settled exactly once from cloro's `creditsCharged` (or ends without running).
//!
//! Each change that settles the ledger entry is one transaction that first locks the task row,
//! then settles the entry through the ledger's guarded settlements (so retries, a webhook racing
//! the poller, or the sweeper having won are all harmless), then marks the task terminal.
//! Every function locks the task row before the ledger entry, so they never deadlock each other.

use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use super::TaskState;
use crate::ledger::{self, Settled, created_at_of};
use crate::{AccountingError, Credits};

/// The `flag_reason` of an entry whose task vanished upstream before its charge was learned:
/// booked at the estimate.
pub const TASK_GONE_FLAG: &str = "task_gone";

/// What a change of a task's state did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskUpdate {
    /// This call changed the task.
    Applied,
    /// The task was not in a state the change applies to (a retry, a stale observation, a
    /// terminal task): it is unchanged, in this state.
    Unchanged(TaskState),
    NotFound,
}

/// cloro accepted the task (its create reply arrived): stores cloro's `task_id` on the task
/// and on its ledger entry, and moves the task from SUBMITTED to `state`, cloro's status text
/// (`QUEUED`, or `PROCESSING`; anything else is `Invalid`). A task no longer SUBMITTED (a
/// retry) is `Unchanged`.
pub async fn accepted(
    db: &PgPool,
    entry_id: Uuid,
    task_id: Uuid,
    state: &str,
) -> Result<TaskUpdate, AccountingError> {
    let state = running(state)?;
    let mut tx = db.begin().await?;
    match lock_task(&mut tx, entry_id).await? {
        None => return Ok(TaskUpdate::NotFound),
        Some(TaskState::Submitted) => {}
        Some(current) => return Ok(TaskUpdate::Unchanged(current)),
    }
    sqlx::query(
        "UPDATE async_tasks SET task_id = $2, state = $3, updated_at = now() WHERE entry_id = $1",
    )
    .bind(entry_id)
    .bind(task_id)
    .bind(state)
    .execute(&mut *tx)
    .await?;
    // The one change a PENDING entry may take without settling (the append-only trigger
    // allows it once); an entry already final (expired) keeps no task id.
    sqlx::query(
        "UPDATE ledger_entries SET task_id = $3 \
         WHERE id = $1 AND created_at = $2 AND status = 'PENDING' AND task_id IS NULL",
    )
    .bind(entry_id)
    .bind(created_at_of(entry_id))
    .bind(task_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(TaskUpdate::Applied)
}

/// The task was seen `state`, cloro's status text (`QUEUED` or `PROCESSING`; anything else is
/// `Invalid`), by a poll or a read. States only move forward, so an older observation, or one
/// of a terminal task, changes nothing (`Unchanged`).
pub async fn observe(
    db: impl PgExecutor<'_> + Copy,
    entry_id: Uuid,
    state: &str,
) -> Result<TaskUpdate, AccountingError> {
    let state = running(state)?;
    let updated = sqlx::query(
        "UPDATE async_tasks SET state = $2, updated_at = now() \
         WHERE entry_id = $1 \
             AND (state = 'SUBMITTED' OR (state = 'QUEUED' AND $2 = 'PROCESSING'))",
    )
    .bind(entry_id)
    .bind(state)
    .execute(db)
    .await?
    .rows_affected();
    if updated > 0 {
        return Ok(TaskUpdate::Applied);
    }
    let current =
        sqlx::query_scalar::<_, TaskState>("SELECT state FROM async_tasks WHERE entry_id = $1")
            .bind(entry_id)
            .fetch_optional(db)
            .await?;
    Ok(current.map_or(TaskUpdate::NotFound, TaskUpdate::Unchanged))
}

/// The task finished (`terminal` COMPLETED or FAILED) and cloro charged `charged` (its
/// `creditsCharged`; 0 when FAILED): POSTs the ledger entry and marks the task terminal, in
/// one transaction. Settling again is harmless: `AlreadySettled(Posted)`, charged once. If the
/// sweeper already EXPIRED the entry, this is `AlreadySettled(Expired)` and the charge is kept
/// as the entry's late charge, as for any ledger entry.
pub async fn settle(
    db: &PgPool,
    entry_id: Uuid,
    charged: Credits,
    upstream_status: i32,
    terminal: TaskState,
) -> Result<Settled, AccountingError> {
    if !matches!(terminal, TaskState::Completed | TaskState::Failed) {
        return Err(AccountingError::Invalid(format!(
            "a task settles as COMPLETED or FAILED, not {terminal}"
        )));
    }
    let mut tx = db.begin().await?;
    if lock_task(&mut tx, entry_id).await?.is_none() {
        return Ok(Settled::NotFound);
    }
    let settled = ledger::post_on(&mut tx, entry_id, charged, Some(upstream_status), None).await?;
    finish(&mut tx, entry_id, terminal).await?;
    tx.commit().await?;
    Ok(settled)
}

/// cloro refused the task (4xx/5xx on create), or it was never sent: VOIDs the ledger entry
/// and marks the task REFUSED. Idempotent.
pub async fn refused(
    db: &PgPool,
    entry_id: Uuid,
    upstream_status: Option<i32>,
    reason: &str,
) -> Result<Settled, AccountingError> {
    void_as(db, entry_id, upstream_status, reason, TaskState::Refused).await
}

/// The task was deleted from cloro's queue before it ran: VOIDs the ledger entry and marks the
/// task GONE. Idempotent.
pub async fn released(
    db: &PgPool,
    entry_id: Uuid,
    reason: &str,
) -> Result<Settled, AccountingError> {
    void_as(db, entry_id, None, reason, TaskState::Gone).await
}

/// The task vanished upstream (404) before the gateway learned its charge: POSTs the ledger
/// entry at its estimate, flagged [`TASK_GONE_FLAG`] for finance, and marks the task GONE.
/// Idempotent.
pub async fn gone(db: &PgPool, entry_id: Uuid) -> Result<Settled, AccountingError> {
    let mut tx = db.begin().await?;
    if lock_task(&mut tx, entry_id).await?.is_none() {
        return Ok(Settled::NotFound);
    }
    let estimate = sqlx::query_scalar::<_, Credits>(
        "SELECT estimate FROM ledger_entries WHERE id = $1 AND created_at = $2",
    )
    .bind(entry_id)
    .bind(created_at_of(entry_id))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(estimate) = estimate else {
        return Ok(Settled::NotFound);
    };
    let settled =
        ledger::post_on(&mut tx, entry_id, estimate, Some(404), Some(TASK_GONE_FLAG)).await?;
    finish(&mut tx, entry_id, TaskState::Gone).await?;
    tx.commit().await?;
    Ok(settled)
}

async fn void_as(
    db: &PgPool,
    entry_id: Uuid,
    upstream_status: Option<i32>,
    reason: &str,
    terminal: TaskState,
) -> Result<Settled, AccountingError> {
    ledger::check_void_reason(reason)?;
    let mut tx = db.begin().await?;
    if lock_task(&mut tx, entry_id).await?.is_none() {
        return Ok(Settled::NotFound);
    }
    let settled = ledger::void_on(&mut tx, entry_id, upstream_status, reason).await?;
    finish(&mut tx, entry_id, terminal).await?;
    tx.commit().await?;
    Ok(settled)
}

/// cloro's status of a task waiting or running.
fn running(state: &str) -> Result<TaskState, AccountingError> {
    match TaskState::parse(state)? {
        state @ (TaskState::Queued | TaskState::Processing) => Ok(state),
        other => Err(AccountingError::Invalid(format!(
            "a task is seen QUEUED or PROCESSING, not {other}"
        ))),
    }
}

/// Locks the task row for the rest of the transaction and returns its state, or `None` if
/// there is no such task.
async fn lock_task(
    conn: &mut PgConnection,
    entry_id: Uuid,
) -> Result<Option<TaskState>, AccountingError> {
    let state = sqlx::query_scalar::<_, TaskState>(
        "SELECT state FROM async_tasks WHERE entry_id = $1 FOR UPDATE",
    )
    .bind(entry_id)
    .fetch_optional(conn)
    .await?;
    Ok(state)
}

/// Marks the task `terminal` unless it already is terminal.
async fn finish(
    conn: &mut PgConnection,
    entry_id: Uuid,
    terminal: TaskState,
) -> Result<(), AccountingError> {
    sqlx::query(
        "UPDATE async_tasks SET state = $2, settled_at = now(), updated_at = now() \
         WHERE entry_id = $1 AND settled_at IS NULL",
    )
    .bind(entry_id)
    .bind(terminal)
    .execute(conn)
    .await?;
    Ok(())
}
