//! Async tasks and batches through the gateway: owned per team, keys namespaced, priority
//! and queue caps, per-item refusals in input order, settled once at cloro's charge by
//! whoever learns it first (a team's read, the poller, cloro's webhook).

mod batches;
mod caps;
mod exactness;
mod ownership;
mod restart;
mod settlement;
mod webhooks;

use accounting::EntryStatus;
use e2e_tests::TestApp;
use e2e_tests::ledger::entries_for;
use serde_json::{Value, json};
use std::time::Duration;

/// A ChatGPT task body (5 credits async).
pub fn chatgpt_task(key: Option<&str>) -> Value {
    let mut task = json!({
        "taskType": "CHATGPT",
        "payload": {"prompt": "What do you know about Acme Corp?", "country": "US"},
    });
    if let Some(key) = key {
        task["idempotencyKey"] = json!(key);
    }
    task
}

/// `POST path` with `body` as the team; status and JSON.
pub async fn post(app: &TestApp, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let response = app.post_json(path, token, body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Reads the task until cloro reports it done (COMPLETED or FAILED).
pub async fn wait_done(app: &TestApp, token: &str, task_id: &str) -> Value {
    for _ in 0..200 {
        let (status, view) = app
            .get_json(&format!("/v1/async/task/{task_id}"), token)
            .await;
        assert_eq!(status, 200, "{view}");
        if matches!(
            view["task"]["status"].as_str(),
            Some("COMPLETED" | "FAILED")
        ) {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("task {task_id} never finished");
}

/// Waits until every ledger entry of `team` is settled; returns them.
pub async fn settled_entries(app: &TestApp, team: &str) -> Vec<accounting::ledger::LedgerEntry> {
    for _ in 0..200 {
        let entries = entries_for(app, team).await;
        if entries.iter().all(|e| e.status != EntryStatus::Pending) {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("entries of {team} never settled");
}
