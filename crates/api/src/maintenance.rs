//! Background upkeep every replica runs: monthly ledger partitions are created ahead of
//! time (idempotent and safe from several replicas at once), daily; expired Idempotency-Keys
//! are purged every few minutes, in bounded batches (replicas share the work: rows one is
//! deleting are skipped by the others).

use crate::tasks::BackgroundTasks;
use sqlx::PgPool;
use std::time::Duration;

/// How many months of partitions exist ahead of the current one.
pub const PARTITION_MONTHS_AHEAD: u32 = 3;

/// Creates the coming months' partitions now, then once a day until shutdown.
pub async fn start_partition_upkeep(db: PgPool, tasks: &BackgroundTasks) -> anyhow::Result<()> {
    accounting::ledger::ensure_partitions(&db, chrono::Utc::now(), PARTITION_MONTHS_AHEAD).await?;
    tasks.spawn_loop(tracing::info_span!("partition_upkeep"), async move {
        let mut tick = tokio::time::interval(Duration::from_secs(24 * 3600));
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(err) = accounting::ledger::ensure_partitions(
                &db,
                chrono::Utc::now(),
                PARTITION_MONTHS_AHEAD,
            )
            .await
            {
                tracing::error!(error = %err, "creating ledger partitions failed; will retry tomorrow");
            }
        }
    });
    Ok(())
}

/// Expired Idempotency-Keys deleted per statement: each batch is its own short transaction,
/// so a large backlog never holds many row locks, or one long statement, at once.
const IDEMPOTENCY_PURGE_BATCH: u32 = 1000;

/// Pause between two batches of one purge, leaving the table and the pool to the requests.
const IDEMPOTENCY_PURGE_PAUSE: Duration = Duration::from_millis(20);

/// Purges expired Idempotency-Keys now, then every `every` until shutdown.
pub fn start_idempotency_purge(db: PgPool, every: Duration, tasks: &BackgroundTasks) {
    tasks.spawn_loop(tracing::info_span!("idempotency_purge"), async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            purge_expired_keys(&db).await;
        }
    });
}

/// One purge: batch after batch until a batch comes back short (nothing expired is left, or
/// the rest is being deleted by another replica). Returns how many keys it deleted.
async fn purge_expired_keys(db: &PgPool) -> u64 {
    let mut purged = 0;
    loop {
        match accounting::idempotency::purge_expired(db, IDEMPOTENCY_PURGE_BATCH).await {
            Ok(deleted) => {
                purged += deleted;
                if deleted < u64::from(IDEMPOTENCY_PURGE_BATCH) {
                    break;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "purging expired idempotency keys failed; will retry at the next round");
                break;
            }
        }
        tokio::time::sleep(IDEMPOTENCY_PURGE_PAUSE).await;
    }
    if purged > 0 {
        tracing::info!(purged, "purged expired idempotency keys");
    }
    purged
}
