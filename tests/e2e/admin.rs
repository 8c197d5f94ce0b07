//! The admin API end to end: every route's happy path and refusals (400 naming the field,
//! 404, 409), the role guard on every route, the audit row of every change (and the audit
//! table refusing rewrites), changes reaching a second replica at once through the pushed
//! directory refresh, and quota and account overrides applied by the limiter and pricing.

use accounting::Role;
use cloro_sim::SimConfig;
use e2e_tests::TestApp;
use e2e_tests::ledger::entries_for;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// An admin token whose `sub` (the audit actor) is `alice@corp`.
async fn alice(app: &TestApp) -> String {
    cloro_gateway::cli::mint_for(
        &app.db,
        &app.settings,
        Role::Admin,
        None,
        Some("alice@corp".into()),
        Duration::from_secs(3600),
    )
    .await
    .unwrap()
    .token
}

/// Sends an admin request; returns (status, JSON body).
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.http.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Asserts a cloro error envelope with `code` (and, for 400s, the field named).
fn assert_error(answer: &(u16, Value), status: u16, code: &str, field: Option<&str>) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["success"], false, "{}", answer.1);
    assert_eq!(answer.1["error"]["code"], code, "{}", answer.1);
    if let Some(field) = field {
        let fields: Vec<&str> = answer.1["error"]["details"]
            .as_array()
            .map(|d| d.iter().filter_map(|f| f["field"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            fields.contains(&field),
            "expected field {field}: {}",
            answer.1
        );
    }
}

/// The audit rows for one target, oldest first.
async fn audit_of(app: &TestApp, admin: &str, target_type: &str, target_id: &str) -> Vec<Value> {
    let path = format!("/admin/audit?targetType={target_type}&targetId={target_id}");
    let (status, body) = call(app, Method::GET, &path, Some(admin), None).await;
    assert_eq!(status, 200, "{body}");
    let mut items = body["items"].as_array().unwrap().clone();
    items.reverse();
    items
}

fn chatgpt() -> Value {
    json!({"prompt": "p", "country": "US"})
}

#[tokio::test]
async fn teams_are_created_listed_shown_renamed_suspended_and_audited() {
    let app = TestApp::spawn().await.unwrap();
    let admin = alice(&app).await;
    let a = Some(admin.as_str());

    let created = call(
        &app,
        Method::POST,
        "/admin/teams",
        a,
        Some(json!({"slug": "alpha", "name": "Alpha"})),
    )
    .await;
    assert_eq!(created.0, 201, "{}", created.1);
    assert_eq!(created.1["slug"], "alpha");
    assert_eq!(created.1["status"], "active");
    assert!(
        created.1["createdAt"].is_string(),
        "camelCase: {}",
        created.1
    );
    let unnamed = call(
        &app,
        Method::POST,
        "/admin/teams",
        a,
        Some(json!({"slug": "beta"})),
    )
    .await;
    assert_eq!((unnamed.0, unnamed.1["name"].clone()), (201, json!("beta")));

    assert_error(
        &call(
            &app,
            Method::POST,
            "/admin/teams",
            a,
            Some(json!({"slug": "alpha"})),
        )
        .await,
        409,
        "RESOURCE_ALREADY_EXISTS",
        None,
    );
    for (body, field) in [
        (json!({"slug": "Bad Slug"}), "slug"),
        (json!({"slug": "-x"}), "slug"),
        (json!({"slug": "gamma", "name": ""}), "name"),
        (json!({"slug": "gamma", "name": "x".repeat(201)}), "name"),
    ] {
        assert_error(
            &call(&app, Method::POST, "/admin/teams", a, Some(body)).await,
            400,
            "VALIDATION_ERROR",
            Some(field),
        );
    }
    for body in [
        json!({"slug": "gamma", "colour": "red"}),
        json!({"slug": 5}),
        json!("x"),
    ] {
        assert_error(
            &call(&app, Method::POST, "/admin/teams", a, Some(body)).await,
            400,
            "VALIDATION_ERROR",
            None,
        );
    }

    let list = call(&app, Method::GET, "/admin/teams", a, None).await;
    assert_eq!(list.0, 200);
    let slugs: Vec<&str> = list.1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["alpha", "beta"]);
    assert_eq!(
        call(&app, Method::GET, "/admin/teams/alpha", a, None)
            .await
            .1["name"],
        "Alpha"
    );
    assert_error(
        &call(&app, Method::GET, "/admin/teams/ghost", a, None).await,
        404,
        "RESOURCE_NOT_FOUND",
        None,
    );
    assert_error(
        &call(&app, Method::GET, "/admin/teams/NOPE!", a, None).await,
        400,
        "VALIDATION_ERROR",
        Some("slug"),
    );
    assert_error(
        &call(&app, Method::GET, "/admin/teams?status=deleted", a, None).await,
        400,
        "VALIDATION_ERROR",
        Some("status"),
    );
    assert_error(
        &call(&app, Method::GET, "/admin/teams?colour=red", a, None).await,
        400,
        "VALIDATION_ERROR",
        None,
    );

    // Suspend: the team's own token is refused at once on this replica.
    let team_token = app.team_token("alpha").await;
    let before = app
        .post_json("/v1/monitor/chatgpt", &team_token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(before.status(), 200);
    let patched = call(
        &app,
        Method::PATCH,
        "/admin/teams/alpha",
        a,
        Some(json!({"status": "suspended", "name": "Alpha Co"})),
    )
    .await;
    assert_eq!(patched.0, 200, "{}", patched.1);
    assert_eq!(
        (patched.1["status"].clone(), patched.1["name"].clone()),
        (json!("suspended"), json!("Alpha Co"))
    );
    let refused = app
        .post_json("/v1/monitor/chatgpt", &team_token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "applied before the PATCH answered");
    let suspended = call(&app, Method::GET, "/admin/teams?status=suspended", a, None).await;
    assert_eq!(suspended.1["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        call(
            &app,
            Method::PATCH,
            "/admin/teams/alpha",
            a,
            Some(json!({"status": "active"}))
        )
        .await
        .0,
        200
    );
    let resumed = app
        .post_json("/v1/monitor/chatgpt", &team_token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);

    for (body, field) in [
        (json!({"status": "deleted"}), "status"),
        (json!({"name": "  "}), "name"),
        (json!({}), "body"),
    ] {
        assert_error(
            &call(&app, Method::PATCH, "/admin/teams/alpha", a, Some(body)).await,
            400,
            "VALIDATION_ERROR",
            Some(field),
        );
    }
    assert_error(
        &call(
            &app,
            Method::PATCH,
            "/admin/teams/ghost",
            a,
            Some(json!({"status": "active"})),
        )
        .await,
        404,
        "RESOURCE_NOT_FOUND",
        None,
    );

    // One audit row per change, by alice, with before and after; refusals left none.
    let rows = audit_of(&app, &admin, "team", "alpha").await;
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["team.create", "team.update", "team.update"]);
    assert!(rows.iter().all(|r| r["actor"] == "alice@corp"));
    assert_eq!(rows[0]["before"], Value::Null);
    assert_eq!(rows[0]["after"]["name"], "Alpha");
    assert_eq!(rows[1]["before"]["status"], "active");
    assert_eq!(rows[1]["after"]["status"], "suspended");
    assert_eq!(rows[1]["after"]["name"], "Alpha Co");
    assert_eq!(rows[2]["before"]["status"], "suspended");
    assert_eq!(rows[2]["after"]["status"], "active");
    app.shutdown().await.unwrap();
}

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

