//! The sweeper: a PENDING entry that outlives its deadline (the gateway crashed, or settlement
//! kept failing) is charged at its estimate and flagged, never silently dropped. (Expired
//! Idempotency-Keys are purged by the gateway's own upkeep loop, in bounded batches.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgExecutor, PgPool};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::AccountingError;

/// The `flag_reason` of entries the sweeper expired.
pub const EXPIRED_FLAG_REASON: &str = "expired";

/// Expires every PENDING entry recorded before `older_than` (its `pending_at`, not the
/// request's arrival): status EXPIRED, charged = estimate, flagged 'expired'. Returns how many
/// it expired. Races with `post`/`void` have one winner; a settlement that loses is kept as a
/// late charge. An entry a settlement holds locked is left for the next pass.
pub async fn expire_stale(
    db: impl PgExecutor<'_>,
    older_than: DateTime<Utc>,
) -> Result<u64, AccountingError> {
    // Rows a settlement is writing right now are skipped, not waited for: they are being
    // settled, and waiting on them while holding others could deadlock with that batch.
    let result = sqlx::query(
        "UPDATE ledger_entries \
         SET status = 'EXPIRED', charged = estimate, flagged = true, flag_reason = $2, \
             settled_at = now() \
         WHERE status = 'PENDING' AND (id, created_at) IN ( \
             SELECT id, created_at FROM ledger_entries \
             WHERE status = 'PENDING' AND pending_at < $1 \
             ORDER BY id FOR UPDATE SKIP LOCKED)",
    )
    .bind(older_than)
    .bind(EXPIRED_FLAG_REASON)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

/// Runs [`expire_stale`] periodically in the background.
#[derive(Debug)]
pub struct Sweeper;

impl Sweeper {
    /// Every `every`, expires PENDING entries older than `deadline`. The first pass runs at
    /// once, so entries left behind by a crash are resolved at start-up.
    pub fn spawn(pool: PgPool, every: Duration, deadline: Duration) -> SweeperHandle {
        let (stop, stopped) = oneshot::channel();
        let counters = Arc::new(SweeperCounters::default());
        let task = tokio::spawn(sweep_until_stopped(
            pool,
            every,
            deadline,
            stopped,
            Arc::clone(&counters),
        ));
        SweeperHandle {
            stop: Some(stop),
            task: Some(task),
            counters,
        }
    }
}

/// Stops the sweeper when dropped (after the pass in progress), or with [`SweeperHandle::stop`].
#[derive(Debug)]
pub struct SweeperHandle {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    counters: Arc<SweeperCounters>,
}

impl SweeperHandle {
    /// Stops the sweeper and waits for its task to end.
    pub async fn stop(mut self) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Passes completed so far.
    pub fn passes(&self) -> u64 {
        self.counters.passes.load(Ordering::Relaxed)
    }

    /// Entries expired so far by this sweeper.
    pub fn expired(&self) -> u64 {
        self.counters.expired.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
struct SweeperCounters {
    passes: AtomicU64,
    expired: AtomicU64,
}

async fn sweep_until_stopped(
    pool: PgPool,
    every: Duration,
    deadline: Duration,
    mut stopped: oneshot::Receiver<()>,
    counters: Arc<SweeperCounters>,
) {
    let deadline = TimeDelta::from_std(deadline).unwrap_or(TimeDelta::MAX);
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = ticks.tick() => {}
        }
        let Some(cutoff) = Utc::now().checked_sub_signed(deadline) else {
            continue;
        };
        match expire_stale(&pool, cutoff).await {
            Ok(0) => {}
            Ok(expired) => {
                counters.expired.fetch_add(expired, Ordering::Relaxed);
                tracing::warn!(expired, %cutoff, "sweeper expired stale PENDING ledger entries");
            }
            Err(error) => tracing::error!(%error, "sweeper pass failed"),
        }
        counters.passes.fetch_add(1, Ordering::Relaxed);
    }
}
