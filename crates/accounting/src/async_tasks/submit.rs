//! Recording async tasks before they are forwarded: for each task, one PENDING ledger entry
//! (mode 'async') and one task row saying who owns it, written in one transaction under the
//! team's lock, so the team's idempotencyKeys and queue cap hold across replicas.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::ledger::{NewEntry, created_at_of};
use crate::{AccountingError, Credits, TeamId};

/// A task about to be forwarded to cloro.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAsyncTask {
    /// The ledger entry's id: a UUIDv7, whose timestamp becomes the entry's `created_at`.
    pub entry_id: Uuid,
    pub team_id: TeamId,
    /// The monitor path the task runs, e.g. `/v1/monitor/chatgpt`.
    pub endpoint: String,
    /// cloro's `taskType`, e.g. `CHATGPT`.
    pub task_type: String,
    /// 1 to 10, higher runs first.
    pub priority: i16,
    /// The team's own `idempotencyKey`: used once per team.
    pub team_key: Option<String>,
    /// The `idempotencyKey` the gateway sends upstream: unique across every team.
    pub upstream_key: String,
    /// The team's `webhook.url`, which the gateway relays the completion to.
    pub webhook_url: Option<String>,
    pub batch_id: Option<Uuid>,
    /// The task's index in its batch.
    pub batch_index: Option<i32>,
    /// Credits held for the task, from the price table.
    pub estimate: Credits,
    /// The caller's `X-Request-ID`, if it sent one.
    pub client_request_id: Option<String>,
    /// Set to flag the entry from the start (e.g. admitted over a soft budget).
    pub flag_reason: Option<String>,
    /// Until when cloro can report the task's charge (its retention). The entry's sweeper
    /// deadline counts from here: it is not expired before.
    pub settle_by: DateTime<Utc>,
    /// The limiter's budget hold for the task, stored as given (opaque here) and read back
    /// by whoever settles it; `None` when there is no hold.
    pub lease: Option<serde_json::Value>,
}

/// What happened to one task of a [`record`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recorded {
    /// Its PENDING entry and task row are durable: it may be forwarded.
    Recorded,
    /// The team already used this `idempotencyKey` (earlier, or earlier in this call).
    DuplicateKey,
    /// The team's queue already holds `max_queued` tasks.
    QueueFull,
}

const MAX_TEXT_LEN: usize = 255;
const MAX_TASK_TYPE_LEN: usize = 64;
const MAX_URL_LEN: usize = 2048;

impl NewAsyncTask {
    /// The ledger entry recorded for the task (without its async columns).
    fn ledger_entry(&self) -> NewEntry {
        NewEntry {
            id: self.entry_id,
            team_id: self.team_id,
            endpoint: self.endpoint.clone(),
            client_request_id: self.client_request_id.clone(),
            idempotency_key: None,
            estimate: self.estimate,
            flag_reason: self.flag_reason.clone(),
        }
    }

    /// Checks what the types cannot: the ledger entry's rules, then the task's own.
    fn check(&self) -> Result<(), AccountingError> {
        self.ledger_entry().check()?;
        let invalid = |message: String| Err(AccountingError::Invalid(message));
        if self.task_type.is_empty()
            || self.task_type.len() > MAX_TASK_TYPE_LEN
            || !self
                .task_type
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            return invalid(format!(
                "task type must be 1 to {MAX_TASK_TYPE_LEN} of A-Z, 0-9 and _"
            ));
        }
        if !(1..=10).contains(&self.priority) {
            return invalid("priority must be between 1 and 10".to_owned());
        }
        let bad_text = |text: &str, max: usize| text.is_empty() || text.len() > max;
        if self
            .team_key
            .as_deref()
            .is_some_and(|key| bad_text(key, MAX_TEXT_LEN))
            || bad_text(&self.upstream_key, MAX_TEXT_LEN)
        {
            return invalid(format!(
                "idempotency keys must be 1 to {MAX_TEXT_LEN} bytes"
            ));
        }
        if self
            .webhook_url
            .as_deref()
            .is_some_and(|url| bad_text(url, MAX_URL_LEN))
        {
            return invalid(format!("webhook url must be 1 to {MAX_URL_LEN} bytes"));
        }
        match (self.batch_id, self.batch_index) {
            (_, Some(index)) if index < 0 => invalid("batch index must not be negative".to_owned()),
            (None, Some(_)) => invalid("a batch index needs a batch id".to_owned()),
            _ => Ok(()),
        }
    }
}

