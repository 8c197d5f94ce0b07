//! `/admin/tokens`: minting (the token's text answered once), validation, listing with
//! filters and pages but never a token's text, revoking (refused at once), and the audit.

use super::{ALICE, chatgpt};
use e2e_tests::{TestApp, assert_error};
use serde_json::{Value, json};

/// A token minted through `POST /admin/tokens`: its text and jti, and the whole answer.
struct Minted {
    token: String,
    jti: String,
    answer: (u16, Value),
}

async fn mint(app: &TestApp, admin: &str, body: Value) -> Minted {
    let answer = app.admin_post("/admin/tokens", admin, body).await;
    assert_eq!(answer.0, 201, "{}", answer.1);
    Minted {
        token: answer.1["token"].as_str().unwrap().to_owned(),
        jti: answer.1["jti"].as_str().unwrap().to_owned(),
        answer,
    }
}

/// Alice (an admin), teams alpha and beta, a team token for alpha and a finance token for
/// bob, both minted by alice through the API.
struct Minters {
    app: TestApp,
    admin: String,
    team: Minted,
    finance: Minted,
}

async fn alice_minted_two_tokens() -> Minters {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    app.create_team("alpha").await;
    app.create_team("beta").await;
    let team = mint(
        &app,
        &admin,
        json!({"role": "team", "team": "alpha", "ttl": "30d"}),
    )
    .await;
    let finance = mint(
        &app,
        &admin,
        json!({"role": "finance", "subject": "bob", "ttl": "1h"}),
    )
    .await;
    Minters {
        app,
        admin,
        team,
        finance,
    }
}

