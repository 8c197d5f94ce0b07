//! Lease life cycle: an expired lease (a crashed replica's) is reclaimed by the next
//! admission together with its hold; renewing keeps a long call's lease; a late settlement
//! still records its charge once; lease ids cannot be reused while in use. (Renewing a lease
//! that expired or was lost: `state_loss.rs`.)

use std::time::Duration;

use limiter::{Lease, LimiterError, RefusedBy, SettleOutcome};

use crate::support::{TestLimiter, admit, again, request, seed};

behaviour_tests!(
    expired_leases_are_reclaimed_with_their_holds,
    renewing_keeps_a_lease_past_its_ttl,
    a_live_lease_id_cannot_be_admitted_twice,
    a_reclaimed_lease_id_cannot_be_admitted_again,
    releasing_a_lease_that_was_never_granted_changes_nothing,
    invalid_requests_are_refused_before_any_work,
);

async fn expired_leases_are_reclaimed_with_their_holds(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.team.concurrency = 1;
    r.account.concurrency = 1;
    r.team.budget = Some(100);
    r.estimate = 10;
    r.lease_ttl_ms = 500;
    seed(&**limiter, &r).await;
    // The "crashed" request: admitted, never settled or renewed.
    let crashed = admit(&**limiter, &r).await.into_lease().unwrap();
    let blocked = admit(&**limiter, &again(&r)).await;
    assert_eq!(blocked.refused_by(), Some(RefusedBy::TeamConcurrency));
    assert!(blocked.reclaimed.is_empty());

    tokio::time::sleep(Duration::from_millis(700)).await;
    // Reads leave expired holds out even before anything reclaims them.
    let totals = limiter.budget_totals("team-a", &r.period).await.unwrap();
    assert_eq!(totals.held, 0);

    let before = limiter.reclaim_stats();
    let next = admit(&**limiter, &again(&r)).await;
    assert!(next.is_admitted(), "{next:?}");
    assert_eq!(next.reclaimed.team_slots, 1);
    assert_eq!(next.reclaimed.account_slots, 1);
    assert_eq!(next.reclaimed.hold_credits, 10);
    assert_eq!(next.budget.held, 10, "only the new request's hold");
    let after = limiter.reclaim_stats();
    assert_eq!(after.team_slots - before.team_slots, 1);
    assert_eq!(after.account_slots - before.account_slots, 1);
    assert_eq!(after.hold_credits - before.hold_credits, 10);

    // If the "crashed" call did finish after all, its charge is still recorded, once.
    let late = limiter.settle(&crashed, 4).await.unwrap();
    assert_eq!(late.outcome, SettleOutcome::SettledAfterReclaim);
    assert_eq!(late.returned_to_budget, -4);
    assert!(!late.released_team_slot && !late.released_account_slot);
    assert_eq!((late.totals.charged, late.totals.held), (4, 10));
    assert_eq!(
        limiter.reclaim_stats().late_settlements - before.late_settlements,
        1
    );
    let twice = limiter.settle(&crashed, 4).await.unwrap();
    assert_eq!(twice.outcome, SettleOutcome::AlreadySettled);
    assert_eq!(twice.totals.charged, 4);

    let settled = limiter.settle(next.lease().unwrap(), 10).await.unwrap();
    assert_eq!(settled.outcome, SettleOutcome::Settled);
    assert_eq!((settled.totals.charged, settled.totals.held), (14, 0));
}

async fn renewing_keeps_a_lease_past_its_ttl(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.team.concurrency = 1;
    r.lease_ttl_ms = 1_000;
    let lease = admit(&**limiter, &r).await.into_lease().unwrap();
    assert!(lease.expires_at_ms() > 0);
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let renewal = limiter.renew(&lease).await.unwrap();
        assert!(!renewal.recreated(), "{renewal:?}");
    }
    // 1.5 s later, past the TTL: still held, nothing reclaimed.
    let blocked = admit(&**limiter, &again(&r)).await;
    assert_eq!(blocked.refused_by(), Some(RefusedBy::TeamConcurrency));
    assert!(blocked.reclaimed.is_empty());

    assert_eq!(
        limiter.release(&lease).await.unwrap().outcome,
        SettleOutcome::Settled
    );
    assert!(admit(&**limiter, &again(&r)).await.is_admitted());
}

async fn a_live_lease_id_cannot_be_admitted_twice(limiter: &TestLimiter) {
    let r = request("team-a");
    assert!(admit(&**limiter, &r).await.is_admitted());
    let twice = limiter.admit(&r).await;
    assert!(
        matches!(twice, Err(LimiterError::InvalidRequest(_))),
        "{twice:?}"
    );
    let totals = limiter.budget_totals("team-a", &r.period).await.unwrap();
    assert_eq!(totals.held, r.estimate, "the duplicate took nothing");
}

async fn a_reclaimed_lease_id_cannot_be_admitted_again(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.team.budget = Some(100);
    r.estimate = 10;
    r.lease_ttl_ms = 300;
    seed(&**limiter, &r).await;
    assert!(admit(&**limiter, &r).await.is_admitted());
    tokio::time::sleep(Duration::from_millis(450)).await;
    // Another request reclaims the expired lease: its id leaves every lease set, and the budget
    // remembers it as reclaimed (so its late settlement still counts once).
    let next = admit(&**limiter, &again(&r)).await;
    assert_eq!(next.reclaimed.hold_credits, 10, "{next:?}");
    let reused = limiter.admit(&r).await;
    assert!(
        matches!(reused, Err(LimiterError::InvalidRequest(_))),
        "{reused:?}"
    );
    let totals = limiter.budget_totals("team-a", &r.period).await.unwrap();
    assert_eq!(totals.held, 10, "only the second request's hold");
}

async fn releasing_a_lease_that_was_never_granted_changes_nothing(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.team.budget = Some(100);
    seed(&**limiter, &r).await;
    let held = admit(&**limiter, &again(&r)).await;
    assert!(held.is_admitted());
    // e.g. the admission timed out before reaching Redis.
    let never = Lease::for_request(&r);
    let released = limiter.release(&never).await.unwrap();
    assert_eq!(released.outcome, SettleOutcome::AlreadySettled);
    assert_eq!(released.budget_left, Some(100 - r.estimate));
    let totals = limiter.budget_totals("team-a", &r.period).await.unwrap();
    assert_eq!((totals.charged, totals.held), (0, r.estimate));
}

async fn invalid_requests_are_refused_before_any_work(limiter: &TestLimiter) {
    let mut bad_team = request("team:a");
    bad_team.team_id = "team:a".into();
    let mut bad_rate = request("team-a");
    bad_rate.team.rps = 0.0;
    let mut bad_estimate = request("team-a");
    bad_estimate.estimate = -1;
    for r in [bad_team, bad_rate, bad_estimate] {
        let result = limiter.admit(&r).await;
        assert!(
            matches!(result, Err(LimiterError::InvalidRequest(_))),
            "{result:?}"
        );
    }
    let lease = admit(&**limiter, &request("team-a"))
        .await
        .into_lease()
        .unwrap();
    let negative = limiter.settle(&lease, -3).await;
    assert!(matches!(negative, Err(LimiterError::InvalidRequest(_))));
    let totals = limiter
        .budget_totals("team-a", lease.period())
        .await
        .unwrap();
    assert_eq!(totals.charged, 0);
}
