//! The web console (`/console/`, issue 14) in a real browser: headless Chromium driven by
//! Playwright (`tests/console/console_check.py`) against a gateway whose ledger holds real
//! proxied calls of two teams. As an admin it reads the overview (each team's charged total,
//! budget bars, alerts, /metrics), pages through one team's ledger, opens an entry, exports
//! CSV, reconciles, creates, suspends and resumes a team, edits a quota (the API's validation
//! message first), finds that edit in the audit log, mints, copies and revokes tokens; a
//! finance token sees no admin pages; a team token sees only its own team; at 1280 and 390
//! px wide, with the page's security headers, no console error and no token in a URL.
//!
//! Screenshots go to `$CONSOLE_SCREENSHOTS` when set (relative to the workspace; the docs'
//! are made with `CONSOLE_SCREENSHOTS=docs/console`), else to `target/console-screenshots`.

use e2e_tests::TestApp;
use e2e_tests::console_browser::run_script;
use serde_json::{Map, Value, json};
use std::path::Path;
use std::time::Duration;

/// The team whose ledger is paged through (more than one page of 10).
const ORBIT: &str = "orbit";
/// The team whose own token is used.
const LUMEN: &str = "lumen";

async fn call(app: &TestApp, token: &str, path: &str, body: Value) {
    let response = app.post_json(path, token, &body).send().await.unwrap();
    let status = response.status();
    assert!(
        status.is_success(),
        "{path}: {status} {}",
        response.text().await.unwrap_or_default()
    );
}

/// Each team's settled entries and charged credits this period, once the usage rollups hold
/// `entries` entries in all.
async fn usage_by_team(app: &TestApp, finance: &str, entries: i64) -> (Value, Value) {
    for _ in 0..50 {
        let (status, report) = app.get_json("/finance/usage?groupBy=team", finance).await;
        assert_eq!(status, 200, "{report}");
        if report["totals"]["entries"].as_i64() == Some(entries) {
            let mut counts = Map::new();
            let mut charged = Map::new();
            for row in report["rows"].as_array().unwrap() {
                let team = row["team"].as_str().unwrap().to_owned();
                counts.insert(team.clone(), row["entries"].clone());
                charged.insert(team, row["charged"].clone());
            }
            return (Value::Object(counts), Value::Object(charged));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the usage rollups never reached {entries} entries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_in_a_browser_for_each_role() {
    let app = TestApp::spawn().await.unwrap();
    let generous = json!({"rps": 1000, "burst": 1000, "concurrency": 100, "budget": 100000});
    app.create_team_with_quota(ORBIT, generous).await;
    // A soft budget whose alert threshold the seeded calls cross: an open alert to show.
    let small = json!({"rps": 1000, "burst": 1000, "concurrency": 100, "budget": 40,
                       "hardBudget": false, "alertThresholdPct": 50});
    app.create_team_with_quota(LUMEN, small).await;
    let admin = app.admin_token().await;
    let finance = app.finance_token().await;
    let orbit = app.team_token(ORBIT).await;
    let lumen = app.team_token(LUMEN).await;

    // Real calls through the gateway to the simulator: 12 for orbit over three engines, 4
    // for lumen.
    let prompt = json!({"prompt": "What do you know about Acme Corp?", "country": "US"});
    let search = json!({"query": "acme corp", "country": "US"});
    for i in 0..12 {
        match i % 3 {
            0 => call(&app, &orbit, "/v1/monitor/chatgpt", prompt.clone()).await,
            1 => call(&app, &orbit, "/v1/monitor/google", search.clone()).await,
            _ => call(&app, &orbit, "/v1/monitor/perplexity", prompt.clone()).await,
        }
    }
    for _ in 0..4 {
        call(&app, &lumen, "/v1/monitor/chatgpt", prompt.clone()).await;
    }
    let (entries, charged) = usage_by_team(&app, &finance, 16).await;
    assert_eq!(entries[ORBIT], 12, "{entries}");
    for _ in 0..50 {
        let (_, alerts) = app.get_json("/finance/alerts", &finance).await;
        if alerts["items"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let screenshots = match std::env::var("CONSOLE_SCREENSHOTS") {
        Ok(dir) if !dir.is_empty() => workspace.join(dir),
        _ => workspace.join("target").join("console-screenshots"),
    };
    let run = run_script(
        "console_check.py",
        &[
            ("CONSOLE_BASE_URL", app.address.as_str()),
            ("CONSOLE_ADMIN_TOKEN", admin.as_str()),
            ("CONSOLE_TEAM_TOKEN", lumen.as_str()),
            ("CONSOLE_TEAM", LUMEN),
            ("CONSOLE_LEDGER_TEAM", ORBIT),
            ("CONSOLE_EXPECTED", charged.to_string().as_str()),
            ("CONSOLE_ENTRIES", entries.to_string().as_str()),
            (
                "CONSOLE_SCREENSHOTS",
                screenshots.to_string_lossy().as_ref(),
            ),
        ],
    )
    .await;
    eprintln!("console_check.py, {:.1?}:\n{}", run.elapsed, run.output);

    // What the browser did, read back from the API.
    let (_, quota) = app
        .admin_get(&format!("/admin/teams/{ORBIT}/quota"), &admin)
        .await;
    assert_eq!(
        (quota["rps"].as_f64(), quota["burst"].as_i64()),
        (Some(25.0), Some(40)),
        "{quota}"
    );
    let edits = app.audit_of(&admin, "quota", ORBIT).await;
    let last = edits.last().unwrap();
    assert_eq!(last["action"], "quota.set", "{last}");
    assert_eq!(last["actor"], "cli:admin", "{last}");
    let (status, made) = app.admin_get("/admin/teams/console-made", &admin).await;
    assert_eq!((status, made["status"].as_str()), (200, Some("active")));
    let (_, revoked) = app
        .admin_get(
            "/admin/tokens?team=console-made&includeRevoked=true",
            &admin,
        )
        .await;
    assert_eq!(revoked["items"][0]["state"], "revoked", "{revoked}");
    for name in [
        "overview",
        "ledger",
        "entry-detail",
        "reconciliation",
        "teams",
        "quota-validation",
        "tokens",
        "audit",
        "overview-phone",
    ] {
        let png = screenshots.join(format!("{name}.png"));
        assert!(png.exists(), "no screenshot {}", png.display());
    }
    app.shutdown().await.unwrap();
}

/// With `server.admin_listen` set the operator routes move, the console does not: it stays on
/// the public listener, where its callers are (its /metrics card then says "not available").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_stays_on_the_public_listener_when_operator_routes_move() {
    let app = TestApp::builder().admin_listener().spawn().await.unwrap();
    let page = app.http.get(app.url("/console/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.headers()["content-security-policy"],
        cloro_gateway::console::CONTENT_SECURITY_POLICY
    );
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 404);
    app.shutdown().await.unwrap();
}
