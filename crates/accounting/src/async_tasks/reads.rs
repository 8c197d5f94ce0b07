//! Reading tasks back: by owner and cloro's id (tenancy), by the key sent upstream (a webhook),
//! by ledger entry, a team's queue counts, and the lists the poller and queue clearing walk.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::TaskState;
use crate::{AccountingError, Credits, EntryStatus, TeamId};

/// A recorded async task, with what its ledger entry holds.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AsyncTask {
    /// Its ledger entry's id.
    pub entry_id: Uuid,
    pub entry_created_at: DateTime<Utc>,
    pub team_id: TeamId,
    /// cloro's task id, once the create reply arrived.
    pub task_id: Option<Uuid>,
    pub batch_id: Option<Uuid>,
    pub batch_index: Option<i32>,
    pub endpoint: String,
    pub task_type: String,
    pub priority: i16,
    /// The team's own `idempotencyKey`.
    pub team_key: Option<String>,
    /// The `idempotencyKey` the gateway sent upstream.
    pub upstream_key: String,
    /// The team's webhook.
    pub webhook_url: Option<String>,
    /// The limiter's budget hold, as recorded.
    pub lease: Option<serde_json::Value>,
    pub state: TaskState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
    /// Held for the task.
    pub estimate: Credits,
    pub entry_status: EntryStatus,
    /// What the task was charged: `None` while PENDING; the late charge of an entry the
    /// sweeper expired, if one came; else what the entry was booked at.
    pub charged: Option<Credits>,
}

/// The query every read starts from; `t` is the task, `l` its ledger entry.
macro_rules! select_tasks {
    () => {
        "SELECT t.entry_id, t.entry_created_at, t.team_id, t.task_id, t.batch_id, t.batch_index, \
             t.endpoint, t.task_type, t.priority, t.team_key, t.upstream_key, t.webhook_url, \
             t.lease, t.state, t.created_at, t.updated_at, t.settled_at, l.estimate, \
             l.status AS entry_status, COALESCE(late.charged, l.charged) AS charged \
         FROM async_tasks AS t \
         JOIN ledger_entries AS l ON l.id = t.entry_id AND l.created_at = t.entry_created_at \
         LEFT JOIN ledger_late_charges AS late \
             ON late.entry_id = t.entry_id AND late.entry_created_at = t.entry_created_at "
    };
}

/// The most tasks one [`unsettled`] page may hold.
pub const MAX_UNSETTLED_PAGE: i64 = 10_000;

/// The task cloro knows as `task_id`, only if `team_id` owns it: another team's is `None`.
pub async fn owned(
    db: impl PgExecutor<'_>,
    team_id: TeamId,
    task_id: Uuid,
) -> Result<Option<AsyncTask>, AccountingError> {
    let task = sqlx::query_as::<_, AsyncTask>(concat!(
        select_tasks!(),
        "WHERE t.team_id = $1 AND t.task_id = $2"
    ))
    .bind(team_id)
    .bind(task_id)
    .fetch_optional(db)
    .await?;
    Ok(task)
}

/// The task the gateway sent upstream with this `idempotencyKey`, whichever team's.
pub async fn by_upstream_key(
    db: impl PgExecutor<'_>,
    upstream_key: &str,
) -> Result<Option<AsyncTask>, AccountingError> {
    let task = sqlx::query_as::<_, AsyncTask>(concat!(
        select_tasks!(),
        "WHERE t.upstream_key = $1 \
             ORDER BY t.state = 'REFUSED', t.created_at DESC LIMIT 1"
    ))
    .bind(upstream_key)
    .fetch_optional(db)
    .await?;
    Ok(task)
}

/// The task cloro knows as `task_id`, whichever team's: for its webhook and the poller,
/// which hold the id from cloro itself. Team-facing reads use [`owned`].
pub async fn by_task_id(
    db: impl PgExecutor<'_>,
    task_id: Uuid,
) -> Result<Option<AsyncTask>, AccountingError> {
    let task = sqlx::query_as::<_, AsyncTask>(concat!(select_tasks!(), "WHERE t.task_id = $1"))
        .bind(task_id)
        .fetch_optional(db)
        .await?;
    Ok(task)
}

/// The task recorded with this ledger entry, whichever team's.
pub async fn by_entry(
    db: impl PgExecutor<'_>,
    entry_id: Uuid,
) -> Result<Option<AsyncTask>, AccountingError> {
    let task = sqlx::query_as::<_, AsyncTask>(concat!(select_tasks!(), "WHERE t.entry_id = $1"))
        .bind(entry_id)
        .fetch_optional(db)
        .await?;
    Ok(task)
}

/// A team's tasks waiting or running.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeamQueue {
    /// SUBMITTED or QUEUED.
    pub queued: i64,
    pub processing: i64,
    /// Queued tasks per priority, highest priority first; priorities without tasks left out.
    pub by_priority: Vec<(i16, i64)>,
}

/// The team's queue: what `GET /v1/async/status` answers for one team.
pub async fn team_counts(
    db: impl PgExecutor<'_>,
    team_id: TeamId,
) -> Result<TeamQueue, AccountingError> {
    let rows = sqlx::query_as::<_, (TaskState, i16, i64)>(
        "SELECT state, priority, count(*) FROM async_tasks \
         WHERE team_id = $1 AND state IN ('SUBMITTED', 'QUEUED', 'PROCESSING') \
         GROUP BY state, priority ORDER BY priority DESC",
    )
    .bind(team_id)
    .fetch_all(db)
    .await?;
    let mut queue = TeamQueue::default();
    for (state, priority, count) in rows {
        if state == TaskState::Processing {
            queue.processing += count;
            continue;
        }
        queue.queued += count;
        match queue.by_priority.last_mut() {
            Some((last, queued)) if *last == priority => *queued += count,
            _ => queue.by_priority.push((priority, count)),
        }
    }
    Ok(queue)
}

/// Tasks cloro accepted (their id is known) and not settled yet, submitted before
/// `submitted_before`, oldest first, at most
/// `limit` (1..=10,000): what the poller asks cloro about.
pub async fn unsettled(
    db: impl PgExecutor<'_>,
    submitted_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<AsyncTask>, AccountingError> {
    if !(1..=MAX_UNSETTLED_PAGE).contains(&limit) {
        return Err(AccountingError::Invalid(format!(
            "limit must be between 1 and {MAX_UNSETTLED_PAGE}"
        )));
    }
    let tasks = sqlx::query_as::<_, AsyncTask>(concat!(
        select_tasks!(),
        "WHERE t.settled_at IS NULL AND t.task_id IS NOT NULL AND t.created_at < $1 \
         ORDER BY t.created_at, t.entry_id LIMIT $2"
    ))
    .bind(submitted_before)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(tasks)
}

/// Every team's SUBMITTED or QUEUED tasks, oldest first: what clearing the queue deletes.
pub async fn queued(db: impl PgExecutor<'_>) -> Result<Vec<AsyncTask>, AccountingError> {
    let tasks = sqlx::query_as::<_, AsyncTask>(concat!(
        select_tasks!(),
        "WHERE t.settled_at IS NULL AND t.state IN ('SUBMITTED', 'QUEUED') \
         ORDER BY t.created_at, t.entry_id"
    ))
    .fetch_all(db)
    .await?;
    Ok(tasks)
}
