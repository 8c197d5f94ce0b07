//! The account's fair queue, waiter by waiter: a waiter is admitted when a slot frees, times
//! out at its deadline leaving nothing behind, cannot block others past its expiry if its
//! caller vanishes, is not overtaken by plain admissions; other refusals never wait; replicas
//! share one queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use limiter::{Admission, AdmissionRequest, Limiter, LimiterError, RefusedBy};

use crate::support::{TestLimiter, admit, again, request, seed};

behaviour_tests!(
    a_waiter_gets_the_slot_that_frees,
    a_waiter_times_out_at_its_deadline_and_leaves_nothing,
    a_vanished_waiter_blocks_no_one_past_its_expiry,
    plain_admissions_do_not_overtake_waiters,
    other_refusals_never_wait,
    weights_are_validated,
);

fn one_slot(team: &str) -> AdmissionRequest {
    let mut r = request(team);
    r.account.concurrency = 1;
    r
}

fn wait_in_task(
    limiter: &TestLimiter,
    r: &AdmissionRequest,
    max_wait: Duration,
) -> tokio::task::JoinHandle<(Admission, Duration)> {
    let (limiter, r) = (limiter.limiter.clone(), r.clone());
    tokio::spawn(async move {
        let started = Instant::now();
        let admission = limiter.admit_or_wait(&r, 1, max_wait).await.unwrap();
        (admission, started.elapsed())
    })
}

async fn a_waiter_gets_the_slot_that_frees(limiter: &TestLimiter) {
    let holder = admit(&**limiter, &one_slot("team-a"))
        .await
        .into_lease()
        .unwrap();
    let waiter = wait_in_task(limiter, &one_slot("team-b"), Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiter.is_finished());
    limiter.release(&holder).await.unwrap();
    let (admission, waited) = waiter.await.unwrap();
    assert!(admission.is_admitted(), "{admission:?}");
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    assert_eq!(admission.account_concurrency.current, 1);
    limiter.release(admission.lease().unwrap()).await.unwrap();
}

