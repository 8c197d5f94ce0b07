//! A team's quota caps the priority it may use and how many tasks it may have queued.

use super::{chatgpt_task, post};
use e2e_tests::TestApp;
use e2e_tests::ledger::entries_for;
use serde_json::json;

fn quota(max_priority: u8, max_queued: u32) -> serde_json::Value {
    json!({
        "rps": 1000, "burst": 1000, "concurrency": 100,
        "maxPriority": max_priority, "maxQueuedTasks": max_queued,
    })
}

#[tokio::test]
async fn a_priority_above_the_teams_cap_is_refused_naming_it() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team_with_quota("low", quota(3, 100)).await;
    let token = app.team_token("low").await;
    let mut task = chatgpt_task(None);
    task["priority"] = json!(3);
    assert_eq!(post(&app, "/v1/async/task", &token, &task).await.0, 200);
    task["priority"] = json!(4);
    let (status, refused) = post(&app, "/v1/async/task", &token, &task).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(refused["error"]["details"][0]["field"], "priority");
    assert_eq!(
        entries_for(&app, "low").await.len(),
        1,
        "the refusal recorded nothing"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_queue_cap_refuses_the_task_past_it_and_holds_nothing_for_it() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team_with_quota("capped", quota(10, 2)).await;
    let token = app.team_token("capped").await;
    for key in ["a", "b"] {
        let (status, body) = post(&app, "/v1/async/task", &token, &chatgpt_task(Some(key))).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, refused) = post(&app, "/v1/async/task", &token, &chatgpt_task(Some("c"))).await;
    assert_eq!(status, 429, "{refused}");
    assert_eq!(refused["error"]["code"], "QUEUE_LIMIT_EXCEEDED");
    assert_eq!(entries_for(&app, "capped").await.len(), 2);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn sync_calls_are_admitted_against_the_slots_running_tasks_leave() {
    let app = TestApp::builder()
        .sim(cloro_sim::SimConfig {
            latency: cloro_sim::LatencySpec::Fixed(std::time::Duration::from_secs(8)),
            ..Default::default()
        })
        .settings(|s| s.limits.account_concurrency = 10)
        .spawn()
        .await
        .unwrap();
    app.create_team("mixer").await;
    let token = app.team_token("mixer").await;
    let limit = || app.metric("cloro_gateway_account_concurrency_limit");
    assert_eq!(limit().await, 10);
    for _ in 0..3 {
        let (status, body) = post(&app, "/v1/async/task", &token, &chatgpt_task(None)).await;
        assert_eq!(status, 200, "{body}");
    }
    // The probe reads cloro's running tasks every 2 s while any task is unsettled.
    let mut seen = 10;
    for _ in 0..50 {
        seen = limit().await;
        if seen == 7 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen, 7,
        "three running tasks hold three of the plan's ten slots"
    );
    app.shutdown().await.unwrap();
}
