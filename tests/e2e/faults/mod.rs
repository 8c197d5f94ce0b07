//! Money under faults, through the real gateway: an upstream call whose outcome the gateway
//! cannot know is booked (flagged `outcome_unknown`), never voided, and an Idempotency-Key
//! retry of it is answered without running again; Redis losing its state never resets a
//! budget, running calls get their leases back, and drift is reconciled; a ledger that cannot
//! be read refuses a budgeted team instead of admitting it on an empty budget; an admission
//! that timed out but ran is given back; Postgres going away turns every ledger read into a
//! prompt 503 LEDGER_UNAVAILABLE.

mod postgres_down;
mod redis_state_loss;
mod slow_redis;
mod unknown_outcomes;

use accounting::TeamId;
use accounting::quotas::{self, QuotaValues};
use e2e_tests::TestApp;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub fn chatgpt() -> Value {
    json!({"prompt": "p", "country": "US"})
}

pub async fn set_budget(app: &TestApp, team: TeamId, budget: i64) {
    let values = QuotaValues {
        rps: 10_000.0,
        burst: 10_000,
        concurrency: 1000,
        weight: 1,
        budget: Some(budget),
        hard_budget: true,
        alert_threshold_pct: None,
        max_priority: quotas::DEFAULT_MAX_PRIORITY,
        max_queued_tasks: quotas::DEFAULT_MAX_QUEUED_TASKS,
    };
    quotas::set(&app.db, team, &values).await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
}

/// Waits until the simulator has finished every call, abandoned ones included.
pub async fn sim_idle(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.sim.stats().current_concurrency > 0 {
        assert!(Instant::now() < deadline, "the simulator never went idle");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the simulator charged per X-Request-ID (the gateway's ledger id).
pub fn sim_charges(app: &TestApp) -> HashMap<String, u64> {
    let mut charged: HashMap<String, u64> = HashMap::new();
    for record in app.sim.requests() {
        if let Some(id) = record.request_id {
            *charged.entry(id).or_default() += record.credits_charged;
        }
    }
    charged
}
