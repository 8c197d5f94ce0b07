//! The async queue: lifecycle to COMPLETED/FAILED, per-task credits, priority order, idempotency, cap, status, DELETE.

use std::time::Duration;

use cloro_sim::{FaultRates, LatencySpec, SimConfig};
use serde_json::{Value, json};

use crate::helpers::{TestSim, chatgpt, task};

fn id_of(reply: &Value) -> String {
    reply["task"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_task_runs_to_completed_and_is_charged_without_surcharge() {
    let t = TestSim::start(SimConfig {
        latency: LatencySpec::Fixed(Duration::from_millis(150)),
        ..SimConfig::default()
    })
    .await;
    let body = json!({"taskType": "CHATGPT", "payload": chatgpt("what is rust"), "priority": 4, "idempotencyKey": "job-1"});
    let submitted = t.post("/v1/async/task", &body).await;
    assert_eq!(submitted.status, 200, "{submitted:?}");
    assert_eq!(submitted.body["success"], true);
    let summary = &submitted.body["task"];
    assert_eq!(summary["status"], "QUEUED");
    assert_eq!(
        (summary["taskType"].as_str(), summary["priority"].as_u64()),
        (Some("CHATGPT"), Some(4))
    );
    assert_eq!(summary["idempotencyKey"], "job-1");
    assert!(uuid::Uuid::parse_str(summary["id"].as_str().unwrap()).is_ok());
    assert!(summary["createdAt"].is_string());
    assert_eq!(
        submitted.body["credits"],
        json!({"creditsToCharge": 5, "creditsCharged": null})
    );

    let id = id_of(&submitted.body);
    let early = t.get(&format!("/v1/async/task/{id}")).await;
    assert!(matches!(
        early.body["task"]["status"].as_str(),
        Some("QUEUED" | "PROCESSING")
    ));
    assert!(early.body["credits"]["creditsCharged"].is_null());
    assert!(early.body.get("response").is_none() && early.body["task"]["latencyMs"].is_null());

    let done = t.wait_task(&id).await;
    assert_eq!(done["task"]["status"], "COMPLETED");
    assert_eq!(
        done["credits"],
        json!({"creditsToCharge": 5, "creditsCharged": 5})
    );
    assert!(done["task"]["latencyMs"].as_u64().unwrap() >= 150);
    assert!(
        done["response"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "bare result object: {done}"
    );
    assert!(done.get("webhook").is_none());

    let stats = t.stats().await;
    assert_eq!(
        (stats.credits_charged, stats.balance, stats.tasks_completed),
        (5, 999_995, 1)
    );
    let finished = t
        .records()
        .await
        .into_iter()
        .find(|r| r.kind == cloro_sim::RecordKind::TaskFinished)
        .unwrap();
    assert_eq!(
        (finished.credits_charged, finished.task_id.as_deref()),
        (5, Some(id.as_str()))
    );
    t.stop().await;
}

#[tokio::test]
async fn a_failed_task_charges_nothing_and_reports_the_error() {
    let t = TestSim::start(SimConfig {
        faults: FaultRates {
            external_service_error: 1.0,
            ..FaultRates::default()
        },
        ..SimConfig::default()
    })
    .await;
    let submitted = t
        .post(
            "/v1/async/task",
            &task("GOOGLE", json!({"query": "q", "pages": 2})),
        )
        .await;
    assert_eq!(submitted.body["credits"]["creditsToCharge"], 5);
    let done = t.wait_task(&id_of(&submitted.body)).await;
    assert_eq!(done["task"]["status"], "FAILED");
    assert_eq!(done["credits"]["creditsCharged"], 0);
    assert_eq!(done["response"]["error"]["code"], "EXTERNAL_SERVICE_ERROR");
    assert!(done["response"]["error"]["message"].is_string());
    let stats = t.stats().await;
    assert_eq!(
        (stats.credits_charged, stats.balance, stats.tasks_failed),
        (0, 1_000_000, 1)
    );
    t.stop().await;
}

#[tokio::test]
async fn submit_is_refused_when_the_balance_is_below_the_task_price() {
    let t = TestSim::start(SimConfig {
        credits: 4,
        ..SimConfig::default()
    })
    .await;
    let refused = t
        .post("/v1/async/task", &task("CHATGPT", chatgpt("p")))
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "INSUFFICIENT_CREDITS")
    );
    let accepted = t
        .post("/v1/async/task", &task("PERPLEXITY", chatgpt("p")))
        .await;
    assert_eq!(accepted.status, 200, "4 credits pay a 4-credit task");
    t.stop().await;
}

#[tokio::test]
async fn higher_priority_runs_first_then_first_in_first_out() {
    let t = TestSim::start(SimConfig {
        concurrency_limit: 0,
        ..SimConfig::default()
    })
    .await;
    let mut ids = Vec::new();
    for (n, priority) in [1, 5, 1, 10, 5].into_iter().enumerate() {
        let body = json!({"taskType": "GEMINI", "payload": chatgpt(&format!("q{n}")), "priority": priority});
        ids.push(id_of(&t.post("/v1/async/task", &body).await.body));
    }
    let status = t.get("/v1/async/status").await;
    assert_eq!(status.body["queuedTasks"], 5);
    assert_eq!(status.body["processingTasks"], 0);
    assert_eq!(
        status.body["priorityBreakdown"],
        json!([{"priority": 10, "count": 1}, {"priority": 5, "count": 2}, {"priority": 1, "count": 2}])
    );
    assert_eq!(status.body["concurrency"], json!({"used": 0, "max": 0}));

    t.configure(json!({"concurrency_limit": 1})).await;
    t.wait_idle().await;
    let order: Vec<String> = t
        .records()
        .await
        .into_iter()
        .filter(|r| r.kind == cloro_sim::RecordKind::TaskFinished)
        .filter_map(|r| r.task_id)
        .collect();
    let expected = vec![
        ids[3].clone(),
        ids[1].clone(),
        ids[4].clone(),
        ids[0].clone(),
        ids[2].clone(),
    ];
    assert_eq!(order, expected);
    t.stop().await;
}

#[tokio::test]
async fn a_reused_idempotency_key_is_a_409() {
    let t = TestSim::default().await;
    let body = json!({"taskType": "GROK", "payload": chatgpt("p"), "idempotencyKey": "once"});
    assert_eq!(t.post("/v1/async/task", &body).await.status, 200);
    let again = t.post("/v1/async/task", &body).await;
    assert_eq!(
        (again.status, again.code()),
        (409, "RESOURCE_ALREADY_EXISTS")
    );
    t.stop().await;
}

#[tokio::test]
async fn a_full_queue_refuses_with_429_queue_limit_exceeded() {
    let t = TestSim::start(SimConfig {
        concurrency_limit: 0,
        queue_cap: 3,
        ..SimConfig::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            t.post("/v1/async/task", &task("AIMODE", json!({"prompt": "p"})))
                .await
                .status,
            200
        );
    }
    let full = t
        .post("/v1/async/task", &task("AIMODE", json!({"prompt": "p"})))
        .await;
    assert_eq!((full.status, full.code()), (429, "QUEUE_LIMIT_EXCEEDED"));
    t.stop().await;
}

#[tokio::test]
async fn delete_queue_removes_every_queued_task() {
    let t = TestSim::start(SimConfig {
        concurrency_limit: 0,
        ..SimConfig::default()
    })
    .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(id_of(
            &t.post("/v1/async/task", &task("COPILOT", chatgpt("p")))
                .await
                .body,
        ));
    }
    let deleted = t.delete("/v1/async/queue").await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["cleared"], 3, "{deleted:?}");
    assert_eq!(t.get("/v1/async/status").await.body["queuedTasks"], 0);
    let gone = t.get(&format!("/v1/async/task/{}", ids[0])).await;
    assert_eq!((gone.status, gone.code()), (404, "RESOURCE_NOT_FOUND"));
    t.stop().await;
}

