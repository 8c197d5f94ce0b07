//! Credit holds against period budgets: a hard budget is never overrun under concurrency,
//! a soft one admits and flags, settlement returns the difference exactly once, and the
//! gateway seeds a period's charged total from the ledger once, then corrects it only by
//! compare-and-set. (Unseeded budgets and state loss: `state_loss.rs`.)

use limiter::{RefusedBy, SettleOutcome};

use crate::support::{TestLimiter, admit, admit_concurrently, again, request, seed};

behaviour_tests!(
    a_hard_budget_admits_exactly_what_fits,
    a_soft_budget_admits_and_flags,
    settling_returns_the_difference_once,
    no_budget_is_unlimited_but_tracked,
    the_ledger_seeds_once_and_corrects_by_compare_and_set,
);

async fn a_hard_budget_admits_exactly_what_fits(limiter: &TestLimiter) {
    for round in 0..3 {
        let mut r = request(&format!("team-{round}"));
        r.estimate = 7;
        r.team.budget = Some(100);
        seed(&**limiter, &r).await;
        let admissions = admit_concurrently(
            std::slice::from_ref(&limiter.limiter),
            (0..200).map(|_| again(&r)).collect(),
        )
        .await;
        let admitted = admissions.iter().filter(|a| a.is_admitted()).count();
        assert_eq!(admitted, 14, "round {round}: 14 x 7 = 98 <= 100 < 105");
        for refused in admissions.iter().filter(|a| !a.is_admitted()) {
            assert_eq!(refused.refused_by(), Some(RefusedBy::Budget));
            assert!(refused.budget.over_budget);
            assert_eq!(refused.budget_left(), Some(2));
            // Waiting helps only when the period ends (within the test's hour).
            let wait = refused.retry_after_ms().unwrap();
            assert!((3_000_000..=3_600_000).contains(&wait), "{wait}");
        }
        let totals = limiter.budget_totals(&r.team_id, &r.period).await.unwrap();
        assert_eq!((totals.charged, totals.held), (0, 98));
    }
}

async fn a_soft_budget_admits_and_flags(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.estimate = 7;
    r.team.budget = Some(10);
    r.team.hard_budget = false;
    seed(&**limiter, &r).await;
    let first = admit(&**limiter, &again(&r)).await;
    assert!(first.is_admitted() && !first.budget.over_budget);
    assert_eq!(first.budget_left(), Some(3));
    let second = admit(&**limiter, &again(&r)).await;
    assert!(second.is_admitted(), "{second:?}");
    assert!(second.budget.over_budget);
    assert_eq!(second.budget_left(), Some(-4));
    assert!(!second.budget.hard);
}

async fn settling_returns_the_difference_once(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.estimate = 12;
    r.team.budget = Some(100);
    seed(&**limiter, &r).await;
    let admission = admit(&**limiter, &r).await;
    assert_eq!(admission.budget_left(), Some(88));
    let lease = admission.into_lease().unwrap();

    let settled = limiter.settle(&lease, 7).await.unwrap();
    assert_eq!(settled.outcome, SettleOutcome::Settled);
    assert_eq!(settled.returned_to_budget, 5);
    assert_eq!(settled.charged_now, 7);
    assert_eq!(settled.budget_left, Some(93));
    assert!(settled.released_team_slot && settled.released_account_slot);
    assert_eq!((settled.totals.charged, settled.totals.held), (7, 0));

    for again in [
        limiter.settle(&lease, 7).await,
        limiter.release(&lease).await,
    ] {
        let again = again.unwrap();
        assert_eq!(again.outcome, SettleOutcome::AlreadySettled);
        assert_eq!((again.charged_now, again.returned_to_budget), (0, 0));
        assert!(!again.released_team_slot && !again.released_account_slot);
        assert_eq!(again.budget_left, Some(93));
    }
    let totals = limiter.budget_totals("team-a", &r.period).await.unwrap();
    assert_eq!((totals.charged, totals.held), (7, 0));

    // The next admission sees the settled numbers.
    let next = admit(&**limiter, &again(&r)).await;
    assert_eq!(next.budget_left(), Some(100 - 7 - 12));
    assert_eq!(next.team_concurrency.current, 1);
}

async fn no_budget_is_unlimited_but_tracked(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.estimate = limiter::MAX_CREDITS / 4;
    for _ in 0..3 {
        let admission = admit(&**limiter, &again(&r)).await;
        assert!(admission.is_admitted());
        assert_eq!(admission.budget_left(), None);
        assert!(!admission.budget.over_budget);
    }
    let totals = limiter.budget_totals("team-a", &r.period).await.unwrap();
    assert_eq!(totals.held, 3 * (limiter::MAX_CREDITS / 4));
}

async fn the_ledger_seeds_once_and_corrects_by_compare_and_set(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.estimate = 7;
    r.team.budget = Some(60);
    assert!(limiter.seed_charged("team-a", &r.period, 50).await.unwrap());
    // A second replica starting later does not overwrite it.
    assert!(!limiter.seed_charged("team-a", &r.period, 70).await.unwrap());
    let totals = limiter.budget_totals("team-a", &r.period).await.unwrap();
    assert_eq!((totals.charged, totals.held), (50, 0));

    let admitted = admit(&**limiter, &again(&r)).await;
    assert!(admitted.is_admitted());
    assert_eq!(admitted.budget_left(), Some(3));

    // The reconciler read 50 and the ledger says 55: applied, holds stay.
    let corrected = limiter
        .correct_charged("team-a", &r.period, 50, 55)
        .await
        .unwrap();
    assert!(corrected.applied);
    assert_eq!((corrected.totals.charged, corrected.totals.held), (55, 7));
    let refused = admit(&**limiter, &again(&r)).await;
    assert_eq!(refused.refused_by(), Some(RefusedBy::Budget));
    assert_eq!(refused.budget_left(), Some(-2));

    // A settlement lands between the reconciler's read (55) and its write: not applied, the
    // settlement's charge stays.
    let lease = admitted.into_lease().unwrap();
    assert_eq!(limiter.settle(&lease, 4).await.unwrap().totals.charged, 59);
    let stale = limiter
        .correct_charged("team-a", &r.period, 55, 56)
        .await
        .unwrap();
    assert!(!stale.applied);
    assert_eq!((stale.totals.charged, stale.totals.held), (59, 0));
    let state = limiter.budget_state("team-a", &r.period).await.unwrap();
    assert!(state.seeded);
    assert_eq!(state.charged, 59);
}