async fn chatgpt_status(app: &TestApp, token: &str) -> u16 {
    app.post_json("/v1/monitor/chatgpt", token, &chatgpt())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_minted_team_token_names_its_minter_and_team_and_works() {
    let Minters { app, team, .. } = alice_minted_two_tokens().await;
    let minted = &team.answer.1;
    assert_eq!(minted["subject"], "admin:alice@corp");
    assert_eq!(
        (minted["role"].clone(), minted["team"].clone()),
        (json!("team"), json!("alpha"))
    );
    assert!(minted["expiresAt"].is_string());
    assert_eq!(chatgpt_status(&app, &team.token).await, 200);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_minted_finance_token_keeps_the_subject_given_and_has_no_team() {
    let Minters { app, finance, .. } = alice_minted_two_tokens().await;
    assert_eq!(
        (
            finance.answer.0,
            finance.answer.1["subject"].clone(),
            finance.answer.1["team"].clone()
        ),
        (201, json!("bob"), Value::Null)
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_mint_request_is_a_400_naming_the_field_and_an_unknown_team_a_404() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    app.create_team("alpha").await;
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
            &app.admin_post("/admin/tokens", &admin, body).await,
            400,
            "VALIDATION_ERROR",
            Some(field),
        );
    }
    assert_error(
        &app.admin_post("/admin/tokens", &admin, json!({"role": "admin"}))
            .await,
        400,
        "VALIDATION_ERROR",
        None,
    );
    assert_error(
        &app.admin_post(
            "/admin/tokens",
            &admin,
            json!({"role": "team", "team": "ghost", "ttl": "1h"}),
        )
        .await,
        404,
        "RESOURCE_NOT_FOUND",
        None,
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn tokens_are_listed_by_team_and_role_and_never_with_their_text() {
    let Minters {
        app,
        admin,
        team,
        finance,
    } = alice_minted_two_tokens().await;
    let list = app.admin_get("/admin/tokens?team=alpha", &admin).await;
    assert_eq!(list.0, 200);
    let items = list.1["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["jti"], team.jti.as_str());
    assert_eq!(items[0]["state"], "active");

    let everything = app
        .admin_get("/admin/tokens?includeRevoked=true&limit=1000", &admin)
        .await;
    let text = everything.1.to_string();
    assert!(
        !text.contains(&team.token) && !text.contains(&finance.token) && !text.contains(&admin),
        "token text listed"
    );
    assert!(
        everything.1["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("token").is_none())
    );
    let finance_only = app.admin_get("/admin/tokens?role=finance", &admin).await;
    assert_eq!(finance_only.1["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.admin_get("/admin/tokens?team=ghost", &admin).await.1["items"],
        json!([])
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn token_pages_walk_the_whole_list_newest_first_once_each() {
    let Minters { app, admin, .. } = alice_minted_two_tokens().await;
    let everything = app
        .admin_get("/admin/tokens?includeRevoked=true&limit=1000", &admin)
        .await;
    let mut seen = Vec::new();
    let mut path = "/admin/tokens?limit=1".to_owned();
    loop {
        let page = app.admin_get(&path, &admin).await;
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
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_token_list_query_is_a_400_naming_the_field_when_there_is_one() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    for (query, field) in [
        ("limit=0", Some("limit")),
        ("cursor=forged!", Some("cursor")),
        ("role=owner", Some("role")),
        ("team=NOT_A_SLUG", Some("team")),
        ("includeRevoked=true&activeOnly=true", Some("activeOnly")),
        ("includeRevoked=maybe", None),
        ("colour=red", None),
    ] {
        let answer = app
            .admin_get(&format!("/admin/tokens?{query}"), &admin)
            .await;
        assert_error(&answer, 400, "VALIDATION_ERROR", field);
    }
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_revoked_token_is_refused_at_once_and_revoking_it_again_is_a_409() {
    let Minters {
        app, admin, team, ..
    } = alice_minted_two_tokens().await;
    let path = format!("/admin/tokens/{}", team.jti);
    let revoked = app.admin_delete(&path, &admin).await;
    assert_eq!(revoked.0, 200, "{}", revoked.1);
    assert_eq!(revoked.1["state"], "revoked");
    assert_eq!(chatgpt_status(&app, &team.token).await, 401);
    assert_error(
        &app.admin_delete(&path, &admin).await,
        409,
        "TOKEN_ALREADY_REVOKED",
        None,
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn revoking_an_unknown_jti_is_a_404_and_a_malformed_one_a_400() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    assert_error(
        &app.admin_delete(&format!("/admin/tokens/{}", uuid::Uuid::now_v7()), &admin)
            .await,
        404,
        "RESOURCE_NOT_FOUND",
        None,
    );
    assert_error(
        &app.admin_delete("/admin/tokens/not-a-uuid", &admin).await,
        400,
        "VALIDATION_ERROR",
        None,
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn revoked_tokens_are_listed_only_when_asked_for() {
    let Minters {
        app, admin, team, ..
    } = alice_minted_two_tokens().await;
    let revoked = app
        .admin_delete(&format!("/admin/tokens/{}", team.jti), &admin)
        .await;
    assert_eq!(revoked.0, 200, "{}", revoked.1);
    assert_eq!(
        app.admin_get("/admin/tokens?team=alpha", &admin).await.1["items"],
        json!([])
    );
    let with_revoked = app
        .admin_get("/admin/tokens?team=alpha&includeRevoked=true", &admin)
        .await;
    assert_eq!(with_revoked.1["items"][0]["state"], "revoked");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn minting_and_revoking_are_audited_and_no_token_text_is() {
    let Minters {
        app,
        admin,
        team,
        finance,
    } = alice_minted_two_tokens().await;
    let revoked = app
        .admin_delete(&format!("/admin/tokens/{}", team.jti), &admin)
        .await;
    assert_eq!(revoked.0, 200, "{}", revoked.1);

    let rows = app.audit_of(&admin, "token", &team.jti).await;
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["token.mint", "token.revoke"]);
    assert_eq!(rows[1]["before"]["revokedAt"], Value::Null);
    assert!(rows[1]["after"]["revokedAt"].is_string());
    let audit_text = app
        .admin_get("/admin/audit?limit=1000", &admin)
        .await
        .1
        .to_string();
    assert!(
        !audit_text.contains(&team.token) && !audit_text.contains(&finance.token),
        "token text audited"
    );
    app.shutdown().await.unwrap();
}
