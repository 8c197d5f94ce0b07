//! `/admin/audit`: filtered by actor, action and time, newest first, paged by cursor, bad
//! queries refused, the CLI's changes audited as `cli`, and the table refusing rewrites.

use super::ALICE;
use e2e_tests::{TestApp, assert_error};
use serde_json::{Value, json};

/// Alice creates teams t1, t2 and t3 (in that order); returns her token and when she began.
async fn alice_created_three_teams(app: &TestApp) -> (String, chrono::DateTime<chrono::Utc>) {
    let admin = app.admin_token_as(ALICE).await;
    let start = chrono::Utc::now();
    for slug in ["t1", "t2", "t3"] {
        let created = app
            .admin_post("/admin/teams", &admin, json!({"slug": slug}))
            .await;
        assert_eq!(created.0, 201, "{}", created.1);
    }
    (admin, start)
}

fn items(answer: &(u16, Value)) -> &Vec<Value> {
    answer.1["items"].as_array().unwrap()
}

#[tokio::test]
async fn the_audit_log_filters_by_actor_newest_first() {
    let app = TestApp::spawn().await.unwrap();
    let (admin, _) = alice_created_three_teams(&app).await;
    let by_alice = app.admin_get("/admin/audit?actor=alice@corp", &admin).await;
    let targets: Vec<&str> = items(&by_alice)
        .iter()
        .map(|r| r["targetId"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["t3", "t2", "t1"], "newest first");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_clis_changes_are_audited_as_cli_without_the_tokens_text() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    // The CLI's changes are audited too, with the actor `cli` (minting included).
    app.mint(accounting::Role::Finance, None).await;
    let cli = app
        .admin_get("/admin/audit?actor=cli&action=token.mint", &admin)
        .await;
    assert!(!items(&cli).is_empty());
    assert!(
        items(&cli)
            .iter()
            .all(|r| r["after"].get("token").is_none())
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_audit_log_filters_by_a_time_window() {
    let app = TestApp::spawn().await.unwrap();
    let (admin, start) = alice_created_three_teams(&app).await;
    let since = start
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        .replace('+', "%2B");
    let window = app
        .admin_get(
            &format!("/admin/audit?action=team.create&from={since}"),
            &admin,
        )
        .await;
    assert_eq!(items(&window).len(), 3);
    let before_start = app
        .admin_get(
            &format!("/admin/audit?action=team.create&to={since}"),
            &admin,
        )
        .await;
    assert_eq!(before_start.1["items"], json!([]));
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_audit_log_pages_with_a_cursor_until_there_is_none() {
    let app = TestApp::spawn().await.unwrap();
    let (admin, _) = alice_created_three_teams(&app).await;
    let first = app
        .admin_get("/admin/audit?actor=alice@corp&limit=2", &admin)
        .await;
    assert_eq!(items(&first).len(), 2);
    let cursor = first.1["nextCursor"].as_str().unwrap();
    let second = app
        .admin_get(
            &format!("/admin/audit?actor=alice@corp&limit=2&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(items(&second).len(), 1);
    assert_eq!(second.1["items"][0]["targetId"], "t1");
    assert_eq!(second.1["nextCursor"], Value::Null);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_audit_query_is_a_400_naming_the_field() {
    let app = TestApp::spawn().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    for (query, field) in [
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("limit=5000", "limit"),
        ("cursor=xyz", "cursor"),
    ] {
        assert_error(
            &app.admin_get(&format!("/admin/audit?{query}"), &admin)
                .await,
            400,
            "VALIDATION_ERROR",
            Some(field),
        );
    }
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_audit_table_refuses_updates_deletes_and_truncation() {
    let app = TestApp::spawn().await.unwrap();
    let (admin, _) = alice_created_three_teams(&app).await;
    for sql in [
        "UPDATE audit_log SET actor = 'mallory'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let err = sqlx::query(sql).execute(&app.db).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let still = app.admin_get("/admin/audit?actor=alice@corp", &admin).await;
    assert_eq!(items(&still).len(), 3);
    app.shutdown().await.unwrap();
}
