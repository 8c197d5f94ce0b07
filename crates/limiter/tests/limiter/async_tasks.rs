//! Async tasks (`takes_team_slot: false`): cloro queues them and runs them on the account's
//! shared concurrency later, so they take no team or account concurrency slot and never wait
//! in the fair queue, but they take rate tokens and hold their estimate against the budget
//! until settled (possibly hours later) or expired.

use std::time::{Duration, Instant};

use limiter::{AdmissionRequest, RefusedBy, Renewal, SettleOutcome};

use crate::support::{TestLimiter, admit, again, delete_keys_under, request, seed};

behaviour_tests!(
    an_async_task_is_admitted_while_the_team_concurrency_is_full,
    a_hard_budget_refuses_an_async_task_that_would_exceed_it,
    settling_an_async_task_replaces_its_hold_and_frees_no_slot,
    an_expired_async_task_returns_its_hold,
    rate_limits_still_apply_to_async_tasks,
    renewing_an_async_task_keeps_its_hold_and_takes_no_slot,
    a_rate_only_admission_records_nothing_to_settle,
);

/// Long, as an async task's lease is (kept within the hour the test keys may live).
const ASYNC_TTL_MS: u64 = 3_600_000;

/// An async task of `team` with a budget of 100 (seed it) and an estimate of 10. It asks for
/// an upstream slot (`takes_account_slot`), which an async task never takes.
fn async_task(team: &str) -> AdmissionRequest {
    let mut r = request(team);
    r.takes_team_slot = false;
    r.lease_ttl_ms = ASYNC_TTL_MS;
    r.team.budget = Some(100);
    r.estimate = 10;
    r.team.concurrency = 1;
    r.account.concurrency = 1;
    r
}

/// A sync call of the same team: it takes the team's and the account's one slot.
fn sync_call(task: &AdmissionRequest) -> AdmissionRequest {
    let mut r = again(task);
    r.takes_team_slot = true;
    r.lease_ttl_ms = 30_000;
    r
}

