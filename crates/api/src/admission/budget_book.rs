//! A team's budget in Redis is a cache of the ledger. When the limiter says a period has no
//! seed (Redis lost its state, or the period is new), the period's charged total is computed
//! from the ledger and set atomically, only if still unseeded; a periodic reconciliation
//! (and one after Redis is seen to lose its state) corrects any drift with a compare-and-set,
//! so a settlement landing meanwhile is never overwritten.

use accounting::TeamId;
use accounting::ledger::BudgetLedger;
use limiter::{BudgetPeriod, BudgetState, Limiter};
use sqlx::PgPool;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::period::Period;

/// Why a budget could not be seeded or reconciled.
#[derive(Debug, thiserror::Error)]
pub enum BookError {
    #[error("the ledger could not be read: {0}")]
    Ledger(String),
    #[error("the limiter could not be reached: {0}")]
    Limiter(#[from] limiter::LimiterError),
}

/// What one reconciliation of a team's period did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconciled {
    /// Redis agreed with the ledger.
    InStep,
    /// The period was unseeded and has been seeded.
    Seeded,
    /// Redis's charged total moved by this many credits to match the ledger.
    Corrected(i64),
    /// Requests were admitted or settled while it looked: left for the next pass.
    Busy,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BookStats {
    pub seeds: u64,
    pub corrections: u64,
    pub corrected_credits: u64,
    pub state_losses: u64,
}

pub struct BudgetBook {
    limiter: Arc<dyn Limiter>,
    db: PgPool,
    ledger_timeout: Duration,
    seeds: AtomicU64,
    corrections: AtomicU64,
    corrected_credits: AtomicU64,
    state_losses: AtomicU64,
}

impl BudgetBook {
    pub fn new(limiter: Arc<dyn Limiter>, db: PgPool, ledger_timeout: Duration) -> Self {
        Self {
            limiter,
            db,
            ledger_timeout,
            seeds: AtomicU64::new(0),
            corrections: AtomicU64::new(0),
            corrected_credits: AtomicU64::new(0),
            state_losses: AtomicU64::new(0),
        }
    }

    /// Seeds the team's period from the ledger unless another replica already did.
    #[tracing::instrument(level = "debug", name = "budget_seed", skip_all, fields(team = %team.as_uuid()))]
    pub async fn seed(
        &self,
        team: TeamId,
        budget_period: &BudgetPeriod,
        period: &Period,
    ) -> Result<bool, BookError> {
        let team_key = team.as_uuid().to_string();
        let ledger = self.read_ledger(team, period).await?;
        let state = self.limiter.budget_state(&team_key, budget_period).await?;
        if state.seeded {
            return Ok(false);
        }
        let charged = charged_target(&ledger, &state);
        let seeded = self
            .limiter
            .seed_charged(&team_key, budget_period, charged)
            .await?;
        if seeded {
            self.seeds.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                team = %team.as_uuid(),
                period = %budget_period.id,
                charged,
                open_entries = ledger.pending.len(),
                "seeded a team's budget from the ledger"
            );
        }
        Ok(seeded)
    }

    /// Compares Redis's charged total for the period with the ledger and corrects drift.
    /// Holds are Redis's own; charged is set only if nothing settled while it looked.
    #[tracing::instrument(level = "debug", name = "budget_reconcile", skip_all, fields(team = %team.as_uuid()))]
    pub async fn reconcile(
        &self,
        team: TeamId,
        budget_period: &BudgetPeriod,
        period: &Period,
    ) -> Result<Reconciled, BookError> {
        let team_key = team.as_uuid().to_string();
        let before = self.limiter.budget_state(&team_key, budget_period).await?;
        if !before.seeded {
            return Ok(if self.seed(team, budget_period, period).await? {
                Reconciled::Seeded
            } else {
                Reconciled::Busy
            });
        }
        let ledger = self.read_ledger(team, period).await?;
        let after = self.limiter.budget_state(&team_key, budget_period).await?;
        // Anything admitted, renewed or settled between the two reads: look again later.
        if after != before {
            return Ok(Reconciled::Busy);
        }
        let target = charged_target(&ledger, &after);
        if target == after.charged {
            return Ok(Reconciled::InStep);
        }
        let corrected = self
            .limiter
            .correct_charged(&team_key, budget_period, after.charged, target)
            .await?;
        if !corrected.applied {
            return Ok(Reconciled::Busy);
        }
        let delta = target - after.charged;
        self.corrections.fetch_add(1, Ordering::Relaxed);
        self.corrected_credits
            .fetch_add(delta.unsigned_abs(), Ordering::Relaxed);
        tracing::warn!(
            team = %team.as_uuid(),
            period = %budget_period.id,
            redis_charged = after.charged,
            ledger_charged = target,
            delta,
            "corrected a team's budget in Redis from the ledger"
        );
        Ok(Reconciled::Corrected(delta))
    }

    /// Notes that Redis was seen to lose its state.
    pub fn note_state_loss(&self) {
        self.state_losses.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stats(&self) -> BookStats {
        BookStats {
            seeds: self.seeds.load(Ordering::Relaxed),
            corrections: self.corrections.load(Ordering::Relaxed),
            corrected_credits: self.corrected_credits.load(Ordering::Relaxed),
            state_losses: self.state_losses.load(Ordering::Relaxed),
        }
    }

    async fn read_ledger(&self, team: TeamId, period: &Period) -> Result<BudgetLedger, BookError> {
        let read = accounting::ledger::budget_ledger(&self.db, team, period.start, period.end);
        match tokio::time::timeout(self.ledger_timeout, read).await {
            Ok(Ok(ledger)) => Ok(ledger),
            Ok(Err(err)) => Err(BookError::Ledger(err.to_string())),
            Err(_) => Err(BookError::Ledger(format!(
                "no answer within {} ms",
                self.ledger_timeout.as_millis()
            ))),
        }
    }
}

/// The charged total Redis should hold: what settled entries charged, plus the estimates of
/// open entries Redis holds nothing for (their holds were lost with its state; counting them
/// as charged keeps a hard budget safe until they settle).
pub fn charged_target(ledger: &BudgetLedger, state: &BudgetState) -> i64 {
    let held: HashSet<&str> = state.holds.iter().map(|(id, _)| id.as_str()).collect();
    let unheld: i64 = ledger
        .pending
        .iter()
        .filter(|(id, _)| !held.contains(id.to_string().as_str()))
        .map(|(_, estimate)| estimate)
        .sum();
    ledger.settled + unheld
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn open_entries_count_unless_redis_still_holds_them() {
        let held = Uuid::now_v7();
        let lost = Uuid::now_v7();
        let ledger = BudgetLedger {
            settled: 40,
            pending: vec![(held, 7), (lost, 5)],
        };
        let state = BudgetState {
            seeded: true,
            charged: 0,
            held: 7,
            holds: vec![(held.to_string(), 7)],
        };
        assert_eq!(charged_target(&ledger, &state), 45);
    }
}