#[tokio::test]
async fn team_and_finance_tokens_get_403_and_no_token_401_on_every_admin_route() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let team = app.team_token("alpha").await;
    let finance = app.finance_token().await;
    let routes = every_route();
    assert_eq!(routes.len(), 16);
    for (method, path, body) in routes {
        for token in [&team, &finance] {
            let answer = call(&app, method.clone(), path, Some(token), body.clone()).await;
            assert_error(&answer, 403, "FORBIDDEN", None);
        }
        // A bad body from a non-admin is still a 403: the role is checked first.
        if body.is_some() {
            let answer = call(
                &app,
                method.clone(),
                path,
                Some(&team),
                Some(json!({"junk": true})),
            )
            .await;
            assert_error(&answer, 403, "FORBIDDEN", None);
        }
        assert_error(
            &call(&app, method.clone(), path, None, body).await,
            401,
            "MISSING_API_KEY",
            None,
        );
    }
    // Nothing changed.
    let admin = app.admin_token().await;
    let audit = call(
        &app,
        Method::GET,
        "/admin/audit?actor=alice",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(audit.1["items"], json!([]));
    let team_row = call(&app, Method::GET, "/admin/teams/alpha", Some(&admin), None).await;
    assert_eq!(team_row.1["status"], "active");
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_default_set_clear_validated_audited_and_applied_on_the_next_request() {
    let app = TestApp::builder()
        .sim(SimConfig {
            latency: "fixed:400ms".parse().unwrap(),
            ..SimConfig::default()
        })
        .spawn()
        .await
        .unwrap();
    let admin = alice(&app).await;
    let a = Some(admin.as_str());
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;

    let shown = call(&app, Method::GET, "/admin/teams/alpha/quota", a, None).await;
    assert_eq!(shown.0, 200);
    assert_eq!(shown.1["source"], "default");
    assert_eq!(shown.1["concurrency"], 1000);
    assert_error(
        &call(&app, Method::GET, "/admin/teams/ghost/quota", a, None).await,
        404,
        "RESOURCE_NOT_FOUND",
        None,
    );
    assert_error(
        &call(&app, Method::DELETE, "/admin/teams/alpha/quota", a, None).await,
        404,
        "RESOURCE_NOT_FOUND",
        None,
    );

    let put = |body: Value| call(&app, Method::PUT, "/admin/teams/alpha/quota", a, Some(body));
    let base = json!({"rps": 100.0, "burst": 100, "concurrency": 1});
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
    ] {
        let mut body = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        assert_error(&put(body).await, 400, "VALIDATION_ERROR", Some(field));
    }
    assert_error(
        &put(json!({"rps": 1.0, "burst": 1})).await,
        400,
        "VALIDATION_ERROR",
        None,
    );
    assert_error(
        &put(json!({"rps": 1.0, "burst": 1, "concurrency": 1, "hard_budget": false})).await,
        400,
        "VALIDATION_ERROR",
        None,
    );
    assert_error(
        &call(
            &app,
            Method::PUT,
            "/admin/teams/ghost/quota",
            a,
            Some(base.clone()),
        )
        .await,
        404,
        "RESOURCE_NOT_FOUND",
        None,
    );

    // Concurrency 1: of two concurrent calls, the second is refused by the team's limit.
    let set = put(base.clone()).await;
    assert_eq!(set.0, 200, "{}", set.1);
    assert_eq!(
        (
            set.1["source"].clone(),
            set.1["weight"].clone(),
            set.1["hardBudget"].clone()
        ),
        (json!("team"), json!(1), json!(true))
    );
    let (first, second) = tokio::join!(
        app.post_json("/v1/monitor/chatgpt", &token, &chatgpt())
            .send(),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            app.post_json("/v1/monitor/chatgpt", &token, &chatgpt())
                .send()
                .await
        }
    );
    assert_eq!(first.unwrap().status(), 200);
    let second = second.unwrap();
    assert_eq!(second.status(), 429);
    assert_eq!(
        second.json::<Value>().await.unwrap()["error"]["code"],
        "CONCURRENT_LIMIT_EXCEEDED"
    );

    // A budget smaller than one call: refused with 403 INSUFFICIENT_CREDITS.
    let budget = put(
        json!({"rps": 100.0, "burst": 100, "concurrency": 5, "budget": 3, "alertThresholdPct": 80}),
    )
    .await;
    assert_eq!((budget.0, budget.1["budget"].clone()), (200, json!(3)));
    let poor = app
        .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(poor.status(), 403);
    assert_eq!(
        poor.json::<Value>().await.unwrap()["error"]["code"],
        "INSUFFICIENT_CREDITS"
    );

    // Cleared: the default (no budget) applies to the next request.
    let cleared = call(&app, Method::DELETE, "/admin/teams/alpha/quota", a, None).await;
    assert_eq!(
        (cleared.0, cleared.1["source"].clone()),
        (200, json!("default"))
    );
    let rich = app
        .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(rich.status(), 200);

    let rows = audit_of(&app, &admin, "quota", "alpha").await;
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["quota.set", "quota.set", "quota.clear"]);
    assert_eq!(rows[0]["before"], Value::Null);
    assert_eq!(rows[0]["after"]["concurrency"], 1);
    assert_eq!(rows[1]["before"]["concurrency"], 1);
    assert_eq!(rows[1]["after"]["budget"], 3);
    assert_eq!(rows[2]["before"]["budget"], 3);
    assert_eq!(rows[2]["after"], Value::Null);
    assert!(rows.iter().all(|r| r["actor"] == "alice@corp"));
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn tokens_are_minted_listed_without_their_text_and_revoked() {
    let app = TestApp::spawn().await.unwrap();
    let admin = alice(&app).await;
    let a = Some(admin.as_str());
    app.create_team("alpha").await;
    app.create_team("beta").await;

    let minted = call(
        &app,
        Method::POST,
        "/admin/tokens",
        a,
        Some(json!({"role": "team", "team": "alpha", "ttl": "30d"})),
    )
    .await;
    assert_eq!(minted.0, 201, "{}", minted.1);
    let token = minted.1["token"].as_str().unwrap().to_owned();
    let jti = minted.1["jti"].as_str().unwrap().to_owned();
    assert_eq!(minted.1["subject"], "admin:alice@corp");
    assert_eq!(
        (minted.1["role"].clone(), minted.1["team"].clone()),
        (json!("team"), json!("alpha"))
    );
    assert!(minted.1["expiresAt"].is_string());
    let works = app
        .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(works.status(), 200);
    let finance = call(
        &app,
        Method::POST,
        "/admin/tokens",
        a,
        Some(json!({"role": "finance", "subject": "bob", "ttl": "1h"})),
    )
    .await;
    assert_eq!(
        (
            finance.0,
            finance.1["subject"].clone(),
            finance.1["team"].clone()
        ),
        (201, json!("bob"), Value::Null)
    );
    let finance_token = finance.1["token"].as_str().unwrap().to_owned();

    for (body, field) in [
        (json!({"role": "owner", "ttl": "1h"}), "role"),
        (json!({"role": "team", "ttl": "1h"}), "team"),
        (
            json!({"role": "admin", "team": "alpha", "ttl": "1h"}),
            "team",
        ),
        (
            json!({"role": "team", "team": "Not A Slug", "ttl": "1h"}),
            "team",
        ),
        (json!({"role": "admin", "ttl": "soon"}), "ttl"),
        (json!({"role": "admin", "ttl": "367d"}), "ttl"),
        (json!({"role": "admin", "ttl": "0s"}), "ttl"),
        (
            json!({"role": "admin", "ttl": "1h", "subject": ""}),
            "subject",
        ),
        (
            json!({"role": "admin", "ttl": "1h", "subject": "x".repeat(201)}),
            "subject",
        ),
    ] {
        assert_error(
            &call(&app, Method::POST, "/admin/tokens", a, Some(body)).await,
            400,
            "VALIDATION_ERROR",
            Some(field),
        );
    }
    assert_error(
        &call(
            &app,
            Method::POST,
            "/admin/tokens",
            a,
            Some(json!({"role": "admin"})),
        )
        .await,
        400,
        "VALIDATION_ERROR",
        None,
    );
    assert_error(
        &call(
            &app,
            Method::POST,
            "/admin/tokens",
            a,
            Some(json!({"role": "team", "team": "ghost", "ttl": "1h"})),
        )
        .await,
        404,
        "RESOURCE_NOT_FOUND",
        None,
    );

    // Listing: filters, pages, and never a token's text.
    let list = call(&app, Method::GET, "/admin/tokens?team=alpha", a, None).await;
    assert_eq!(list.0, 200);
    let items = list.1["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["jti"], jti.as_str());
    assert_eq!(items[0]["state"], "active");
    let everything = call(
        &app,
        Method::GET,
        "/admin/tokens?includeRevoked=true&limit=1000",
        a,
        None,
    )
    .await;
    let text = everything.1.to_string();
    assert!(
        !text.contains(&token) && !text.contains(&finance_token) && !text.contains(&admin),
        "token text listed"
    );
    assert!(
        everything.1["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("token").is_none())
    );
    let finance_only = call(&app, Method::GET, "/admin/tokens?role=finance", a, None).await;
    assert_eq!(finance_only.1["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        call(&app, Method::GET, "/admin/tokens?team=ghost", a, None)
            .await
            .1["items"],
        json!([])
    );

    let mut seen = Vec::new();
    let mut path = "/admin/tokens?limit=1".to_owned();
    loop {
        let page = call(&app, Method::GET, &path, a, None).await;
        assert_eq!(page.0, 200, "{}", page.1);
        seen.extend(
            page.1["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["jti"].as_str().unwrap().to_owned()),
        );
        match page.1["nextCursor"].as_str() {
            Some(cursor) => path = format!("/admin/tokens?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    let all: Vec<String> = everything.1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["jti"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        seen, all,
        "pages walk the whole list, newest first, once each"
    );
    assert!(seen.len() >= 3);

    for (query, field) in [
        ("limit=0", Some("limit")),
        ("cursor=forged!", Some("cursor")),
        ("role=owner", Some("role")),
        ("team=NOT_A_SLUG", Some("team")),
        ("includeRevoked=true&activeOnly=true", Some("activeOnly")),
        ("includeRevoked=maybe", None),
        ("colour=red", None),
    ] {
        let answer = call(
            &app,
            Method::GET,
            &format!("/admin/tokens?{query}"),
            a,
            None,
        )
        .await;
        assert_error(&answer, 400, "VALIDATION_ERROR", field);
    }

    // Revoke: 200, then 409; unknown 404; not a UUID 400. The token is refused at once.
    let revoked = call(
        &app,
        Method::DELETE,
        &format!("/admin/tokens/{jti}"),
        a,
        None,
    )
    .await;
    assert_eq!(revoked.0, 200, "{}", revoked.1);
    assert_eq!(revoked.1["state"], "revoked");
    let refused = app
        .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_error(
        &call(
            &app,
            Method::DELETE,
            &format!("/admin/tokens/{jti}"),
            a,
            None,
        )
        .await,
        409,
        "TOKEN_ALREADY_REVOKED",
        None,
    );
    assert_error(
        &call(
            &app,
            Method::DELETE,
            &format!("/admin/tokens/{}", uuid::Uuid::now_v7()),
            a,
            None,
        )
        .await,
        404,
        "RESOURCE_NOT_FOUND",
        None,
    );
    assert_error(
        &call(&app, Method::DELETE, "/admin/tokens/not-a-uuid", a, None).await,
        400,
        "VALIDATION_ERROR",
        None,
    );
    assert_eq!(
        call(&app, Method::GET, "/admin/tokens?team=alpha", a, None)
            .await
            .1["items"],
        json!([])
    );
    let with_revoked = call(
        &app,
        Method::GET,
        "/admin/tokens?team=alpha&includeRevoked=true",
        a,
        None,
    )
    .await;
    assert_eq!(with_revoked.1["items"][0]["state"], "revoked");

    let rows = audit_of(&app, &admin, "token", &jti).await;
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["token.mint", "token.revoke"]);
    assert_eq!(rows[1]["before"]["revokedAt"], Value::Null);
    assert!(rows[1]["after"]["revokedAt"].is_string());
    let audit_text = call(&app, Method::GET, "/admin/audit?limit=1000", a, None)
        .await
        .1
        .to_string();
    assert!(
        !audit_text.contains(&token) && !audit_text.contains(&finance_token),
        "token text audited"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_audit_log_is_filtered_paged_and_refuses_rewrites() {
    let app = TestApp::spawn().await.unwrap();
    let admin = alice(&app).await;
    let a = Some(admin.as_str());
    let start = chrono::Utc::now();
    for slug in ["t1", "t2", "t3"] {
        assert_eq!(
            call(
                &app,
                Method::POST,
                "/admin/teams",
                a,
                Some(json!({"slug": slug}))
            )
            .await
            .0,
            201
        );
    }
    // The CLI's changes are audited too, with the actor `cli` (minting included).
    app.mint(Role::Finance, None).await;

    let by_alice = call(&app, Method::GET, "/admin/audit?actor=alice@corp", a, None).await;
    let items = by_alice.1["items"].as_array().unwrap();
    let targets: Vec<&str> = items
        .iter()
        .map(|r| r["targetId"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["t3", "t2", "t1"], "newest first");
    let cli = call(
        &app,
        Method::GET,
        "/admin/audit?actor=cli&action=token.mint",
        a,
        None,
    )
    .await;
    assert!(!cli.1["items"].as_array().unwrap().is_empty());
    assert!(
        cli.1["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["after"].get("token").is_none())
    );

    let since = start
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        .replace('+', "%2B");
    let window = call(
        &app,
        Method::GET,
        &format!("/admin/audit?action=team.create&from={since}"),
        a,
        None,
    )
    .await;
    assert_eq!(window.1["items"].as_array().unwrap().len(), 3);
    let before_start = call(
        &app,
        Method::GET,
        &format!("/admin/audit?action=team.create&to={since}"),
        a,
        None,
    )
    .await;
    assert_eq!(before_start.1["items"], json!([]));

    let first = call(
        &app,
        Method::GET,
        "/admin/audit?actor=alice@corp&limit=2",
        a,
        None,
    )
    .await;
    assert_eq!(first.1["items"].as_array().unwrap().len(), 2);
    let cursor = first.1["nextCursor"].as_str().unwrap();
    let second = call(
        &app,
        Method::GET,
        &format!("/admin/audit?actor=alice@corp&limit=2&cursor={cursor}"),
        a,
        None,
    )
    .await;
    assert_eq!(second.1["items"].as_array().unwrap().len(), 1);
    assert_eq!(second.1["items"][0]["targetId"], "t1");
    assert_eq!(second.1["nextCursor"], Value::Null);

    for (query, field) in [
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("limit=5000", "limit"),
        ("cursor=xyz", "cursor"),
    ] {
        assert_error(
            &call(&app, Method::GET, &format!("/admin/audit?{query}"), a, None).await,
            400,
            "VALIDATION_ERROR",
            Some(field),
        );
    }

    for sql in [
        "UPDATE audit_log SET actor = 'mallory'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let err = sqlx::query(sql).execute(&app.db).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let still = call(&app, Method::GET, "/admin/audit?actor=alice@corp", a, None).await;
    assert_eq!(still.1["items"].as_array().unwrap().len(), 3);
    app.shutdown().await.unwrap();
}

/// Polls `path` on `base` with `token` until it answers `status`; returns how long it took.
async fn time_until(http: &reqwest::Client, url: &str, token: &str, status: u16) -> Duration {
    let started = Instant::now();
    loop {
        let response = http
            .post(url)
            .bearer_auth(token)
            .json(&chatgpt())
            .send()
            .await
            .unwrap();
        if response.status().as_u16() == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "not applied within a second"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspension_revocation_and_quotas_reach_a_second_replica_at_once() {
    // A periodic refresh far slower than the push, so only the push can explain the timing.
    let app = TestApp::builder()
        .settings(|s| s.auth.directory_refresh_ms = 60_000)
        .spawn()
        .await
        .unwrap();
    let replica = app.replica().await.unwrap();
    let admin = alice(&app).await;
    let a = Some(admin.as_str());
    app.create_team("alpha").await;
    let minted = app.mint(Role::Team, Some("alpha")).await;
    let other = app.team_token("alpha").await;
    let url = replica.url("/v1/monitor/chatgpt");
    time_until(&app.http, &url, &minted.token, 200).await;

    assert_eq!(
        call(
            &app,
            Method::PATCH,
            "/admin/teams/alpha",
            a,
            Some(json!({"status": "suspended"}))
        )
        .await
        .0,
        200
    );
    let suspended_in = time_until(&app.http, &url, &minted.token, 403).await;
    assert_eq!(
        call(
            &app,
            Method::PATCH,
            "/admin/teams/alpha",
            a,
            Some(json!({"status": "active"}))
        )
        .await
        .0,
        200
    );
    let resumed_in = time_until(&app.http, &url, &minted.token, 200).await;

    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/admin/tokens/{}", minted.jti),
            a,
            None
        )
        .await
        .0,
        200
    );
    let revoked_in = time_until(&app.http, &url, &minted.token, 401).await;

    let quota = json!({"rps": 100.0, "burst": 100, "concurrency": 5, "budget": 0});
    assert_eq!(
        call(
            &app,
            Method::PUT,
            "/admin/teams/alpha/quota",
            a,
            Some(quota)
        )
        .await
        .0,
        200
    );
    let quota_in = time_until(&app.http, &url, &other, 403).await;
    println!(
        "propagation to a second replica (push, periodic refresh 60 s): suspend {suspended_in:?}, \
         resume {resumed_in:?}, revoke {revoked_in:?}, quota {quota_in:?}"
    );
    replica.stop().await;
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_pricing_and_limits_overrides_apply_and_return_to_config() {
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
    let replica = app.replica().await.unwrap();
    let admin = alice(&app).await;
    let a = Some(admin.as_str());
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;

    let account = call(&app, Method::GET, "/admin/account", a, None).await;
    assert_eq!(account.0, 200);
    assert_eq!(account.1["limits"]["concurrency"], 1000);
    assert_eq!(account.1["limits"]["source"], "config");
    assert_eq!(account.1["pricing"]["source"], "config");
    assert_eq!(account.1["pricing"]["effective"]["base"]["chatgpt"], 5);
    assert_eq!(account.1["pricing"]["override"], Value::Null);
    assert_error(
        &call(&app, Method::DELETE, "/admin/account/limits", a, None).await,
        404,
        "RESOURCE_NOT_FOUND",
        None,
    );
    assert_error(
        &call(&app, Method::DELETE, "/admin/account/pricing", a, None).await,
        404,
        "RESOURCE_NOT_FOUND",
        None,
    );

    // Pricing: chatgpt 5 + 2 sync = 7 by config; 10 + 3 with the override.
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
            &call(&app, Method::PUT, "/admin/account/pricing", a, Some(body)).await,
            400,
            "VALIDATION_ERROR",
            field,
        );
    }
    let priced = call(
        &app,
        Method::PUT,
        "/admin/account/pricing",
        a,
        Some(json!({"syncSurcharge": 3, "base": {"chatgpt": 10}})),
    )
    .await;
    assert_eq!(priced.0, 200, "{}", priced.1);
    assert_eq!(priced.1["pricing"]["source"], "override");
    assert_eq!(priced.1["pricing"]["effective"]["base"]["chatgpt"], 10);
    assert_eq!(priced.1["pricing"]["effective"]["base"]["gemini"], 4);
    assert_eq!(
        priced.1["pricing"]["override"],
        json!({"syncSurcharge": 3, "base": {"chatgpt": 10}})
    );
    // On the other replica too (pushed, the periodic refresh is a minute here).
    tokio::time::sleep(Duration::from_millis(300)).await;
    for base in [
        app.url("/v1/monitor/chatgpt"),
        replica.url("/v1/monitor/chatgpt"),
    ] {
        let ok = app
            .http
            .post(base)
            .bearer_auth(&token)
            .json(&chatgpt())
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
    }
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
    assert_eq!(
        call(&app, Method::DELETE, "/admin/account/pricing", a, None)
            .await
            .1["pricing"]["source"],
        "config"
    );
    let back = app
        .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 200);
    assert_eq!(
        entries_for(&app, "alpha")
            .await
            .last()
            .unwrap()
            .estimate
            .get(),
        7
    );

    // Limits: account concurrency 1, so a second concurrent call is refused by the account.
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
            &call(&app, Method::PUT, "/admin/account/limits", a, Some(body)).await,
            400,
            "VALIDATION_ERROR",
            field,
        );
    }
    let limited = call(
        &app,
        Method::PUT,
        "/admin/account/limits",
        a,
        Some(json!({"concurrency": 1, "rpsPerEndpoint": 500.0, "burst": 50})),
    )
    .await;
    assert_eq!(limited.0, 200, "{}", limited.1);
    assert_eq!(
        limited.1["limits"],
        json!({"concurrency": 1, "rpsPerEndpoint": 500.0, "burst": 50, "source": "override"})
    );
    assert_eq!(limited.1["currentConcurrency"], 1);
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
    let cleared = call(&app, Method::DELETE, "/admin/account/limits", a, None).await;
    assert_eq!(cleared.1["limits"]["source"], "config");
    assert_eq!(cleared.1["limits"]["concurrency"], 1000);

    let rows = audit_of(&app, &admin, "account", "limits").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0]["after"],
        json!({"concurrency": 1, "rpsPerEndpoint": 500.0, "burst": 50})
    );
    assert_eq!(
        (rows[1]["action"].as_str(), &rows[1]["after"]),
        (Some("account.limits.clear"), &Value::Null)
    );
    let rows = audit_of(&app, &admin, "account", "pricing").await;
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["account.pricing.set", "account.pricing.clear"]);
    replica.stop().await;
    app.shutdown().await.unwrap();
}
