//! The webhook relay's storage (issue 11): each team's signing secret, and the deliveries of
//! task completions to the teams' own webhooks. A delivery is stored before its first attempt
//! (one per task, deduplicated on its ledger entry), claimed by one replica at a time with a
//! lease on `next_attempt_at`, and every attempt is recorded, so a restart resumes what was
//! pending and a team can read what its receiver answered.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::types::Json;
use sqlx::{Acquire, PgExecutor, Postgres};
use std::time::Duration;
use uuid::Uuid;

use crate::types::text_column;
use crate::{AccountingError, TeamId};

/// Every signing secret starts with this, as cloro's do.
pub const SECRET_PREFIX: &str = "whsec_";
/// The most rows one [`due`] or [`list_for_team`] call returns.
pub const MAX_PAGE: i64 = 10_000;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Not acknowledged yet; attempted again at `next_attempt_at`.
    Pending,
    /// A 2xx acknowledged it.
    Delivered,
    /// Every attempt failed.
    Failed,
}

text_column! {
    enum DeliveryState: "delivery state", expecting "'PENDING', 'DELIVERED' or 'FAILED'" {
        Pending => "PENDING",
        Delivered => "DELIVERED",
        Failed => "FAILED",
    }
}

/// A team's signing secret.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookSecret {
    /// `whsec_` + 64 hex digits; the HMAC key is this whole string.
    pub secret: String,
    pub created_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSecret")
            .field("secret", &"***")
            .field("created_at", &self.created_at)
            .field("rotated_at", &self.rotated_at)
            .finish()
    }
}

/// A completion to relay.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// The task's ledger entry: one delivery per task.
    pub entry_id: Uuid,
    pub team_id: TeamId,
    /// cloro's task id, when known.
    pub task_id: Option<Uuid>,
    pub url: String,
    /// The task-status object as the team sees it.
    pub body: serde_json::Value,
}

/// A delivery to attempt.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Delivery {
    pub id: i64,
    pub entry_id: Uuid,
    pub team_id: TeamId,
    pub task_id: Option<Uuid>,
    pub url: String,
    pub body: Json<serde_json::Value>,
    /// Attempts recorded so far; the next one is `attempts + 1`.
    pub attempts: i32,
}

/// A delivery as its team reads it (without its body), with its attempts.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeliveryRecord {
    pub id: i64,
    pub entry_id: Uuid,
    pub task_id: Option<Uuid>,
    pub url: String,
    pub state: DeliveryState,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    #[sqlx(skip)]
    pub attempt_log: Vec<Attempt>,
}

/// One attempt: the receiver's status, or why none came.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Attempt {
    pub delivery_id: i64,
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub status: Option<i32>,
    pub error: Option<String>,
}

/// What one attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// Why the attempt failed (refused address, timeout, non-2xx...); `None` on success.
    pub error: Option<String>,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Acknowledged.
    Delivered,
    /// Attempted again after this long.
    RetryAfter(Duration),
    /// Given up.
    Failed,
}

/// 32 bytes from the OS's random source (three v4 UUIDs, hashed), as 64 hex digits.
fn fresh_secret() -> String {
    let mut hasher = Sha256::new();
    for _ in 0..3 {
        hasher.update(Uuid::new_v4().as_bytes());
    }
    format!("{SECRET_PREFIX}{}", hex::encode(hasher.finalize()))
}

