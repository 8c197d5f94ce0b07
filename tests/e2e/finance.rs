//! The finance and team-usage routes end to end: entries with filters and keyset pages that
//! stay complete while requests keep arriving, team reads bound to the team, usage totals
//! that equal the ledger and the simulator's charges, usage split into sync calls and async
//! tasks, CSV exports that parse back to the same totals, positions, reconciliation against
//! the balance cloro reported, and 400s for bad filters.

use accounting::quotas::{self, QuotaValues};
use cloro_sim::SimConfig;
use e2e_tests::TestApp;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

fn quota(budget: Option<i64>, hard: bool, alert_pct: Option<i16>) -> QuotaValues {
    QuotaValues {
        rps: 10_000.0,
        burst: 10_000,
        concurrency: 1000,
        weight: 1,
        budget,
        hard_budget: hard,
        alert_threshold_pct: alert_pct,
        max_priority: quotas::DEFAULT_MAX_PRIORITY,
        max_queued_tasks: quotas::DEFAULT_MAX_QUEUED_TASKS,
    }
}

/// Sends `n` monitor calls for the team, `parallel` at a time; returns how many succeeded.
async fn traffic(app: &TestApp, token: &str, n: usize, parallel: usize) -> usize {
    let bodies = [
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": "p", "country": "US"}),
        ),
        ("/v1/monitor/google", json!({"query": "q", "country": "US"})),
        (
            "/v1/monitor/perplexity",
            json!({"prompt": "p", "country": "US"}),
        ),
    ];
    let mut ok = 0;
    let mut sent = 0;
    while sent < n {
        let batch = parallel.min(n - sent);
        let calls = (0..batch).map(|i| {
            let (path, body) = &bodies[(sent + i) % bodies.len()];
            app.post_json(path, token, body).send()
        });
        for response in futures::future::join_all(calls).await {
            if response.unwrap().status().is_success() {
                ok += 1;
            }
        }
        sent += batch;
    }
    ok
}