#[tokio::test]
async fn unknown_task_ids_are_404_and_non_uuids_are_invalid() {
    let t = TestSim::default().await;
    let unknown = t
        .get(&format!("/v1/async/task/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (404, "RESOURCE_NOT_FOUND")
    );
    let bad = t.get("/v1/async/task/not-a-uuid").await;
    assert_eq!((bad.status, bad.code()), (400, "VALIDATION_ERROR"));
    t.stop().await;
}

#[tokio::test]
async fn finished_tasks_vanish_after_the_scaled_retention() {
    // 24 h / 86 400 = 1 s.
    let t = TestSim::start(SimConfig {
        time_scale: 86_400.0,
        ..SimConfig::default()
    })
    .await;
    let body =
        json!({"taskType": "CHATGPT", "payload": chatgpt("p"), "idempotencyKey": "reusable-later"});
    let id = id_of(&t.post("/v1/async/task", &body).await.body);
    t.wait_task(&id).await;
    assert_eq!(t.get(&format!("/v1/async/task/{id}")).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let gone = t.get(&format!("/v1/async/task/{id}")).await;
    assert_eq!((gone.status, gone.code()), (404, "RESOURCE_NOT_FOUND"));
    t.stop().await;
}

#[tokio::test]
async fn a_queued_task_the_balance_can_no_longer_pay_fails_uncharged() {
    let t = TestSim::start(SimConfig {
        credits: 10,
        concurrency_limit: 0,
        ..SimConfig::default()
    })
    .await;
    let first = id_of(
        &t.post("/v1/async/task", &task("CHATGPT", chatgpt("a")))
            .await
            .body,
    );
    let second = id_of(
        &t.post("/v1/async/task", &task("CHATGPT", chatgpt("b")))
            .await
            .body,
    );
    t.configure(json!({"balance": 5, "concurrency_limit": 1}))
        .await;
    let first = t.wait_task(&first).await;
    let second = t.wait_task(&second).await;
    assert_eq!(first["task"]["status"], "COMPLETED");
    assert_eq!(second["task"]["status"], "FAILED");
    assert_eq!(second["credits"]["creditsCharged"], 0);
    assert_eq!(second["response"]["error"]["code"], "INSUFFICIENT_CREDITS");
    assert_eq!(t.stats().await.balance, 0);
    t.stop().await;
}

#[tokio::test]
async fn async_replies_carry_no_credit_headers() {
    let t = TestSim::start(SimConfig {
        concurrency_limit: 0,
        ..SimConfig::default()
    })
    .await;
    let submitted = t
        .post("/v1/async/task", &task("CHATGPT", chatgpt("p")))
        .await;
    let id = id_of(&submitted.body);
    let replies = [
        submitted,
        t.post(
            "/v1/async/task/batch",
            &json!([task("GEMINI", chatgpt("b"))]),
        )
        .await,
        t.get(&format!("/v1/async/task/{id}")).await,
        t.get("/v1/async/status").await,
        t.delete("/v1/async/queue").await,
    ];
    for reply in &replies {
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(
            reply.header("x-credits-charged").is_none()
                && reply.header("x-credits-remaining").is_none(),
            "{reply:?}"
        );
        assert!(reply.header("x-ratelimit-limit").is_some());
    }
    t.stop().await;
}
