//! `/admin/teams`: creating, listing, showing, renaming, suspending and resuming teams, the
//! refusals of each route, and one audit row per change.

use super::{ALICE, chatgpt};
use e2e_tests::{TestApp, assert_error};
use serde_json::{Value, json};

#[tokio::test]
async fn a_created_team_is_active_and_answered_in_camel_case() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    let created = app
        .admin_post(
            "/admin/teams",
            &admin,
            json!({"slug": "alpha", "name": "Alpha"}),
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
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_team_created_without_a_name_is_named_after_its_slug() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    let unnamed = app
        .admin_post("/admin/teams", &admin, json!({"slug": "beta"}))
        .await;
    assert_eq!((unnamed.0, unnamed.1["name"].clone()), (201, json!("beta")));
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn creating_a_team_whose_slug_is_taken_is_a_409() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    let first = app
        .admin_post("/admin/teams", &admin, json!({"slug": "alpha"}))
        .await;
    assert_eq!(first.0, 201, "{}", first.1);
    assert_error(
        &app.admin_post("/admin/teams", &admin, json!({"slug": "alpha"}))
            .await,
        409,
        "RESOURCE_ALREADY_EXISTS",
        None,
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_team_body_is_a_400_naming_the_field_when_there_is_one() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    for (body, field) in [
        (json!({"slug": "Bad Slug"}), "slug"),
        (json!({"slug": "-x"}), "slug"),
        (json!({"slug": "gamma", "name": ""}), "name"),
        (json!({"slug": "gamma", "name": "x".repeat(201)}), "name"),
    ] {
        assert_error(
            &app.admin_post("/admin/teams", &admin, body).await,
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
            &app.admin_post("/admin/teams", &admin, body).await,
            400,
            "VALIDATION_ERROR",
            None,
        );
    }
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn teams_are_listed_by_slug_and_shown_one_by_one() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    for body in [
        json!({"slug": "alpha", "name": "Alpha"}),
        json!({"slug": "beta"}),
    ] {
        assert_eq!(app.admin_post("/admin/teams", &admin, body).await.0, 201);
    }
    let list = app.admin_get("/admin/teams", &admin).await;
    assert_eq!(list.0, 200);
    let slugs: Vec<&str> = list.1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["alpha", "beta"]);
    assert_eq!(
        app.admin_get("/admin/teams/alpha", &admin).await.1["name"],
        "Alpha"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn reading_an_unknown_team_is_a_404_and_a_bad_slug_or_filter_a_400() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    assert_error(
        &app.admin_get("/admin/teams/ghost", &admin).await,
        404,
        "RESOURCE_NOT_FOUND",
        None,
    );
    assert_error(
        &app.admin_get("/admin/teams/NOPE!", &admin).await,
        400,
        "VALIDATION_ERROR",
        Some("slug"),
    );
    assert_error(
        &app.admin_get("/admin/teams?status=deleted", &admin).await,
        400,
        "VALIDATION_ERROR",
        Some("status"),
    );
    assert_error(
        &app.admin_get("/admin/teams?colour=red", &admin).await,
        400,
        "VALIDATION_ERROR",
        None,
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_suspended_team_is_refused_before_the_patch_answers_and_served_again_once_resumed() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    let created = app
        .admin_post(
            "/admin/teams",
            &admin,
            json!({"slug": "alpha", "name": "Alpha"}),
        )
        .await;
    assert_eq!(created.0, 201, "{}", created.1);
    let team_token = app.team_token("alpha").await;
    let call = || {
        app.post_json("/v1/monitor/chatgpt", &team_token, &chatgpt())
            .send()
    };
    assert_eq!(call().await.unwrap().status(), 200);

    let patched = app
        .admin_patch(
            "/admin/teams/alpha",
            &admin,
            json!({"status": "suspended", "name": "Alpha Co"}),
        )
        .await;
    assert_eq!(patched.0, 200, "{}", patched.1);
    assert_eq!(
        (patched.1["status"].clone(), patched.1["name"].clone()),
        (json!("suspended"), json!("Alpha Co"))
    );
    assert_eq!(
        call().await.unwrap().status(),
        403,
        "applied before the PATCH answered"
    );
    let suspended = app.admin_get("/admin/teams?status=suspended", &admin).await;
    assert_eq!(suspended.1["items"].as_array().unwrap().len(), 1);

    let resumed = app
        .admin_patch("/admin/teams/alpha", &admin, json!({"status": "active"}))
        .await;
    assert_eq!(resumed.0, 200);
    assert_eq!(call().await.unwrap().status(), 200);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_team_patch_is_a_400_naming_the_field_and_an_unknown_team_a_404() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    app.create_team("alpha").await;
    for (body, field) in [
        (json!({"status": "deleted"}), "status"),
        (json!({"name": "  "}), "name"),
        (json!({}), "body"),
    ] {
        assert_error(
            &app.admin_patch("/admin/teams/alpha", &admin, body).await,
            400,
            "VALIDATION_ERROR",
            Some(field),
        );
    }
    assert_error(
        &app.admin_patch("/admin/teams/ghost", &admin, json!({"status": "active"}))
            .await,
        404,
        "RESOURCE_NOT_FOUND",
        None,
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_team_change_is_audited_once_by_its_admin_and_refusals_leave_no_row() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    let create = json!({"slug": "alpha", "name": "Alpha"});
    assert_eq!(
        app.admin_post("/admin/teams", &admin, create.clone())
            .await
            .0,
        201
    );
    // Refused changes to the same team: a duplicate and invalid patches.
    assert_eq!(app.admin_post("/admin/teams", &admin, create).await.0, 409);
    for body in [
        json!({"status": "deleted"}),
        json!({"name": "  "}),
        json!({}),
    ] {
        assert_eq!(
            app.admin_patch("/admin/teams/alpha", &admin, body).await.0,
            400
        );
    }
    let suspend = json!({"status": "suspended", "name": "Alpha Co"});
    assert_eq!(
        app.admin_patch("/admin/teams/alpha", &admin, suspend)
            .await
            .0,
        200
    );
    let resume = json!({"status": "active"});
    assert_eq!(
        app.admin_patch("/admin/teams/alpha", &admin, resume)
            .await
            .0,
        200
    );

    // One audit row per change, by alice, with before and after; refusals left none.
    let rows = app.audit_of(&admin, "team", "alpha").await;
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["team.create", "team.update", "team.update"]);
    assert!(rows.iter().all(|r| r["actor"] == ALICE));
    assert_eq!(rows[0]["before"], Value::Null);
    assert_eq!(rows[0]["after"]["name"], "Alpha");
    assert_eq!(rows[1]["before"]["status"], "active");
    assert_eq!(rows[1]["after"]["status"], "suspended");
    assert_eq!(rows[1]["after"]["name"], "Alpha Co");
    assert_eq!(rows[2]["before"]["status"], "suspended");
    assert_eq!(rows[2]["after"]["status"], "active");
    app.shutdown().await.unwrap();
}
