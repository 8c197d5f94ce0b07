//! A batch answers every item in input order; items the gateway or cloro refuse cost nothing.

use super::{chatgpt_task, post, settled_entries};
use accounting::EntryStatus;
use e2e_tests::TestApp;
use serde_json::json;

#[tokio::test]
async fn a_batch_with_mixed_refusals_answers_each_item_in_order() {
    let app = TestApp::builder()
        .poll_async_tasks_every_second()
        .spawn()
        .await
        .unwrap();
    app.create_team("batcher").await;
    let token = app.team_token("batcher").await;
    let (status, first) = post(&app, "/v1/async/task", &token, &chatgpt_task(Some("taken"))).await;
    assert_eq!(status, 200, "{first}");

    let batch = json!([
        chatgpt_task(Some("one")),
        {"taskType": "GOOGLE_GOTO", "payload": {"url": "https://example.com"}},
        chatgpt_task(Some("taken")),
        {"taskType": "GEMINI", "payload": {"prompt": "x", "country": "US"}, "priority": 2},
    ]);
    let (status, answer) = post(&app, "/v1/async/task/batch", &token, &batch).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["summary"],
        json!({"total": 4, "succeeded": 2, "failed": 2})
    );
    let results = answer["results"].as_array().unwrap();
    let indexes: Vec<i64> = results
        .iter()
        .map(|r| r["index"].as_i64().unwrap())
        .collect();
    assert_eq!(indexes, vec![0, 1, 2, 3]);
    assert_eq!(results[0]["success"], true);
    assert_eq!(results[0]["task"]["idempotencyKey"], "one");
    assert_eq!(results[1]["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(results[2]["error"]["code"], "RESOURCE_ALREADY_EXISTS");
    assert_eq!(results[3]["success"], true);
    assert!(results[3]["task"]["idempotencyKey"].is_null());

    // Three tasks were accepted (one alone, two in the batch), all settled in time by the
    // poller; nothing was recorded for the refused items.
    let entries = settled_entries(&app, "batcher").await;
    assert_eq!(entries.len(), 3);
    assert!(entries.iter().all(|e| e.status == EntryStatus::Posted));
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_batch_must_hold_one_to_500_tasks() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("empty").await;
    let token = app.team_token("empty").await;
    let (status, refused) = post(&app, "/v1/async/task/batch", &token, &json!([])).await;
    assert_eq!(status, 400, "{refused}");
    let too_many: Vec<_> = (0..501).map(|_| chatgpt_task(None)).collect();
    let (status, _) = post(&app, "/v1/async/task/batch", &token, &json!(too_many)).await;
    assert_eq!(status, 400);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_batch_cloro_refuses_whole_releases_every_item() {
    let app = TestApp::builder()
        .sim(cloro_sim::SimConfig {
            queue_cap: 2,
            ..Default::default()
        })
        .spawn()
        .await
        .unwrap();
    app.create_team("flooder").await;
    let token = app.team_token("flooder").await;
    let batch: Vec<_> = (0..3)
        .map(|i| chatgpt_task(Some(&format!("f{i}"))))
        .collect();
    let (status, refused) = post(&app, "/v1/async/task/batch", &token, &json!(batch)).await;
    assert_eq!(status, 429, "{refused}");
    assert_eq!(refused["error"]["code"], "QUEUE_LIMIT_EXCEEDED");
    let entries = e2e_tests::ledger::entries_for(&app, "flooder").await;
    assert_eq!(entries.len(), 3);
    assert!(
        entries.iter().all(|e| e.status == EntryStatus::Voided),
        "{entries:?}"
    );
    // The holds were given back and the keys freed: the same tasks go through once there
    // is room.
    let (status, answer) = post(&app, "/v1/async/task", &token, &chatgpt_task(Some("f0"))).await;
    assert_eq!(status, 200, "{answer}");
    app.shutdown().await.unwrap();
}
