//! A refused request consumes nothing: no team or account token, no lease, no hold, whichever
//! limit refused it (each test then proves the state is exactly as before the refusal).

use limiter::RefusedBy;

use crate::support::{TestLimiter, admit, again, request, seed};

behaviour_tests!(
    a_budget_refusal_takes_no_token_lease_or_hold,
    a_team_rate_refusal_takes_no_account_token_or_hold,
    a_team_concurrency_refusal_takes_no_token_or_hold,
    an_account_rate_refusal_takes_no_team_token_lease_or_hold,
    an_account_concurrency_refusal_takes_no_token_lease_or_hold,
);

async fn a_budget_refusal_takes_no_token_lease_or_hold(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.team.burst = 3;
    r.team.rps = 0.001;
    r.account.burst = 10;
    r.account.rps_per_endpoint = 0.001;
    r.team.budget = Some(10);
    r.estimate = 7;
    seed(&**limiter, &r).await;
    let first = admit(&**limiter, &again(&r)).await;
    assert!(first.is_admitted());

    let refused = admit(&**limiter, &again(&r)).await;
    assert_eq!(refused.refused_by(), Some(RefusedBy::Budget));
    assert_eq!(refused.team_concurrency.current, 1);
    assert_eq!(refused.budget.held, 7);
    let totals = limiter.budget_totals("team-a", &r.period).await.unwrap();
    assert_eq!(totals.held, 7);

    let mut small = again(&r);
    small.estimate = 1;
    let next = admit(&**limiter, &small).await;
    assert!(next.is_admitted());
    assert_eq!(next.team_rate.remaining, 1, "3 - first - next");
    assert_eq!(next.account_rate.remaining, 8, "10 - first - next");
    assert_eq!(next.team_concurrency.current, 2);
    assert_eq!(next.budget.held, 8);
}

async fn a_team_rate_refusal_takes_no_account_token_or_hold(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.team.burst = 1;
    r.team.rps = 0.001;
    r.account.burst = 10;
    r.account.rps_per_endpoint = 0.001;
    r.team.budget = Some(100);
    seed(&**limiter, &r).await;
    assert!(admit(&**limiter, &again(&r)).await.is_admitted());
    let refused = admit(&**limiter, &again(&r)).await;
    assert_eq!(refused.refused_by(), Some(RefusedBy::TeamRate));
    assert_eq!(refused.team_concurrency.current, 1);
    let totals = limiter.budget_totals("team-a", &r.period).await.unwrap();
    assert_eq!(totals.held, r.estimate);

    let mut other_team = again(&r);
    other_team.team_id = "team-b".into();
    seed(&**limiter, &other_team).await;
    let next = admit(&**limiter, &other_team).await;
    assert!(next.is_admitted());
    assert_eq!(
        next.account_rate.remaining, 8,
        "10 - team-a's one - this one"
    );
}

async fn a_team_concurrency_refusal_takes_no_token_or_hold(limiter: &TestLimiter) {
    let mut r = request("team-a");
    r.team.concurrency = 1;
    r.team.burst = 5;
    r.team.rps = 0.001;
    r.account.burst = 10;
    r.account.rps_per_endpoint = 0.001;
    r.team.budget = Some(100);
    seed(&**limiter, &r).await;
    let first = admit(&**limiter, &again(&r)).await.into_lease().unwrap();
    let refused = admit(&**limiter, &again(&r)).await;
    assert_eq!(refused.refused_by(), Some(RefusedBy::TeamConcurrency));
    assert_eq!(refused.retry_after_ms(), None);
    assert_eq!(refused.team_concurrency.current, 1);
    let totals = limiter.budget_totals("team-a", &r.period).await.unwrap();
    assert_eq!(totals.held, r.estimate);

    limiter.release(&first).await.unwrap();
    let next = admit(&**limiter, &again(&r)).await;
    assert!(next.is_admitted());
    assert_eq!(next.team_rate.remaining, 3, "5 - first - next");
    assert_eq!(next.account_rate.remaining, 8, "10 - first - next");
    assert_eq!(next.budget.held, r.estimate);
}

async fn an_account_rate_refusal_takes_no_team_token_lease_or_hold(limiter: &TestLimiter) {
    let mut a = request("team-a");
    a.account.burst = 1;
    a.account.rps_per_endpoint = 0.001;
    let mut b = again(&a);
    b.team_id = "team-b".into();
    b.team.burst = 4;
    b.team.rps = 0.001;
    b.team.budget = Some(100);
    seed(&**limiter, &b).await;
    assert!(admit(&**limiter, &a).await.is_admitted());

    let refused = admit(&**limiter, &b).await;
    assert_eq!(refused.refused_by(), Some(RefusedBy::AccountRate));
    assert_eq!(refused.team_concurrency.current, 0);
    assert_eq!(refused.account_concurrency.current, 1);
    let totals = limiter.budget_totals("team-b", &b.period).await.unwrap();
    assert_eq!(totals.held, 0);

    let mut elsewhere = again(&b);
    elsewhere.endpoint = "google".into();
    let next = admit(&**limiter, &elsewhere).await;
    assert!(next.is_admitted());
    assert_eq!(next.team_rate.remaining, 3, "4 - this one only");
    assert_eq!(next.team_concurrency.current, 1);
    assert_eq!(next.account_concurrency.current, 2);
    assert_eq!(next.budget.held, b.estimate);
}

async fn an_account_concurrency_refusal_takes_no_token_lease_or_hold(limiter: &TestLimiter) {
    let mut a = request("team-a");
    a.account.concurrency = 1;
    a.account.burst = 10;
    a.account.rps_per_endpoint = 0.001;
    let mut b = again(&a);
    b.team_id = "team-b".into();
    b.team.burst = 3;
    b.team.rps = 0.001;
    b.team.budget = Some(100);
    seed(&**limiter, &b).await;
    let first = admit(&**limiter, &a).await.into_lease().unwrap();

    let refused = admit(&**limiter, &b).await;
    assert_eq!(refused.refused_by(), Some(RefusedBy::AccountConcurrency));
    assert_eq!(refused.retry_after_ms(), None);
    assert_eq!(refused.team_concurrency.current, 0);
    assert_eq!(refused.account_concurrency.current, 1);
    let totals = limiter.budget_totals("team-b", &b.period).await.unwrap();
    assert_eq!(totals.held, 0);

    limiter.release(&first).await.unwrap();
    let next = admit(&**limiter, &again(&b)).await;
    assert!(next.is_admitted());
    assert_eq!(next.team_rate.remaining, 2, "3 - this one only");
    assert_eq!(next.account_rate.remaining, 8, "10 - first - this one");
    assert_eq!(next.team_concurrency.current, 1);
    assert_eq!(next.budget.held, b.estimate);
}
