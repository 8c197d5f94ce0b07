//! Background upkeep every replica runs: monthly ledger partitions are created ahead of
//! time (idempotent and safe from several replicas at once), daily.

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
