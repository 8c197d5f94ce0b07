//! Reading back what the gateway booked and what the simulator charged, to compare them.

use crate::TestApp;
use accounting::ledger::LedgerEntry;

/// Every ledger entry of the team `slug`, oldest first.
pub async fn entries_for(app: &TestApp, slug: &str) -> Vec<LedgerEntry> {
    sqlx::query_as::<_, LedgerEntry>(
        "SELECT l.* FROM ledger_entries l JOIN teams t ON t.id = l.team_id \
         WHERE t.slug = $1 ORDER BY l.created_at, l.id",
    )
    .bind(slug)
    .fetch_all(&app.db)
    .await
    .expect("read ledger")
}

/// What the simulator charged, in total, for requests sent with this X-Request-ID.
pub fn sim_charge(app: &TestApp, request_id: &str) -> u64 {
    app.sim
        .requests()
        .iter()
        .filter(|r| r.request_id.as_deref() == Some(request_id))
        .map(|r| r.credits_charged)
        .sum()
}
