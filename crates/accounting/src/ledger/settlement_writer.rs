//! Group commit for settlements: many requests' POST/VOID updates (and the account balances
//! their responses reported) share one transaction, so settling is not one commit per call.
//! Each caller still learns how its own entry ended before it answers its client.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::balance::record_balance;
use super::entry::created_at_of;
use super::group_commit::{BatchCommit, Counters, GroupCommitConfig, GroupCommitter};
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

/// Handle to the settlement task. Cheap to clone; the task stops once every handle is gone.
#[derive(Clone)]
pub struct SettlementWriter {
    committer: GroupCommitter<Settlements>,
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
        Self {
            committer: GroupCommitter::spawn(pool, config),
        }
    }

    /// Settles the entry (exactly once: a settled entry is left as it is) and returns once
    /// the outcome is committed.
    pub async fn settle(&self, request: SettleRequest) -> Result<Settled, AccountingError> {
        if let Settlement::Void { reason, .. } = &request.settlement
            && reason.trim().is_empty()
        {
            return Err(AccountingError::Invalid("a void needs a reason".to_owned()));
        }
        self.committer.submit(request).await
    }

    pub fn stats(&self) -> SettlementStats {
        let counts = self.committer.counts();
        SettlementStats {
            batches_committed: counts.batches_committed,
            batches_failed: counts.batches_failed,
            entries_settled: counts.entries,
        }
    }
}

/// A batch is one transaction of guarded UPDATEs, late charges and balance observations.
struct Settlements;

impl BatchCommit for Settlements {
    type Request = SettleRequest;
    type Answer = Settled;

    const NAME: &'static str = "settlement";
    // The call has happened: its settlement is written even if nobody waits for the answer.
    const SKIP_ABANDONED: bool = false;

    fn id(request: &SettleRequest) -> Uuid {
        request.id
    }

    async fn commit_batch(
        connection: &mut PgConnection,
        requests: &[&SettleRequest],
    ) -> Result<HashSet<Uuid>, sqlx::Error> {
        settle_together(connection, requests).await
    }

    /// An entry the batch did not change was already final (a retry, or the sweeper won) or
    /// is unknown: its state says which.
    async fn answer(
        pool: &PgPool,
        request: &SettleRequest,
        applied: bool,
    ) -> Result<Settled, AccountingError> {
        if applied {
            return Ok(Settled::Applied);
        }
        let mut conn = pool.acquire().await?;
        outcome(&mut conn, request.id, 0).await
    }

    async fn commit_alone(
        pool: &PgPool,
        request: &SettleRequest,
        counters: &Counters,
    ) -> Result<Settled, AccountingError> {
        let outcome = settle_alone(pool, request).await;
        if matches!(outcome, Ok(Settled::Applied)) {
            counters.entries_changed(1);
        }
        outcome
    }
}

/// One statement, so one round trip and its own commit: every guarded UPDATE and every
/// balance observation. Then, only for entries the statement did not change (a retry, or the
/// sweeper won), the late charges of those it finds EXPIRED. Returns the ids the statement
/// settled.
///
/// A failure after the statement committed is answered as a failure: the retry finds the
/// entries settled (nothing is booked twice) and records any late charge still missing (late
/// charges are idempotent per entry).
async fn settle_together(
    connection: &mut PgConnection,
    requests: &[&SettleRequest],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let mut ids = Vec::with_capacity(requests.len());
    let mut created_ats: Vec<DateTime<Utc>> = Vec::with_capacity(requests.len());
    let mut statuses = Vec::with_capacity(requests.len());
    let mut charges = Vec::with_capacity(requests.len());
    let mut upstream_statuses = Vec::with_capacity(requests.len());
    let mut void_reasons = Vec::with_capacity(requests.len());
    let mut flags = Vec::with_capacity(requests.len());
    let mut balances = Vec::with_capacity(requests.len());
    for request in requests {
        ids.push(request.id);
        created_ats.push(created_at_of(request.id));
        let (status, upstream_status, void_reason, flag) = match &request.settlement {
            Settlement::Post {
                upstream_status, ..
            } => ("POSTED", Some(*upstream_status), None, None),
            Settlement::Void {
                upstream_status,
                reason,
            } => ("VOIDED", *upstream_status, Some(reason.as_str()), None),
            Settlement::Unknown {
                upstream_status, ..
            } => ("POSTED", *upstream_status, None, Some(OUTCOME_UNKNOWN_FLAG)),
        };
        statuses.push(status);
        charges.push(request.settlement.charged());
        upstream_statuses.push(upstream_status);
        void_reasons.push(void_reason);
        flags.push(flag);
        balances.push(request.balance_observed);
    }
    let applied = sqlx::query_scalar::<_, Uuid>(
        "WITH s AS ( \
             SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::bigint[], \
                                  $5::int[], $6::text[], $7::text[], $8::bigint[]) \
                 AS s (id, created_at, status, charged, upstream_status, void_reason, flag, \
                       balance) \
         ), \
         balances AS ( \
             INSERT INTO account_balance_observations (request_id, credits_remaining) \
             SELECT id, balance FROM s WHERE balance IS NOT NULL \
         ) \
         UPDATE ledger_entries AS l \
         SET status = s.status, charged = s.charged, upstream_status = s.upstream_status, \
             void_reason = s.void_reason, settled_at = now(), \
             flagged = l.flagged OR s.flag IS NOT NULL, \
             flag_reason = CASE WHEN s.flag IS NULL THEN l.flag_reason \
                                WHEN l.flag_reason IS NULL THEN s.flag \
                                ELSE l.flag_reason || ',' || s.flag END \
         FROM s \
         WHERE l.id = s.id AND l.created_at = s.created_at AND l.status = 'PENDING' \
         RETURNING l.id",
    )
    .bind(&ids)
    .bind(created_ats)
    .bind(statuses)
    .bind(&charges)
    .bind(&upstream_statuses)
    .bind(&void_reasons)
    .bind(flags)
    .bind(balances)
    .fetch_all(&mut *connection)
    .await?;
    let applied: HashSet<Uuid> = applied.into_iter().collect();
    if applied.len() < ids.len() {
        record_late_charges_of_unapplied(
            connection,
            &applied,
            &ids,
            &charges,
            &upstream_statuses,
            &void_reasons,
        )
        .await?;
    }
    Ok(applied)
}

/// The late charges of the batch's entries its UPDATE did not change (those found EXPIRED).
async fn record_late_charges_of_unapplied(
    connection: &mut PgConnection,
    applied: &HashSet<Uuid>,
    ids: &[Uuid],
    charges: &[i64],
    upstream_statuses: &[Option<i32>],
    void_reasons: &[Option<&str>],
) -> Result<(), sqlx::Error> {
    let mut late_ids = Vec::new();
    let mut late_charges = Vec::new();
    let mut late_statuses = Vec::new();
    let mut late_void_reasons = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        if !applied.contains(id) {
            late_ids.push(*id);
            late_charges.push(charges[i]);
            late_statuses.push(upstream_statuses[i]);
            late_void_reasons.push(void_reasons[i]);
        }
    }
    record_late_charges(
        connection,
        &late_ids,
        &late_charges,
        &late_statuses,
        &late_void_reasons,
    )
    .await?;
    Ok(())
}

/// The slow path after a row error: one settlement (and its balance) on its own.
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