async fn get_text(app: &TestApp, path: &str, token: &str) -> (u16, String) {
    let response = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

/// Every page of `path` (which already has a `?`), following `nextCursor`.
async fn all_pages(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let (status, page) = app.get_json(&url, token).await;
        assert_eq!(status, 200, "{page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

/// Sum of what the simulator charged for every request it logged.
fn sim_charged(app: &TestApp) -> i64 {
    app.sim
        .requests()
        .iter()
        .map(|r| r.credits_charged as i64)
        .sum()
}

async fn ledger_charged(app: &TestApp, slug: Option<&str>) -> i64 {
    sqlx::query_scalar::<_, i64>(
        "SELECT COALESCE(sum(l.charged), 0)::bigint FROM ledger_entries l \
         JOIN teams t ON t.id = l.team_id WHERE $1::text IS NULL OR t.slug = $1",
    )
    .bind(slug)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_complete_and_unique_while_requests_keep_arriving() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let finance = app.finance_token().await;
    assert_eq!(traffic(&app, &token, 45, 9).await, 45);
    let before: HashSet<String> =
        sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM ledger_entries")
            .fetch_all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .map(|id| id.to_string())
            .collect();

    // Page through with small pages while more requests are booked.
    let more = traffic(&app, &token, 30, 3);
    let paging = all_pages(&app, "/finance/entries?team=alpha&limit=7", &finance);
    let (_, items) = tokio::join!(more, paging);

    let ids: Vec<String> = items
        .iter()
        .map(|e| e["requestId"].as_str().unwrap().to_owned())
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a page repeated an entry");
    for id in &before {
        assert!(ids.contains(id), "entry {id} missing from the pages");
    }
    // The order is stable: createdAt, then requestId, ascending. Times are compared as
    // instants: RFC 3339 drops a zero fraction ("…:54Z" sorts after "…:54.2Z" as text).
    let keys: Vec<(chrono::DateTime<chrono::Utc>, String)> = items
        .iter()
        .map(|e| {
            (
                e["createdAt"].as_str().unwrap().parse().unwrap(),
                e["requestId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    let entry = &items[0];
    for field in [
        "estimate",
        "charged",
        "status",
        "createdAt",
        "settledAt",
        "endpoint",
    ] {
        assert!(!entry[field].is_null(), "{field} missing in {entry}");
    }
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_reads_only_its_own_ledger() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    app.create_team("beta").await;
    let alpha = app.team_token("alpha").await;
    let beta = app.team_token("beta").await;
    traffic(&app, &alpha, 6, 3).await;
    traffic(&app, &beta, 4, 2).await;

    let own = all_pages(&app, "/team/entries?limit=100", &alpha).await;
    assert_eq!(own.len(), 6);
    assert!(own.iter().all(|e| e["team"] == "alpha"));
    let (status, body) = app.get_json("/team/entries?team=beta", &alpha).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );
    let (status, _) = app
        .get_json("/team/export/entries.csv?team=beta", &alpha)
        .await;
    assert_eq!(status, 403);
    let (_, usage) = app.get_json("/team/usage?groupBy=team", &beta).await;
    assert_eq!(usage["rows"].as_array().unwrap().len(), 1);
    assert_eq!(usage["rows"][0]["team"], "beta");
    let (_, position) = app.get_json("/team/position", &beta).await;
    assert_eq!(position["team"], "beta");
    let (_, csv) = get_text(&app, "/team/export/entries.csv", &beta).await;
    assert_eq!(csv.lines().count(), 1 + 4);
    assert!(!csv.contains(",alpha,"));

    // A team token cannot reach the finance routes, nor finance the team routes.
    let (status, _) = app.get_json("/finance/entries", &alpha).await;
    assert_eq!(status, 403);
    let finance = app.finance_token().await;
    let (status, _) = app.get_json("/team/entries", &finance).await;
    assert_eq!(status, 403);
    let all = all_pages(&app, "/finance/entries?limit=3", &finance).await;
    assert_eq!(all.len(), 10);
    app.shutdown().await.unwrap();
}

/// Parses the entries CSV: (rows, total charged, charged per team).
fn entries_csv_totals(csv: &str) -> (usize, i64) {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let charged_at = header.iter().position(|h| *h == "charged").unwrap();
    let mut rows = 0;
    let mut charged = 0;
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), header.len(), "ragged line {line}");
        charged += fields[charged_at].parse::<i64>().unwrap_or(0);
        rows += 1;
    }
    (rows, charged)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_csv_exports_add_up_to_the_ledger_and_the_simulator() {
    let sim = SimConfig {
        faults: cloro_sim::config::FaultRates {
            internal_error: 0.1,
            ..Default::default()
        },
        ..SimConfig::default()
    };
    let app = TestApp::builder().sim(sim).spawn().await.unwrap();
    app.create_team("alpha").await;
    app.create_team("beta").await;
    let alpha = app.team_token("alpha").await;
    let beta = app.team_token("beta").await;
    traffic(&app, &alpha, 30, 6).await;
    traffic(&app, &beta, 21, 7).await;
    let finance = app.finance_token().await;

    let total = ledger_charged(&app, None).await;
    assert!(total > 0);
    assert_eq!(total, sim_charged(&app), "ledger and simulator disagree");

    let (status, usage) = app
        .get_json("/finance/usage?groupBy=team,endpoint,day", &finance)
        .await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["totals"]["charged"].as_i64().unwrap(), total);
    assert_eq!(usage["totals"]["entries"].as_i64().unwrap(), 51);
    let alpha_charged: i64 = usage["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["team"] == "alpha")
        .map(|r| r["charged"].as_i64().unwrap())
        .sum();
    assert_eq!(alpha_charged, ledger_charged(&app, Some("alpha")).await);
    assert!(
        usage["totals"]["voided"].as_i64().unwrap() > 0,
        "faults void entries"
    );

    let (_, monthly) = app.get_json("/finance/usage?groupBy=month", &finance).await;
    assert_eq!(monthly["rows"].as_array().unwrap().len(), 1);
    assert_eq!(monthly["rows"][0]["charged"].as_i64().unwrap(), total);
    let (_, chatgpt) = app
        .get_json("/finance/usage?groupBy=team&endpoint=chatgpt", &finance)
        .await;
    assert!(chatgpt["totals"]["charged"].as_i64().unwrap() < total);

    let (status, csv) = get_text(&app, "/finance/export/entries.csv", &finance).await;
    assert_eq!(status, 200);
    assert_eq!(entries_csv_totals(&csv), (51, total));
    let (_, alpha_csv) = get_text(&app, "/finance/export/entries.csv?team=alpha", &finance).await;
    assert_eq!(
        entries_csv_totals(&alpha_csv).1,
        ledger_charged(&app, Some("alpha")).await
    );

    let (status, usage_csv) = get_text(
        &app,
        "/finance/export/usage.csv?groupBy=team,endpoint",
        &finance,
    )
    .await;
    assert_eq!(status, 200);
    let mut lines = usage_csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let charged_at = header.iter().position(|h| *h == "charged").unwrap();
    let csv_total: i64 = lines
        .map(|l| {
            l.split(',')
                .nth(charged_at)
                .unwrap()
                .parse::<i64>()
                .unwrap()
        })
        .sum();
    assert_eq!(csv_total, total);
    app.shutdown().await.unwrap();
}

/// Waits until the team's async entries are all POSTED (the gateway's poller settles them at
/// cloro's creditsCharged); returns them.
async fn posted_async_entries(app: &TestApp, team: &str, finance: &str) -> Vec<Value> {
    for _ in 0..300 {
        let path = format!("/finance/entries?team={team}&mode=async&limit=100");
        let entries = all_pages(app, &path, finance).await;
        if !entries.is_empty() && entries.iter().all(|e| e["status"] == "POSTED") {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the async entries of {team} were never POSTED");
}

/// (mode, entries, charged) of each row of a usage report.
fn mode_rows(usage: &Value) -> Vec<(String, i64, i64)> {
    usage["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["mode"].as_str().unwrap_or_default().to_owned(),
                r["entries"].as_i64().unwrap(),
                r["charged"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_grouped_by_mode_tells_sync_calls_from_async_tasks() {
    let app = TestApp::builder()
        .poll_async_tasks_every_second()
        .spawn()
        .await
        .unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let finance = app.finance_token().await;
    assert_eq!(traffic(&app, &token, 1, 1).await, 1);
    let task = json!({"taskType": "CHATGPT", "payload": {"prompt": "x", "country": "US"}});
    let response = app
        .post_json("/v1/async/task", &token, &task)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let tasks = posted_async_entries(&app, "alpha", &finance).await;
    assert_eq!(tasks.len(), 1);
    let async_charged = tasks[0]["charged"].as_i64().unwrap();
    assert!(async_charged > 0, "{tasks:?}");
    let total = ledger_charged(&app, Some("alpha")).await;
    assert_eq!(total, sim_charged(&app), "ledger and simulator disagree");

    let (status, usage) = app.get_json("/finance/usage?groupBy=mode", &finance).await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["groupBy"], json!(["mode"]));
    assert_eq!(
        mode_rows(&usage),
        [
            ("async".to_owned(), 1, async_charged),
            ("sync".to_owned(), 1, total - async_charged)
        ],
        "{usage}"
    );
    let rows_charged: i64 = mode_rows(&usage).iter().map(|(_, _, c)| c).sum();
    assert_eq!(rows_charged, total);
    assert_eq!(usage["totals"]["charged"].as_i64(), Some(total));
    assert_eq!(usage["totals"]["entries"].as_i64(), Some(2));

    // The team sees the same split of its own usage, and a mode filter keeps one side.
    let (status, own) = app.get_json("/team/usage?groupBy=team,mode", &token).await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(mode_rows(&own), mode_rows(&usage));
    assert!(
        own["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["team"] == "alpha")
    );
    let (_, only_async) = app.get_json("/finance/usage?mode=async", &finance).await;
    assert_eq!(
        only_async["totals"]["charged"].as_i64(),
        Some(async_charged)
    );
    assert!(
        only_async["rows"][0]["mode"].is_null(),
        "not grouped by mode"
    );
    let (_, only_sync) = app
        .get_json("/team/usage?groupBy=mode&mode=SYNC", &token)
        .await;
    assert_eq!(
        mode_rows(&only_sync),
        [("sync".to_owned(), 1, total - async_charged)]
    );

    // The usage CSV ends each line with the mode, after the columns it always had.
    let (status, csv) = get_text(&app, "/finance/export/usage.csv?groupBy=mode", &finance).await;
    assert_eq!(status, 200);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("team,endpoint,day,month,entries,posted,voided,expired,flagged,estimate,charged,mode")
    );
    let lines: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(lines.len(), 2, "{csv}");
    let modes: Vec<&str> = lines.iter().map(|l| l[11]).collect();
    assert_eq!(modes, ["async", "sync"]);
    let csv_charged: i64 = lines.iter().map(|l| l[10].parse::<i64>().unwrap()).sum();
    assert_eq!(csv_charged, total);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_show_budget_charged_held_and_left() {
    let app = TestApp::spawn().await.unwrap();
    let alpha = app.create_team("alpha").await;
    app.create_team("beta").await;
    quotas::set(&app.db, alpha.id, &quota(Some(500), true, Some(80)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let token = app.team_token("alpha").await;
    traffic(&app, &token, 9, 3).await;
    let charged = ledger_charged(&app, Some("alpha")).await;
    let finance = app.finance_token().await;

    let (status, positions) = app.get_json("/finance/positions", &finance).await;
    assert_eq!(status, 200);
    let positions = positions.as_array().unwrap();
    assert_eq!(positions.len(), 2);
    let a = positions.iter().find(|p| p["team"] == "alpha").unwrap();
    assert_eq!(a["budget"], 500);
    assert_eq!(a["charged"].as_i64().unwrap(), charged);
    assert_eq!(a["held"], 0);
    assert_eq!(a["left"].as_i64().unwrap(), 500 - charged);
    let b = positions.iter().find(|p| p["team"] == "beta").unwrap();
    assert_eq!(
        (b["charged"].as_i64(), b["budget"].is_null()),
        (Some(0), true)
    );

    let (_, own) = app.get_json("/team/position", &token).await;
    assert_eq!(own["left"].as_i64().unwrap(), 500 - charged);
    let (_, own_quota) = app.get_json("/team/quota", &token).await;
    assert_eq!(
        (own_quota["source"].as_str(), own_quota["budget"].as_i64()),
        (Some("team"), Some(500))
    );
    let beta = app.team_token("beta").await;
    let (_, beta_quota) = app.get_json("/team/quota", &beta).await;
    assert_eq!(beta_quota["source"], "default");
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_matches_the_balance_cloro_reported() {
    let app = TestApp::builder()
        .sim(SimConfig {
            credits: 10_000,
            ..SimConfig::default()
        })
        .spawn()
        .await
        .unwrap();
    let alpha = app.create_team("alpha").await;
    // A soft budget that is soon passed, so flagged entries must be explained.
    quotas::set(&app.db, alpha.id, &quota(Some(20), false, None))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let token = app.team_token("alpha").await;
    // One at a time, so every balance reading follows exactly the charges before it.
    assert_eq!(traffic(&app, &token, 12, 1).await, 12);
    let finance = app.finance_token().await;

    let (status, report) = app.get_json("/finance/reconciliation", &finance).await;
    assert_eq!(status, 200, "{report}");
    assert!(report["upstreamCreditsError"].is_null(), "{report}");
    let total = ledger_charged(&app, None).await;
    assert_eq!(report["ledgerChargedInPeriod"].as_i64().unwrap(), total);
    assert_eq!(
        report["closing"]["creditsRemaining"].as_i64().unwrap(),
        10_000 - sim_charged(&app)
    );
    assert_eq!(report["difference"].as_i64(), Some(0), "{report}");
    let explaining = report["explaining"].as_array().unwrap();
    assert!(!explaining.is_empty());
    assert!(
        explaining
            .iter()
            .all(|e| e["flagReason"] == "soft_budget_exceeded")
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_filters_are_answered_with_400s_naming_the_parameter() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let finance = app.finance_token().await;
    let cases = [
        ("/finance/entries?colour=red", None),
        ("/finance/entries?status=SPENT", Some("status")),
        ("/finance/entries?endpoint=bing", Some("endpoint")),
        ("/finance/entries?team=nobody", Some("team")),
        ("/finance/entries?from=yesterday", None),
        (
            "/finance/entries?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z",
            Some("to"),
        ),
        ("/finance/entries?limit=0", Some("limit")),
        ("/finance/entries?limit=5000", Some("limit")),
        ("/finance/entries?cursor=forged", Some("cursor")),
        ("/finance/entries?flagged=maybe", None),
        ("/finance/usage?groupBy=week", Some("groupBy")),
        ("/finance/usage?groupBy=day,month", Some("groupBy")),
        ("/finance/usage?from=2026-01-01&to=2027-06-01", Some("to")),
        ("/finance/usage?from=2026-13-01", None),
        ("/finance/usage?mode=batch", Some("mode")),
        ("/finance/usage?groupBy=mode&mode=", Some("mode")),
        ("/finance/export/usage.csv?mode=synch", Some("mode")),
        ("/finance/export/entries.csv?status=nope", Some("status")),
        ("/finance/export/usage.csv?groupBy=hour", Some("groupBy")),
        (
            "/finance/reconciliation?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z",
            Some("to"),
        ),
        ("/finance/alerts?kind=fire", Some("kind")),
    ];
    for (path, field) in cases {
        let (status, body) = app.get_json(path, &finance).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR", "{path}");
        if let Some(field) = field {
            assert_eq!(
                body["error"]["details"][0]["field"], field,
                "{path}: {body}"
            );
        }
    }
    app.shutdown().await.unwrap();
}
