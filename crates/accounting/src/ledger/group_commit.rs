//! Group commit for PENDING entries: many concurrent requests share one INSERT and one commit,
//! and each learns that its own entry is durable before it calls upstream.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::batch_insert::insert_pending;
use super::batching::gather;
use super::entry::{NewEntry, Recorded};
use crate::AccountingError;

/// How long the writer may gather entries before committing them together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommitConfig {
    /// Most entries in one INSERT.
    pub max_batch: usize,
    /// Longest the first entry of a batch waits for company (capped at [`MAX_WAIT_LIMIT`]).
    pub max_wait: Duration,
}

/// A longer gathering window would only add latency: batches fill in milliseconds under load.
pub const MAX_WAIT_LIMIT: Duration = Duration::from_secs(1);

impl GroupCommitConfig {
    /// At least one entry per batch and a wait within [`MAX_WAIT_LIMIT`].
    pub(crate) fn clamped(self) -> Self {
        Self {
            max_batch: self.max_batch.max(1),
            max_wait: self.max_wait.min(MAX_WAIT_LIMIT),
        }
    }

    /// How many requests may queue for a writer: a few batches' worth.
    pub(crate) fn queue_capacity(&self) -> usize {
        self.max_batch.saturating_mul(4)
    }
}

impl Default for GroupCommitConfig {
    fn default() -> Self {
        Self {
            max_batch: 256,
            max_wait: Duration::from_millis(2),
        }
    }
}

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

#[derive(Debug, Default)]
struct Counters {
    batches_committed: AtomicU64,
    batches_failed: AtomicU64,
    entries_inserted: AtomicU64,
}

type Reply = oneshot::Sender<Result<Recorded, AccountingError>>;

struct PendingWrite {
    entry: NewEntry,
    reply: Reply,
}

/// Handle to the background task that records PENDING entries. Cheap to clone; the task stops
/// once every handle is dropped, after committing what it was already given.
#[derive(Clone)]
pub struct LedgerWriter {
    requests: mpsc::Sender<PendingWrite>,
    counters: Arc<Counters>,
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
        let config = config.clamped();
        let (requests, queue) = mpsc::channel(config.queue_capacity());
        let counters = Arc::new(Counters::default());
        tokio::spawn(run(pool, queue, config, Arc::clone(&counters)));
        Self { requests, counters }
    }

    /// Records the entry as PENDING and returns once it is committed (or was already there).
    ///
    /// Do not cancel this future and then send the request anyway: if it is dropped before
    /// answering, the entry may or may not have been written. Run the request's life in a
    /// task of its own, and VOID the entry if the request is abandoned after recording.
    pub async fn record_pending(&self, entry: NewEntry) -> Result<Recorded, AccountingError> {
        entry.check()?;
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(PendingWrite { entry, reply })
            .await
            .map_err(|_| AccountingError::Unavailable)?;
        answer.await.map_err(|_| AccountingError::Unavailable)?
    }

    pub fn stats(&self) -> GroupCommitStats {
        GroupCommitStats {
            batches_committed: self.counters.batches_committed.load(Ordering::Relaxed),
            batches_failed: self.counters.batches_failed.load(Ordering::Relaxed),
            entries_inserted: self.counters.entries_inserted.load(Ordering::Relaxed),
        }
    }
}

async fn run(
    pool: PgPool,
    mut queue: mpsc::Receiver<PendingWrite>,
    config: GroupCommitConfig,
    counters: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(config.max_batch);
    while gather(&mut queue, &mut batch, config).await {
        commit(&pool, std::mem::take(&mut batch), &counters).await;
    }
    tracing::debug!("ledger writer stopped: every handle was dropped");
}

/// Writes one batch and answers each waiter.
async fn commit(pool: &PgPool, mut batch: Vec<PendingWrite>, counters: &Counters) {
    // A waiter that went away will never send its request upstream: do not record it.
    batch.retain(|write| !write.reply.is_closed());
    if batch.is_empty() {
        return;
    }
    let entries: Vec<&NewEntry> = batch.iter().map(|write| &write.entry).collect();
    match insert_pending(pool, &entries).await {
        Ok(inserted) => {
            counters.record_commit(inserted.len());
            answer_all(batch, inserted);
        }
        Err(error) if is_caused_by_a_row(&error) => {
            counters.batches_failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%error, size = batch.len(), "ledger batch refused; retrying entry by entry");
            commit_one_by_one(pool, batch, counters).await;
        }
        Err(error) => {
            counters.batches_failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%error, size = batch.len(), "ledger batch failed; nothing recorded");
            let shared = Arc::new(error);
            for write in batch {
                let _ = write
                    .reply
                    .send(Err(AccountingError::LedgerWrite(Arc::clone(&shared))));
            }
        }
    }
}

/// One bad row (say, an unknown team) must not fail other teams' requests: write each entry
/// alone so only the bad one gets the error (as `Database`, since retrying will not help).
async fn commit_one_by_one(pool: &PgPool, batch: Vec<PendingWrite>, counters: &Counters) {
    for write in batch {
        let outcome = match insert_pending(pool, &[&write.entry]).await {
            Ok(inserted) => {
                counters.record_commit(inserted.len());
                Ok(recorded(inserted.contains(&write.entry.id)))
            }
            Err(error) => {
                counters.batches_failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%error, id = %write.entry.id, "ledger entry refused");
                Err(AccountingError::Database(error))
            }
        };
        let _ = write.reply.send(outcome);
    }
}

fn answer_all(batch: Vec<PendingWrite>, mut inserted: HashSet<Uuid>) {
    for write in batch {
        // The first waiter with an id gets `Inserted`; a duplicate in the same batch does not.
        let outcome = recorded(inserted.remove(&write.entry.id));
        let _ = write.reply.send(Ok(outcome));
    }
}

fn recorded(was_inserted: bool) -> Recorded {
    if was_inserted {
        Recorded::Inserted
    } else {
        Recorded::AlreadyExisted
    }
}

/// Integrity (class 23) and data (class 22) errors come from a row's values, not from the
/// connection, so the other rows of the batch can still be written.
pub(super) fn is_caused_by_a_row(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(error) => error
            .code()
            .is_some_and(|code| code.starts_with("23") || code.starts_with("22")),
        _ => false,
    }
}

impl Counters {
    fn record_commit(&self, inserted: usize) {
        self.batches_committed.fetch_add(1, Ordering::Relaxed);
        self.entries_inserted.fetch_add(
            u64::try_from(inserted).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}
