//! Key checks, request ids, rate headers on every reply, unknown routes.

use serde_json::json;

use crate::helpers::{TestSim, WRONG_KEY, chatgpt};

#[tokio::test]
async fn missing_malformed_and_wrong_keys_get_their_own_401_codes() {
    let t = TestSim::default().await;
    let cases = [
        (None, "MISSING_API_KEY"),
        (Some("Basic abc"), "MISSING_API_KEY"),
        (Some("Bearer sk_live_123"), "INVALID_API_KEY_FORMAT"),
        (
            Some("Bearer sk_test_00000000000000000000000000000000"),
            "INVALID_API_KEY_FORMAT",
        ),
        (
            Some(&*format!("Bearer {WRONG_KEY}")),
            "INVALID_OR_EXPIRED_API_KEY",
        ),
    ];
    for (header, code) in cases {
        let mut request = t
            .client
            .post(t.url("/v1/monitor/chatgpt"))
            .json(&chatgpt("hello"));
        if let Some(header) = header {
            request = request.header("authorization", header);
        }
        let reply = TestSim::send(request).await;
        assert_eq!((reply.status, reply.code()), (401, code), "{header:?}");
        assert_eq!(reply.body["success"], false);
        assert!(reply.body["error"]["timestamp"].is_string());
        assert_eq!(
            reply.header_u64("x-ratelimit-limit"),
            1000,
            "rate headers are on every reply"
        );
        assert!(reply.header("x-ratelimit-remaining").is_some());
        assert!(reply.header("x-request-id").is_some());
    }
    assert_eq!(t.stats().await.credits_charged, 0);
    t.stop().await;
}

#[tokio::test]
async fn request_ids_are_echoed_or_minted() {
    let t = TestSim::default().await;
    let echoed = TestSim::send(
        t.authed(t.client.get(t.url("/v1/credits")))
            .header("x-request-id", "trace-42"),
    )
    .await;
    assert_eq!(echoed.header("x-request-id").as_deref(), Some("trace-42"));
    let minted = t.get("/v1/credits").await;
    let id = minted.header("x-request-id").unwrap();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    t.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_are_404_resource_not_found() {
    let t = TestSim::default().await;
    for reply in [
        t.get("/v1/nope").await,
        t.post("/v1/monitor/bing", &chatgpt("x")).await,
        t.get("/v1/monitor/chatgpt").await,
        t.get("/").await,
    ] {
        assert_eq!(
            (reply.status, reply.code()),
            (404, "RESOURCE_NOT_FOUND"),
            "{reply:?}"
        );
        assert!(reply.header("x-ratelimit-limit").is_some());
    }
    t.stop().await;
}

#[tokio::test]
async fn successful_monitor_replies_carry_every_documented_header() {
    let t = TestSim::default().await;
    let reply = t
        .post(
            "/v1/monitor/chatgpt",
            &json!({"prompt": "best running shoes", "country": "US"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["success"], true);
    assert!(
        reply.body["result"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    for header in [
        "x-credits-charged",
        "x-credits-remaining",
        "x-concurrent-limit",
        "x-concurrent-current",
        "x-concurrent-remaining",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-request-id",
        "x-latency-ms",
    ] {
        assert!(reply.header(header).is_some(), "missing {header}");
    }
    assert_eq!(reply.header_u64("x-concurrent-current"), 1);
    assert_eq!(reply.header_u64("x-concurrent-remaining"), 9);
    t.stop().await;
}
