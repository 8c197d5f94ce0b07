//! `Idempotency-Key`: a retry with the same key and body is answered from the first result
//! and not sent or charged again; another body or a still-running first call gets 409.

use e2e_tests::TestApp;
use e2e_tests::ledger::entries_for;
use serde_json::{Value, json};

#[tokio::test]
async fn a_retry_with_the_same_key_is_replayed_and_charged_once() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let body = json!({"prompt": "p", "country": "US"});
    let send = |body: Value| {
        app.post_json("/v1/monitor/chatgpt", &token, &body)
            .header("Idempotency-Key", "order-42")
            .send()
    };
    let first = send(body.clone()).await.unwrap();
    assert_eq!(first.status(), 200);
    let first_body = first.text().await.unwrap();
    let second = send(body.clone()).await.unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.headers()["x-credits-charged"], "7");
    assert_eq!(
        second.text().await.unwrap(),
        first_body,
        "byte-identical replay"
    );

    assert_eq!(app.sim.requests().len(), 1, "sent upstream once");
    assert_eq!(app.sim.stats().credits_charged, 7);
    assert_eq!(entries_for(&app, "alpha").await.len(), 1, "booked once");

    let other = send(json!({"prompt": "other", "country": "US"}))
        .await
        .unwrap();
    assert_eq!(other.status(), 409);
    let envelope: Value = other.json().await.unwrap();
    assert_eq!(envelope["error"]["code"], "IDEMPOTENCY_KEY_REUSED");

    // Keys are per team: another team may use the same key.
    app.create_team("beta").await;
    let beta = app.team_token("beta").await;
    let response = app
        .post_json("/v1/monitor/chatgpt", &beta, &body)
        .header("Idempotency-Key", "order-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("idempotent-replayed").is_none());
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_key_still_running_gets_409_and_a_failed_first_call_can_be_retried() {
    let sim = cloro_sim::SimConfig {
        latency: "fixed:700ms".parse().unwrap(),
        ..cloro_sim::SimConfig::default()
    };
    let app = TestApp::builder().sim(sim).spawn().await.unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let body = json!({"prompt": "p", "country": "US"});
    let send = || {
        app.post_json("/v1/monitor/chatgpt", &token, &body)
            .header("Idempotency-Key", "slow-1")
            .send()
    };
    let first = send();
    let second = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        send().await
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first.unwrap().status(), 200);
    let second = second.unwrap();
    assert_eq!(second.status(), 409);
    let envelope: Value = second.json().await.unwrap();
    assert_eq!(envelope["error"]["code"], "IDEMPOTENCY_KEY_IN_USE");

    // A first call that failed upstream charged nothing, so its key is free for a retry.
    app.sim_config(json!({"faults": {"internal_error": 1.0}}))
        .await;
    let failed = app
        .post_json("/v1/monitor/chatgpt", &token, &body)
        .header("Idempotency-Key", "flaky-1")
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 500);
    app.sim_config(json!({"faults": {"internal_error": 0.0}}))
        .await;
    let retried = app
        .post_json("/v1/monitor/chatgpt", &token, &body)
        .header("Idempotency-Key", "flaky-1")
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), 200);
    assert!(retried.headers().get("idempotent-replayed").is_none());
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_malformed_key_is_a_validation_error() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let response = app
        .post_json(
            "/v1/monitor/chatgpt",
            &token,
            &json!({"prompt": "p", "country": "US"}),
        )
        .header("Idempotency-Key", "x".repeat(300))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(app.sim.requests().is_empty());
    app.shutdown().await.unwrap();
}
