//! Injected faults (500/502/503, empty answers, broken bodies) and seed reproducibility.

use cloro_sim::{FaultRates, RecordKind, SimConfig};
use serde_json::{Value, json};

use crate::helpers::{TestSim, chatgpt, task};

async fn with_faults(faults: FaultRates) -> TestSim {
    TestSim::start(SimConfig {
        faults,
        ..SimConfig::default()
    })
    .await
}

#[tokio::test]
async fn each_fault_has_its_status_and_costs_nothing() {
    let cases = [
        (
            FaultRates {
                internal_error: 1.0,
                ..FaultRates::default()
            },
            500,
            "INTERNAL_SERVER_ERROR",
        ),
        (
            FaultRates {
                external_service_error: 1.0,
                ..FaultRates::default()
            },
            502,
            "EXTERNAL_SERVICE_ERROR",
        ),
        (
            FaultRates {
                service_unavailable: 1.0,
                ..FaultRates::default()
            },
            503,
            "SERVICE_UNAVAILABLE",
        ),
    ];
    for (faults, status, code) in cases {
        let t = with_faults(faults).await;
        let reply = t.post("/v1/monitor/chatgpt", &chatgpt("p")).await;
        assert_eq!((reply.status, reply.code()), (status, code));
        assert!(reply.header("x-credits-charged").is_none());
        assert_eq!(
            reply.header("retry-after").is_some(),
            status == 503,
            "Retry-After only on 503"
        );
        assert!(reply.header("x-concurrent-limit").is_some());
        let stats = t.stats().await;
        assert_eq!(
            (
                stats.credits_charged,
                stats.balance,
                stats.current_concurrency
            ),
            (0, 1_000_000, 0)
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn an_empty_answer_is_a_charged_success() {
    let t = with_faults(FaultRates {
        empty_answer: 1.0,
        ..FaultRates::default()
    })
    .await;
    let reply = t.post("/v1/monitor/perplexity", &chatgpt("p")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["result"]["text"], "");
    assert_eq!(reply.body["result"]["sources"], json!([]));
    assert_eq!(reply.header_u64("x-credits-charged"), 6);
    t.stop().await;
}

fn broken_bodies() -> FaultRates {
    FaultRates {
        broken_body: 1.0,
        ..FaultRates::default()
    }
}

#[tokio::test]
async fn a_broken_body_is_charged_but_breaks_off_after_the_headers() {
    let t = with_faults(broken_bodies()).await;
    let mut response = t
        .authed(t.client.post(t.url("/v1/monitor/chatgpt")))
        .header("x-request-id", "cut-1")
        .json(&chatgpt("p"))
        .send()
        .await
        .expect("the head arrives whole");
    assert_eq!(response.status().as_u16(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("x-credits-charged").as_deref(), Some("7"));
    assert_eq!(header("x-credits-remaining").as_deref(), Some("999993"));
    assert_eq!(header("x-request-id").as_deref(), Some("cut-1"));
    assert!(header("x-concurrent-limit").is_some());
    assert!(header("x-latency-ms").is_some());
    assert!(header("x-ratelimit-limit").is_some());
    assert_eq!(header("content-type").as_deref(), Some("application/json"));
    assert_eq!(
        header("content-length"),
        None,
        "chunked, so the cut is visible"
    );

    let first = response.chunk().await.expect("a first chunk arrives");
    let first = first.expect("the body has begun");
    assert!(first.starts_with(b"{\""), "{first:?}");
    assert!(
        serde_json::from_slice::<Value>(&first).is_err(),
        "only part of it"
    );
    let error = loop {
        match response.chunk().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the body must not complete"),
            Err(error) => break error,
        }
    };
    assert!(error.is_body() || error.is_decode(), "{error:?}");

    let stats = t.stats().await;
    assert_eq!((stats.credits_charged, stats.balance), (7, 999_993));
    assert_eq!(stats.current_concurrency, 0);
    let records = t.records().await;
    let [record] = records.as_slice() else {
        panic!("one record: {records:?}");
    };
    assert_eq!(record.kind, RecordKind::Http, "the gateway cannot tell");
    assert_eq!((record.status, record.credits_charged), (200, 7));
    assert_eq!(record.request_id.as_deref(), Some("cut-1"));
    assert_eq!(record.error_code, None);
    t.stop().await;
}

#[tokio::test]
async fn after_a_broken_body_the_next_call_works_and_tasks_are_unaffected() {
    let t = with_faults(broken_bodies()).await;
    let cut = t
        .authed(t.client.post(t.url("/v1/monitor/perplexity")))
        .json(&chatgpt("p"))
        .send()
        .await
        .unwrap();
    assert!(cut.bytes().await.is_err());
    let again = t
        .authed(t.client.post(t.url("/v1/monitor/perplexity")))
        .json(&chatgpt("q"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 200);
    assert!(again.bytes().await.is_err(), "every call breaks at 1.0");

    let created = t
        .post("/v1/async/task", &task("PERPLEXITY", chatgpt("r")))
        .await;
    let id = created.body["task"]["id"].as_str().unwrap().to_owned();
    let done = t.wait_task(&id).await;
    assert_eq!(done["task"]["status"], "COMPLETED", "{done}");
    assert!(
        done["response"]["text"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{done}"
    );

    let stats = t.stats().await;
    let records = t.records().await;
    assert_eq!(
        records.iter().map(|r| r.credits_charged).sum::<u64>(),
        stats.credits_charged,
        "{records:?}"
    );
    assert_eq!(stats.balance, 1_000_000 - stats.credits_charged as i64);
    let task_charge = done["credits"]["creditsCharged"].as_u64().unwrap();
    assert!(task_charge > 0, "{done}");
    assert_eq!(stats.credits_charged, 6 + 6 + task_charge, "{stats:?}");
    t.stop().await;
}

#[tokio::test]
async fn broken_body_can_be_set_at_runtime() {
    let t = TestSim::default().await;
    let view = t.configure(json!({"faults": {"broken": 1.0}})).await;
    assert_eq!(view["faults"]["broken_body"], 1.0);
    let cut = t
        .authed(t.client.post(t.url("/v1/monitor/gemini")))
        .json(&chatgpt("p"))
        .send()
        .await
        .unwrap();
    assert_eq!(cut.status().as_u16(), 200);
    assert!(cut.bytes().await.is_err());
    t.configure(json!({"faults": {"broken_body": 0.0}})).await;
    let whole = t.post("/v1/monitor/gemini", &chatgpt("p")).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body["success"], true);
    t.stop().await;
}

#[tokio::test]
async fn fault_rates_can_be_changed_at_runtime() {
    let t = TestSim::default().await;
    t.configure(json!({"faults": {"service_unavailable": 1.0}, "retry_after_secs": 7}))
        .await;
    let reply = t.post("/v1/monitor/gemini", &chatgpt("p")).await;
    assert_eq!(
        (reply.status, reply.header("retry-after").as_deref()),
        (503, Some("7"))
    );
    t.configure(json!({"faults": {"service_unavailable": 0.0}}))
        .await;
    assert_eq!(
        t.post("/v1/monitor/gemini", &chatgpt("p")).await.status,
        200
    );
    t.stop().await;
}

/// Statuses and bodies of a fixed request sequence.
async fn run(seed: u64) -> Vec<(u16, Value)> {
    let t = TestSim::start(SimConfig {
        seed,
        latency: "lognormal:median=3ms,p99=15ms".parse().unwrap(),
        faults: FaultRates {
            internal_error: 0.15,
            service_unavailable: 0.15,
            empty_answer: 0.15,
            ..FaultRates::default()
        },
        ..SimConfig::default()
    })
    .await;
    let requests = [
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": "best coffee grinder", "country": "US", "include": {"markdown": true}}),
        ),
        (
            "/v1/monitor/google",
            json!({"query": "coffee grinder", "pages": 2, "include": {"aioverview": true}}),
        ),
        (
            "/v1/monitor/aimode",
            json!({"prompt": "coffee grinder", "include": {"expandProducts": true}}),
        ),
        (
            "/v1/monitor/perplexity",
            json!({"prompt": "espresso", "country": "IT"}),
        ),
        ("/v1/monitor/google/news", json!({"query": "coffee prices"})),
        (
            "/v1/monitor/gemini",
            json!({"prompt": "latte art", "country": "US"}),
        ),
        (
            "/v1/monitor/copilot",
            json!({"prompt": "moka pot", "country": "US"}),
        ),
        (
            "/v1/monitor/grok",
            json!({"prompt": "cold brew", "country": "US"}),
        ),
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": "french press", "country": "US"}),
        ),
        (
            "/v1/monitor/google/goto",
            json!({"url": "https://example.com/coffee"}),
        ),
    ];
    let mut outcomes = Vec::new();
    for (path, body) in requests {
        let reply = t.post(path, &body).await;
        let mut body = reply.body.clone();
        if let Some(error) = body.get_mut("error").and_then(Value::as_object_mut) {
            error.remove("timestamp");
        }
        outcomes.push((reply.status, body));
    }
    t.stop().await;
    outcomes
}

#[tokio::test]
async fn the_same_seed_replays_the_same_run_and_another_seed_does_not() {
    let first = run(42).await;
    let second = run(42).await;
    assert_eq!(first, second);
    let statuses: std::collections::BTreeSet<u16> = first.iter().map(|(s, _)| *s).collect();
    assert!(
        statuses.len() > 1 || first.iter().any(|(_, b)| b["result"]["text"] == ""),
        "faults were drawn: {statuses:?}"
    );
    let other = run(7).await;
    assert_ne!(first, other);
}
