//! Batches: per-item results and credits, per-item failures, and the queue cap rejecting a batch whole.

use cloro_sim::{Profile, SimConfig};
use serde_json::{Value, json};

use crate::helpers::{TestSim, chatgpt, task};

#[tokio::test]
async fn items_succeed_or_fail_one_by_one() {
    let t = TestSim::start(SimConfig {
        credits: 6,
        concurrency_limit: 0,
        ..SimConfig::default()
    })
    .await;
    assert_eq!(
        t.post(
            "/v1/async/task",
            &json!({"taskType": "GROK", "payload": chatgpt("p"), "idempotencyKey": "taken"})
        )
        .await
        .status,
        200
    );
    let batch = json!([
        {"taskType": "CHATGPT", "payload": chatgpt("ok"), "idempotencyKey": "fresh"},
        {"taskType": "BING", "payload": chatgpt("bad type")},
        {"taskType": "GOOGLE", "payload": {"query": "q", "pages": 3, "include": {"aioverview": true}}},
        {"taskType": "GEMINI", "payload": chatgpt("dup"), "idempotencyKey": "taken"},
        {"taskType": "GEMINI", "payload": chatgpt("dup in batch"), "idempotencyKey": "fresh"},
        {"taskType": "GOOGLE_NEWS", "payload": {"query": "news", "pages": 2}, "priority": 9}
    ]);
    let reply = t.post("/v1/async/task/batch", &batch).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body["summary"],
        json!({"total": 6, "succeeded": 2, "failed": 4})
    );
    let results = reply.body["results"].as_array().unwrap();
    let indexes: Vec<u64> = results
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [0, 1, 2, 3, 4, 5], "input order is kept");

    let code = |r: &Value| r["error"]["code"].as_str().unwrap_or_default().to_owned();
    assert_eq!(results[0]["success"], true);
    assert_eq!(results[0]["task"]["status"], "QUEUED");
    assert_eq!(
        results[0]["credits"],
        json!({"creditsToCharge": 5, "creditsCharged": null})
    );
    assert_eq!(
        (results[1]["success"].as_bool(), code(&results[1])),
        (Some(false), "VALIDATION_ERROR".into())
    );
    assert_eq!(results[1]["error"]["details"][0]["field"], "taskType");
    assert_eq!(
        code(&results[2]),
        "INSUFFICIENT_CREDITS",
        "9 credits > balance 6"
    );
    assert_eq!(code(&results[3]), "RESOURCE_ALREADY_EXISTS");
    assert_eq!(
        code(&results[4]),
        "RESOURCE_ALREADY_EXISTS",
        "a key reused inside the batch"
    );
    assert_eq!(results[5]["credits"]["creditsToCharge"], 5);
    assert_eq!(results[5]["task"]["priority"], 9);
    assert_eq!(t.get("/v1/async/status").await.body["queuedTasks"], 3);

    let record = t
        .records()
        .await
        .into_iter()
        .find(|r| r.path == "/v1/async/task/batch")
        .unwrap();
    assert_eq!(record.task_ids.len(), 2);
    t.stop().await;
}

#[tokio::test]
async fn each_batch_task_is_charged_on_its_own() {
    let t = TestSim::default().await;
    let batch: Vec<Value> = vec![
        task(
            "CHATGPT",
            json!({"prompt": "a", "country": "US", "include": {"searchQueries": true}}),
        ),
        task("PERPLEXITY", chatgpt("b")),
        task("GOOGLE", json!({"query": "c", "pages": 2})),
    ];
    let reply = t.post("/v1/async/task/batch", &json!(batch)).await;
    let ids: Vec<String> = reply.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["task"]["id"].as_str().unwrap().to_owned())
        .collect();
    let mut charged = Vec::new();
    for id in &ids {
        charged.push(
            t.wait_task(id).await["credits"]["creditsCharged"]
                .as_u64()
                .unwrap(),
        );
    }
    assert_eq!(charged, [7, 4, 5]);
    assert_eq!(t.stats().await.credits_charged, 16);
    t.stop().await;
}

#[tokio::test]
async fn a_batch_that_would_overflow_the_queue_is_rejected_whole() {
    let t = TestSim::start(SimConfig {
        concurrency_limit: 0,
        queue_cap: 5,
        ..SimConfig::default()
    })
    .await;
    let six: Vec<Value> = (0..6)
        .map(|i| task("CHATGPT", chatgpt(&format!("q{i}"))))
        .collect();
    let reply = t.post("/v1/async/task/batch", &json!(six)).await;
    assert_eq!(
        (reply.status, reply.code()),
        (429, "QUEUE_LIMIT_EXCEEDED"),
        "{reply:?}"
    );
    assert_eq!(
        t.get("/v1/async/status").await.body["queuedTasks"],
        0,
        "nothing of it was queued"
    );
    let five = json!(six[..5]);
    assert_eq!(
        t.post("/v1/async/task/batch", &five).await.body["summary"]["succeeded"],
        5
    );
    let one_more = t
        .post(
            "/v1/async/task/batch",
            &json!([task("CHATGPT", chatgpt("x"))]),
        )
        .await;
    assert_eq!(one_more.status, 429);
    t.stop().await;
}

#[tokio::test]
async fn the_legacy_profile_reports_duplicates_as_resource_conflict() {
    let t = TestSim::start(SimConfig {
        profile: Profile::legacy(),
        ..SimConfig::default()
    })
    .await;
    let item = json!({"taskType": "CHATGPT", "payload": chatgpt("p"), "idempotencyKey": "k"});
    let reply = t.post("/v1/async/task/batch", &json!([item, item])).await;
    assert_eq!(
        reply.body["results"][1]["error"]["code"],
        "RESOURCE_CONFLICT"
    );
    let single = t.post("/v1/async/task", &item).await;
    assert_eq!((single.status, single.code()), (409, "RESOURCE_CONFLICT"));
    t.stop().await;
}
