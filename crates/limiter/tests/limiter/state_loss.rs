//! Redis losing its state (restart without persistence, FLUSHDB, failover) never resets a
//! team's budget, and leases and holds come back: a budget refuses (`BudgetUnseeded`, taking
//! nothing) until the ledger seeds it, seeding happens once, the reconciler corrects by
//! compare-and-set, renewing re-creates what is missing, and the state marker tells the
//! gateway when to reconcile. Redis-only tests delete every key under the test's prefix.

use std::time::Duration;

use limiter::{Lease, LimiterError, RefusedBy, Renewal, SettleOutcome};

use crate::support::{TestLimiter, admit, again, connection, delete_keys_under, request, seed};

behaviour_tests!(
    an_unseeded_budget_refuses_and_takes_nothing,
    seeding_is_applied_once,
    the_seed_overwrites_a_settlement_on_an_unseeded_budget,
    correct_charged_applies_only_if_nothing_settled_in_between,
    budget_state_lists_the_holds,
    the_state_marker_is_false_then_true,
    renewing_an_expired_lease_re_scores_it,
    renewing_a_reclaimed_lease_takes_its_slots_back_but_not_its_hold,
);

async fn an_unseeded_budget_refuses_and_takes_nothing(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.team.budget = Some(100);
    r.team.burst = 3;
    r.team.rps = 0.001;
    r.account.burst = 10;
    r.account.rps_per_endpoint = 0.001;
    for hard in [true, false] {
        r.team.hard_budget = hard;
        let refused = admit(&**limiter, &again(&r)).await;
        assert_eq!(refused.refused_by(), Some(RefusedBy::BudgetUnseeded));
        assert!(!RefusedBy::BudgetUnseeded.is_account_limit());
        assert_eq!(refused.retry_after_ms(), None);
        assert!(!refused.budget.over_budget);
        assert_eq!(refused.team_concurrency.current, 0);
        // Nor does it wait in the fair queue.
        let waited = limiter
            .admit_or_wait(&again(&r), 1, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(waited.refused_by(), Some(RefusedBy::BudgetUnseeded));
    }
    let totals = limiter.budget_totals("team-a", &r.period).await.unwrap();
    assert_eq!((totals.charged, totals.held), (0, 0));
    assert!(
        !limiter
            .budget_state("team-a", &r.period)
            .await
            .unwrap()
            .seeded
    );

    // The duplicate-lease check still comes first: a live lease (admitted without a budget)
    // cannot be admitted again under a budget.
    let mut unbudgeted = again(&r);
    unbudgeted.team.budget = None;
    assert!(admit(&**limiter, &unbudgeted).await.is_admitted());
    let mut same_id = unbudgeted.clone();
    same_id.team.budget = Some(100);
    let duplicate = limiter.admit(&same_id).await;
    assert!(
        matches!(duplicate, Err(LimiterError::InvalidRequest(_))),
        "{duplicate:?}"
    );

    seed(&**limiter, &r).await;
    let admitted = admit(&**limiter, &again(&r)).await;
    assert!(admitted.is_admitted(), "{admitted:?}");
    assert_eq!(admitted.team_rate.remaining, 1, "3 - unbudgeted - this one");
    assert_eq!(
        admitted.account_rate.remaining, 8,
        "10 - unbudgeted - this one"
    );
    assert_eq!(admitted.team_concurrency.current, 2);
    assert_eq!(admitted.budget.held, 2 * r.estimate);
}

async fn seeding_is_applied_once(limiter: &TestLimiter) {
    let r = request("team-a");
    assert!(limiter.seed_charged("team-a", &r.period, 40).await.unwrap());
    assert!(!limiter.seed_charged("team-a", &r.period, 70).await.unwrap());
    assert!(!limiter.seed_charged("team-a", &r.period, 0).await.unwrap());
    let state = limiter.budget_state("team-a", &r.period).await.unwrap();
    assert!(state.seeded);
    assert_eq!((state.charged, state.held), (40, 0));
    // Other teams and periods are seeded separately.
    assert!(
        !limiter
            .budget_state("team-b", &r.period)
            .await
            .unwrap()
            .seeded
    );
    let next = limiter::BudgetPeriod::new("2026-12", r.period.ends_at_ms + 1_000);
    assert!(limiter.seed_charged("team-a", &next, 0).await.unwrap());
    let invalid = limiter.seed_charged("team-a", &r.period, -1).await;
    assert!(matches!(invalid, Err(LimiterError::InvalidRequest(_))));
}

async fn the_seed_overwrites_a_settlement_on_an_unseeded_budget(limiter: &TestLimiter) {
    // Requests without a budget still hold and charge, on an unseeded period.
    let r = request("team-a");
    let settled = admit(&**limiter, &again(&r)).await.into_lease().unwrap();
    let in_flight = admit(&**limiter, &again(&r)).await.into_lease().unwrap();
    assert_eq!(limiter.settle(&settled, 7).await.unwrap().totals.charged, 7);
    let before = limiter.budget_state("team-a", &r.period).await.unwrap();
    assert!(!before.seeded);
    assert_eq!((before.charged, before.held), (7, r.estimate));

    // The ledger's total replaces it; the hold of the request in flight stays.
    assert!(limiter.seed_charged("team-a", &r.period, 30).await.unwrap());
    let after = limiter.budget_state("team-a", &r.period).await.unwrap();
    assert!(after.seeded);
    assert_eq!((after.charged, after.held), (30, r.estimate));
    assert_eq!(
        after.holds,
        vec![(in_flight.lease_id().to_owned(), r.estimate)]
    );

    let done = limiter.settle(&in_flight, 2).await.unwrap();
    assert_eq!(done.outcome, SettleOutcome::Settled);
    assert_eq!((done.totals.charged, done.totals.held), (32, 0));
}

async fn correct_charged_applies_only_if_nothing_settled_in_between(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.team.budget = Some(1_000);
    // Never on an unseeded period (the seed decides its first value).
    let unseeded = limiter
        .correct_charged("team-a", &r.period, 0, 10)
        .await
        .unwrap();
    assert!(!unseeded.applied);
    assert!(
        !limiter
            .budget_state("team-a", &r.period)
            .await
            .unwrap()
            .seeded
    );

    assert!(limiter.seed_charged("team-a", &r.period, 10).await.unwrap());
    let read = limiter.budget_state("team-a", &r.period).await.unwrap();
    let lease = admit(&**limiter, &r).await.into_lease().unwrap();
    limiter.settle(&lease, 5).await.unwrap();
    let stale = limiter
        .correct_charged("team-a", &r.period, read.charged, 12)
        .await
        .unwrap();
    assert!(!stale.applied, "a settlement came in between");
    assert_eq!(stale.totals.charged, 15);

    let held = admit(&**limiter, &again(&r)).await;
    assert!(held.is_admitted());
    let fresh = limiter
        .correct_charged("team-a", &r.period, 15, 12)
        .await
        .unwrap();
    assert!(fresh.applied);
    assert_eq!((fresh.totals.charged, fresh.totals.held), (12, r.estimate));
    let totals = limiter.budget_totals("team-a", &r.period).await.unwrap();
    assert_eq!((totals.charged, totals.held), (12, r.estimate));
}

async fn budget_state_lists_the_holds(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.team.budget = Some(100);
    seed(&**limiter, &r).await;
    let mut leases = Vec::new();
    for estimate in [3, 4, 6] {
        let mut next = again(&r);
        next.estimate = estimate;
        leases.push(admit(&**limiter, &next).await.into_lease().unwrap());
    }
    limiter.settle(&leases[2], 5).await.unwrap();

    let state = limiter.budget_state("team-a", &r.period).await.unwrap();
    let mut expected: Vec<(String, i64)> = leases[..2]
        .iter()
        .map(|l| (l.lease_id().to_owned(), l.estimate()))
        .collect();
    expected.sort();
    assert!(state.seeded);
    assert_eq!((state.charged, state.held), (5, 7));
    assert_eq!(state.holds, expected);

    let empty = limiter.budget_state("team-z", &r.period).await.unwrap();
    assert_eq!(empty, limiter::BudgetState::default());
}

async fn the_state_marker_is_false_then_true(limiter: &TestLimiter) {
    assert!(!limiter.state_marker().await.unwrap(), "first call");
    assert!(limiter.state_marker().await.unwrap());
    assert!(limiter.state_marker().await.unwrap());
}

async fn renewing_an_expired_lease_re_scores_it(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.team.concurrency = 1;
    r.team.budget = Some(100);
    r.estimate = 10;
    r.lease_ttl_ms = 1_000;
    seed(&**limiter, &r).await;
    let lease = admit(&**limiter, &r).await.into_lease().unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let expired = limiter.budget_totals("team-a", &r.period).await.unwrap();
    assert_eq!(expired.held, 0, "expired, not yet reclaimed");

    // Still there, only expired: nothing to re-create, it is live again.
    assert_eq!(limiter.renew(&lease).await.unwrap(), Renewal::default());
    let live = limiter.budget_totals("team-a", &r.period).await.unwrap();
    assert_eq!(live.held, 10);
    let blocked = admit(&**limiter, &again(&r)).await;
    assert_eq!(blocked.refused_by(), Some(RefusedBy::TeamConcurrency));
    assert!(blocked.reclaimed.is_empty());

    let settled = limiter.settle(&lease, 8).await.unwrap();
    assert_eq!(settled.outcome, SettleOutcome::Settled);
    assert_eq!((settled.totals.charged, settled.totals.held), (8, 0));
}

async fn renewing_a_reclaimed_lease_takes_its_slots_back_but_not_its_hold(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.team.concurrency = 2;
    r.account.concurrency = 2;
    r.team.budget = Some(100);
    r.estimate = 10;
    r.lease_ttl_ms = 1_000;
    seed(&**limiter, &r).await;
    let slow = admit(&**limiter, &r).await.into_lease().unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let mut next = again(&r);
    next.lease_ttl_ms = 30_000;
    let next = admit(&**limiter, &next).await;
    assert_eq!(next.reclaimed.hold_credits, 10);

    let renewal = limiter.renew(&slow).await.unwrap();
    assert!(renewal.recreated_team_lease && renewal.recreated_account_lease);
    assert!(!renewal.restored_hold, "its hold was already returned");
    assert!(renewal.recreated());
    let again_renewed = limiter.renew(&slow).await.unwrap();
    assert_eq!(again_renewed, Renewal::default(), "nothing restored twice");
    let totals = limiter.budget_totals("team-a", &r.period).await.unwrap();
    assert_eq!(totals.held, 10, "only the next request's hold");
    // Both slots are taken again.
    let full = admit(&**limiter, &again(&r)).await;
    assert_eq!(full.refused_by(), Some(RefusedBy::TeamConcurrency));

    let late = limiter.settle(&slow, 4).await.unwrap();
    assert_eq!(late.outcome, SettleOutcome::SettledAfterReclaim);
    assert!(late.released_team_slot && late.released_account_slot);
    assert_eq!((late.totals.charged, late.totals.held), (4, 10));
    let twice = limiter.settle(&slow, 4).await.unwrap();
    assert_eq!(twice.outcome, SettleOutcome::AlreadySettled);
    assert_eq!(twice.totals.charged, 4);
}

/// Redis-only: the test's keys are deleted as FLUSHDB would.
async fn flush(limiter: &TestLimiter) {
    delete_keys_under(limiter.redis_prefix.as_deref().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_flush_renew_restores_leases_and_holds() {
    let limiter = TestLimiter::redis();
    let mut r = request("team-a");
    r.team.budget = Some(100);
    r.estimate = 10;
    seed(&*limiter, &r).await;
    let with_slot = admit(&*limiter, &r).await.into_lease().unwrap();
    let mut no_slot = again(&r);
    no_slot.estimate = 5;
    no_slot.takes_account_slot = false;
    let no_slot = admit(&*limiter, &no_slot).await.into_lease().unwrap();

    flush(&limiter).await;
    let lost = limiter.budget_totals("team-a", &r.period).await.unwrap();
    assert_eq!((lost.charged, lost.held), (0, 0));

    let all = Renewal {
        recreated_team_lease: true,
        recreated_account_lease: true,
        restored_hold: true,
    };
    assert_eq!(limiter.renew(&with_slot).await.unwrap(), all);
    let team_only = Renewal {
        recreated_account_lease: false,
        ..all
    };
    assert_eq!(limiter.renew(&no_slot).await.unwrap(), team_only);
    assert!(!limiter.renew(&with_slot).await.unwrap().recreated());

    let totals = limiter.budget_totals("team-a", &r.period).await.unwrap();
    assert_eq!((totals.charged, totals.held), (0, 15));
    let state = limiter.budget_state("team-a", &r.period).await.unwrap();
    assert!(!state.seeded);
    let mut holds = vec![
        (with_slot.lease_id().to_owned(), 10),
        (no_slot.lease_id().to_owned(), 5),
    ];
    holds.sort();
    assert_eq!(state.holds, holds);

    // The account slot and its owner are back: a one-slot account is full.
    let mut other = request("team-b");
    other.account.concurrency = 1;
    let full = admit(&*limiter, &other).await;
    assert_eq!(full.refused_by(), Some(RefusedBy::AccountConcurrency));
    let mut team_full = again(&r);
    team_full.team.budget = None;
    team_full.team.concurrency = 2;
    let team = admit(&*limiter, &team_full).await;
    assert_eq!(team.refused_by(), Some(RefusedBy::TeamConcurrency));

    // The ledger seeds the period again; the restored holds stay and settle exactly once.
    assert!(limiter.seed_charged("team-a", &r.period, 0).await.unwrap());
    let settled = limiter.settle(&with_slot, 8).await.unwrap();
    assert_eq!(settled.outcome, SettleOutcome::Settled);
    assert!(settled.released_team_slot && settled.released_account_slot);
    assert_eq!((settled.totals.charged, settled.totals.held), (8, 5));
    let twice = limiter.settle(&with_slot, 8).await.unwrap();
    assert_eq!(twice.outcome, SettleOutcome::AlreadySettled);
    let last = limiter.settle(&no_slot, 5).await.unwrap();
    assert_eq!((last.totals.charged, last.totals.held), (13, 0));
    limiter.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_does_not_reset_a_hard_budget() {
    let limiter = TestLimiter::redis();
    let mut r = request("team-a");
    r.team.budget = Some(100);
    r.team.hard_budget = true;
    r.estimate = 98;
    seed(&*limiter, &r).await;
    let spent = admit(&*limiter, &r).await.into_lease().unwrap();
    assert_eq!(limiter.settle(&spent, 98).await.unwrap().totals.charged, 98);

    flush(&limiter).await;
    let mut small = again(&r);
    small.estimate = 1;
    for _ in 0..2 {
        let refused = admit(&*limiter, &again(&small)).await;
        assert_eq!(refused.refused_by(), Some(RefusedBy::BudgetUnseeded));
    }
    let untouched = limiter.budget_state("team-a", &r.period).await.unwrap();
    assert_eq!(untouched, limiter::BudgetState::default(), "nothing taken");

    // The gateway seeds from the ledger, which has the 98.
    assert!(limiter.seed_charged("team-a", &r.period, 98).await.unwrap());
    let mut five = again(&r);
    five.estimate = 5;
    let refused = admit(&*limiter, &five).await;
    assert_eq!(refused.refused_by(), Some(RefusedBy::Budget));
    assert_eq!(refused.budget_left(), Some(2));
    let mut two = again(&r);
    two.estimate = 2;
    assert!(admit(&*limiter, &two).await.is_admitted());
    limiter.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_marker_is_false_after_a_flush() {
    let limiter = TestLimiter::redis();
    assert!(!limiter.state_marker().await.unwrap());
    assert!(limiter.state_marker().await.unwrap());
    let key = format!(
        "{}{{{}}}:state",
        limiter.redis_prefix.as_deref().unwrap(),
        crate::support::ACCOUNT
    );
    let mut connection = connection().await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!((86_000_000..=86_400_000).contains(&ttl), "{ttl}");

    flush(&limiter).await;
    assert!(
        !limiter.state_marker().await.unwrap(),
        "Redis lost its state"
    );
    assert!(limiter.state_marker().await.unwrap());
    limiter.cleanup().await;
}

/// A lease from a replica that never reached Redis is harmless to release after a flush too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releasing_after_a_flush_changes_nothing() {
    let limiter = TestLimiter::redis();
    let mut r = request("team-a");
    r.team.budget = Some(100);
    seed(&*limiter, &r).await;
    flush(&limiter).await;
    let released = limiter.release(&Lease::for_request(&r)).await.unwrap();
    assert_eq!(released.outcome, SettleOutcome::AlreadySettled);
    let state = limiter.budget_state("team-a", &r.period).await.unwrap();
    assert_eq!(state, limiter::BudgetState::default());
    limiter.cleanup().await;
}
