//! Redis losing its state (restart, failover, FLUSHDB): budgets re-seeded from the ledger,
//! running calls' leases and holds re-created, drift corrected, and a budgeted team refused
//! when the ledger cannot be read.

use super::{chatgpt, set_budget};
use cloro_sim::SimConfig;
use e2e_tests::TestApp;
use serde_json::Value;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_budget_holds_after_redis_loses_its_state() {
    let app = TestApp::spawn().await.unwrap();
    let team = app.create_team("frugal").await;
    set_budget(&app, team.id, 100).await;
    let token = app.team_token("frugal").await;
    let call = || {
        app.post_json("/v1/monitor/chatgpt", &token, &chatgpt())
            .send()
    };

    for _ in 0..14 {
        assert_eq!(call().await.unwrap().status(), 200);
    }
    assert_eq!(app.sim.stats().credits_charged, 98);
    assert_eq!(call().await.unwrap().status(), 403, "7 more would pass 100");

    app.flush_redis().await;
    for _ in 0..5 {
        let response = call().await.unwrap();
        assert_eq!(
            response.status(),
            403,
            "still refused after Redis lost its state"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "INSUFFICIENT_CREDITS");
    }
    assert_eq!(
        app.sim.stats().credits_charged,
        98,
        "never above the budget"
    );
    assert!(app.metric("cloro_gateway_budget_seeds_total").await >= 1);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_calls_get_their_leases_and_holds_back_after_redis_loses_its_state() {
    let sim = SimConfig {
        latency: "fixed:3000ms".parse().unwrap(),
        ..SimConfig::default()
    };
    let app = TestApp::builder()
        .sim(sim)
        .settings(|s| {
            s.limits.account_concurrency = 1;
            s.limits.account_queue_wait_ms = 0;
            s.limits.lease_renew_secs = 1;
            s.limits.lease_ttl_secs = 5;
            s.limits.budget_reconcile_secs = 1;
        })
        .spawn()
        .await
        .unwrap();
    let team = app.create_team("steady").await;
    set_budget(&app, team.id, 1000).await;
    let token = app.team_token("steady").await;
    let running = tokio::spawn(
        app.post_json("/v1/monitor/chatgpt", &token, &chatgpt())
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.flush_redis().await;
    // Within one renewal period the running call's account slot is back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let other = app
        .post_json("/v1/monitor/gemini", &token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        429,
        "the account's only slot is taken again"
    );
    assert!(app.metric("cloro_gateway_leases_recreated_total").await >= 1);
    assert!(app.metric("cloro_gateway_holds_restored_total").await >= 1);

    assert_eq!(running.await.unwrap().unwrap().status(), 200);
    // Whatever Redis counted while it recovered, the reconciler brings it back to the
    // ledger: 7 charged, so a 6-credit call leaves 987.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let response = app
        .post_json("/v1/monitor/gemini", &token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-credits-remaining"], "987");
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budgeted_team_is_refused_when_the_ledger_cannot_seed_its_budget() {
    let app = TestApp::spawn().await.unwrap();
    let team = app.create_team("careful").await;
    set_budget(&app, team.id, 100).await;
    let token = app.team_token("careful").await;
    // The gateway loses Postgres (its pool is closed for good), then Redis loses its state.
    app.db.close().await;
    app.flush_redis().await;
    let response = app
        .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "LEDGER_UNAVAILABLE");
    assert_eq!(app.sim.stats().requests, 0, "nothing was sent");
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciler_brings_a_drifted_budget_back_to_the_ledger() {
    let app = TestApp::builder()
        .settings(|s| s.limits.budget_reconcile_secs = 1)
        .spawn()
        .await
        .unwrap();
    let team = app.create_team("drifty").await;
    set_budget(&app, team.id, 100).await;
    let token = app.team_token("drifty").await;
    for _ in 0..3 {
        let response = app
            .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let client = redis::Client::open(app.redis_url.as_str()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!(
            "{}*team:{}:budget:*",
            app.redis_prefix,
            team.id.as_uuid()
        ))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "one budget period: {keys:?}");
    let reader = redis.clone();
    let charged = || {
        let mut redis = reader.clone();
        let key = keys[0].clone();
        async move {
            redis::cmd("HGET")
                .arg(&key)
                .arg("charged")
                .query_async::<i64>(&mut redis)
                .await
                .unwrap()
        }
    };
    assert_eq!(charged().await, 21);

    // Too much (a settlement counted twice) and too little (one lost): both come back.
    for drifted in [500, 0] {
        redis::cmd("HSET")
            .arg(&keys[0])
            .arg("charged")
            .arg(drifted)
            .query_async::<()>(&mut redis)
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while charged().await != 21 {
            assert!(
                Instant::now() < deadline,
                "the drift from {drifted} was never corrected"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert!(app.metric("cloro_gateway_budget_corrections_total").await >= 2);
    assert_eq!(
        app.metric("cloro_gateway_budget_corrected_credits_total")
            .await,
        (500 - 21) + 21
    );
    app.shutdown().await.unwrap();
}
