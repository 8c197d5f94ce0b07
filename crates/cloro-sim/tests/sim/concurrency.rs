//! The plan's concurrency limit: immediate 429 with details.limit, never queued; headers count in-flight calls.

use std::time::Duration;

use cloro_sim::{LatencySpec, RecordKind, SimConfig};
use serde_json::json;

use crate::helpers::{TestSim, chatgpt, task};

fn slow(limit: u32) -> SimConfig {
    SimConfig {
        concurrency_limit: limit,
        latency: LatencySpec::Fixed(Duration::from_millis(400)),
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn one_more_sync_call_than_the_limit_gets_an_immediate_429() {
    let t = TestSim::start(slow(2)).await;
    let started = std::time::Instant::now();
    let calls = (0..3).map(|i| t.post("/v1/monitor/chatgpt", &chatgpt(&format!("question {i}"))));
    let replies = futures::future::join_all(calls).await;
    let ok: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    let limited: Vec<_> = replies.iter().filter(|r| r.status == 429).collect();
    assert_eq!((ok.len(), limited.len()), (2, 1), "{replies:?}");

    let refused = limited[0];
    assert_eq!(refused.code(), "CONCURRENT_LIMIT_EXCEEDED");
    assert_eq!(refused.body["error"]["details"]["limit"], 2);
    assert_eq!(refused.header_u64("x-concurrent-limit"), 2);
    assert_eq!(refused.header_u64("x-concurrent-current"), 2);
    assert_eq!(refused.header_u64("x-concurrent-remaining"), 0);
    assert!(refused.header("x-credits-charged").is_none());

    let mut currents: Vec<u64> = ok
        .iter()
        .map(|r| r.header_u64("x-concurrent-current"))
        .collect();
    currents.sort_unstable();
    assert_eq!(currents, [1, 2], "current includes the request itself");
    assert!(ok.iter().all(
        |r| r.header_u64("x-concurrent-remaining") == 2 - r.header_u64("x-concurrent-current")
    ));
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "the 429 was not queued behind the others"
    );

    let stats = t.stats().await;
    assert_eq!((stats.peak_concurrency, stats.current_concurrency), (2, 0));
    assert_eq!(stats.responses_429, 1);
    assert_eq!(stats.credits_charged, 14, "the refused call cost nothing");
    t.stop().await;
}

#[tokio::test]
async fn goto_takes_no_slot() {
    let t = TestSim::start(slow(1)).await;
    let held = t.post("/v1/monitor/chatgpt", &chatgpt("hold the slot"));
    let goto = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        t.post(
            "/v1/monitor/google/goto",
            &json!({"url": "https://example.com"}),
        )
        .await
    };
    let (held, goto) = tokio::join!(held, goto);
    assert_eq!((held.status, goto.status), (200, 200), "{goto:?}");
    assert_eq!(
        goto.header_u64("x-concurrent-current"),
        1,
        "goto reports the slot held by the other call only"
    );
    t.stop().await;
}

#[tokio::test]
async fn processing_async_tasks_share_the_limit_with_sync_calls() {
    let t = TestSim::start(slow(1)).await;
    let submitted = t
        .post(
            "/v1/async/task",
            &task("PERPLEXITY", chatgpt("background work")),
        )
        .await;
    assert_eq!(submitted.status, 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let status = t.get("/v1/async/status").await;
    assert_eq!(status.body["processingTasks"], 1);
    assert_eq!(status.body["concurrency"], json!({"used": 1, "max": 1}));

    let sync = t.post("/v1/monitor/chatgpt", &chatgpt("now")).await;
    assert_eq!(
        (sync.status, sync.code()),
        (429, "CONCURRENT_LIMIT_EXCEEDED")
    );

    let id = submitted.body["task"]["id"].as_str().unwrap().to_owned();
    t.wait_task(&id).await;
    let sync = t.post("/v1/monitor/chatgpt", &chatgpt("now")).await;
    assert_eq!(sync.status, 200, "the slot came back");
    t.stop().await;
}

#[tokio::test]
async fn queued_tasks_wait_while_sync_calls_hold_every_slot() {
    let t = TestSim::start(slow(1)).await;
    let held = t.post("/v1/monitor/chatgpt", &chatgpt("hold"));
    let submit = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let reply = t
            .post("/v1/async/task", &task("GEMINI", chatgpt("wait")))
            .await;
        let id = reply.body["task"]["id"].as_str().unwrap().to_owned();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let waiting = t.get(&format!("/v1/async/task/{id}")).await;
        (id, waiting)
    };
    let (held, (id, waiting)) = tokio::join!(held, submit);
    assert_eq!(held.status, 200);
    assert_eq!(
        waiting.body["task"]["status"], "QUEUED",
        "no slot while the sync call runs"
    );
    let done = t.wait_task(&id).await;
    assert_eq!(done["task"]["status"], "COMPLETED");
    t.stop().await;
}

#[tokio::test]
async fn a_client_that_hangs_up_is_still_charged() {
    let t = TestSim::start(slow(2)).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let result = impatient
        .post(t.url("/v1/monitor/chatgpt"))
        .bearer_auth(&t.key)
        .header("x-request-id", "gateway-deadline-1")
        .json(&chatgpt("slow answer"))
        .send()
        .await;
    assert!(result.unwrap_err().is_timeout(), "the client gave up");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let stats = t.stats().await;
    assert_eq!(
        stats.credits_charged, 7,
        "the upstream finished the work and charged it"
    );
    assert_eq!(stats.balance, 1_000_000 - 7);
    assert_eq!(stats.current_concurrency, 0);
    let records = t.records().await;
    assert_eq!(
        records.iter().map(|r| r.credits_charged).sum::<u64>(),
        7,
        "{records:?}"
    );
    let [abandoned] = records.as_slice() else {
        panic!("one record, for the finished work: {records:?}");
    };
    assert_eq!(abandoned.kind, RecordKind::Abandoned);
    assert_eq!(
        (abandoned.status, abandoned.credits_charged),
        (499, 7),
        "{abandoned:?}"
    );
    assert_eq!(abandoned.request_id.as_deref(), Some("gateway-deadline-1"));
    assert_eq!(
        (abandoned.method.as_str(), abandoned.path.as_str()),
        ("POST", "/v1/monitor/chatgpt")
    );
    assert_eq!(abandoned.error_code, None);
    assert!(abandoned.duration_ms >= 400, "{abandoned:?}");
    t.stop().await;
}
