//! Admission through the gateway: a team's rate, concurrency and hard budget, the account's
//! concurrency shared by teams and replicas, quota changes applied within seconds, refusals
//! in cloro's terms that cost nothing, and the Redis-down policy in both modes.

use accounting::TeamId;
use accounting::quotas::{self, QuotaValues};
use cloro_gateway::config::FailurePolicy;
use cloro_sim::SimConfig;
use e2e_tests::ledger::entries_for;
use e2e_tests::{Replica, TestApp};
use serde_json::{Value, json};
use std::time::Duration;

fn quota(rps: f64, burst: u32, concurrency: u32, budget: Option<i64>, hard: bool) -> QuotaValues {
    QuotaValues {
        rps,
        burst,
        concurrency,
        weight: 1,
        budget,
        hard_budget: hard,
        alert_threshold_pct: None,
        max_priority: quotas::DEFAULT_MAX_PRIORITY,
        max_queued_tasks: quotas::DEFAULT_MAX_QUEUED_TASKS,
    }
}

async fn set_quota(app: &TestApp, team: TeamId, values: QuotaValues) {
    quotas::set(&app.db, team, &values).await.unwrap();
    // Every replica picks quotas up with its directory refresh (100 ms in tests).
    tokio::time::sleep(Duration::from_millis(350)).await;
}

fn chatgpt() -> Value {
    json!({"prompt": "p", "country": "US"})
}

fn slow_sim() -> SimConfig {
    SimConfig {
        latency: "fixed:400ms".parse().unwrap(),
        concurrency_limit: 100,
        ..SimConfig::default()
    }
}