/// The team's signing secret, created on first use. Concurrent first uses agree on one.
pub async fn secret_for<'c>(
    db: impl Acquire<'c, Database = Postgres>,
    team_id: TeamId,
) -> Result<WebhookSecret, AccountingError> {
    let mut conn = db.acquire().await?;
    const READ: &str =
        "SELECT secret, created_at, rotated_at FROM team_webhook_secrets WHERE team_id = $1";
    if let Some(found) = sqlx::query_as::<_, WebhookSecret>(READ)
        .bind(team_id)
        .fetch_optional(&mut *conn)
        .await?
    {
        return Ok(found);
    }
    let created = sqlx::query_as::<_, WebhookSecret>(
        "INSERT INTO team_webhook_secrets (team_id, secret) VALUES ($1, $2) \
         ON CONFLICT (team_id) DO NOTHING RETURNING secret, created_at, rotated_at",
    )
    .bind(team_id)
    .bind(fresh_secret())
    .fetch_optional(&mut *conn)
    .await?;
    match created {
        Some(created) => Ok(created),
        // Another caller created it between the two statements: read theirs.
        None => Ok(sqlx::query_as::<_, WebhookSecret>(READ)
            .bind(team_id)
            .fetch_one(&mut *conn)
            .await?),
    }
}

/// Replaces the team's secret by a fresh one (creating it if there was none); deliveries
/// from now on are signed with the new one.
pub async fn rotate_secret(
    db: impl PgExecutor<'_>,
    team_id: TeamId,
) -> Result<WebhookSecret, AccountingError> {
    Ok(sqlx::query_as::<_, WebhookSecret>(
        "INSERT INTO team_webhook_secrets (team_id, secret) VALUES ($1, $2) \
         ON CONFLICT (team_id) DO UPDATE SET secret = EXCLUDED.secret, rotated_at = now() \
         RETURNING secret, created_at, rotated_at",
    )
    .bind(team_id)
    .bind(fresh_secret())
    .fetch_one(db)
    .await?)
}

/// Stores a delivery, due now. `Some(id)` when this call stored it; `None` when the task's
/// completion was already queued (by another settlement path or replica).
pub async fn enqueue(
    db: impl PgExecutor<'_>,
    delivery: &NewDelivery,
) -> Result<Option<i64>, AccountingError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (entry_id, team_id, task_id, url, body, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, now()) \
         ON CONFLICT (entry_id) DO NOTHING RETURNING id",
    )
    .bind(delivery.entry_id)
    .bind(delivery.team_id)
    .bind(delivery.task_id)
    .bind(&delivery.url)
    .bind(Json(&delivery.body))
    .fetch_optional(db)
    .await?)
}

/// The columns of a [`Delivery`].
macro_rules! delivery_columns {
    () => {
        "id, entry_id, team_id, task_id, url, body, attempts"
    };
}

