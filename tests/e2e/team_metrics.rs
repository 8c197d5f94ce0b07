//! `/metrics` per team and per endpoint: a team's calls, refusals, charges and budget
//! position appear under its slug and agree with the ledger; the ledger's own gauges
//! (PENDING entries, the balance cloro last reported) are there; `server.metrics_token`
//! guards the route when set.

use cloro_gateway::secret::Secret;
use e2e_tests::TestApp;
use serde_json::{Value, json};

const CHATGPT: &str = "/v1/monitor/chatgpt";

async fn call(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .post(app.url(CHATGPT))
        .bearer_auth(token)
        .json(&json!({"prompt": "What do you know about Acme Corp?", "country": "US"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_teams_calls_refusals_charges_and_budget_appear_under_its_slug() {
    let app = TestApp::spawn().await.unwrap();
    // alpha: one call a second at most, a budget; beta: no limits to speak of.
    app.create_team_with_quota(
        "alpha",
        json!({"rps": 0.01, "burst": 1, "concurrency": 10, "budget": 1000, "hardBudget": true}),
    )
    .await;
    app.create_team("beta").await;
    let (alpha, beta) = (app.team_token("alpha").await, app.team_token("beta").await);
    assert_eq!(call(&app, &alpha).await.status(), 200);
    assert_eq!(call(&app, &alpha).await.status(), 429, "past alpha's burst");
    assert_eq!(call(&app, &beta).await.status(), 200);

    let requests = |team: &str, class: &str| {
        format!(
            "cloro_gateway_team_requests_total{{team=\"{team}\",endpoint=\"{CHATGPT}\",class=\"{class}\"}}"
        )
    };
    assert_eq!(app.series(&requests("alpha", "2xx")).await, Some(1.0));
    assert_eq!(app.series(&requests("alpha", "4xx")).await, Some(1.0));
    assert_eq!(app.series(&requests("beta", "2xx")).await, Some(1.0));
    assert_eq!(app.series(&requests("beta", "4xx")).await, None);
    assert_eq!(
        app.series(
            "cloro_gateway_team_admission_refusals_total{team=\"alpha\",reason=\"team_rate\"}"
        )
        .await,
        Some(1.0)
    );
    assert_eq!(
        app.series("cloro_gateway_team_admission_wait_seconds_count{team=\"alpha\"}")
            .await,
        Some(2.0)
    );
    assert_eq!(
        app.series(&format!(
            "cloro_gateway_upstream_seconds_count{{endpoint=\"{CHATGPT}\"}}"
        ))
        .await,
        Some(2.0),
        "one upstream call each for alpha and beta; the refusal sent none"
    );

    // The charges agree with the ledger, and alpha's budget position is the ledger's.
    let finance = app.finance_token().await;
    let (status, entries) = app.get_json("/finance/entries?team=alpha", &finance).await;
    assert_eq!(status, 200, "{entries}");
    let ledger_charged: i64 = entries["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry: &Value| entry["charged"].as_i64().unwrap_or(0))
        .sum();
    assert!(ledger_charged > 0);
    let charged = format!(
        "cloro_gateway_team_credits_charged_total{{team=\"alpha\",endpoint=\"{CHATGPT}\"}}"
    );
    assert_eq!(app.series(&charged).await, Some(ledger_charged as f64));
    for (name, value) in [
        ("cloro_gateway_team_budget_credits", 1000),
        ("cloro_gateway_team_charged_credits", ledger_charged),
        ("cloro_gateway_team_held_credits", 0),
        (
            "cloro_gateway_team_budget_left_credits",
            1000 - ledger_charged,
        ),
    ] {
        let line = format!("{name}{{team=\"alpha\"}}");
        assert_eq!(app.series(&line).await, Some(value as f64), "{line}");
    }
    // beta has no budget: no budget or left series, but its charge is there.
    assert_eq!(
        app.series("cloro_gateway_team_budget_credits{team=\"beta\"}")
            .await,
        None
    );
    assert!(
        app.series("cloro_gateway_team_charged_credits{team=\"beta\"}")
            .await
            .is_some_and(|charged| charged > 0.0)
    );

    // The ledger's own gauges.
    assert_eq!(
        app.series("cloro_gateway_ledger_gauges_up").await,
        Some(1.0)
    );
    assert_eq!(
        app.series("cloro_gateway_ledger_pending_entries").await,
        Some(0.0)
    );
    assert_eq!(
        app.series("cloro_gateway_ledger_pending_overdue_entries")
            .await,
        Some(0.0)
    );
    assert!(
        app.series("cloro_gateway_account_balance_credits")
            .await
            .is_some_and(|balance| balance > 0.0),
        "the balance cloro reported with the calls, as the ledger observed it"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn requests_without_a_team_token_are_not_a_teams() {
    let app = TestApp::spawn().await.unwrap();
    let answer = app
        .http
        .post(app.url(CHATGPT))
        .bearer_auth("not-a-token")
        .json(&json!({"prompt": "x", "country": "US"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let text = app.metrics_text().await;
    assert!(
        !text.contains("cloro_gateway_team_requests_total{"),
        "no team series without a team:\n{text}"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_metrics_token_guards_the_route_when_set() {
    let token = "metrics-token-0123456789abcdef-0123456789";
    let app = TestApp::builder()
        .settings(move |s| s.server.metrics_token = Secret::new(token))
        .spawn()
        .await
        .unwrap();
    let bare = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(bare.status(), 401);
    let body: Value = bare.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_OR_EXPIRED_API_KEY");
    let wrong = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth("metrics-token-0123456789abcdef-0123456780")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    assert!(
        right
            .text()
            .await
            .unwrap()
            .contains("cloro_gateway_stage_seconds")
    );
    app.shutdown().await.unwrap();
}
