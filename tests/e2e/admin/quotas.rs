//! `/admin/teams/{slug}/quota`: the configured default until a quota is set, validation,
//! a set quota applied by the limiter on the next request (concurrency, budget), the async
//! caps set and read back, clearing back to the default, and one audit row per change.

use super::{ALICE, chatgpt};
use cloro_sim::SimConfig;
use e2e_tests::{TestApp, assert_error};
use serde_json::{Value, json};
use std::time::Duration;

const QUOTA: &str = "/admin/teams/alpha/quota";

/// Concurrency 1 and a generous rate.
fn one_at_a_time() -> Value {
    json!({"rps": 100.0, "burst": 100, "concurrency": 1})
}

/// A budget smaller than one chatgpt call (7 credits).
fn budget_of_three() -> Value {
    json!({"rps": 100.0, "burst": 100, "concurrency": 5, "budget": 3, "alertThresholdPct": 80})
}

/// Sends a chatgpt call for `token`; returns the status and the error code, if any.
async fn chatgpt_call(app: &TestApp, token: &str) -> (u16, Value) {
    let response = app
        .post_json("/v1/monitor/chatgpt", token, &chatgpt())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["error"]["code"].clone())
}

#[tokio::test]
async fn a_team_without_a_quota_shows_the_configured_default() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    app.create_team("alpha").await;
    let shown = app.admin_get(QUOTA, &admin).await;
    assert_eq!(shown.0, 200);
    assert_eq!(shown.1["source"], "default");
    assert_eq!(shown.1["concurrency"], 1000);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn quotas_of_an_unknown_team_and_clearing_a_quota_never_set_are_404s() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    app.create_team("alpha").await;
    assert_error(
        &app.admin_get("/admin/teams/ghost/quota", &admin).await,
        404,
        "RESOURCE_NOT_FOUND",
        None,
    );
    assert_error(
        &app.admin_delete(QUOTA, &admin).await,
        404,
        "RESOURCE_NOT_FOUND",
        None,
    );
    assert_error(
        &app.admin_put("/admin/teams/ghost/quota", &admin, one_at_a_time())
            .await,
        404,
        "RESOURCE_NOT_FOUND",
        None,
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_quota_is_a_400_naming_the_field_when_there_is_one() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    app.create_team("alpha").await;
    for (patch, field) in [
        (json!({"rps": 0}), "rps"),
        (json!({"rps": 1e9}), "rps"),
        (json!({"burst": 0}), "burst"),
        (json!({"burst": 10_000_000_000_i64}), "burst"),
        (json!({"concurrency": -1}), "concurrency"),
        (json!({"weight": 0}), "weight"),
        (json!({"budget": -5}), "budget"),
        (json!({"budget": 10_000_000_000_000_i64}), "budget"),
        (
            json!({"budget": 10, "alertThresholdPct": 150}),
            "alertThresholdPct",
        ),
        (json!({"alertThresholdPct": 50}), "alertThresholdPct"),
        (json!({"maxPriority": 0}), "maxPriority"),
        (json!({"maxPriority": 11}), "maxPriority"),
        (json!({"maxPriority": 10_000_000_000_i64}), "maxPriority"),
        (json!({"maxQueuedTasks": 0}), "maxQueuedTasks"),
        (json!({"maxQueuedTasks": 1_000_001}), "maxQueuedTasks"),
        (json!({"maxQueuedTasks": -1}), "maxQueuedTasks"),
    ] {
        let mut body = one_at_a_time();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        assert_error(
            &app.admin_put(QUOTA, &admin, body).await,
            400,
            "VALIDATION_ERROR",
            Some(field),
        );
    }
    for body in [
        json!({"rps": 1.0, "burst": 1}),
        json!({"rps": 1.0, "burst": 1, "concurrency": 1, "hard_budget": false}),
    ] {
        assert_error(
            &app.admin_put(QUOTA, &admin, body).await,
            400,
            "VALIDATION_ERROR",
            None,
        );
    }
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_async_caps_default_to_10_and_1000_and_are_set_and_read_back() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    app.create_team("alpha").await;
    let caps = |quota: &Value| {
        (
            quota["maxPriority"].clone(),
            quota["maxQueuedTasks"].clone(),
        )
    };

    // The configured default, then a quota that leaves them out: both 10 and 1000.
    let shown = app.admin_get(QUOTA, &admin).await;
    assert_eq!(shown.1["source"], "default");
    assert_eq!(caps(&shown.1), (json!(10), json!(1000)));
    let set = app.admin_put(QUOTA, &admin, one_at_a_time()).await;
    assert_eq!(set.0, 200, "{}", set.1);
    assert_eq!(caps(&set.1), (json!(10), json!(1000)));

    // Set at both ends of their ranges, and read back as set.
    for (max_priority, max_queued_tasks) in [(1, 1_000_000), (3, 1)] {
        let mut body = one_at_a_time();
        body["maxPriority"] = json!(max_priority);
        body["maxQueuedTasks"] = json!(max_queued_tasks);
        let set = app.admin_put(QUOTA, &admin, body).await;
        assert_eq!(set.0, 200, "{}", set.1);
        let shown = app.admin_get(QUOTA, &admin).await;
        assert_eq!(shown.1["source"], "team");
        for quota in [&set.1, &shown.1] {
            assert_eq!(caps(quota), (json!(max_priority), json!(max_queued_tasks)));
        }
    }
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_quota_limits_the_teams_concurrency_on_the_next_request() {
    let app = TestApp::builder()
        .sim(SimConfig {
            latency: "fixed:400ms".parse().unwrap(),
            ..SimConfig::default()
        })
        .spawn()
        .await
        .unwrap();
    let admin = app.admin_token_as(ALICE).await;
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;

    let set = app.admin_put(QUOTA, &admin, one_at_a_time()).await;
    assert_eq!(set.0, 200, "{}", set.1);
    assert_eq!(
        (
            set.1["source"].clone(),
            set.1["weight"].clone(),
            set.1["hardBudget"].clone()
        ),
        (json!("team"), json!(1), json!(true))
    );
    // Concurrency 1: of two concurrent calls, the second is refused by the team's limit.
    let (first, second) = tokio::join!(chatgpt_call(&app, &token), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        chatgpt_call(&app, &token).await
    });
    assert_eq!(first.0, 200);
    assert_eq!(second, (429, json!("CONCURRENT_LIMIT_EXCEEDED")));
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_budget_smaller_than_one_call_refuses_the_next_request_with_insufficient_credits() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let budget = app.admin_put(QUOTA, &admin, budget_of_three()).await;
    assert_eq!((budget.0, budget.1["budget"].clone()), (200, json!(3)));
    assert_eq!(
        chatgpt_call(&app, &token).await,
        (403, json!("INSUFFICIENT_CREDITS"))
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_cleared_quota_returns_the_team_to_the_default_on_the_next_request() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    app.create_team_with_quota("alpha", budget_of_three()).await;
    let token = app.team_token("alpha").await;
    assert_eq!(chatgpt_call(&app, &token).await.0, 403, "the budget holds");

    // Cleared: the default (no budget) applies to the next request.
    let cleared = app.admin_delete(QUOTA, &admin).await;
    assert_eq!(
        (cleared.0, cleared.1["source"].clone()),
        (200, json!("default"))
    );
    assert_eq!(chatgpt_call(&app, &token).await.0, 200);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_quota_change_is_audited_with_before_and_after_by_its_admin() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    app.create_team("alpha").await;
    assert_eq!(app.admin_put(QUOTA, &admin, one_at_a_time()).await.0, 200);
    assert_eq!(app.admin_put(QUOTA, &admin, budget_of_three()).await.0, 200);
    assert_eq!(app.admin_delete(QUOTA, &admin).await.0, 200);

    let rows = app.audit_of(&admin, "quota", "alpha").await;
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["quota.set", "quota.set", "quota.clear"]);
    assert_eq!(rows[0]["before"], Value::Null);
    assert_eq!(rows[0]["after"]["concurrency"], 1);
    assert_eq!(rows[1]["before"]["concurrency"], 1);
    assert_eq!(rows[1]["after"]["budget"], 3);
    assert_eq!(rows[2]["before"]["budget"], 3);
    assert_eq!(rows[2]["after"], Value::Null);
    assert!(rows.iter().all(|r| r["actor"] == ALICE));
    app.shutdown().await.unwrap();
}
