//! Group commit for settlements: many requests' POST/VOID updates (and the account balances
//! their responses reported) share one transaction, so settling is not one commit per call.
//! Each caller still learns how its own entry ended before it answers its client.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::balance::record_balance;
use super::batching::gather;
use super::entry::created_at_of;
use super::group_commit::{GroupCommitConfig, is_caused_by_a_row};
use super::settlement::{
    OUTCOME_UNKNOWN_FLAG, Settled, outcome, post, post_unknown, record_late_charges, void,
};
use crate::{AccountingError, Credits};

/// How an entry ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The upstream answered 2xx and charged this much.
    Post {
        charged: Credits,
        upstream_status: i32,
    },
    /// Nothing was charged; `upstream_status` is `None` when no response came.
    Void {
        upstream_status: Option<i32>,
        reason: String,
    },
    /// The upstream may have run the call, and the gateway cannot know (a timeout, a reset
    /// after the request was written, a body that broke off): POSTED at `charged` (its
    /// `X-Credits-Charged` if the headers arrived, else the estimate), flagged
    /// `outcome_unknown`. `upstream_status` is the status of headers that arrived, if any.
    Unknown {
        charged: Credits,
        upstream_status: Option<i32>,
    },
}

impl Settlement {
    /// The credits this settlement books.
    pub fn charged(&self) -> i64 {
        match self {
            Self::Post { charged, .. } | Self::Unknown { charged, .. } => charged.get(),
            Self::Void { .. } => 0,
        }
    }
}

/// One entry's settlement and the account balance its response reported, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettleRequest {
    pub id: Uuid,
    pub settlement: Settlement,
    pub balance_observed: Option<i64>,
}

/// Counters of what the writer has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettlementStats {
    pub batches_committed: u64,
    pub batches_failed: u64,
    pub entries_settled: u64,
}

#[derive(Debug, Default)]
struct Counters {
    batches_committed: AtomicU64,
    batches_failed: AtomicU64,
    entries_settled: AtomicU64,
}

struct Queued {
    request: SettleRequest,
    reply: oneshot::Sender<Result<Settled, AccountingError>>,
}

/// Handle to the settlement task. Cheap to clone; the task stops once every handle is gone.
#[derive(Clone)]
pub struct SettlementWriter {
    requests: mpsc::Sender<Queued>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for SettlementWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettlementWriter")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl SettlementWriter {
    /// Starts the writer task; call from within a Tokio runtime.
    pub fn spawn(pool: PgPool, config: GroupCommitConfig) -> Self {
        let config = config.clamped();
        let (requests, queue) = mpsc::channel(config.queue_capacity());
        let counters = Arc::new(Counters::default());
        tokio::spawn(run(pool, queue, config, Arc::clone(&counters)));
        Self { requests, counters }
    }

    /// Settles the entry (exactly once: a settled entry is left as it is) and returns once
    /// the outcome is committed.
    pub async fn settle(&self, request: SettleRequest) -> Result<Settled, AccountingError> {
        if let Settlement::Void { reason, .. } = &request.settlement
            && reason.trim().is_empty()
        {
            return Err(AccountingError::Invalid("a void needs a reason".to_owned()));
        }
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Queued { request, reply })
            .await
            .map_err(|_| AccountingError::Unavailable)?;
        answer.await.map_err(|_| AccountingError::Unavailable)?
    }

    pub fn stats(&self) -> SettlementStats {
        SettlementStats {
            batches_committed: self.counters.batches_committed.load(Ordering::Relaxed),
            batches_failed: self.counters.batches_failed.load(Ordering::Relaxed),
            entries_settled: self.counters.entries_settled.load(Ordering::Relaxed),
        }
    }
}

async fn run(
    pool: PgPool,
    mut queue: mpsc::Receiver<Queued>,
    config: GroupCommitConfig,
    counters: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(config.max_batch);
    while gather(&mut queue, &mut batch, config).await {
        commit(&pool, std::mem::take(&mut batch), &counters).await;
    }
    tracing::debug!("settlement writer stopped: every handle was dropped");
}

async fn commit(pool: &PgPool, batch: Vec<Queued>, counters: &Counters) {
    let requests: Vec<&SettleRequest> = batch.iter().map(|q| &q.request).collect();
    match settle_together(pool, &requests).await {
        Ok(mut applied) => {
            counters.batches_committed.fetch_add(1, Ordering::Relaxed);
            counters
                .entries_settled
                .fetch_add(applied.len() as u64, Ordering::Relaxed);
            for queued in batch {
                let outcome = if applied.remove(&queued.request.id) {
                    Ok(Settled::Applied)
                } else {
                    lost_race(pool, queued.request.id).await
                };
                let _ = queued.reply.send(outcome);
            }
        }
        Err(error) if is_caused_by_a_row(&error) => {
            counters.batches_failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%error, size = batch.len(), "settlement batch refused; settling one by one");
            for queued in batch {
                let outcome = settle_alone(pool, &queued.request).await;
                if matches!(outcome, Ok(Settled::Applied)) {
                    counters.entries_settled.fetch_add(1, Ordering::Relaxed);
                }
                let _ = queued.reply.send(outcome);
            }
        }
        Err(error) => {
            counters.batches_failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%error, size = batch.len(), "settlement batch failed; nothing settled");
            let shared = Arc::new(error);
            for queued in batch {
                let _ = queued
                    .reply
                    .send(Err(AccountingError::LedgerWrite(Arc::clone(&shared))));
            }
        }
    }
}