async fn a_waiter_times_out_at_its_deadline_and_leaves_nothing(limiter: &TestLimiter) {
    let holder = admit(&**limiter, &one_slot("team-a"))
        .await
        .into_lease()
        .unwrap();
    let started = Instant::now();
    let refused = limiter
        .admit_or_wait(&one_slot("team-b"), 1, Duration::from_millis(300))
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(refused.refused_by(), Some(RefusedBy::AccountConcurrency));
    assert_eq!(refused.retry_after_ms(), None);
    // tokio's timer works in whole milliseconds: the deadline may fire a fraction early.
    assert!(waited >= Duration::from_millis(295), "{waited:?}");
    assert!(waited < Duration::from_millis(900), "{waited:?}");
    // Nothing of the waiter is left: once the slot frees, a plain admission of a third team
    // takes it at once (a leftover waiter would come first), and no queue key remains.
    limiter.release(&holder).await.unwrap();
    assert!(admit(&**limiter, &one_slot("team-c")).await.is_admitted());
    if let Some(prefix) = &limiter.redis_prefix {
        let left: Vec<_> = crate::support::keys_under(prefix)
            .await
            .into_iter()
            .filter(|k| k.contains(":acct:queue"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

async fn a_vanished_waiter_blocks_no_one_past_its_expiry(limiter: &TestLimiter) {
    let holder = admit(&**limiter, &one_slot("team-a"))
        .await
        .into_lease()
        .unwrap();
    // The first waiter's caller disappears (its replica died): it never polls again.
    let vanished = wait_in_task(limiter, &one_slot("team-v"), Duration::from_secs(30));
    tokio::time::sleep(Duration::from_millis(100)).await;
    vanished.abort();
    let waiter = wait_in_task(limiter, &one_slot("team-b"), Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let released_at = Instant::now();
    limiter.release(&holder).await.unwrap();
    let (admission, _) = waiter.await.unwrap();
    let after_release = released_at.elapsed();
    assert!(admission.is_admitted(), "{admission:?}");
    // Dropped at most the waiter TTL (1 s) after its last poll; it was older, so it did
    // hold team-b back until then.
    assert!(
        after_release < Duration::from_millis(1_500),
        "{after_release:?}"
    );
    assert!(
        after_release >= Duration::from_millis(500),
        "{after_release:?}"
    );
    limiter.release(admission.lease().unwrap()).await.unwrap();
}

async fn plain_admissions_do_not_overtake_waiters(limiter: &TestLimiter) {
    let holder = admit(&**limiter, &one_slot("team-a"))
        .await
        .into_lease()
        .unwrap();
    let waiter = wait_in_task(limiter, &one_slot("team-b"), Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(100)).await;
    limiter.release(&holder).await.unwrap();
    // The slot is free but team-b waits for it: team-c's plain admission must not take it.
    let late = admit(&**limiter, &one_slot("team-c")).await;
    assert_eq!(late.refused_by(), Some(RefusedBy::AccountConcurrency));
    let (admission, _) = waiter.await.unwrap();
    assert!(admission.is_admitted(), "{admission:?}");
    limiter.release(admission.lease().unwrap()).await.unwrap();
}

async fn other_refusals_never_wait(limiter: &TestLimiter) {
    let max_wait = Duration::from_secs(5);
    let quick = Duration::from_millis(500);
    let refused_by = |by: RefusedBy| Some(by);

    let mut team_full = one_slot("team-a");
    team_full.team.concurrency = 1;
    team_full.account.concurrency = 10;
    let held = admit(&**limiter, &team_full).await.into_lease().unwrap();
    let started = Instant::now();
    let refused = limiter
        .admit_or_wait(&again(&team_full), 1, max_wait)
        .await
        .unwrap();
    assert_eq!(refused.refused_by(), refused_by(RefusedBy::TeamConcurrency));
    assert!(started.elapsed() < quick);
    limiter.release(&held).await.unwrap();

    let mut rate = one_slot("team-b");
    rate.team.rps = 0.1;
    rate.team.burst = 1;
    assert!(admit(&**limiter, &rate).await.is_admitted());
    let started = Instant::now();
    let refused = limiter
        .admit_or_wait(&again(&rate), 1, max_wait)
        .await
        .unwrap();
    assert_eq!(refused.refused_by(), refused_by(RefusedBy::TeamRate));
    assert!(started.elapsed() < quick);

    let mut broke = one_slot("team-c");
    broke.team.budget = Some(3);
    broke.estimate = 5;
    seed(&**limiter, &broke).await;
    let started = Instant::now();
    let refused = limiter.admit_or_wait(&broke, 1, max_wait).await.unwrap();
    assert_eq!(refused.refused_by(), refused_by(RefusedBy::Budget));
    assert!(started.elapsed() < quick);
}

async fn weights_are_validated(limiter: &TestLimiter) {
    for weight in [0, limiter::MAX_WEIGHT + 1] {
        let result = limiter
            .admit_or_wait(&one_slot("team-a"), weight, Duration::from_secs(1))
            .await;
        assert!(
            matches!(result, Err(LimiterError::InvalidRequest(_))),
            "{weight}"
        );
    }
}

/// Two replicas share one queue: a waiter on one is admitted when a slot frees on the other,
/// ahead of the other replica's plain admissions.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_queue_is_shared_by_replicas() {
    let test = TestLimiter::redis();
    let prefix = test.redis_prefix.clone().unwrap();
    let second: Arc<dyn Limiter> = Arc::new(crate::support::redis_limiter(&prefix));
    let holder = admit(&*second, &one_slot("team-a"))
        .await
        .into_lease()
        .unwrap();
    let waiter = wait_in_task(&test, &one_slot("team-b"), Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(100)).await;
    second.release(&holder).await.unwrap();
    let late = admit(&*second, &one_slot("team-c")).await;
    assert_eq!(late.refused_by(), Some(RefusedBy::AccountConcurrency));
    let (admission, _) = waiter.await.unwrap();
    assert!(admission.is_admitted(), "{admission:?}");
    second.release(admission.lease().unwrap()).await.unwrap();
    test.cleanup().await;
}
