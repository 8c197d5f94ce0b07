//! CSV exports cannot crowd out the money path: each token subject runs at most
//! `finance.max_concurrent_exports` at once (a slot is held until the body ends or the client
//! goes away), and one entries export spans at most `finance.max_export_days`.

use accounting::Role;
use chrono::{Duration as Span, SecondsFormat, Utc};
use e2e_tests::TestApp;
use std::time::Duration;

/// Rows enough that an export's body outlasts the socket buffers when nobody reads it.
const BULK_ENTRIES: i64 = 80_000;

/// A finance token with its own subject (the default one is `cli:finance`).
async fn finance_token_for(app: &TestApp, subject: &str) -> String {
    cloro_gateway::cli::mint_for(
        &app.db,
        &app.settings,
        Role::Finance,
        None,
        Some(subject.to_owned()),
        Duration::from_secs(3600),
    )
    .await
    .expect("mint finance token")
    .token
}

/// Inserts `n` PENDING entries for `team` from the last minutes, in one statement.
async fn bulk_entries(app: &TestApp, team: accounting::TeamId, n: i64) {
    sqlx::query(
        "INSERT INTO ledger_entries (id, created_at, team_id, endpoint, client_request_id, estimate) \
         SELECT gen_random_uuid(), now() - g * interval '1 millisecond', $1, \
                '/v1/monitor/chatgpt', 'bulk-' || g, 1 \
         FROM generate_series(1, $2) AS g",
    )
    .bind(team)
    .bind(n)
    .execute(&app.db)
    .await
    .expect("insert bulk entries");
}

/// The entries export over the last day, as the given token; the response is returned
/// unread, so its body stays open.
async fn start_export(app: &TestApp, token: &str) -> reqwest::Response {
    let from = (Utc::now() - Span::days(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let to = (Utc::now() + Span::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    app.http
        .get(app.url(&format!("/finance/export/entries.csv?from={from}&to={to}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("export request")
}

#[tokio::test]
async fn a_subject_runs_at_most_two_exports_at_once_until_one_ends() {
    let app = TestApp::spawn().await.unwrap();
    let team = app.create_team("alpha").await;
    bulk_entries(&app, team.id, BULK_ENTRIES).await;
    let finance = finance_token_for(&app, "finance-a").await;
    let other = finance_token_for(&app, "finance-b").await;

    // Two exports whose bodies nobody reads: both stay open, each holding a slot.
    let first = start_export(&app, &finance).await;
    let second = start_export(&app, &finance).await;
    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 200);

    let third = start_export(&app, &finance).await;
    assert_eq!(third.status(), 429);
    assert!(third.headers().get("retry-after").is_some());
    let body: serde_json::Value = third.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMIT_EXCEEDED", "{body}");
    // The usage export counts too.
    let usage = app
        .http
        .get(app.url("/finance/export/usage.csv"))
        .bearer_auth(&finance)
        .send()
        .await
        .unwrap();
    assert_eq!(usage.status(), 429);

    // Another subject is not held back, and its export is complete.
    let theirs = start_export(&app, &other).await;
    assert_eq!(theirs.status(), 200);
    let csv = theirs.text().await.unwrap();
    assert_eq!(csv.lines().count() as i64, BULK_ENTRIES + 1);

    // A client that goes away frees its slot.
    drop(first);
    let mut freed = false;
    for _ in 0..100 {
        let again = start_export(&app, &finance).await;
        if again.status() == 200 {
            freed = true;
            break;
        }
        assert_eq!(again.status(), 429);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(freed, "dropping an export's body never freed its slot");
    drop(second);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_entries_export_spans_at_most_93_days() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let finance = app.finance_token().await;
    let team = app.team_token("alpha").await;
    let cases = [
        (
            "/finance/export/entries.csv?from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z",
            "to",
        ),
        (
            "/finance/export/entries.csv?from=2020-01-01T00:00:00Z",
            "from",
        ),
        (
            "/finance/export/entries.csv?to=2026-06-01T00:00:00Z",
            "from",
        ),
    ];
    for (path, field) in cases {
        let (status, body) = app.get_json(path, &finance).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR", "{path}");
        assert_eq!(
            body["error"]["details"][0]["field"], field,
            "{path}: {body}"
        );
    }
    let (status, body) = app
        .get_json(
            "/team/export/entries.csv?from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z",
            &team,
        )
        .await;
    assert_eq!(status, 400, "{body}");

    // 93 days exactly, and the default (the current budget period), are fine.
    let response =
        app.http
            .get(app.url(
                "/finance/export/entries.csv?from=2026-01-01T00:00:00Z&to=2026-04-04T00:00:00Z",
            ))
            .bearer_auth(&finance)
            .send()
            .await
            .unwrap();
    assert_eq!(response.status(), 200);
    let response = app
        .http
        .get(app.url("/finance/export/entries.csv"))
        .bearer_auth(&finance)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app.shutdown().await.unwrap();
}