/// One transaction: every guarded UPDATE, the late charges of POSTs that found their entry
/// already EXPIRED, then every balance observation. Returns the ids this batch settled (the
/// others were already final, or are unknown).
async fn settle_together(
    pool: &PgPool,
    requests: &[&SettleRequest],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let mut ids = Vec::with_capacity(requests.len());
    let mut created_ats: Vec<DateTime<Utc>> = Vec::with_capacity(requests.len());
    let mut statuses = Vec::with_capacity(requests.len());
    let mut charges = Vec::with_capacity(requests.len());
    let mut upstream_statuses = Vec::with_capacity(requests.len());
    let mut void_reasons = Vec::with_capacity(requests.len());
    let mut flags = Vec::with_capacity(requests.len());
    let mut balance_ids = Vec::new();
    let mut balances = Vec::new();
    for request in requests {
        ids.push(request.id);
        created_ats.push(created_at_of(request.id));
        match &request.settlement {
            Settlement::Post {
                charged,
                upstream_status,
            } => {
                statuses.push("POSTED");
                charges.push(charged.get());
                upstream_statuses.push(Some(*upstream_status));
                void_reasons.push(None);
                flags.push(None);
            }
            Settlement::Void {
                upstream_status,
                reason,
            } => {
                statuses.push("VOIDED");
                charges.push(0);
                upstream_statuses.push(*upstream_status);
                void_reasons.push(Some(reason.as_str()));
                flags.push(None);
            }
            Settlement::Unknown {
                charged,
                upstream_status,
            } => {
                statuses.push("POSTED");
                charges.push(charged.get());
                upstream_statuses.push(*upstream_status);
                void_reasons.push(None);
                flags.push(Some(OUTCOME_UNKNOWN_FLAG));
            }
        }
        if let Some(balance) = request.balance_observed {
            balance_ids.push(request.id);
            balances.push(balance);
        }
    }
    let mut tx = pool.begin().await?;
    let applied = sqlx::query_scalar::<_, Uuid>(
        "UPDATE ledger_entries AS l \
         SET status = s.status, charged = s.charged, upstream_status = s.upstream_status, \
             void_reason = s.void_reason, settled_at = now(), \
             flagged = l.flagged OR s.flag IS NOT NULL, \
             flag_reason = CASE WHEN s.flag IS NULL THEN l.flag_reason \
                                WHEN l.flag_reason IS NULL THEN s.flag \
                                ELSE l.flag_reason || ',' || s.flag END \
         FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::bigint[], $5::int[], $6::text[], \
                     $7::text[]) \
             AS s (id, created_at, status, charged, upstream_status, void_reason, flag) \
         WHERE l.id = s.id AND l.created_at = s.created_at AND l.status = 'PENDING' \
         RETURNING l.id",
    )
    .bind(ids)
    .bind(created_ats)
    .bind(statuses)
    .bind(charges)
    .bind(upstream_statuses)
    .bind(void_reasons)
    .bind(flags)
    .fetch_all(&mut *tx)
    .await?;
    let applied: HashSet<Uuid> = applied.into_iter().collect();
    let mut late_ids = Vec::new();
    let mut late_charges = Vec::new();
    let mut late_statuses = Vec::new();
    let mut late_void_reasons = Vec::new();
    for request in requests.iter().filter(|r| !applied.contains(&r.id)) {
        late_ids.push(request.id);
        late_charges.push(request.settlement.charged());
        let (status, reason) = match &request.settlement {
            Settlement::Post {
                upstream_status, ..
            } => (Some(*upstream_status), None),
            Settlement::Unknown {
                upstream_status, ..
            } => (*upstream_status, None),
            Settlement::Void {
                upstream_status,
                reason,
            } => (*upstream_status, Some(reason.as_str())),
        };
        late_statuses.push(status);
        late_void_reasons.push(reason);
    }
    if !late_ids.is_empty() {
        record_late_charges(
            &mut tx,
            &late_ids,
            &late_charges,
            &late_statuses,
            &late_void_reasons,
        )
        .await?;
    }
    if !balances.is_empty() {
        sqlx::query(
            "INSERT INTO account_balance_observations (request_id, credits_remaining) \
             SELECT * FROM UNNEST($1::uuid[], $2::bigint[])",
        )
        .bind(balance_ids)
        .bind(balances)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(applied)
}

/// An entry the batch did not change: already final (a retry, or the sweeper won) or unknown.
async fn lost_race(pool: &PgPool, id: Uuid) -> Result<Settled, AccountingError> {
    let mut conn = pool.acquire().await?;
    outcome(&mut conn, id, 0).await
}

/// The slow path after a row error: each settlement (and its balance) on its own.
async fn settle_alone(pool: &PgPool, request: &SettleRequest) -> Result<Settled, AccountingError> {
    let settled = match &request.settlement {
        Settlement::Post {
            charged,
            upstream_status,
        } => post(pool, request.id, *charged, *upstream_status).await?,
        Settlement::Void {
            upstream_status,
            reason,
        } => void(pool, request.id, *upstream_status, reason).await?,
        Settlement::Unknown {
            charged,
            upstream_status,
        } => post_unknown(pool, request.id, *charged, *upstream_status).await?,
    };
    if let Some(balance) = request.balance_observed {
        record_balance(pool, Some(request.id), balance).await?;
    }
    Ok(settled)
}
