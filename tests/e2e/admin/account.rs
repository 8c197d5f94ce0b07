//! `/admin/account`: the configured limits and pricing, overrides of each (validated, held
//! by both replicas, cleared back to the configuration), and their audit rows.

use super::{ALICE, chatgpt};
use cloro_sim::SimConfig;
use e2e_tests::ledger::entries_for;
use e2e_tests::{TestApp, assert_error};
use serde_json::{Value, json};
use std::time::Duration;

const LIMITS: &str = "/admin/account/limits";
const PRICING: &str = "/admin/account/pricing";

/// A gateway whose directory is only re-read every minute (so only the push explains a
/// change reaching the replica) and whose account queue does not wait, with slow upstream
/// calls, team alpha and alice.
async fn account_app() -> (TestApp, String) {
    let app = TestApp::builder()
        .sim(SimConfig {
            latency: "fixed:400ms".parse().unwrap(),
            ..SimConfig::default()
        })
        .settings(|s| {
            s.limits.account_queue_wait_ms = 0;
            s.auth.directory_refresh_ms = 60_000;
        })
        .spawn()
        .await
        .unwrap();
    let admin = app.admin_token_as(ALICE).await;
    app.create_team("alpha").await;
    (app, admin)
}

fn pricing_override() -> Value {
    json!({"syncSurcharge": 3, "base": {"chatgpt": 10}})
}

fn limits_override() -> Value {
    json!({"concurrency": 1, "rpsPerEndpoint": 500.0, "burst": 50})
}