/// (status, error code, scope) of a response, consuming it.
async fn outcome(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
    let scope = body["error"]["details"]["scope"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    (status, code, scope)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_never_exceeds_its_concurrency_and_refusals_cost_nothing() {
    let app = TestApp::builder().sim(slow_sim()).spawn().await.unwrap();
    let team = app.create_team("alpha").await;
    set_quota(&app, team.id, quota(1000.0, 1000, 2, None, true)).await;
    let token = app.team_token("alpha").await;
    let calls = (0..6).map(|_| {
        app.post_json("/v1/monitor/chatgpt", &token, &chatgpt())
            .send()
    });
    let responses = futures::future::join_all(calls).await;
    let mut ok = 0;
    for response in responses {
        let response = response.unwrap();
        if response.status() == 200 {
            assert_eq!(response.headers()["x-concurrent-limit"], "2");
            ok += 1;
            continue;
        }
        assert!(response.headers().contains_key("retry-after"));
        assert_eq!(response.headers()["x-concurrent-limit"], "2");
        assert_eq!(response.headers()["x-concurrent-remaining"], "0");
        assert_eq!(
            outcome(response).await,
            (429, "CONCURRENT_LIMIT_EXCEEDED".into(), "team".into())
        );
    }
    assert_eq!(ok, 2, "exactly the team's two slots");
    assert!(app.sim.stats().peak_concurrency <= 2);
    assert_eq!(
        entries_for(&app, "alpha").await.len(),
        2,
        "refusals are not booked"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_team_over_its_rate_gets_429_with_retry_after() {
    let app = TestApp::spawn().await.unwrap();
    let team = app.create_team("alpha").await;
    set_quota(&app, team.id, quota(0.5, 2, 10, None, true)).await;
    let token = app.team_token("alpha").await;
    for expected_remaining in ["1", "0"] {
        let response = app
            .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-ratelimit-limit"], "1");
        assert_eq!(
            response.headers()["x-ratelimit-remaining"],
            expected_remaining
        );
        assert!(response.headers().contains_key("ratelimit-policy"));
        assert!(response.headers().contains_key("ratelimit"));
    }
    let refused = app
        .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
        .send()
        .await
        .unwrap();
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=2).contains(&retry_after),
        "a token every 2 s: {retry_after}"
    );
    assert_eq!(
        outcome(refused).await,
        (429, "RATE_LIMIT_EXCEEDED".into(), "team".into())
    );
    assert_eq!(app.sim.requests().len(), 2);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_hard_budget_refuses_and_a_soft_one_allows() {
    let app = TestApp::spawn().await.unwrap();
    let hard = app.create_team("hard").await;
    let soft = app.create_team("soft").await;
    set_quota(&app, hard.id, quota(1000.0, 1000, 10, Some(20), true)).await;
    set_quota(&app, soft.id, quota(1000.0, 1000, 10, Some(10), false)).await;
    let hard_token = app.team_token("hard").await;
    for left in ["13", "6"] {
        let response = app
            .post_json("/v1/monitor/chatgpt", &hard_token, &chatgpt())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-credits-remaining"], left);
    }
    let refused = app
        .post_json("/v1/monitor/chatgpt", &hard_token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.headers()["x-credits-remaining"], "6");
    assert_eq!(
        outcome(refused).await,
        (403, "INSUFFICIENT_CREDITS".into(), "team".into())
    );
    // goto is free: a spent budget still allows it.
    let free = app
        .post_json(
            "/v1/monitor/google/goto",
            &hard_token,
            &json!({"url": "https://www.google.com/search?q=a"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(free.status(), 200);

    let soft_token = app.team_token("soft").await;
    for _ in 0..3 {
        let response = app
            .post_json("/v1/monitor/chatgpt", &soft_token, &chatgpt())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "a soft budget allows");
    }
    // ...but flags what went past it, and counts it for the alert.
    let flags: Vec<Option<String>> = entries_for(&app, "soft")
        .await
        .into_iter()
        .map(|e| e.flag_reason)
        .collect();
    assert_eq!(
        flags,
        [
            None,
            Some("soft_budget_exceeded".into()),
            Some("soft_budget_exceeded".into())
        ]
    );
    assert_eq!(
        app.metric("cloro_gateway_soft_budget_overruns_total").await,
        2
    );
    app.shutdown().await.unwrap();
}

/// `calls` concurrent chatgpt calls, alternating team alpha on `app` and team beta on
/// `replica` (both teams are created here).
async fn two_teams_on_two_replicas(
    app: &TestApp,
    replica: &Replica,
    calls: usize,
) -> Vec<reqwest::Response> {
    app.create_team("alpha").await;
    app.create_team("beta").await;
    let alpha = app.team_token("alpha").await;
    let beta = app.team_token("beta").await;
    let requests = (0..calls).map(|i| {
        let (url, token) = if i % 2 == 0 {
            (app.url("/v1/monitor/chatgpt"), &alpha)
        } else {
            (replica.url("/v1/monitor/chatgpt"), &beta)
        };
        app.http
            .post(url)
            .bearer_auth(token)
            .json(&chatgpt())
            .send()
    });
    futures::future::join_all(requests)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_hold_the_account_concurrency_together() {
    let app = TestApp::builder()
        .sim(slow_sim())
        .settings(|s| {
            s.limits.account_concurrency = 3;
            s.limits.account_queue_wait_ms = 0;
        })
        .spawn()
        .await
        .unwrap();
    let replica = app.replica().await.unwrap();
    let mut ok = 0;
    for response in two_teams_on_two_replicas(&app, &replica, 8).await {
        if response.status() == 200 {
            ok += 1;
        } else {
            assert_eq!(
                outcome(response).await,
                (429, "CONCURRENT_LIMIT_EXCEEDED".into(), "account".into())
            );
        }
    }
    assert_eq!(ok, 3, "the account's three slots, across both replicas");
    assert!(app.sim.stats().peak_concurrency <= 3);
    assert_eq!(
        app.sim.stats().responses_429,
        0,
        "teams never see the upstream's 429"
    );
    replica.stop().await;
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_quota_change_applies_to_the_next_request() {
    let app = TestApp::spawn().await.unwrap();
    let team = app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    set_quota(&app, team.id, quota(1000.0, 1000, 10, Some(5), true)).await;
    let refused = app
        .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    set_quota(&app, team.id, quota(1000.0, 1000, 10, Some(100), true)).await;
    let allowed = app
        .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["x-credits-remaining"], "93");
    app.shutdown().await.unwrap();
}

async fn dead_redis_app(policy: FailurePolicy) -> TestApp {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    TestApp::builder()
        .settings(move |s| {
            s.redis.url = cloro_gateway::secret::Secret::new(format!("redis://127.0.0.1:{port}"));
            s.limits.redis_failure_policy = policy;
        })
        .spawn()
        .await
        .unwrap()
}

#[tokio::test]
async fn redis_down_fails_closed_by_default_and_open_when_configured() {
    let closed = dead_redis_app(FailurePolicy::Closed).await;
    closed.create_team("alpha").await;
    let token = closed.team_token("alpha").await;
    let response = closed
        .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(outcome(response).await.0, 503);
    assert!(closed.sim.requests().is_empty());
    closed.shutdown().await.unwrap();

    let open = dead_redis_app(FailurePolicy::Open).await;
    open.create_team("alpha").await;
    let token = open.team_token("alpha").await;
    let response = open
        .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(entries_for(&open, "alpha").await.len(), 1, "still booked");
    open.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_never_overshoot_a_hard_budget() {
    let app = TestApp::spawn().await.unwrap();
    let team = app.create_team("alpha").await;
    set_quota(&app, team.id, quota(1000.0, 1000, 100, Some(50), true)).await;
    let token = app.team_token("alpha").await;
    for round in 0..3 {
        let calls = (0..40).map(|_| {
            app.post_json("/v1/monitor/chatgpt", &token, &chatgpt())
                .send()
        });
        let mut ok = 0;
        for response in futures::future::join_all(calls).await {
            let response = response.unwrap();
            if response.status() == 200 {
                ok += 1;
            } else {
                assert_eq!(
                    outcome(response).await,
                    (403, "INSUFFICIENT_CREDITS".into(), "team".into())
                );
            }
        }
        let expected = if round == 0 { 7 } else { 0 };
        assert_eq!(
            ok, expected,
            "round {round}: 7 × 7 credits fit in 50, no more"
        );
    }
    let posted: i64 = entries_for(&app, "alpha")
        .await
        .iter()
        .filter_map(|e| e.charged)
        .map(|c| c.get())
        .sum();
    assert_eq!(posted, 49);
    assert_eq!(app.sim.stats().credits_charged, 49);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_wait_for_a_free_account_slot_in_the_fair_queue() {
    let app = TestApp::builder()
        .sim(SimConfig {
            latency: "fixed:300ms".parse().unwrap(),
            ..SimConfig::default()
        })
        .settings(|s| {
            s.limits.account_concurrency = 1;
            s.limits.account_queue_wait_ms = 5000;
        })
        .spawn()
        .await
        .unwrap();
    let replica = app.replica().await.unwrap();
    for response in two_teams_on_two_replicas(&app, &replica, 4).await {
        assert_eq!(
            response.status(),
            200,
            "each waits its turn instead of failing"
        );
    }
    let stats = app.sim.stats();
    assert_eq!(stats.peak_concurrency, 1, "one at a time upstream");
    assert_eq!(stats.responses_429, 0);

    // A wait longer than the deadline ends in the account's 429.
    let impatient = TestApp::builder()
        .sim(SimConfig {
            latency: "fixed:1500ms".parse().unwrap(),
            ..SimConfig::default()
        })
        .settings(|s| {
            s.limits.account_concurrency = 1;
            s.limits.account_queue_wait_ms = 200;
        })
        .spawn()
        .await
        .unwrap();
    impatient.create_team("alpha").await;
    let token = impatient.team_token("alpha").await;
    let first = impatient
        .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
        .send();
    let second = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        impatient
            .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
            .send()
            .await
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first.unwrap().status(), 200);
    assert_eq!(
        outcome(second.unwrap()).await,
        (429, "CONCURRENT_LIMIT_EXCEEDED".into(), "account".into())
    );
    impatient.shutdown().await.unwrap();
    replica.stop().await;
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_concurrency_429s_lower_the_account_limit_until_they_stop() {
    // cloro's plan allows 2, but the gateway was told 8 (its async tasks, say, use the rest).
    let app = TestApp::builder()
        .sim(SimConfig {
            concurrency_limit: 2,
            latency: "fixed:200ms".parse().unwrap(),
            ..SimConfig::default()
        })
        .settings(|s| {
            s.limits.account_concurrency = 8;
            s.limits.adaptive_recover_secs = 3600;
            s.upstream.retry_base_ms = 50;
        })
        .spawn()
        .await
        .unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    assert_eq!(
        app.metric("cloro_gateway_account_concurrency_limit").await,
        8
    );
    let mut last_429s = 0;
    let mut quiet_burst = false;
    for _ in 0..8 {
        let calls = (0..8).map(|_| {
            app.post_json("/v1/monitor/chatgpt", &token, &chatgpt())
                .send()
        });
        futures::future::join_all(calls).await;
        let seen = app.sim.stats().responses_429;
        if seen == last_429s {
            quiet_burst = true;
            break;
        }
        last_429s = seen;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert!(last_429s > 0, "the mismatch was noticed");
    assert!(
        quiet_burst,
        "the gateway stopped sending more than cloro takes"
    );
    assert!(app.metric("cloro_gateway_account_concurrency_limit").await <= 2);
    assert!(
        app.metric("cloro_gateway_upstream_concurrency_429_total")
            .await
            > 0
    );
    assert!(
        app.metric("cloro_gateway_ledger_pending_entries_total")
            .await
            >= 8
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn budgets_can_be_daily() {
    let app = TestApp::builder()
        .settings(|s| s.limits.budget_period = cloro_gateway::period::PeriodKind::Day)
        .spawn()
        .await
        .unwrap();
    let team = app.create_team("alpha").await;
    set_quota(&app, team.id, quota(1000.0, 1000, 10, Some(100), true)).await;
    let token = app.team_token("alpha").await;
    let response = app
        .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-credits-remaining"], "93");
    let credits: Value = app
        .http
        .get(app.url("/v1/credits"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Duration::days(1))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    assert_eq!(credits["cycleResetsAt"], tomorrow.as_str());
    assert_eq!(
        (credits["perCycle"].as_i64(), credits["remaining"].as_i64()),
        (Some(100), Some(93))
    );
    app.shutdown().await.unwrap();
}
