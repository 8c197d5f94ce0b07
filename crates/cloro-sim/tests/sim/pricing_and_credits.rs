//! Prices per endpoint as seen in X-Credits-Charged, the balance check, and "only successes are charged".

use cloro_sim::SimConfig;
use serde_json::{Value, json};

use crate::helpers::{TestSim, task};

#[tokio::test]
async fn every_endpoint_charges_the_documented_price() {
    let t = TestSim::default().await;
    let cases: Vec<(&str, Value, u64)> = vec![
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": "p", "country": "US"}),
            7,
        ),
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": "p", "country": "US", "include": {"markdown": true, "html": true}}),
            7,
        ),
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": "p", "country": "US", "include": {"searchQueries": true}}),
            9,
        ),
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": "p", "country": "US", "include": {"rawResponse": true, "ads": true, "shopping": true}}),
            9,
        ),
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": "p", "country": "US", "state": "California"}),
            9,
        ),
        (
            "/v1/monitor/perplexity",
            json!({"prompt": "p", "country": "US"}),
            6,
        ),
        (
            "/v1/monitor/copilot",
            json!({"prompt": "p", "country": "US"}),
            7,
        ),
        (
            "/v1/monitor/gemini",
            json!({"prompt": "p", "country": "US", "state": "TX"}),
            8,
        ),
        (
            "/v1/monitor/grok",
            json!({"prompt": "p", "country": "US"}),
            6,
        ),
        ("/v1/monitor/aimode", json!({"prompt": "p"}), 6),
        ("/v1/monitor/google", json!({"query": "q"}), 5),
        (
            "/v1/monitor/google",
            json!({"query": "q", "pages": 3, "include": {"aioverview": true}}),
            11,
        ),
        (
            "/v1/monitor/google",
            json!({"url": "https://example.com", "include": {"aioverview": {"markdown": true}}}),
            7,
        ),
        (
            "/v1/monitor/google",
            json!({"query": "q", "include": {"paaAioverview": true}}),
            7,
        ),
        (
            "/v1/monitor/google",
            json!({"query": "q", "pages": 2, "include": {"aioverview": true, "paaAioverview": true}}),
            11,
        ),
        (
            "/v1/monitor/google/news",
            json!({"query": "q", "pages": 2}),
            7,
        ),
        (
            "/v1/monitor/google/goto",
            json!({"url": "https://example.com/x"}),
            0,
        ),
    ];
    let mut expected_total = 0;
    for (path, body, credits) in cases {
        let reply = t.post(path, &body).await;
        assert_eq!(reply.status, 200, "{path} {body}: {reply:?}");
        assert_eq!(
            reply.header_u64("x-credits-charged"),
            credits,
            "{path} {body}"
        );
        expected_total += credits;
        assert_eq!(
            reply.header_u64("x-credits-remaining"),
            1_000_000 - expected_total
        );
    }
    let stats = t.stats().await;
    assert_eq!(stats.credits_charged, expected_total);
    assert_eq!(
        stats.balance,
        1_000_000 - i64::try_from(expected_total).unwrap()
    );
    t.stop().await;
}

#[tokio::test]
async fn aimode_expand_products_adds_one_per_cluster_returned() {
    let t = TestSim::default().await;
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..12 {
        let body =
            json!({"prompt": format!("running shoes {i}"), "include": {"expandProducts": true}});
        let reply = t.post("/v1/monitor/aimode", &body).await;
        assert_eq!(reply.status, 200);
        let clusters = reply.body["result"]["productClusters"]
            .as_array()
            .unwrap()
            .len() as u64;
        assert!(clusters <= 6);
        assert_eq!(reply.header_u64("x-credits-charged"), 6 + clusters);
        seen.insert(clusters);
    }
    assert!(seen.len() > 1, "the number of clusters varies: {seen:?}");
    t.stop().await;
}

#[tokio::test]
async fn a_request_costing_more_than_the_balance_is_refused_and_errors_cost_nothing() {
    let t = TestSim::start(SimConfig {
        credits: 10,
        ..SimConfig::default()
    })
    .await;
    let first = t
        .post(
            "/v1/monitor/chatgpt",
            &json!({"prompt": "p", "country": "US"}),
        )
        .await;
    assert_eq!(
        (first.status, first.header_u64("x-credits-remaining")),
        (200, 3)
    );

    let refused = t
        .post(
            "/v1/monitor/chatgpt",
            &json!({"prompt": "p", "country": "US"}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "INSUFFICIENT_CREDITS"),
        "{refused:?}"
    );
    assert!(refused.header("x-credits-charged").is_none());
    assert_eq!(
        refused.header_u64("x-concurrent-current"),
        0,
        "monitor errors still report concurrency"
    );
    assert!(refused.header("x-latency-ms").is_some());

    let cheap = t
        .post("/v1/monitor/google/goto", &json!({"url": "https://a.io"}))
        .await;
    assert_eq!(cheap.status, 200, "a free call still passes");
    let invalid = t
        .post("/v1/monitor/perplexity", &json!({"prompt": ""}))
        .await;
    assert_eq!(invalid.status, 400);

    let credits = t.get("/v1/credits").await;
    assert_eq!(credits.body["remaining"], 3);
    assert_eq!(credits.body["perCycle"], 10);
    assert!(credits.body["cycleResetsAt"].is_string());
    let stats = t.stats().await;
    assert_eq!((stats.credits_charged, stats.balance), (7, 3));
    let records = t.records().await;
    assert!(
        records
            .iter()
            .filter(|r| r.status != 200)
            .all(|r| r.credits_charged == 0)
    );
    t.stop().await;
}

#[tokio::test]
async fn a_drifted_price_table_is_what_gets_charged() {
    let t = TestSim::default().await;
    t.configure(json!({"prices": {"perplexity": 3, "sync_surcharge": 1}}))
        .await;
    let reply = t
        .post(
            "/v1/monitor/perplexity",
            &json!({"prompt": "p", "country": "US"}),
        )
        .await;
    assert_eq!(reply.header_u64("x-credits-charged"), 4);
    t.stop().await;
}

#[tokio::test]
async fn a_google_task_pays_for_paa_aioverview_without_the_surcharge() {
    let t = TestSim::default().await;
    let submitted = t
        .post(
            "/v1/async/task",
            &task(
                "GOOGLE",
                json!({"query": "q", "include": {"paaAioverview": true}}),
            ),
        )
        .await;
    assert_eq!(submitted.status, 200, "{submitted:?}");
    assert_eq!(submitted.body["credits"]["creditsToCharge"], 5);
    let id = submitted.body["task"]["id"].as_str().unwrap().to_owned();
    let done = t.wait_task(&id).await;
    assert_eq!(
        done["credits"],
        json!({"creditsToCharge": 5, "creditsCharged": 5})
    );
    t.stop().await;
}
