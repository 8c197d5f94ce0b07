//! Injected faults (500/502/503 and empty answers) and seed reproducibility.

use cloro_sim::{FaultRates, SimConfig};
use serde_json::{Value, json};

use crate::helpers::{TestSim, chatgpt};

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