/// Records `tasks` in order, in ONE transaction: each is [`Recorded::Recorded`] (its PENDING
/// ledger entry, mode 'async', and its SUBMITTED task row are written), or refused with
/// nothing left behind: [`Recorded::DuplicateKey`] if its team already used its `team_key`
/// (on a task that was not refused),
/// else [`Recorded::QueueFull`] if its team already has `max_queued` tasks SUBMITTED or
/// QUEUED (counting the ones recorded before it in this call).
///
/// Each team's submits are serialised by a transaction-scoped advisory lock on the team, so
/// the key check and the cap hold across replicas. The entry's `pending_at` is the task's
/// `settle_by`, so the sweeper leaves it alone until cloro can no longer report its charge.
/// Entry ids must be fresh: an id already recorded fails the whole call.
pub async fn record(
    db: &PgPool,
    tasks: &[NewAsyncTask],
    max_queued: Option<i64>,
) -> Result<Vec<Recorded>, AccountingError> {
    for task in tasks {
        task.check()?;
    }
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    let mut teams: Vec<TeamId> = tasks.iter().map(|task| task.team_id).collect();
    teams.sort_unstable();
    teams.dedup();

    let mut tx = db.begin().await?;
    // One order for every caller, so two calls naming the same teams cannot deadlock.
    for team in &teams {
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended('async_tasks:' || $1::text, 0))",
        )
        .bind(team)
        .execute(&mut *tx)
        .await?;
    }

    let (key_teams, keys): (Vec<Uuid>, Vec<&str>) = tasks
        .iter()
        .filter_map(|task| Some((task.team_id.as_uuid(), task.team_key.as_deref()?)))
        .unzip();
    let used: Vec<(TeamId, String)> = sqlx::query_as(
        "SELECT t.team_id, t.team_key FROM async_tasks AS t \
         JOIN UNNEST($1::uuid[], $2::text[]) AS k (team_id, team_key) \
             ON t.team_id = k.team_id AND t.team_key = k.team_key \
         WHERE t.state <> 'REFUSED'",
    )
    .bind(key_teams)
    .bind(keys)
    .fetch_all(&mut *tx)
    .await?;
    let mut used: HashSet<(TeamId, &str)> = used
        .iter()
        .map(|(team, key)| (*team, key.as_str()))
        .collect();

    let mut queued: HashMap<TeamId, i64> = HashMap::new();
    if max_queued.is_some() {
        let team_uuids: Vec<Uuid> = teams.iter().map(TeamId::as_uuid).collect();
        let counts: Vec<(TeamId, i64)> = sqlx::query_as(
            "SELECT team_id, count(*) FROM async_tasks \
             WHERE team_id = ANY($1) AND state IN ('SUBMITTED', 'QUEUED') GROUP BY team_id",
        )
        .bind(team_uuids)
        .fetch_all(&mut *tx)
        .await?;
        queued.extend(counts);
    }

    let mut outcomes = Vec::with_capacity(tasks.len());
    let mut accepted = Vec::with_capacity(tasks.len());
    for task in tasks {
        let key = task.team_key.as_deref().map(|key| (task.team_id, key));
        let count = queued.entry(task.team_id).or_insert(0);
        let outcome = if key.is_some_and(|key| used.contains(&key)) {
            Recorded::DuplicateKey
        } else if max_queued.is_some_and(|max| *count >= max) {
            Recorded::QueueFull
        } else {
            used.extend(key);
            *count += 1;
            accepted.push(task);
            Recorded::Recorded
        };
        outcomes.push(outcome);
    }

    if !accepted.is_empty() {
        insert_entries(&mut tx, &accepted).await?;
        insert_tasks(&mut tx, &accepted).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// The PENDING ledger entries of `tasks`, in one statement.
async fn insert_entries(
    conn: &mut sqlx::PgConnection,
    tasks: &[&NewAsyncTask],
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = tasks.iter().map(|task| task.entry_id).collect();
    let created_ats: Vec<DateTime<Utc>> = ids.iter().map(|id| created_at_of(*id)).collect();
    let settle_bys: Vec<DateTime<Utc>> = tasks.iter().map(|task| task.settle_by).collect();
    let team_ids: Vec<Uuid> = tasks.iter().map(|task| task.team_id.as_uuid()).collect();
    let endpoints: Vec<&str> = tasks.iter().map(|task| task.endpoint.as_str()).collect();
    let client_request_ids: Vec<Option<&str>> = tasks
        .iter()
        .map(|task| task.client_request_id.as_deref())
        .collect();
    let estimates: Vec<i64> = tasks.iter().map(|task| task.estimate.get()).collect();
    let batch_ids: Vec<Option<Uuid>> = tasks.iter().map(|task| task.batch_id).collect();
    let flag_reasons: Vec<Option<&str>> = tasks
        .iter()
        .map(|task| task.flag_reason.as_deref())
        .collect();
    sqlx::query(
        "INSERT INTO ledger_entries \
             (id, created_at, pending_at, team_id, endpoint, client_request_id, estimate, status, \
              mode, batch_id, flagged, flag_reason) \
         SELECT id, created_at, pending_at, team_id, endpoint, client_request_id, estimate, \
                'PENDING', 'async', batch_id, flag_reason IS NOT NULL, flag_reason \
         FROM UNNEST($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::uuid[], $5::text[], \
                     $6::text[], $7::bigint[], $8::uuid[], $9::text[]) \
             AS batch (id, created_at, pending_at, team_id, endpoint, client_request_id, estimate, \
                       batch_id, flag_reason)",
    )
    .bind(ids)
    .bind(created_ats)
    .bind(settle_bys)
    .bind(team_ids)
    .bind(endpoints)
    .bind(client_request_ids)
    .bind(estimates)
    .bind(batch_ids)
    .bind(flag_reasons)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends the tasks of a [`record`] whose outcome is unknown (it failed or timed out, and may
/// still commit): each entry ends VOIDED with `reason` (inserted VOIDED if absent, so a late
/// commit of the record conflicts and changes nothing) and its row, if the record did commit,
/// REFUSED. No task that was never sent is booked or counted in a queue. Idempotent: retry it
/// until it returns.
pub async fn void_unrecorded(
    db: &PgPool,
    tasks: &[NewAsyncTask],
    reason: &str,
) -> Result<(), AccountingError> {
    crate::ledger::check_void_reason(reason)?;
    for task in tasks {
        task.check()?;
        // Absent: inserted VOIDED (an async entry, like the one the record would have
        // written), so a late commit of the record conflicts. Present: voided with its task.
        sqlx::query(
            "INSERT INTO ledger_entries \
                 (id, created_at, team_id, endpoint, client_request_id, estimate, status, \
                  charged, flagged, flag_reason, void_reason, settled_at, mode, batch_id) \
             VALUES ($1, $2, $3, $4, $5, $6, 'VOIDED', 0, $7::text IS NOT NULL, $7, $8, now(), \
                     'async', $9) \
             ON CONFLICT (id, created_at) DO NOTHING",
        )
        .bind(task.entry_id)
        .bind(created_at_of(task.entry_id))
        .bind(task.team_id)
        .bind(&task.endpoint)
        .bind(task.client_request_id.as_deref())
        .bind(task.estimate)
        .bind(task.flag_reason.as_deref())
        .bind(reason)
        .bind(task.batch_id)
        .execute(db)
        .await?;
        super::refused(db, task.entry_id, None, reason).await?;
    }
    Ok(())
}

/// The SUBMITTED task rows of `tasks`, in one statement.
async fn insert_tasks(
    conn: &mut sqlx::PgConnection,
    tasks: &[&NewAsyncTask],
) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = tasks.iter().map(|task| task.entry_id).collect();
    let created_ats: Vec<DateTime<Utc>> = ids.iter().map(|id| created_at_of(*id)).collect();
    let team_ids: Vec<Uuid> = tasks.iter().map(|task| task.team_id.as_uuid()).collect();
    let batch_ids: Vec<Option<Uuid>> = tasks.iter().map(|task| task.batch_id).collect();
    let batch_indexes: Vec<Option<i32>> = tasks.iter().map(|task| task.batch_index).collect();
    let endpoints: Vec<&str> = tasks.iter().map(|task| task.endpoint.as_str()).collect();
    let task_types: Vec<&str> = tasks.iter().map(|task| task.task_type.as_str()).collect();
    let priorities: Vec<i16> = tasks.iter().map(|task| task.priority).collect();
    let team_keys: Vec<Option<&str>> = tasks.iter().map(|task| task.team_key.as_deref()).collect();
    let upstream_keys: Vec<&str> = tasks
        .iter()
        .map(|task| task.upstream_key.as_str())
        .collect();
    let webhook_urls: Vec<Option<&str>> = tasks
        .iter()
        .map(|task| task.webhook_url.as_deref())
        .collect();
    let leases: Vec<Option<&serde_json::Value>> =
        tasks.iter().map(|task| task.lease.as_ref()).collect();
    sqlx::query(
        "INSERT INTO async_tasks \
             (entry_id, entry_created_at, team_id, batch_id, batch_index, endpoint, task_type, \
              priority, team_key, upstream_key, webhook_url, lease, state) \
         SELECT entry_id, entry_created_at, team_id, batch_id, batch_index, endpoint, task_type, \
                priority, team_key, upstream_key, webhook_url, lease, 'SUBMITTED' \
         FROM UNNEST($1::uuid[], $2::timestamptz[], $3::uuid[], $4::uuid[], $5::int[], \
                     $6::text[], $7::text[], $8::smallint[], $9::text[], $10::text[], $11::text[], \
                     $12::jsonb[]) \
             AS batch (entry_id, entry_created_at, team_id, batch_id, batch_index, endpoint, \
                       task_type, priority, team_key, upstream_key, webhook_url, lease)",
    )
    .bind(ids)
    .bind(created_ats)
    .bind(team_ids)
    .bind(batch_ids)
    .bind(batch_indexes)
    .bind(endpoints)
    .bind(task_types)
    .bind(priorities)
    .bind(team_keys)
    .bind(upstream_keys)
    .bind(webhook_urls)
    .bind(leases)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> NewAsyncTask {
        NewAsyncTask {
            entry_id: Uuid::now_v7(),
            team_id: TeamId::generate(),
            endpoint: "/v1/monitor/chatgpt".to_owned(),
            task_type: "CHATGPT".to_owned(),
            priority: 1,
            team_key: Some("order-1".to_owned()),
            upstream_key: "gw-1".to_owned(),
            webhook_url: None,
            batch_id: None,
            batch_index: None,
            estimate: Credits::new(5).unwrap(),
            client_request_id: None,
            flag_reason: None,
            settle_by: Utc::now(),
            lease: None,
        }
    }

    #[test]
    fn a_well_formed_task_passes() {
        assert!(task().check().is_ok());
    }

    #[test]
    fn refuses_what_the_table_would() {
        let refused = |change: fn(&mut NewAsyncTask)| {
            let mut task = task();
            change(&mut task);
            matches!(task.check(), Err(AccountingError::Invalid(_)))
        };
        assert!(refused(|t| t.entry_id = Uuid::new_v4()));
        assert!(refused(|t| t.priority = 0));
        assert!(refused(|t| t.priority = 11));
        assert!(refused(|t| t.task_type = "chatgpt".to_owned()));
        assert!(refused(|t| t.team_key = Some(String::new())));
        assert!(refused(|t| t.upstream_key = "k".repeat(256)));
        assert!(refused(|t| t.webhook_url = Some(String::new())));
        assert!(refused(|t| t.batch_index = Some(0)));
        assert!(refused(|t| {
            t.batch_id = Some(Uuid::now_v7());
            t.batch_index = Some(-1);
        }));
    }
}
