//! What the ledger's one group-commit writer commits: new PENDING entries and settlements of
//! finished calls, side by side in the same batches, so a busy gateway pays about one commit
//! per batch of both rather than one for each kind.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::batch_write::write_batch;
use super::entry::{NewEntry, Recorded};
use super::group_commit::{BatchCommit, Counters};
use super::settlement::{Settled, outcome};
use super::settlement_writer::{SettleRequest, settle_alone};
use crate::AccountingError;

/// One request to the writer.
pub(super) enum LedgerWrite {
    /// Record the entry as PENDING before its call is sent.
    Record(NewEntry),
    /// Settle the entry once its call has ended.
    Settle(SettleRequest),
}

/// The writer's answer, of the same kind as its request.
pub(super) enum LedgerWritten {
    Recorded(Recorded),
    Settled(Settled),
}

impl LedgerWritten {
    pub(super) fn recorded(self) -> Result<Recorded, AccountingError> {
        match self {
            Self::Recorded(recorded) => Ok(recorded),
            Self::Settled(_) => Err(AccountingError::Unavailable),
        }
    }

    pub(super) fn settled(self) -> Result<Settled, AccountingError> {
        match self {
            Self::Settled(settled) => Ok(settled),
            Self::Recorded(_) => Err(AccountingError::Unavailable),
        }
    }
}

/// What the writer has done, counted apart for each kind of request (a batch holding both
/// kinds counts as a batch of each), and the transactions it committed in all.
#[derive(Debug, Default)]
pub(super) struct LedgerCounters {
    pub(super) pending: Counters,
    pub(super) settlements: Counters,
    pub(super) transactions: AtomicU64,
}

impl LedgerCounters {
    fn transaction_committed(&self) {
        self.transactions.fetch_add(1, Ordering::Relaxed);
    }
}

/// A batch is one statement: a multi-row INSERT of PENDING entries and a guarded UPDATE of
/// the settled ones ([`write_batch`]).
pub(super) struct LedgerWrites;

impl BatchCommit for LedgerWrites {
    type Request = LedgerWrite;
    type Answer = LedgerWritten;
    type Counters = LedgerCounters;

    const NAME: &'static str = "ledger";

    fn id(request: &LedgerWrite) -> Uuid {
        match request {
            LedgerWrite::Record(entry) => entry.id,
            LedgerWrite::Settle(request) => request.id,
        }
    }

    /// A PENDING entry whose caller went away will never be sent upstream: it is not
    /// recorded. A settlement is written even if nobody waits for it: the call has happened.
    fn skip_if_abandoned(request: &LedgerWrite) -> bool {
        matches!(request, LedgerWrite::Record(_))
    }

    async fn commit_batch(
        connection: &mut PgConnection,
        requests: &[&LedgerWrite],
    ) -> Result<HashSet<Uuid>, sqlx::Error> {
        let (new_entries, settlements) = split(requests);
        write_batch(connection, &new_entries, &settlements).await
    }

    /// A settlement the batch did not apply found its entry already final (a retry, or the
    /// sweeper won) or unknown: its state says which.
    async fn answer(
        pool: &PgPool,
        request: &LedgerWrite,
        changed: bool,
    ) -> Result<LedgerWritten, AccountingError> {
        match request {
            LedgerWrite::Record(_) => Ok(LedgerWritten::Recorded(recorded(changed))),
            LedgerWrite::Settle(_) if changed => Ok(LedgerWritten::Settled(Settled::Applied)),
            LedgerWrite::Settle(request) => {
                let mut conn = pool.acquire().await?;
                Ok(LedgerWritten::Settled(
                    outcome(&mut conn, request.id, 0).await?,
                ))
            }
        }
    }

    /// One bad row (say, an unknown team) must not fail other teams' requests: each request
    /// is written alone so only the bad one gets the error.
    async fn commit_alone(
        pool: &PgPool,
        request: &LedgerWrite,
        counters: &LedgerCounters,
    ) -> Result<LedgerWritten, AccountingError> {
        match request {
            LedgerWrite::Record(entry) => record_alone(pool, entry, counters)
                .await
                .map(LedgerWritten::Recorded),
            LedgerWrite::Settle(request) => {
                let outcome = settle_alone(pool, request).await;
                if matches!(outcome, Ok(Settled::Applied)) {
                    counters.settlements.entries_changed(1);
                }
                outcome.map(LedgerWritten::Settled)
            }
        }
    }

    fn count_committed(
        counters: &LedgerCounters,
        requests: &[&LedgerWrite],
        changed: &HashSet<Uuid>,
    ) {
        counters.transaction_committed();
        let [records, settlements] = per_kind(requests, changed);
        for ((requests, changed), kind) in [
            (records, &counters.pending),
            (settlements, &counters.settlements),
        ] {
            if requests > 0 {
                kind.batch_committed(changed);
            }
        }
    }

    fn count_failed(counters: &LedgerCounters, requests: &[&LedgerWrite]) {
        let [records, settlements] = per_kind(requests, &HashSet::new());
        for ((requests, _), kind) in [
            (records, &counters.pending),
            (settlements, &counters.settlements),
        ] {
            if requests > 0 {
                kind.batch_failed();
            }
        }
    }
}

/// For each kind of request in the batch (PENDING records, then settlements): how many there
/// are, and how many of them `changed` holds.
fn per_kind(requests: &[&LedgerWrite], changed: &HashSet<Uuid>) -> [(usize, usize); 2] {
    let mut kinds = [(0, 0); 2];
    for request in requests {
        let kind = &mut kinds[usize::from(matches!(request, LedgerWrite::Settle(_)))];
        kind.0 += 1;
        kind.1 += usize::from(changed.contains(&LedgerWrites::id(request)));
    }
    kinds
}

/// The batch's new entries and its settlements.
fn split<'a>(requests: &[&'a LedgerWrite]) -> (Vec<&'a NewEntry>, Vec<&'a SettleRequest>) {
    let mut new_entries = Vec::with_capacity(requests.len());
    let mut settlements = Vec::with_capacity(requests.len());
    for request in requests {
        match request {
            LedgerWrite::Record(entry) => new_entries.push(entry),
            LedgerWrite::Settle(request) => settlements.push(request),
        }
    }
    (new_entries, settlements)
}

/// The slow path of a PENDING entry: its own statement (an error is `Database`: retrying
/// will not help).
async fn record_alone(
    pool: &PgPool,
    entry: &NewEntry,
    counters: &LedgerCounters,
) -> Result<Recorded, AccountingError> {
    let written = match pool.acquire().await {
        Ok(mut conn) => write_batch(&mut conn, &[entry], &[]).await,
        Err(error) => Err(error),
    };
    match written {
        Ok(inserted) => {
            counters.pending.batch_committed(inserted.len());
            counters.transaction_committed();
            Ok(recorded(inserted.contains(&entry.id)))
        }
        Err(error) => {
            counters.pending.batch_failed();
            tracing::error!(%error, id = %entry.id, "ledger entry refused");
            Err(AccountingError::Database(error))
        }
    }
}

fn recorded(was_inserted: bool) -> Recorded {
    if was_inserted {
        Recorded::Inserted
    } else {
        Recorded::AlreadyExisted
    }
}
