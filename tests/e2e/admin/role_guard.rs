//! The role guard on every admin route: team and finance tokens get 403 (before the body is
//! read), no token gets 401, and nothing changes.

use e2e_tests::{TestApp, assert_error};
use reqwest::Method;
use serde_json::{Value, json};

/// Every admin route with a valid body, so only the role decides.
fn every_route() -> Vec<(Method, &'static str, Option<Value>)> {
    let quota = json!({"rps": 1.0, "burst": 1, "concurrency": 1});
    vec![
        (Method::POST, "/admin/teams", Some(json!({"slug": "gamma"}))),
        (Method::GET, "/admin/teams", None),
        (Method::GET, "/admin/teams/alpha", None),
        (
            Method::PATCH,
            "/admin/teams/alpha",
            Some(json!({"status": "suspended"})),
        ),
        (Method::GET, "/admin/teams/alpha/quota", None),
        (Method::PUT, "/admin/teams/alpha/quota", Some(quota)),
        (Method::DELETE, "/admin/teams/alpha/quota", None),
        (Method::GET, "/admin/account", None),
        (
            Method::PUT,
            "/admin/account/limits",
            Some(json!({"concurrency": 1, "rpsPerEndpoint": 1.0, "burst": 1})),
        ),
        (Method::DELETE, "/admin/account/limits", None),
        (
            Method::PUT,
            "/admin/account/pricing",
            Some(json!({"state": 9})),
        ),
        (Method::DELETE, "/admin/account/pricing", None),
        (
            Method::POST,
            "/admin/tokens",
            Some(json!({"role": "admin", "ttl": "1h"})),
        ),
        (Method::GET, "/admin/tokens", None),
        (
            Method::DELETE,
            "/admin/tokens/0190b3c4-0000-7000-8000-000000000000",
            None,
        ),
        (Method::GET, "/admin/audit", None),
    ]
}

/// Nothing was audited as alice and team `alpha` is still active.
async fn assert_nothing_changed(app: &TestApp) {
    let admin = app.admin_token().await;
    let audit = app.admin_get("/admin/audit?actor=alice", &admin).await;
    assert_eq!(audit.1["items"], json!([]));
    let team_row = app.admin_get("/admin/teams/alpha", &admin).await;
    assert_eq!(team_row.1["status"], "active");
}

#[tokio::test]
async fn team_and_finance_tokens_get_403_on_every_admin_route() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let team = app.team_token("alpha").await;
    let finance = app.finance_token().await;
    let routes = every_route();
    assert_eq!(routes.len(), 16);
    for (method, path, body) in routes {
        for token in [&team, &finance] {
            let answer = app
                .call_json(method.clone(), path, Some(token), body.clone())
                .await;
            assert_error(&answer, 403, "FORBIDDEN", None);
        }
    }
    assert_nothing_changed(&app).await;
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_body_from_a_non_admin_is_still_a_403_as_the_role_is_checked_first() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let team = app.team_token("alpha").await;
    for (method, path, body) in every_route() {
        if body.is_some() {
            let answer = app
                .call_json(method, path, Some(&team), Some(json!({"junk": true})))
                .await;
            assert_error(&answer, 403, "FORBIDDEN", None);
        }
    }
    assert_nothing_changed(&app).await;
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn no_token_gets_401_on_every_admin_route() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    for (method, path, body) in every_route() {
        assert_error(
            &app.call_json(method, path, None, body).await,
            401,
            "MISSING_API_KEY",
            None,
        );
    }
    assert_nothing_changed(&app).await;
    app.shutdown().await.unwrap();
}
