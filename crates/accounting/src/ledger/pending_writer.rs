//! Recording PENDING entries through the ledger's group-commit writer: many concurrent
//! requests share one INSERT and one commit (with the settlements queued beside them), and
//! each learns that its own entry is durable before it calls upstream.

use sqlx::PgPool;

use super::entry::{NewEntry, Recorded};
use super::group_commit::{GroupCommitConfig, GroupCommitter};
use super::ledger_writes::{LedgerWrite, LedgerWrites};
use super::settlement_writer::SettlementWriter;
use crate::AccountingError;

/// Counters of what the writer has done for PENDING entries since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Statements (transactions) that recorded PENDING entries and committed.
    pub batches_committed: u64,
    /// Statements holding PENDING entries that failed.
    pub batches_failed: u64,
    /// Entries newly inserted (retries of an existing id are not counted).
    pub entries_inserted: u64,
}

/// Handle to the ledger's writer task, for PENDING entries; [`Self::settlement_writer`] gives
/// the handle that settles through the same task. Cheap to clone; the task stops once every
/// handle is dropped, after committing what it was already given.
#[derive(Clone)]
pub struct LedgerWriter {
    committer: GroupCommitter<LedgerWrites>,
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

    /// The handle that settles entries through this writer's task, in the same batches as
    /// the PENDING entries.
    pub fn settlement_writer(&self) -> SettlementWriter {
        SettlementWriter::sharing(self.committer.clone())
    }

    /// Records the entry as PENDING and returns once it is committed (or was already there).
    ///
    /// Do not cancel this future and then send the request anyway: if it is dropped before
    /// answering, the entry may or may not have been written. Run the request's life in a
    /// task of its own, and VOID the entry if the request is abandoned after recording.
    pub async fn record_pending(&self, entry: NewEntry) -> Result<Recorded, AccountingError> {
        entry.check()?;
        self.committer
            .submit(LedgerWrite::Record(entry))
            .await?
            .recorded()
    }

    /// Transactions the writer committed, of PENDING entries, settlements or both.
    pub fn transactions_committed(&self) -> u64 {
        self.committer
            .counters()
            .transactions
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn stats(&self) -> GroupCommitStats {
        let counts = self.committer.counters().pending.snapshot();
        GroupCommitStats {
            batches_committed: counts.batches_committed,
            batches_failed: counts.batches_failed,
            entries_inserted: counts.entries,
        }
    }
}