/// Pending deliveries due at `now`, soonest first, at most `limit`. Read only: attempt one
/// only after [`claim`]ing it.
pub async fn due(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Delivery>, AccountingError> {
    check_limit(limit)?;
    Ok(sqlx::query_as::<_, Delivery>(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM webhook_deliveries \
         WHERE state = 'PENDING' AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at, id LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Takes a due delivery for one attempt: pushes its `next_attempt_at` out by `lease`, so no
/// other caller (replica) attempts it meanwhile; if this one dies, it is due again after the
/// lease. `None` when it is not pending or not due (another caller has it).
pub async fn claim(
    db: impl PgExecutor<'_>,
    id: i64,
    lease: Duration,
) -> Result<Option<Delivery>, AccountingError> {
    Ok(sqlx::query_as::<_, Delivery>(concat!(
        "UPDATE webhook_deliveries \
         SET next_attempt_at = clock_timestamp() + $2 * interval '1 second' \
         WHERE id = $1 AND state = 'PENDING' AND next_attempt_at <= clock_timestamp() \
         RETURNING ",
        delivery_columns!()
    ))
    .bind(id)
    .bind(lease.as_secs_f64())
    .fetch_optional(db)
    .await?)
}

/// Records attempt number `attempt` (the delivery's `attempts + 1`) and what follows it.
/// False, and nothing recorded, when the delivery is final or that attempt was recorded
/// already (a caller whose lease ran out).
pub async fn record_attempt<'c>(
    db: impl Acquire<'c, Database = Postgres>,
    id: i64,
    attempt: i32,
    outcome: &AttemptOutcome,
    next: NextStep,
) -> Result<bool, AccountingError> {
    let (state, retry_secs) = match next {
        NextStep::Delivered => (DeliveryState::Delivered, None),
        NextStep::RetryAfter(wait) => (DeliveryState::Pending, Some(wait.as_secs_f64())),
        NextStep::Failed => (DeliveryState::Failed, None),
    };
    let status = outcome.status.map(i32::from);
    let mut tx = db.begin().await?;
    let updated = sqlx::query(
        "UPDATE webhook_deliveries SET attempts = $2, state = $3, \
             next_attempt_at = clock_timestamp() + $4 * interval '1 second', \
             last_status = $5, last_error = $6, \
             delivered_at = CASE WHEN $3 = 'DELIVERED' THEN clock_timestamp() END \
         WHERE id = $1 AND state = 'PENDING' AND attempts = $2 - 1",
    )
    .bind(id)
    .bind(attempt)
    .bind(state)
    .bind(retry_secs)
    .bind(status)
    .bind(outcome.error.as_deref())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO webhook_delivery_attempts (delivery_id, attempt, at, status, error) \
         VALUES ($1, $2, clock_timestamp(), $3, $4)",
    )
    .bind(id)
    .bind(attempt)
    .bind(status)
    .bind(outcome.error.as_deref())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The team's deliveries newest first (optionally of one task), strictly older than the
/// delivery `before` (a keyset cursor), at most `limit`, each with its attempts in order.
pub async fn list_for_team<'c>(
    db: impl Acquire<'c, Database = Postgres>,
    team_id: TeamId,
    task_id: Option<Uuid>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<DeliveryRecord>, AccountingError> {
    check_limit(limit)?;
    let mut conn = db.acquire().await?;
    let mut deliveries = sqlx::query_as::<_, DeliveryRecord>(
        "SELECT id, entry_id, task_id, url, state, attempts, next_attempt_at, last_status, \
             last_error, created_at, delivered_at \
         FROM webhook_deliveries \
         WHERE team_id = $1 AND ($2::uuid IS NULL OR task_id = $2) \
           AND ($3::bigint IS NULL OR id < $3) \
         ORDER BY id DESC LIMIT $4",
    )
    .bind(team_id)
    .bind(task_id)
    .bind(before)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<i64> = deliveries.iter().map(|d| d.id).collect();
    let attempts = sqlx::query_as::<_, Attempt>(
        "SELECT a.delivery_id, a.attempt, a.at, a.status, a.error \
         FROM webhook_delivery_attempts AS a \
         JOIN webhook_deliveries AS d ON d.id = a.delivery_id \
         WHERE d.team_id = $1 AND a.delivery_id = ANY($2) \
         ORDER BY a.delivery_id, a.attempt",
    )
    .bind(team_id)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    for attempt in attempts {
        if let Some(delivery) = deliveries.iter_mut().find(|d| d.id == attempt.delivery_id) {
            delivery.attempt_log.push(attempt);
        }
    }
    Ok(deliveries)
}

fn check_limit(limit: i64) -> Result<(), AccountingError> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(AccountingError::Invalid(format!(
            "limit must be from 1 to {MAX_PAGE}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_secrets_have_cloros_shape_and_differ() {
        let one = fresh_secret();
        let two = fresh_secret();
        assert_ne!(one, two);
        for secret in [one, two] {
            let hex_part = secret.strip_prefix(SECRET_PREFIX).unwrap_or_default();
            assert_eq!(hex_part.len(), 64);
            assert!(
                hex_part
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
        }
    }

    #[test]
    fn secrets_never_print() {
        let secret = WebhookSecret {
            secret: fresh_secret(),
            created_at: Utc::now(),
            rotated_at: None,
        };
        assert!(!format!("{secret:?}").contains(SECRET_PREFIX));
    }
}
