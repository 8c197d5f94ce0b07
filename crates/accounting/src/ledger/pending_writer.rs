//! Group commit for PENDING entries: many concurrent requests share one INSERT and one commit,
//! and each learns that its own entry is durable before it calls upstream.

use std::collections::HashSet;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::batch_insert::insert_pending;
use super::entry::{NewEntry, Recorded};
use super::group_commit::{BatchCommit, Counters, GroupCommitConfig, GroupCommitter};
use crate::AccountingError;

/// Counters of what the writer has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// INSERT statements (transactions) that committed.
    pub batches_committed: u64,
    /// INSERT statements that failed.
    pub batches_failed: u64,
    /// Entries newly inserted (retries of an existing id are not counted).
    pub entries_inserted: u64,
}

/// Handle to the background task that records PENDING entries. Cheap to clone; the task stops
/// once every handle is dropped, after committing what it was already given.
#[derive(Clone)]
pub struct LedgerWriter {
    committer: GroupCommitter<PendingInserts>,
}

impl std::fmt::Debug for LedgerWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerWriter")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl LedgerWriter {
    /// Starts the writer task; call from within a Tokio runtime.
    pub fn spawn(pool: PgPool, config: GroupCommitConfig) -> Self {
        Self {
            committer: GroupCommitter::spawn(pool, config),
        }
    }

    /// Records the entry as PENDING and returns once it is committed (or was already there).
    ///
    /// Do not cancel this future and then send the request anyway: if it is dropped before
    /// answering, the entry may or may not have been written. Run the request's life in a
    /// task of its own, and VOID the entry if the request is abandoned after recording.
    pub async fn record_pending(&self, entry: NewEntry) -> Result<Recorded, AccountingError> {
        entry.check()?;
        self.committer.submit(entry).await
    }

    pub fn stats(&self) -> GroupCommitStats {
        let counts = self.committer.counts();
        GroupCommitStats {
            batches_committed: counts.batches_committed,
            batches_failed: counts.batches_failed,
            entries_inserted: counts.entries,
        }
    }
}

/// A batch is one multi-row INSERT of PENDING entries.
struct PendingInserts;

impl BatchCommit for PendingInserts {
    type Request = NewEntry;
    type Answer = Recorded;

    const NAME: &'static str = "ledger";
    // A waiter that went away will never send its request upstream: do not record it.
    const SKIP_ABANDONED: bool = true;

    fn id(entry: &NewEntry) -> Uuid {
        entry.id
    }

    async fn commit_batch(
        connection: &mut PgConnection,
        entries: &[&NewEntry],
    ) -> Result<HashSet<Uuid>, sqlx::Error> {
        insert_pending(connection, entries).await
    }

    async fn answer(
        _pool: &PgPool,
        _entry: &NewEntry,
        inserted: bool,
    ) -> Result<Recorded, AccountingError> {
        Ok(recorded(inserted))
    }

    /// One bad row (say, an unknown team) must not fail other teams' requests: each entry is
    /// written alone so only the bad one gets the error (as `Database`, since retrying will
    /// not help).
    async fn commit_alone(
        pool: &PgPool,
        entry: &NewEntry,
        counters: &Counters,
    ) -> Result<Recorded, AccountingError> {
        match insert_pending(pool, &[entry]).await {
            Ok(inserted) => {
                counters.batch_committed(inserted.len());
                Ok(recorded(inserted.contains(&entry.id)))
            }
            Err(error) => {
                counters.batch_failed();
                tracing::error!(%error, id = %entry.id, "ledger entry refused");
                Err(AccountingError::Database(error))
            }
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
