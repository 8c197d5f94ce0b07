//! Bodies and queries the real API refuses: 400 VALIDATION_ERROR with one detail per field, nothing charged.

use serde_json::{Value, json};

use crate::helpers::{TestSim, task};

async fn refused(t: &TestSim, path: &str, body: Value) -> Vec<String> {
    let reply = t.post(path, &body).await;
    assert_eq!(
        (reply.status, reply.code()),
        (400, "VALIDATION_ERROR"),
        "{path} {body}: {reply:?}"
    );
    assert!(reply.body["error"]["details"].is_array());
    reply.fields()
}

#[tokio::test]
async fn monitor_bodies_are_validated_field_by_field() {
    let t = TestSim::default().await;
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "/v1/monitor/chatgpt",
            json!({"country": "US"}),
            vec!["prompt"],
        ),
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": "", "country": "US"}),
            vec!["prompt"],
        ),
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": "x".repeat(10_001), "country": "US"}),
            vec!["prompt"],
        ),
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": "hi", "country": "us"}),
            vec!["country"],
        ),
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": "hi", "country": "XX"}),
            vec!["country"],
        ),
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": "hi"}),
            vec!["country"],
        ),
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": "hi", "country": "US", "include": {"foo": true}}),
            vec!["include.foo"],
        ),
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": "hi", "country": "US", "temperature": 1}),
            vec!["temperature"],
        ),
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": 7, "country": "US"}),
            vec!["prompt"],
        ),
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": "hi", "country": "DE", "state": "CA"}),
            vec!["state"],
        ),
        (
            "/v1/monitor/gemini",
            json!({"prompt": "hi", "country": "US", "include": {"searchQueries": true}}),
            vec!["include.searchQueries"],
        ),
        (
            "/v1/monitor/google",
            json!({"query": "q", "url": "https://a.io"}),
            vec!["query"],
        ),
        (
            "/v1/monitor/google",
            json!({"country": "US"}),
            vec!["query"],
        ),
        (
            "/v1/monitor/google",
            json!({"query": "q", "pages": 11}),
            vec!["pages"],
        ),
        (
            "/v1/monitor/google",
            json!({"query": "q", "pages": 0}),
            vec!["pages"],
        ),
        (
            "/v1/monitor/google",
            json!({"query": "q", "country": "US", "gl": "us"}),
            vec!["gl"],
        ),
        (
            "/v1/monitor/google/news",
            json!({"query": "q", "state": "CA"}),
            vec!["state"],
        ),
        ("/v1/monitor/google/goto", json!({}), vec!["url"]),
        (
            "/v1/monitor/google/goto",
            json!({"url": "javascript:alert(1)"}),
            vec!["url"],
        ),
        (
            "/v1/monitor/aimode",
            json!({"prompt": "hi", "device": "watch"}),
            vec!["device"],
        ),
    ];
    for (path, body, fields) in cases {
        assert_eq!(
            refused(&t, path, body.clone()).await,
            fields,
            "{path} {body}"
        );
    }
    let stats = t.stats().await;
    assert_eq!(stats.credits_charged, 0, "validation errors cost nothing");
    assert_eq!(stats.balance, 1_000_000);
    t.stop().await;
}

#[tokio::test]
async fn malformed_or_missing_json_is_a_validation_error() {
    let t = TestSim::default().await;
    for body in ["{\"prompt\": ", "", "[1,2]", "null"] {
        let reply = t.post_raw("/v1/monitor/chatgpt", body).await;
        assert_eq!(
            (reply.status, reply.code()),
            (400, "VALIDATION_ERROR"),
            "{body:?}"
        );
        assert_eq!(reply.fields(), ["body"], "{body:?}");
    }
    let huge = format!(
        "{{\"prompt\": \"{}\", \"country\": \"US\"}}",
        "x".repeat(1_100_000)
    );
    let reply = t.post_raw("/v1/monitor/chatgpt", &huge).await;
    assert_eq!(
        (reply.status, reply.fields()),
        (400, vec!["body".to_owned()]),
        "bodies over 1 MiB are refused"
    );
    t.stop().await;
}

#[tokio::test]
async fn async_submissions_are_validated() {
    let t = TestSim::default().await;
    let ok_payload = json!({"prompt": "hi", "country": "US"});
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"payload": ok_payload}), vec!["taskType"]),
        (task("BING", ok_payload.clone()), vec!["taskType"]),
        (json!({"taskType": "CHATGPT"}), vec!["payload"]),
        (
            json!({"taskType": "CHATGPT", "payload": ok_payload, "priority": 11}),
            vec!["priority"],
        ),
        (
            json!({"taskType": "CHATGPT", "payload": ok_payload, "priority": 0}),
            vec!["priority"],
        ),
        (
            json!({"taskType": "CHATGPT", "payload": ok_payload, "webhook": {"url": "nope"}}),
            vec!["webhook.url"],
        ),
        (
            json!({"taskType": "CHATGPT", "payload": ok_payload, "extra": true}),
            vec!["extra"],
        ),
        (
            task("GOOGLE", json!({"query": "q", "pages": 20})),
            vec!["payload.pages"],
        ),
        (
            task("CHATGPT", json!({"prompt": "hi", "country": "gb"})),
            vec!["payload.country"],
        ),
    ];
    for (body, fields) in cases {
        assert_eq!(
            refused(&t, "/v1/async/task", body.clone()).await,
            fields,
            "{body}"
        );
    }
    for body in [json!({"not": "an array"}), json!([])] {
        assert_eq!(refused(&t, "/v1/async/task/batch", body).await, ["body"]);
    }
    let too_many: Vec<Value> = (0..501)
        .map(|_| task("CHATGPT", ok_payload.clone()))
        .collect();
    assert_eq!(
        refused(&t, "/v1/async/task/batch", json!(too_many)).await,
        ["body"]
    );
    assert_eq!(t.stats().await.tasks_queued, 0);
    t.stop().await;
}
