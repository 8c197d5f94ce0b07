//! Work the gateway runs off the request path, tracked in one place so shutdown can wait for
//! it: upstream calls whose client hung up, settlement retries, limiter releases, alert
//! deliveries, and the long-lived loops (directory refresh and its push listener, budget
//! reconciler, partition upkeep), which stop when shutdown begins.
//!
//! The tasks run on the application's runtime (the one `Application::build` ran on), not on
//! an HTTP worker's: actix stops its workers (and drops their runtimes, cancelling whatever
//! they spawned) when the server stops, before the drain below could wait for them.

use std::future::Future;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// Detached tasks that must finish (or be given up on at shutdown) rather than be dropped.
#[derive(Clone, Debug)]
pub struct BackgroundTasks {
    tracker: TaskTracker,
    runtime: Handle,
    /// Cancelled when shutdown begins: loops end, one-off work runs to completion.
    stopping: CancellationToken,
}

impl BackgroundTasks {
    /// Tasks on the runtime this is called from.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            tracker: TaskTracker::new(),
            runtime: Handle::try_current()?,
            stopping: CancellationToken::new(),
        })
    }

    /// Spawns `work` on the application's runtime, tracked. Callers attach the current span
    /// (`.in_current_span()`) so its logs keep the request's fields.
    pub fn spawn<F>(&self, work: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn_on(work, &self.runtime)
    }

    /// Spawns a loop that runs until shutdown begins, in its own span; the loop is dropped
    /// at its next await once shutdown starts.
    pub fn spawn_loop<F>(&self, span: tracing::Span, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let stopping = self.stopping.clone();
        self.spawn(
            async move {
                tokio::select! {
                    _ = stopping.cancelled() => {}
                    _ = work => {}
                }
            }
            .instrument(span),
        );
    }

    /// Tasks still running.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }

    /// Waits up to `timeout` for every tracked task; returns how many were still running
    /// then (left to the sweeper and the lease TTL).
    pub async fn drain(&self, timeout: Duration) -> usize {
        self.stopping.cancel();
        self.tracker.close();
        if tokio::time::timeout(timeout, self.tracker.wait())
            .await
            .is_err()
        {
            return self.tracker.len();
        }
        0
    }
}

/// Retries work that just failed: sleeps `first`, then doubling up to `cap`, before each of
/// at most `tries` attempts, until `attempt` reports success. Returns whether it succeeded.
pub async fn retry_after_failure<F, Fut>(
    tries: usize,
    first: Duration,
    cap: Duration,
    mut attempt: F,
) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut wait = first;
    for _ in 0..tries {
        tokio::time::sleep(wait).await;
        if attempt().await {
            return true;
        }
        wait = (wait * 2).min(cap);
    }
    false
}
