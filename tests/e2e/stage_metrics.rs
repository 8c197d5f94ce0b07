//! `/metrics` times each stage of a sync call, so the hot path's cost can be read stage by
//! stage: one call with an Idempotency-Key passes through every stage once.

use e2e_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn one_call_is_timed_once_in_every_stage() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("timed").await;
    let token = app.team_token("timed").await;
    let stages = [
        "auth",
        "admission",
        "idempotency_claim",
        "pending_commit",
        "upstream",
        "settlement",
        "release",
        "call",
    ];
    let count = |stage: &str| format!("cloro_gateway_stage_seconds_count{{stage=\"{stage}\"}}");
    for stage in stages {
        assert_eq!(app.metric(&count(stage)).await, 0, "{stage} before");
    }
    let answer = app
        .http
        .post(app.url("/v1/monitor/chatgpt"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "timed-1")
        .json(&json!({"prompt": "What do you know about Acme Corp?", "country": "US"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    for stage in stages {
        assert_eq!(app.metric(&count(stage)).await, 1, "{stage} after one call");
    }
    // The whole call took at least as long as its upstream part.
    let sum = |stage: &str| format!("cloro_gateway_stage_seconds_sum{{stage=\"{stage}\"}}");
    let text = app.metrics_text().await;
    let read = |name: String| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name.as_str())?.trim().parse().ok())
            .unwrap()
    };
    assert!(read(sum("call")) >= read(sum("upstream")));
    app.shutdown().await.unwrap();
}
