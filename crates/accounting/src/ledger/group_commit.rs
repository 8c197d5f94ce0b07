//! Group commit, the machinery of the ledger's writer: requests reach one background task
//! through a channel; it gathers them into batches, commits each batch in one transaction and
//! answers every waiter. What a batch writes is the writer's [`BatchCommit`].

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use uuid::Uuid;

use super::writer_connection::WriterConnection;
use crate::AccountingError;

/// How long a writer may gather requests before committing them together.
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
    fn clamped(self) -> Self {
        Self {
            max_batch: self.max_batch.max(1),
            max_wait: self.max_wait.min(MAX_WAIT_LIMIT),
        }
    }

    /// How many requests may queue for a writer: a few batches' worth.
    fn queue_capacity(&self) -> usize {
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

/// What a writer commits: a batch of requests, each about one ledger entry, in one
/// transaction, or (after a row error) one request alone.
pub(super) trait BatchCommit: 'static {
    type Request: Send + Sync + 'static;
    type Answer: Send + 'static;
    /// What the writer counts of its batches.
    type Counters: Default + Send + Sync + 'static;

    /// The writer's name in logs.
    const NAME: &'static str;

    /// The ledger entry the request is about.
    fn id(request: &Self::Request) -> Uuid;

    /// Whether the request is left out of its batch once its caller stopped waiting.
    fn skip_if_abandoned(request: &Self::Request) -> bool;

    /// Commits every request in one transaction; returns the ids of the entries it changed.
    fn commit_batch(
        connection: &mut PgConnection,
        requests: &[&Self::Request],
    ) -> impl Future<Output = Result<HashSet<Uuid>, sqlx::Error>> + Send;

    /// The answer to a request of a committed batch; `changed` says whether the batch changed
    /// its entry (of several requests with one id, only the first is told so).
    fn answer(
        pool: &PgPool,
        request: &Self::Request,
        changed: bool,
    ) -> impl Future<Output = Result<Self::Answer, AccountingError>> + Send;

    /// The slow path after a row error: commits the request on its own and counts it.
    fn commit_alone(
        pool: &PgPool,
        request: &Self::Request,
        counters: &Self::Counters,
    ) -> impl Future<Output = Result<Self::Answer, AccountingError>> + Send;

    /// Counts a batch that committed, and the entries it changed.
    fn count_committed(
        counters: &Self::Counters,
        requests: &[&Self::Request],
        changed: &HashSet<Uuid>,
    );

    /// Counts a batch that failed.
    fn count_failed(counters: &Self::Counters, requests: &[&Self::Request]);
}

/// What a writer has done since it started, for one kind of request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct CommitCounts {
    pub batches_committed: u64,
    pub batches_failed: u64,
    /// Entries the writer changed (requests for entries already done are not counted).
    pub entries: u64,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    batches_committed: AtomicU64,
    batches_failed: AtomicU64,
    entries: AtomicU64,
}

impl Counters {
    pub(super) fn batch_committed(&self, entries: usize) {
        self.batches_committed.fetch_add(1, Ordering::Relaxed);
        self.entries_changed(entries);
    }