/// A chatgpt call for `token` on `url`; asserts it was served.
async fn served(app: &TestApp, url: String, token: &str) {
    let ok = app
        .http
        .post(url)
        .bearer_auth(token)
        .json(&chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn the_account_shows_the_configured_limits_and_pricing_and_no_override() {
    let (app, admin) = account_app().await;
    let account = app.admin_get("/admin/account", &admin).await;
    assert_eq!(account.0, 200);
    assert_eq!(account.1["limits"]["concurrency"], 1000);
    assert_eq!(account.1["limits"]["source"], "config");
    assert_eq!(account.1["pricing"]["source"], "config");
    assert_eq!(account.1["pricing"]["effective"]["base"]["chatgpt"], 5);
    assert_eq!(account.1["pricing"]["override"], Value::Null);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn clearing_an_account_override_never_set_is_a_404() {
    let (app, admin) = account_app().await;
    for path in [LIMITS, PRICING] {
        assert_error(
            &app.admin_delete(path, &admin).await,
            404,
            "RESOURCE_NOT_FOUND",
            None,
        );
    }
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_pricing_override_is_a_400_naming_the_field_when_there_is_one() {
    let (app, admin) = account_app().await;
    for (body, field) in [
        (json!({"syncSurcharge": -1}), Some("syncSurcharge")),
        (json!({"base": {"chatgpt": -5}}), Some("base.chatgpt")),
        (
            json!({"base": {"googleNews": 1_000_000}}),
            Some("base.googleNews"),
        ),
        (json!({}), Some("body")),
        (json!({"sync_surcharge": 3}), None),
        (json!({"base": {"bing": 3}}), None),
        (json!({"state": "two"}), None),
    ] {
        assert_error(
            &app.admin_put(PRICING, &admin, body).await,
            400,
            "VALIDATION_ERROR",
            field,
        );
    }
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pricing_override_is_held_by_both_replicas_and_clearing_it_returns_to_config() {
    let (app, admin) = account_app().await;
    let replica = app.replica().await.unwrap();
    let token = app.team_token("alpha").await;

    // Pricing: chatgpt 5 + 2 sync = 7 by config; 10 + 3 with the override.
    let priced = app.admin_put(PRICING, &admin, pricing_override()).await;
    assert_eq!(priced.0, 200, "{}", priced.1);
    assert_eq!(priced.1["pricing"]["source"], "override");
    assert_eq!(priced.1["pricing"]["effective"]["base"]["chatgpt"], 10);
    assert_eq!(priced.1["pricing"]["effective"]["base"]["gemini"], 4);
    assert_eq!(priced.1["pricing"]["override"], pricing_override());
    // On the other replica too (pushed, the periodic refresh is a minute here).
    tokio::time::sleep(Duration::from_millis(300)).await;
    served(&app, app.url("/v1/monitor/chatgpt"), &token).await;
    served(&app, replica.url("/v1/monitor/chatgpt"), &token).await;
    let estimates: Vec<i64> = entries_for(&app, "alpha")
        .await
        .iter()
        .map(|e| e.estimate.get())
        .collect();
    assert_eq!(
        estimates,
        [13, 13],
        "the override's estimate was held on both replicas"
    );

    let cleared = app.admin_delete(PRICING, &admin).await;
    assert_eq!(cleared.1["pricing"]["source"], "config");
    served(&app, app.url("/v1/monitor/chatgpt"), &token).await;
    assert_eq!(
        entries_for(&app, "alpha")
            .await
            .last()
            .unwrap()
            .estimate
            .get(),
        7
    );
    replica.stop().await;
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_account_limits_are_a_400_naming_the_field_when_there_is_one() {
    let (app, admin) = account_app().await;
    for (body, field) in [
        (
            json!({"concurrency": 0, "rpsPerEndpoint": 10.0, "burst": 10}),
            Some("concurrency"),
        ),
        (
            json!({"concurrency": 1, "rpsPerEndpoint": 0, "burst": 10}),
            Some("rpsPerEndpoint"),
        ),
        (
            json!({"concurrency": 1, "rpsPerEndpoint": 10.0, "burst": 10_000_000}),
            Some("burst"),
        ),
        (json!({"concurrency": 1, "rpsPerEndpoint": 10.0}), None),
        (
            json!({"concurrency": 1, "rpsPerEndpoint": 10.0, "burst": 1, "x": 1}),
            None,
        ),
    ] {
        assert_error(
            &app.admin_put(LIMITS, &admin, body).await,
            400,
            "VALIDATION_ERROR",
            field,
        );
    }
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_limits_are_shared_by_both_replicas_and_clearing_them_returns_to_config() {
    let (app, admin) = account_app().await;
    let replica = app.replica().await.unwrap();
    let token = app.team_token("alpha").await;

    let limited = app.admin_put(LIMITS, &admin, limits_override()).await;
    assert_eq!(limited.0, 200, "{}", limited.1);
    assert_eq!(
        limited.1["limits"],
        json!({"concurrency": 1, "rpsPerEndpoint": 500.0, "burst": 50, "source": "override"})
    );
    assert_eq!(limited.1["currentConcurrency"], 1);
    // Account concurrency 1: a second concurrent call, on the other replica, is refused by
    // the account.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (first, second) = tokio::join!(
        app.post_json("/v1/monitor/chatgpt", &token, &chatgpt())
            .send(),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            app.http
                .post(replica.url("/v1/monitor/chatgpt"))
                .bearer_auth(&token)
                .json(&chatgpt())
                .send()
                .await
        }
    );
    assert_eq!(first.unwrap().status(), 200);
    let second = second.unwrap();
    assert_eq!(second.status(), 429);
    let body: Value = second.json().await.unwrap();
    assert_eq!(
        (
            body["error"]["code"].as_str(),
            body["error"]["details"]["scope"].as_str()
        ),
        (Some("CONCURRENT_LIMIT_EXCEEDED"), Some("account"))
    );

    let cleared = app.admin_delete(LIMITS, &admin).await;
    assert_eq!(cleared.1["limits"]["source"], "config");
    assert_eq!(cleared.1["limits"]["concurrency"], 1000);
    replica.stop().await;
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn account_overrides_are_audited_when_set_and_when_cleared() {
    let (app, admin) = account_app().await;
    assert_eq!(
        app.admin_put(PRICING, &admin, pricing_override()).await.0,
        200
    );
    assert_eq!(app.admin_delete(PRICING, &admin).await.0, 200);
    assert_eq!(
        app.admin_put(LIMITS, &admin, limits_override()).await.0,
        200
    );
    assert_eq!(app.admin_delete(LIMITS, &admin).await.0, 200);

    let rows = app.audit_of(&admin, "account", "limits").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["after"], limits_override());
    assert_eq!(
        (rows[1]["action"].as_str(), &rows[1]["after"]),
        (Some("account.limits.clear"), &Value::Null)
    );
    let rows = app.audit_of(&admin, "account", "pricing").await;
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["account.pricing.set", "account.pricing.clear"]);
    app.shutdown().await.unwrap();
}
