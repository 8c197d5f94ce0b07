//! Settling entries through the ledger's group-commit writer: many requests' POST/VOID
//! updates (and the account balances their responses reported) share one transaction with
//! each other and with the PENDING entries queued beside them, so settling is not one commit
//! per call. Each caller still learns how its own entry ended before it answers its client.

use sqlx::PgPool;
use uuid::Uuid;

use super::balance::record_balance;
use super::group_commit::{GroupCommitConfig, GroupCommitter};
use super::ledger_writes::{LedgerWrite, LedgerWrites};
use super::pending_writer::LedgerWriter;
use super::settlement::{Settled, post, post_unknown, void};
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

/// Handle to the ledger's writer task, for settlements. Cheap to clone; the task stops once
/// every handle is gone.
#[derive(Clone)]
pub struct SettlementWriter {
    committer: GroupCommitter<LedgerWrites>,
}

impl std::fmt::Debug for SettlementWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettlementWriter")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl SettlementWriter {
    /// Starts a writer task of its own; call from within a Tokio runtime. The gateway settles
    /// through [`LedgerWriter::settlement_writer`] instead, sharing its batches.
    pub fn spawn(pool: PgPool, config: GroupCommitConfig) -> Self {
        LedgerWriter::spawn(pool, config).settlement_writer()
    }

    pub(super) fn sharing(committer: GroupCommitter<LedgerWrites>) -> Self {
        Self { committer }
    }

    /// Settles the entry (exactly once: a settled entry is left as it is) and returns once
    /// the outcome is committed.
    pub async fn settle(&self, request: SettleRequest) -> Result<Settled, AccountingError> {
        if let Settlement::Void { reason, .. } = &request.settlement
            && reason.trim().is_empty()
        {
            return Err(AccountingError::Invalid("a void needs a reason".to_owned()));
        }
        self.committer
            .submit(LedgerWrite::Settle(request))
            .await?
            .settled()
    }

    pub fn stats(&self) -> SettlementStats {
        let counts = self.committer.counters().settlements.snapshot();
        SettlementStats {
            batches_committed: counts.batches_committed,
            batches_failed: counts.batches_failed,
            entries_settled: counts.entries,
        }
    }
}

/// The slow path after a row error: one settlement (and its balance) on its own.
pub(super) async fn settle_alone(
    pool: &PgPool,
    request: &SettleRequest,
) -> Result<Settled, AccountingError> {
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
