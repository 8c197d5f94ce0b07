//! Profiles switch the points the docs disagree on.

use std::time::Duration;

use cloro_sim::{LatencySpec, Profile, SimConfig};
use serde_json::json;

use crate::helpers::{TestSim, chatgpt, task};

async fn overload(profile: Profile) -> (TestSim, crate::helpers::Reply, crate::helpers::Reply) {
    let t = TestSim::start(SimConfig {
        profile,
        concurrency_limit: 1,
        latency: LatencySpec::Fixed(Duration::from_millis(300)),
        ..SimConfig::default()
    })
    .await;
    let (first, second) = tokio::join!(t.post("/v1/monitor/chatgpt", &chatgpt("a")), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        t.post("/v1/monitor/chatgpt", &chatgpt("b")).await
    });
    (t, first, second)
}

#[tokio::test]
async fn docs_profile_is_the_default_tables() {
    let (t, ok, limited) = overload(Profile::docs()).await;
    assert_eq!(ok.header_u64("x-concurrent-limit"), 1);
    assert_eq!(limited.code(), "CONCURRENT_LIMIT_EXCEEDED");
    assert_eq!(limited.body["success"], false);
    let invalid = t.post("/v1/async/task", &json!({})).await;
    assert_eq!(invalid.status, 400);
    t.stop().await;
}

#[tokio::test]
async fn newest_profile_spells_concurrency_differently() {
    let (t, ok, limited) = overload(Profile::newest()).await;
    assert_eq!(ok.header_u64("x-concurrency-limit"), 1);
    assert_eq!(ok.header_u64("x-concurrency-current"), 1);
    assert_eq!(ok.header_u64("x-concurrency-remaining"), 0);
    assert!(ok.header("x-concurrent-limit").is_none());
    assert_eq!(
        (limited.status, limited.code()),
        (429, "CONCURRENCY_LIMIT_EXCEEDED")
    );
    assert_eq!(limited.header_u64("x-concurrency-remaining"), 0);
    t.stop().await;
}

#[tokio::test]
async fn legacy_profile_drops_success_uses_422_and_has_no_queue_delete() {
    let (t, _, limited) = overload(Profile::legacy()).await;
    assert_eq!(limited.code(), "CONCURRENT_LIMIT_EXCEEDED");
    assert!(limited.body.get("success").is_none(), "{:?}", limited.body);
    let invalid = t
        .post("/v1/async/task", &json!({"taskType": "CHATGPT"}))
        .await;
    assert_eq!((invalid.status, invalid.code()), (422, "VALIDATION_ERROR"));
    let batch = t.post("/v1/async/task/batch", &json!({})).await;
    assert_eq!(batch.status, 422);
    let sync_invalid = t.post("/v1/monitor/chatgpt", &json!({})).await;
    assert_eq!(sync_invalid.status, 400, "sync validation stays 400");
    assert_eq!(t.delete("/v1/async/queue").await.status, 404);
    t.stop().await;
}

#[tokio::test]
async fn legacy_plain_profile_sends_error_as_a_string_and_profiles_switch_at_runtime() {
    let t = TestSim::default().await;
    let view = t.configure(json!({"profile": "legacy-plain"})).await;
    assert_eq!(view["profile"], "legacy-plain");
    let reply = t.post("/v1/monitor/chatgpt", &json!({"prompt": ""})).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body["error"].is_string(), "{:?}", reply.body);
    t.configure(json!({"profile": "docs"})).await;
    let reply = t.post("/v1/async/task", &task("CHATGPT", json!({}))).await;
    assert_eq!(reply.body["error"]["code"], "VALIDATION_ERROR");
    t.stop().await;
}
