//! The budget reconciler every replica runs: every `limits.budget_reconcile_secs` it
//! compares each budgeted team's charged total in Redis with the ledger and corrects drift
//! (see `budget_book`); every second it checks Redis's state marker, and when Redis has lost
//! its state (a restart without persistence, a failover, FLUSHDB) it reconciles at once.

use super::{Admitter, budget_period};
use crate::tasks::BackgroundTasks;
use std::sync::Weak;
use std::time::Duration;
use tokio::time::MissedTickBehavior;

/// How often Redis's state marker is checked.
const STATE_PROBE_EVERY: Duration = Duration::from_secs(1);

/// Starts the loop; it ends when the admitter is dropped or shutdown begins.
pub fn spawn_reconciler(admitter: Weak<Admitter>, every: Duration, tasks: &BackgroundTasks) {
    tasks.spawn_loop(tracing::info_span!("budget_reconciler"), async move {
        let mut pass = tokio::time::interval(every.max(Duration::from_secs(1)));
        pass.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut probe = tokio::time::interval(STATE_PROBE_EVERY);
        probe.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut first_probe = true;
        loop {
            let state_lost = tokio::select! {
                _ = pass.tick() => false,
                _ = probe.tick() => true,
            };
            let Some(admitter) = admitter.upgrade() else {
                break;
            };
            if state_lost {
                match admitter.limiter().state_marker().await {
                    Ok(true) => continue,
                    Ok(false) if first_probe => {
                        first_probe = false;
                        continue;
                    }
                    Ok(false) => {
                        admitter.book().note_state_loss();
                        tracing::warn!("Redis lost its state; reconciling every budget now");
                    }
                    Err(_) => continue,
                }
            }
            first_probe = false;
            reconcile_all(&admitter).await;
        }
    });
}

/// One pass over every active team with a budget, for the current period.
pub async fn reconcile_all(admitter: &Admitter) {
    let period = admitter.current_period();
    let budget_period = budget_period(&period);
    for team in admitter.directory().active_team_ids() {
        if admitter.quota_of(team).budget.is_none() {
            continue;
        }
        // Seeds and corrections are logged and counted by the book itself.
        if let Err(err) = admitter
            .book()
            .reconcile(team, &budget_period, &period)
            .await
        {
            tracing::warn!(team = %team.as_uuid(), error = %err, "budget reconciliation failed");
        }
    }
}
