//! Every task belongs to the team that created it; keys are namespaced per team.

use super::{chatgpt_task, post, wait_done};
use accounting::EntryStatus;
use e2e_tests::TestApp;
use e2e_tests::ledger::entries_for;

#[tokio::test]
async fn a_task_is_booked_at_cloros_charge_and_another_team_cannot_see_it() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("owner").await;
    app.create_team("other").await;
    let owner = app.team_token("owner").await;
    let other = app.team_token("other").await;

    let (status, created) =
        post(&app, "/v1/async/task", &owner, &chatgpt_task(Some("job-1"))).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["task"]["idempotencyKey"], "job-1");
    assert_eq!(created["credits"]["creditsToCharge"], 5);
    assert!(created.get("webhook").is_none());
    let task_id = created["task"]["id"].as_str().unwrap().to_owned();

    let (status, refused) = app
        .get_json(&format!("/v1/async/task/{task_id}"), &other)
        .await;
    assert_eq!(status, 404);
    assert_eq!(refused["error"]["code"], "RESOURCE_NOT_FOUND");
    let (unknown, _) = app
        .get_json(&format!("/v1/async/task/{}", uuid::Uuid::new_v4()), &other)
        .await;
    assert_eq!(
        unknown, 404,
        "another team's task answers like an unknown one"
    );

    let done = wait_done(&app, &owner, &task_id).await;
    assert_eq!(done["task"]["idempotencyKey"], "job-1");
    let charged = done["credits"]["creditsCharged"].as_i64().unwrap();
    let entries = entries_for(&app, "owner").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].status, EntryStatus::Posted);
    assert_eq!(entries[0].charged.map(|c| c.get()), Some(charged));
    assert!(entries_for(&app, "other").await.is_empty());
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn two_teams_may_use_one_key_and_a_repeat_within_a_team_is_409() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("left").await;
    app.create_team("right").await;
    let left = app.team_token("left").await;
    let right = app.team_token("right").await;

    let (first, _) = post(&app, "/v1/async/task", &left, &chatgpt_task(Some("shared"))).await;
    let (second, body) = post(
        &app,
        "/v1/async/task",
        &right,
        &chatgpt_task(Some("shared")),
    )
    .await;
    assert_eq!((first, second), (200, 200), "{body}");
    assert_eq!(body["task"]["idempotencyKey"], "shared");

    let (repeat, refused) =
        post(&app, "/v1/async/task", &left, &chatgpt_task(Some("shared"))).await;
    assert_eq!(repeat, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "RESOURCE_ALREADY_EXISTS");
    assert!(
        !refused.to_string().contains(".shared"),
        "the namespaced key leaked: {refused}"
    );
    // The refused repeat left nothing behind.
    assert_eq!(entries_for(&app, "left").await.len(), 1);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_task_without_a_key_shows_none_and_the_team_cannot_clear_the_shared_queue() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("solo").await;
    let token = app.team_token("solo").await;
    let (status, created) = post(&app, "/v1/async/task", &token, &chatgpt_task(None)).await;
    assert_eq!(status, 200, "{created}");
    assert!(created["task"]["idempotencyKey"].is_null(), "{created}");

    let response = app
        .http
        .delete(app.url("/v1/async/queue"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    let (status, queue) = app.get_json("/v1/async/status", &token).await;
    assert_eq!(status, 200, "{queue}");
    assert!(queue["queuedTasks"].is_i64() && queue["processingTasks"].is_i64());
    assert!(queue["concurrency"]["max"].is_i64(), "{queue}");
    app.shutdown().await.unwrap();
}
