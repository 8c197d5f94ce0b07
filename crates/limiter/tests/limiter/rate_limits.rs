//! Token buckets: burst honoured, refill at the configured rate (timed by the backend's own
//! clock), and the account's per-endpoint bucket shared by every team.

use limiter::RefusedBy;

use crate::support::{TestLimiter, admit, again, request};

behaviour_tests!(
    burst_is_honoured,
    bucket_refills_at_its_rate,
    account_bucket_is_shared_by_teams_per_endpoint,
);

async fn burst_is_honoured(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.team.burst = 5;
    r.team.rps = 0.01;
    for expected_remaining in (0..5).rev() {
        let admission = admit(&**limiter, &again(&r)).await;
        assert!(admission.is_admitted(), "{admission:?}");
        assert_eq!(admission.team_rate.remaining, expected_remaining);
    }
    let refused = admit(&**limiter, &again(&r)).await;
    assert_eq!(refused.refused_by(), Some(RefusedBy::TeamRate));
    // One token at 0.01 rps takes up to 100 s.
    let wait = refused.retry_after_ms().unwrap();
    assert!((99_000..=100_000).contains(&wait), "{wait}");
    assert_eq!(refused.team_rate.remaining, 0);
}

async fn bucket_refills_at_its_rate(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.team.burst = 10;
    r.team.rps = 10.0;
    let mut drained_at = 0;
    for _ in 0..10 {
        let admission = admit(&**limiter, &again(&r)).await;
        assert!(admission.is_admitted());
        drained_at = admission.now_ms;
    }
    let refused = admit(&**limiter, &again(&r)).await;
    assert_eq!(refused.refused_by(), Some(RefusedBy::TeamRate));
    let wait = refused.retry_after_ms().unwrap();
    assert!((1..=100).contains(&wait), "one token at 10 rps: {wait} ms");

    tokio::time::sleep(std::time::Duration::from_millis(450)).await;
    let mut admitted = 0;
    let last = loop {
        let admission = admit(&**limiter, &again(&r)).await;
        if !admission.is_admitted() {
            assert_eq!(admission.refused_by(), Some(RefusedBy::TeamRate));
            break admission.now_ms;
        }
        admitted += 1;
    };
    // Tokens refilled between the drain and the last attempt, by the backend's clock (the
    // drain itself may have left up to one token's worth of fraction: allow one either way).
    let refilled = (last - drained_at) as f64 * 10.0 / 1000.0;
    assert!(
        (admitted as f64) >= refilled.floor() - 1.0 && (admitted as f64) <= refilled.ceil() + 1.0,
        "admitted {admitted} after {refilled:.2} tokens of refill"
    );
    assert!(
        admitted >= 3,
        "450 ms at 10 rps refills at least 4 tokens: {admitted}"
    );
}

async fn account_bucket_is_shared_by_teams_per_endpoint(limiter: &TestLimiter) {
    let mut a = request("team-a");
    a.account.burst = 4;
    a.account.rps_per_endpoint = 0.01;
    let mut b = again(&a);
    b.team_id = "team-b".into();

    for r in [&a, &a, &b, &b] {
        assert!(admit(&**limiter, &again(r)).await.is_admitted());
    }
    for r in [&a, &b] {
        let refused = admit(&**limiter, &again(r)).await;
        assert_eq!(refused.refused_by(), Some(RefusedBy::AccountRate));
        assert!(refused.refused_by().unwrap().is_account_limit());
        assert!(refused.retry_after_ms().unwrap() > 0);
        assert_eq!(refused.account_rate.remaining, 0);
    }
    // Each endpoint has its own account bucket.
    let mut other_endpoint = again(&a);
    other_endpoint.endpoint = "google".into();
    let admitted = admit(&**limiter, &other_endpoint).await;
    assert!(admitted.is_admitted());
    assert_eq!(admitted.account_rate.remaining, 3);
}
