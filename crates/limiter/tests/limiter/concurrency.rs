//! Concurrency leases under contention: 200 simultaneous admissions never get more than the
//! limit, exactly the limit, round after round, for the team and the shared account.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::future::join_all;
use limiter::{Limiter, RefusedBy};

use crate::support::{TestLimiter, admit, admit_concurrently, again, request};

const CONTENDERS: usize = 200;
const LIMIT: u32 = 5;
const ROUNDS: usize = 5;

behaviour_tests!(
    team_concurrency_is_an_exact_bound,
    account_concurrency_is_an_exact_bound_across_teams,
    in_flight_never_exceeds_the_limit_under_churn,
    requests_without_an_upstream_slot_take_no_account_lease,
);

async fn team_concurrency_is_an_exact_bound(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.team.concurrency = LIMIT;
    exact_bound_rounds(
        std::slice::from_ref(&limiter.limiter),
        |_| again(&r),
        RefusedBy::TeamConcurrency,
    )
    .await;
}

async fn account_concurrency_is_an_exact_bound_across_teams(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.account.concurrency = LIMIT;
    let make = |i: usize| {
        let mut r = again(&r);
        r.team_id = format!("team-{}", i % 8);
        r
    };
    exact_bound_rounds(
        std::slice::from_ref(&limiter.limiter),
        make,
        RefusedBy::AccountConcurrency,
    )
    .await;
}

/// Two replicas (two `RedisLimiter`s on one key space) hold the account limit together.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_hold_the_account_concurrency_together() {
    let test = TestLimiter::redis();
    let prefix = test.redis_prefix.clone().unwrap();
    let second: Arc<dyn Limiter> = Arc::new(crate::support::redis_limiter(&prefix));
    let mut r = request("team-a");
    r.account.concurrency = LIMIT;
    let make = |i: usize| {
        let mut r = again(&r);
        r.team_id = format!("team-{}", i % 3);
        r
    };
    exact_bound_rounds(
        &[test.limiter.clone(), second],
        make,
        RefusedBy::AccountConcurrency,
    )
    .await;
    test.cleanup().await;
}

/// Each round: 200 admissions at once, exactly `LIMIT` admitted, then all released.
pub async fn exact_bound_rounds(
    limiters: &[Arc<dyn Limiter>],
    make: impl Fn(usize) -> limiter::AdmissionRequest,
    refused_by: RefusedBy,
) {
    for round in 0..ROUNDS {
        let requests = (0..CONTENDERS).map(&make).collect();
        let admissions = admit_concurrently(limiters, requests).await;
        let admitted: Vec<_> = admissions.iter().filter_map(|a| a.lease()).collect();
        assert_eq!(admitted.len(), LIMIT as usize, "round {round}");
        for refused in admissions.iter().filter(|a| !a.is_admitted()) {
            assert_eq!(refused.refused_by(), Some(refused_by), "round {round}");
        }
        for admission in admissions.iter().filter(|a| a.is_admitted()) {
            let current = match refused_by {
                RefusedBy::TeamConcurrency => admission.team_concurrency.current,
                _ => admission.account_concurrency.current,
            };
            assert!((1..=LIMIT).contains(&current), "round {round}: {current}");
        }
        for lease in admitted {
            let settled = limiters[0].release(lease).await.unwrap();
            assert!(settled.released_team_slot);
        }
    }
}

async fn in_flight_never_exceeds_the_limit_under_churn(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.team.concurrency = LIMIT;
    let rounds = async {
        for round in 0..3 {
            let in_flight = Arc::new(AtomicU32::new(0));
            let most = Arc::new(AtomicU32::new(0));
            let most_reported = Arc::new(AtomicU32::new(0));
            let tasks = (0..CONTENDERS).map(|_| {
                let (limiter, r) = (limiter.limiter.clone(), again(&r));
                let counters = (in_flight.clone(), most.clone(), most_reported.clone());
                tokio::spawn(async move {
                    let (in_flight, most, most_reported) = counters;
                    loop {
                        let admission = limiter.admit(&r).await.unwrap();
                        let Some(lease) = admission.lease() else {
                            assert_eq!(admission.refused_by(), Some(RefusedBy::TeamConcurrency));
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            continue;
                        };
                        // Record, never assert, while holding a lease: it is always settled.
                        most_reported
                            .fetch_max(admission.team_concurrency.current, Ordering::SeqCst);
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        limiter.settle(lease, 1).await.unwrap();
                        return;
                    }
                })
            });
            for task in join_all(tasks).await {
                task.unwrap();
            }
            let most = most.load(Ordering::SeqCst);
            assert!(most <= LIMIT, "round {round}: {most} in flight");
            assert!(most >= 2, "round {round}: no contention ({most})");
            let reported = most_reported.load(Ordering::SeqCst);
            assert_eq!(
                reported, LIMIT,
                "round {round}: X-Concurrent-Current peaked at {reported}"
            );
        }
    };
    tokio::time::timeout(Duration::from_secs(60), rounds)
        .await
        .unwrap();
    let totals = limiter.budget_totals("team-a", &r.period).await.unwrap();
    assert_eq!(totals.charged, 3 * CONTENDERS as i64);
    assert_eq!(totals.held, 0);
}

async fn requests_without_an_upstream_slot_take_no_account_lease(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.account.concurrency = 1;
    let first = admit(&**limiter, &again(&r)).await;
    assert!(first.is_admitted());
    assert_eq!(first.account_concurrency.current, 1);

    let mut goto = again(&r);
    goto.takes_account_slot = false;
    let admitted = admit(&**limiter, &goto).await;
    assert!(admitted.is_admitted(), "{admitted:?}");
    assert_eq!(admitted.account_concurrency.current, 1);
    assert_eq!(admitted.team_concurrency.current, 2);
    assert!(!admitted.lease().unwrap().holds_account_slot());

    let refused = admit(&**limiter, &again(&r)).await;
    assert_eq!(refused.refused_by(), Some(RefusedBy::AccountConcurrency));
    assert_eq!(refused.retry_after_ms(), None);
    assert_eq!(refused.account_concurrency.remaining(), 0);

    let settled = limiter.release(admitted.lease().unwrap()).await.unwrap();
    assert!(settled.released_team_slot && !settled.released_account_slot);
}
