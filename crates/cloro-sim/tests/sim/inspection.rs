//! `/_sim/*`: the audit trail, totals and runtime knobs; no key needed, and the key never shows.

use cloro_sim::{ConfigView, RecordKind, SimConfig};
use serde_json::json;

use crate::helpers::{TestSim, WRONG_KEY, chatgpt};

#[tokio::test]
async fn every_request_is_recorded_with_masked_key_and_caller_request_id() {
    let t = TestSim::start(SimConfig {
        api_key: "sk_live_0123456789abcdef0123456789abbeef".into(),
        ..SimConfig::default()
    })
    .await;
    let with_id = t
        .authed(t.client.post(t.url("/v1/monitor/chatgpt")))
        .header("x-request-id", "req-1")
        .json(&chatgpt("p"));
    assert_eq!(TestSim::send(with_id).await.status, 200);
    let without_id = t.get("/v1/credits").await;
    assert_eq!(without_id.status, 200);
    let wrong = TestSim::send(t.client.get(t.url("/v1/credits")).bearer_auth(WRONG_KEY)).await;
    assert_eq!(wrong.status, 401);
    let _ = t.get("/_sim/stats").await;

    let records = t.records().await;
    assert_eq!(
        records.len(),
        3,
        "/_sim requests are not recorded: {records:?}"
    );
    let first = &records[0];
    assert_eq!(
        (first.method.as_str(), first.path.as_str()),
        ("POST", "/v1/monitor/chatgpt")
    );
    assert_eq!(first.key.as_deref(), Some("****beef"));
    assert_eq!(first.request_id.as_deref(), Some("req-1"));
    assert_eq!(
        (first.status, first.credits_charged, first.kind),
        (200, 7, RecordKind::Http)
    );
    assert_eq!(
        records[1].request_id, None,
        "a minted id is not the caller's"
    );
    assert_eq!(records[2].key.as_deref(), Some("****ffff"));
    assert_eq!(
        records[2].error_code.as_deref(),
        Some("INVALID_OR_EXPIRED_API_KEY")
    );
    assert!(records.windows(2).all(|w| w[0].seq < w[1].seq));

    assert_eq!(t.sim.requests(), records, "the library sees the same trail");
    let page = TestSim::send(
        t.client
            .get(t.url(&format!("/_sim/requests?after={}&limit=1", first.seq))),
    )
    .await;
    assert_eq!(page.body.as_array().map(Vec::len), Some(1));
    assert_eq!(page.body[0]["seq"], records[1].seq);

    let raw = TestSim::send(t.client.get(t.url("/_sim/requests"))).await;
    assert!(
        !raw.body.to_string().contains("0123456789abcdef"),
        "the key never appears"
    );
    t.stop().await;
}

#[tokio::test]
async fn stats_add_up() {
    let t = TestSim::default().await;
    t.post("/v1/monitor/chatgpt", &chatgpt("a")).await;
    t.post("/v1/monitor/google", &json!({"query": "q"})).await;
    t.post("/v1/monitor/google", &json!({"query": ""})).await;
    let stats = t.stats().await;
    assert_eq!(stats.requests, 3);
    assert_eq!(stats.credits_charged, 12);
    assert_eq!(stats.balance, 1_000_000 - 12);
    assert_eq!(
        (
            stats.peak_concurrency,
            stats.current_concurrency,
            stats.responses_429
        ),
        (1, 0, 0)
    );
    assert_eq!(t.sim.stats(), stats);
    let charged: u64 = t.records().await.iter().map(|r| r.credits_charged).sum();
    assert_eq!(charged, stats.credits_charged);
    t.stop().await;
}

#[tokio::test]
async fn config_knobs_apply_partially_and_never_show_the_key() {
    let t = TestSim::default().await;
    let reply = TestSim::send(t.client.get(t.url("/_sim/config"))).await;
    let before: ConfigView = serde_json::from_value(reply.body.clone()).unwrap();
    assert_eq!(
        (
            before.concurrency_limit,
            before.rate_limit,
            before.profile.as_str()
        ),
        (10, 1000, "docs")
    );

    let after = t
        .configure(json!({"latency": "fixed:5ms", "concurrency_limit": 4, "balance": 50, "faults": {"empty_answer": 0.5}}))
        .await;
    assert!(!after.to_string().contains(&t.key) && after.get("api_key").is_none());
    let after: ConfigView = serde_json::from_value(after).unwrap();
    assert_eq!(after.latency.to_string(), "fixed:5ms");
    assert_eq!(
        (after.concurrency_limit, after.balance, after.rate_limit),
        (4, 50, 1000)
    );
    assert_eq!(after.faults.empty_answer, 0.5);
    assert_eq!(t.get("/v1/credits").await.body["remaining"], 50);

    for bad in [
        json!({"api_key": "x"}),
        json!({"latency": "whenever"}),
        json!({"faults": {"internal_error": 2.0}}),
        json!({"profile": "modern"}),
    ] {
        let reply = TestSim::send(t.client.put(t.url("/_sim/config")).json(&bad)).await;
        assert_eq!(reply.status, 400, "{bad}");
    }
    t.stop().await;
}

#[tokio::test]
async fn debug_output_of_the_config_hides_the_key() {
    let config = SimConfig {
        api_key: "sk_live_abcdefabcdefabcdefabcdefabcd9999".into(),
        ..SimConfig::default()
    };
    let printed = format!("{config:?}");
    assert!(printed.contains("****9999") && !printed.contains("abcdefabcdef"));
}
