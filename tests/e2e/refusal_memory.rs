//! A team over its rate is refused from memory until its bucket can refill, so a runaway
//! retry loop costs no Redis round trip per attempt; the remembered refusal never refuses
//! what Redis would admit, and a raised quota is asked of Redis at once.

use e2e_tests::TestApp;
use serde_json::json;
use std::time::{Duration, Instant};

async fn call(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .post(app.url("/v1/monitor/chatgpt"))
        .bearer_auth(token)
        .json(&json!({"prompt": "What do you know about Acme Corp?", "country": "US"}))
        .send()
        .await
        .unwrap()
}

const REMEMBERED: &str = "cloro_gateway_rate_refusals_remembered_total";

#[tokio::test]
async fn a_team_looping_on_429s_is_refused_from_memory_and_admitted_on_time() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team_with_quota("looper", json!({"rps": 1, "burst": 1, "concurrency": 10}))
        .await;
    let token = app.team_token("looper").await;
    let started = Instant::now();
    assert_eq!(
        call(&app, &token).await.status(),
        200,
        "the burst's one token"
    );
    let first_refusal = call(&app, &token).await;
    assert_eq!(first_refusal.status(), 429, "decided by Redis");
    assert_eq!(app.metric(REMEMBERED).await, 0);

    // Every attempt while the bucket is empty is refused like Redis refuses it, from memory.
    let mut remembered = 0;
    while started.elapsed() < Duration::from_millis(500) {
        let answer = call(&app, &token).await;
        assert_eq!(answer.status(), 429);
        let retry_after: u64 = answer.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(retry_after, 1);
        assert_eq!(answer.headers()["x-ratelimit-remaining"], "0");
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], "RATE_LIMIT_EXCEEDED");
        remembered += 1;
    }
    assert!(remembered > 0);
    assert_eq!(
        app.metric(REMEMBERED).await,
        remembered,
        "each attempt inside the window skipped Redis"
    );

    // Over 2.6 s the bucket (burst 1, 1 per second) admits exactly its tokens: the memory
    // refused nothing Redis would have admitted.
    let mut admitted = 1;
    while started.elapsed() < Duration::from_millis(2_600) {
        if call(&app, &token).await.status() == 200 {
            admitted += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(admitted, 3, "one at start, one per second after");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_raised_quota_is_asked_of_redis_at_once() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team_with_quota("raised", json!({"rps": 0.1, "burst": 1, "concurrency": 10}))
        .await;
    let token = app.team_token("raised").await;
    assert_eq!(call(&app, &token).await.status(), 200);
    assert_eq!(call(&app, &token).await.status(), 429);
    assert_eq!(call(&app, &token).await.status(), 429);
    assert_eq!(app.metric(REMEMBERED).await, 1);
    // A new quota (applied by the gateway before the admin call answers) has its own bucket
    // numbers: the remembered refusal does not apply to it.
    let admin = app.admin_token().await;
    let (status, body) = app
        .admin_put(
            "/admin/teams/raised/quota",
            &admin,
            json!({"rps": 1000, "burst": 1000, "concurrency": 10}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(call(&app, &token).await.status(), 200);
    assert_eq!(app.metric(REMEMBERED).await, 1);
    app.shutdown().await.unwrap();
}