    pub(super) fn batch_failed(&self) {
        self.batches_failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn entries_changed(&self, entries: usize) {
        self.entries.fetch_add(
            u64::try_from(entries).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub(super) fn snapshot(&self) -> CommitCounts {
        CommitCounts {
            batches_committed: self.batches_committed.load(Ordering::Relaxed),
            batches_failed: self.batches_failed.load(Ordering::Relaxed),
            entries: self.entries.load(Ordering::Relaxed),
        }
    }
}

struct Waiter<C: BatchCommit> {
    request: C::Request,
    reply: oneshot::Sender<Result<C::Answer, AccountingError>>,
}

/// Handle to a writer's background task. Cheap to clone; the task stops once every handle is
/// dropped, after committing what it was already given.
pub(super) struct GroupCommitter<C: BatchCommit> {
    requests: mpsc::Sender<Waiter<C>>,
    counters: Arc<C::Counters>,
}

impl<C: BatchCommit> Clone for GroupCommitter<C> {
    fn clone(&self) -> Self {
        Self {
            requests: self.requests.clone(),
            counters: Arc::clone(&self.counters),
        }
    }
}

impl<C: BatchCommit> GroupCommitter<C> {
    /// Starts the writer task; call from within a Tokio runtime.
    pub(super) fn spawn(pool: PgPool, config: GroupCommitConfig) -> Self {
        let config = config.clamped();
        let (requests, queue) = mpsc::channel(config.queue_capacity());
        let counters = Arc::new(C::Counters::default());
        tokio::spawn(run::<C>(pool, queue, config, Arc::clone(&counters)));
        Self { requests, counters }
    }

    /// Queues the request and returns its answer once its batch is committed.
    pub(super) async fn submit(&self, request: C::Request) -> Result<C::Answer, AccountingError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Waiter { request, reply })
            .await
            .map_err(|_| AccountingError::Unavailable)?;
        answer.await.map_err(|_| AccountingError::Unavailable)?
    }

    pub(super) fn counters(&self) -> &C::Counters {
        &self.counters
    }
}

async fn run<C: BatchCommit>(
    pool: PgPool,
    mut queue: mpsc::Receiver<Waiter<C>>,
    config: GroupCommitConfig,
    counters: Arc<C::Counters>,
) {
    let mut batch = Vec::with_capacity(config.max_batch);
    let mut connection = WriterConnection::new(pool);
    while let Some(first) = connection.next_request(&mut queue).await {
        batch.push(first);
        gather(&mut queue, &mut batch, config).await;
        commit::<C>(&mut connection, std::mem::take(&mut batch), &counters).await;
    }
    tracing::debug!("{} writer stopped: every handle was dropped", C::NAME);
}

/// Fills `batch` (holding the first request) with the rest of its group: whatever is already
/// queued, then whatever else arrives within `max_wait`, up to `max_batch`.
async fn gather<T>(queue: &mut mpsc::Receiver<T>, batch: &mut Vec<T>, config: GroupCommitConfig) {
    // Without a timer: the timer wheel rounds every deadline up to its next millisecond, so
    // even an elapsed one would hold the batch back that long. One yield first lets requests
    // that arrived together (tasks woken by the same event) queue up and share the commit.
    tokio::task::yield_now().await;
    while batch.len() < config.max_batch {
        match queue.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    if config.max_wait.is_zero() {
        return;
    }
    let deadline = Instant::now() + config.max_wait;
    while batch.len() < config.max_batch {
        let room = config.max_batch - batch.len();
        match tokio::time::timeout_at(deadline, queue.recv_many(batch, room)).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// Commits one batch and answers each waiter.
async fn commit<C: BatchCommit>(
    connection: &mut WriterConnection,
    mut batch: Vec<Waiter<C>>,
    counters: &C::Counters,
) {
    batch.retain(|waiter| !(waiter.reply.is_closed() && C::skip_if_abandoned(&waiter.request)));
    if batch.is_empty() {
        return;
    }
    let requests: Vec<&C::Request> = batch.iter().map(|waiter| &waiter.request).collect();
    let committed = match connection.get().await {
        Ok(conn) => C::commit_batch(conn, &requests).await,
        Err(error) => Err(error),
    };
    if let Err(error) = &committed
        && !is_caused_by_a_row(error)
    {
        connection.discard();
    }
    let pool = connection.pool();
    match committed {
        Ok(mut changed) => {
            C::count_committed(counters, &requests, &changed);
            for waiter in batch {
                let was_changed = changed.remove(&C::id(&waiter.request));
                let outcome = C::answer(pool, &waiter.request, was_changed).await;
                let _ = waiter.reply.send(outcome);
            }
        }
        Err(error) if is_caused_by_a_row(&error) => {
            C::count_failed(counters, &requests);
            tracing::warn!(%error, size = batch.len(), "{} batch refused; committing one by one", C::NAME);
            for waiter in batch {
                let outcome = C::commit_alone(pool, &waiter.request, counters).await;
                let _ = waiter.reply.send(outcome);
            }
        }
        Err(error) => {
            C::count_failed(counters, &requests);
            tracing::error!(%error, size = batch.len(), "{} batch failed; nothing committed", C::NAME);
            let shared = Arc::new(error);
            for waiter in batch {
                let _ = waiter
                    .reply
                    .send(Err(AccountingError::LedgerWrite(Arc::clone(&shared))));
            }
        }
    }
}

/// Integrity (class 23) and data (class 22) errors come from a row's values, not from the
/// connection, so the other rows of the batch can still be written.
fn is_caused_by_a_row(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(error) => error
            .code()
            .is_some_and(|code| code.starts_with("23") || code.starts_with("22")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max_wait: Duration) -> GroupCommitConfig {
        GroupCommitConfig {
            max_batch: 256,
            max_wait,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_wait_a_batch_is_what_is_queued_and_takes_no_time() {
        let (sender, mut queue) = mpsc::channel(8);
        for n in 1..=3 {
            sender.send(n).await.unwrap();
        }
        let mut batch = vec![queue.recv().await.unwrap()];
        // Between two ticks of the timer wheel, as a real clock nearly always is.
        tokio::time::advance(Duration::from_micros(300)).await;
        let started = Instant::now();
        gather(&mut queue, &mut batch, config(Duration::ZERO)).await;
        assert_eq!(batch, [1, 2, 3]);
        // The clock is paused: any timer, even one already due, would have moved it.
        assert_eq!(Instant::now(), started);
    }

    #[tokio::test(start_paused = true)]
    async fn with_a_wait_what_arrives_within_it_joins_the_batch() {
        let (sender, mut queue) = mpsc::channel(8);
        sender.send(1).await.unwrap();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(3)).await;
            sender.send(2).await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
            sender.send(3).await.unwrap();
        });
        let mut batch = vec![queue.recv().await.unwrap()];
        gather(&mut queue, &mut batch, config(Duration::from_millis(5))).await;
        assert_eq!(batch, [1, 2]);
        assert_eq!(queue.recv().await, Some(3));
    }
}