async fn an_async_task_is_admitted_while_the_team_concurrency_is_full(limiter: &TestLimiter) {
    let task = async_task("team-a");
    seed(&**limiter, &task).await;
    let sync = sync_call(&task);
    let running = admit(&**limiter, &sync).await;
    assert!(running.is_admitted(), "{running:?}");
    let full = admit(&**limiter, &again(&sync)).await;
    assert_eq!(full.refused_by(), Some(RefusedBy::TeamConcurrency));

    let admitted = admit(&**limiter, &task).await;
    assert!(admitted.is_admitted(), "{admitted:?}");
    assert_eq!(admitted.team_concurrency.current, 1, "took no team slot");
    assert_eq!(
        admitted.account_concurrency.current, 1,
        "nor an account slot"
    );
    assert_eq!(admitted.budget.held, 20);
    assert_eq!(admitted.budget_left(), Some(80));
    let lease = admitted.lease().unwrap();
    assert!(!lease.holds_team_slot() && !lease.holds_account_slot());
    assert!(lease.expires_at_ms() >= admitted.now_ms + ASYNC_TTL_MS as i64);

    // Nor does it wait in the fair queue for a slot.
    let started = Instant::now();
    let waited = limiter
        .admit_or_wait(&again(&task), 3, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(waited.is_admitted(), "{waited:?}");
    assert!(started.elapsed() < Duration::from_secs(1));

    // The sync call still holds the team's and the account's only slot.
    assert_eq!(
        admit(&**limiter, &again(&sync)).await.refused_by(),
        Some(RefusedBy::TeamConcurrency)
    );
    let mut other_team = again(&sync);
    other_team.team_id = "team-b".into();
    other_team.team.budget = None;
    assert_eq!(
        admit(&**limiter, &other_team).await.refused_by(),
        Some(RefusedBy::AccountConcurrency)
    );
    let totals = limiter.budget_totals("team-a", &task.period).await.unwrap();
    assert_eq!((totals.charged, totals.held), (0, 30));
}

async fn a_hard_budget_refuses_an_async_task_that_would_exceed_it(limiter: &TestLimiter) {
    let mut task = async_task("team-a");
    task.estimate = 60;
    seed(&**limiter, &task).await;
    assert!(admit(&**limiter, &task).await.is_admitted());

    let refused = admit(&**limiter, &again(&task)).await;
    assert_eq!(refused.refused_by(), Some(RefusedBy::Budget));
    assert!(refused.budget.over_budget);
    assert_eq!(refused.budget_left(), Some(40));
    let wait = refused.retry_after_ms().unwrap();
    assert!((3_000_000..=3_600_000).contains(&wait), "{wait}");

    let mut fits = again(&task);
    fits.estimate = 40;
    let fits = admit(&**limiter, &fits).await;
    assert!(fits.is_admitted(), "{fits:?}");
    assert_eq!(fits.budget_left(), Some(0));
    let mut one_more = again(&task);
    one_more.estimate = 1;
    assert_eq!(
        admit(&**limiter, &one_more).await.refused_by(),
        Some(RefusedBy::Budget)
    );
    let totals = limiter.budget_totals("team-a", &task.period).await.unwrap();
    assert_eq!((totals.charged, totals.held), (0, 100));
}

async fn settling_an_async_task_replaces_its_hold_and_frees_no_slot(limiter: &TestLimiter) {
    let task = async_task("team-a");
    seed(&**limiter, &task).await;
    let sync = sync_call(&task);
    let running = admit(&**limiter, &sync).await.into_lease().unwrap();
    let lease = admit(&**limiter, &task).await.into_lease().unwrap();

    let settled = limiter.settle(&lease, 7).await.unwrap();
    assert_eq!(settled.outcome, SettleOutcome::Settled);
    assert!(!settled.released_team_slot && !settled.released_account_slot);
    assert_eq!((settled.charged_now, settled.returned_to_budget), (7, 3));
    assert_eq!((settled.totals.charged, settled.totals.held), (7, 10));
    assert_eq!(settled.budget_left, Some(100 - 7 - 10));
    // The sync call's slot is still taken.
    assert_eq!(
        admit(&**limiter, &again(&sync)).await.refused_by(),
        Some(RefusedBy::TeamConcurrency)
    );
    let twice = limiter.settle(&lease, 7).await.unwrap();
    assert_eq!(twice.outcome, SettleOutcome::AlreadySettled);
    assert_eq!(twice.totals.charged, 7);

    // A task that failed upstream is released: its hold comes back, nothing is charged.
    let failed = admit(&**limiter, &again(&task)).await.into_lease().unwrap();
    let released = limiter.release(&failed).await.unwrap();
    assert_eq!(released.outcome, SettleOutcome::Settled);
    assert!(!released.released_team_slot && !released.released_account_slot);
    assert_eq!((released.totals.charged, released.totals.held), (7, 10));

    let done = limiter.settle(&running, 10).await.unwrap();
    assert!(done.released_team_slot && done.released_account_slot);
    assert_eq!((done.totals.charged, done.totals.held), (17, 0));
    assert!(admit(&**limiter, &again(&sync)).await.is_admitted());
}

async fn an_expired_async_task_returns_its_hold(limiter: &TestLimiter) {
    let mut task = async_task("team-a");
    task.lease_ttl_ms = 500;
    seed(&**limiter, &task).await;
    let lease = admit(&**limiter, &task).await.into_lease().unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let expired = limiter.budget_totals("team-a", &task.period).await.unwrap();
    assert_eq!(expired.held, 0, "expired, not yet reclaimed");

    let before = limiter.reclaim_stats();
    let next = admit(&**limiter, &sync_call(&task)).await;
    assert!(next.is_admitted(), "{next:?}");
    assert_eq!(next.reclaimed.team_slots, 0);
    assert_eq!(next.reclaimed.account_slots, 0);
    assert_eq!(next.reclaimed.hold_credits, 10);
    assert_eq!(next.budget.held, 10, "only the sync call's hold");
    let after = limiter.reclaim_stats();
    assert_eq!(after.team_slots, before.team_slots);
    assert_eq!(after.hold_credits - before.hold_credits, 10);

    // Renewing it now brings back neither a slot nor the returned hold.
    assert_eq!(limiter.renew(&lease).await.unwrap(), Renewal::default());
    let totals = limiter.budget_totals("team-a", &task.period).await.unwrap();
    assert_eq!(totals.held, 10);

    // The task did finish: its charge is recorded once.
    let late = limiter.settle(&lease, 4).await.unwrap();
    assert_eq!(late.outcome, SettleOutcome::SettledAfterReclaim);
    assert_eq!(late.returned_to_budget, -4);
    assert!(!late.released_team_slot && !late.released_account_slot);
    assert_eq!((late.totals.charged, late.totals.held), (4, 10));
    let twice = limiter.settle(&lease, 4).await.unwrap();
    assert_eq!(twice.outcome, SettleOutcome::AlreadySettled);
}

async fn rate_limits_still_apply_to_async_tasks(limiter: &TestLimiter) {
    let mut task = async_task("team-a");
    task.team.budget = None;
    task.team.burst = 2;
    task.team.rps = 0.01;
    // A sync call holds the team's and the account's only slot (and takes a token).
    assert!(admit(&**limiter, &sync_call(&task)).await.is_admitted());
    let admitted = admit(&**limiter, &again(&task)).await;
    assert!(admitted.is_admitted(), "{admitted:?}");
    assert_eq!(admitted.team_rate.remaining, 0);

    // Refused by the team's rate, never by the full concurrency limits.
    let refused = admit(&**limiter, &again(&task)).await;
    assert_eq!(refused.refused_by(), Some(RefusedBy::TeamRate));
    let wait = refused.retry_after_ms().unwrap();
    assert!((99_000..=100_000).contains(&wait), "{wait}");
    let waited = limiter
        .admit_or_wait(&again(&task), 1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(waited.refused_by(), Some(RefusedBy::TeamRate));

    // The account's bucket for the endpoint applies too.
    let mut other = async_task("team-b");
    other.team.budget = None;
    other.endpoint = "google".into();
    other.account.burst = 1;
    other.account.rps_per_endpoint = 0.01;
    let first = admit(&**limiter, &other).await;
    assert!(first.is_admitted(), "{first:?}");
    assert_eq!(first.account_rate.remaining, 0);
    let refused = admit(&**limiter, &again(&other)).await;
    assert_eq!(refused.refused_by(), Some(RefusedBy::AccountRate));
    assert!(refused.retry_after_ms().unwrap() > 0);
}

async fn renewing_an_async_task_keeps_its_hold_and_takes_no_slot(limiter: &TestLimiter) {
    let mut task = async_task("team-a");
    task.lease_ttl_ms = 1_000;
    seed(&**limiter, &task).await;
    let lease = admit(&**limiter, &task).await.into_lease().unwrap();
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(limiter.renew(&lease).await.unwrap(), Renewal::default());
    }
    // 1.5 s later, past the TTL: still held, nothing reclaimed, no slot taken.
    let totals = limiter.budget_totals("team-a", &task.period).await.unwrap();
    assert_eq!(totals.held, 10);
    let sync = admit(&**limiter, &sync_call(&task)).await;
    assert!(sync.is_admitted(), "{sync:?}");
    assert!(sync.reclaimed.is_empty());
    assert_eq!(sync.team_concurrency.current, 1);

    let settled = limiter.settle(&lease, 10).await.unwrap();
    assert_eq!(settled.outcome, SettleOutcome::Settled);
    assert_eq!((settled.totals.charged, settled.totals.held), (10, 10));
}

/// Redis-only: after Redis lost its state (FLUSHDB), renewing an async task restores its
/// hold, and still takes no slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_flush_renewing_an_async_task_restores_only_its_hold() {
    let limiter = TestLimiter::redis();
    let task = async_task("team-a");
    seed(&*limiter, &task).await;
    let lease = admit(&*limiter, &task).await.into_lease().unwrap();

    delete_keys_under(limiter.redis_prefix.as_deref().unwrap()).await;
    let restored = Renewal {
        restored_hold: true,
        ..Renewal::default()
    };
    assert_eq!(limiter.renew(&lease).await.unwrap(), restored);
    assert_eq!(limiter.renew(&lease).await.unwrap(), Renewal::default());
    let totals = limiter.budget_totals("team-a", &task.period).await.unwrap();
    assert_eq!((totals.charged, totals.held), (0, 10));

    let mut sync = sync_call(&task);
    sync.team.budget = None;
    let admitted = admit(&*limiter, &sync).await;
    assert!(admitted.is_admitted(), "{admitted:?}");
    assert_eq!(admitted.team_concurrency.current, 1);
    assert_eq!(admitted.account_concurrency.current, 1);

    let settled = limiter.settle(&lease, 6).await.unwrap();
    assert_eq!(settled.outcome, SettleOutcome::Settled);
    assert_eq!((settled.totals.charged, settled.totals.held), (6, 10));
    limiter.cleanup().await;
}

/// Takes no slot and holds nothing (the gateway's free reference calls): rate tokens only, and
/// nothing is recorded, so there is nothing to settle or reclaim and the id stays free.
async fn a_rate_only_admission_records_nothing_to_settle(limiter: &TestLimiter) {
    let mut rate_only = async_task("team-a");
    seed(&**limiter, &rate_only).await;
    rate_only.estimate = 0;
    let first = admit(&**limiter, &rate_only).await;
    assert!(first.is_admitted(), "{first:?}");
    assert_eq!(first.budget.held, 0);
    let same_id = admit(&**limiter, &rate_only).await;
    assert!(same_id.is_admitted(), "no lease was recorded: {same_id:?}");
}
