//! Work the gateway runs off the request path, tracked in one place so shutdown can wait for
//! it: upstream calls whose client hung up, settlement retries, limiter releases, alert
//! deliveries. Long-lived loops (directory refresh, reconciler) stop with the runtime.
//!
//! The tasks run on the application's runtime (the one `Application::build` ran on), not on
//! an HTTP worker's: actix stops its workers (and drops their runtimes, cancelling whatever
//! they spawned) when the server stops, before the drain below could wait for them.

use std::future::Future;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

/// Detached tasks that must finish (or be given up on at shutdown) rather than be dropped.
#[derive(Clone, Debug)]
pub struct BackgroundTasks {
    tracker: TaskTracker,
    runtime: Handle,
}

impl BackgroundTasks {
    /// Tasks on the runtime this is called from.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            tracker: TaskTracker::new(),
            runtime: Handle::try_current()?,
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

    /// Tasks still running.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }

    /// Waits up to `timeout` for every tracked task; returns how many were still running
    /// then (left to the sweeper and the lease TTL).
    pub async fn drain(&self, timeout: Duration) -> usize {
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
