//! Postgres gone (stopped, every connection cut) while the gateway runs: every route that
//! reads the ledger answers at once with 503, a Retry-After and cloro's envelope with
//! `LEDGER_UNAVAILABLE`, instead of a 500 or a hang. The gateway runs on a private Postgres
//! of its own, so the shared one is never stopped.

use super::chatgpt;
use e2e_tests::TestApp;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Longest a refusal may take: the pool's acquire timeout is 3 s; more means it hung.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
enum Caller {
    Team,
    Finance,
}

/// A gateway whose Postgres has stopped after one successful call, and its team and
/// finance tokens (minted while Postgres was up).
struct WithoutPostgres {
    app: TestApp,
    team: String,
    finance: String,
}

async fn gateway_that_lost_postgres() -> WithoutPostgres {
    let app = TestApp::builder().private_postgres().spawn().await.unwrap();
    app.create_team("stranded").await;
    let team = app.team_token("stranded").await;
    let finance = app.finance_token().await;
    let response = app
        .post_json("/v1/monitor/chatgpt", &team, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "a call while Postgres is up");
    app.stop_postgres().await;
    WithoutPostgres { app, team, finance }
}

/// `GET path` as `caller` with Postgres stopped: a prompt 503 with Retry-After and
/// `LEDGER_UNAVAILABLE` in cloro's envelope.
async fn assert_ledger_unavailable(path: &str, caller: Caller) {
    let WithoutPostgres { app, team, finance } = gateway_that_lost_postgres().await;
    let token = match caller {
        Caller::Team => team,
        Caller::Finance => finance,
    };
    let started = Instant::now();
    let response = tokio::time::timeout(
        ANSWER_WITHIN,
        app.http.get(app.url(path)).bearer_auth(&token).send(),
    )
    .await
    .unwrap_or_else(|_| panic!("GET {path} did not answer within {ANSWER_WITHIN:?}"))
    .unwrap();
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap_or_default().to_owned());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 503, "GET {path} after {elapsed:?}: {body}");
    let retry_after = retry_after.unwrap_or_else(|| panic!("GET {path}: no Retry-After"));
    assert!(
        retry_after.parse::<u64>().is_ok(),
        "GET {path}: Retry-After {retry_after:?} is not a number of seconds"
    );
    assert_eq!(body["success"], false, "GET {path}: {body}");
    assert_eq!(
        body["error"]["code"], "LEDGER_UNAVAILABLE",
        "GET {path}: {body}"
    );
    assert!(
        body["error"]["message"].is_string(),
        "GET {path}: a message: {body}"
    );
    println!("GET {path}: 503 LEDGER_UNAVAILABLE after {elapsed:?}");
    assert_503_documented(path);
    app.shutdown().await.unwrap();
}

/// The OpenAPI document lists the 503 a route answers without Postgres.
fn assert_503_documented(path: &str) {
    let document = cloro_gateway::openapi::document();
    let route = path.split('?').next().unwrap_or(path);
    let operation = document
        .paths
        .paths
        .get(route)
        .and_then(|item| item.get.as_ref())
        .unwrap_or_else(|| panic!("GET {route} is not in the OpenAPI document"));
    assert!(
        operation.responses.responses.contains_key("503"),
        "GET {route} answers 503 without Postgres but does not document it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finance_entries_answer_503_ledger_unavailable_without_postgres() {
    assert_ledger_unavailable("/finance/entries", Caller::Finance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finance_positions_answer_503_ledger_unavailable_without_postgres() {
    assert_ledger_unavailable("/finance/positions", Caller::Finance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finance_usage_answers_503_ledger_unavailable_without_postgres() {
    assert_ledger_unavailable("/finance/usage", Caller::Finance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finance_reconciliation_answers_503_ledger_unavailable_without_postgres() {
    assert_ledger_unavailable("/finance/reconciliation", Caller::Finance).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_entries_answer_503_ledger_unavailable_without_postgres() {
    assert_ledger_unavailable("/team/entries", Caller::Team).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_position_answers_503_ledger_unavailable_without_postgres() {
    assert_ledger_unavailable("/team/position", Caller::Team).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_usage_answers_503_ledger_unavailable_without_postgres() {
    assert_ledger_unavailable("/team/usage", Caller::Team).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_credits_answer_503_ledger_unavailable_without_postgres() {
    assert_ledger_unavailable("/v1/credits", Caller::Team).await;
}

/// Admission comes before the Idempotency-Key claim: a team over its rate is refused by Redis
/// alone, so even with Postgres gone it gets its 429, not a 503 from a claim it never needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_over_its_rate_is_refused_without_touching_postgres() {
    let app = TestApp::builder()
        .private_postgres()
        .settings(|s| {
            s.limits.team_default.rps = 0.01;
            s.limits.team_default.burst = 1;
        })
        .spawn()
        .await
        .unwrap();
    app.create_team("eager").await;
    let team = app.team_token("eager").await;
    let first = app
        .post_json("/v1/monitor/chatgpt", &team, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200, "the burst's one call");
    app.stop_postgres().await;
    let response = app
        .post_json("/v1/monitor/chatgpt", &team, &chatgpt())
        .header("Idempotency-Key", "retry-1")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "RATE_LIMIT_EXCEEDED");
    app.shutdown().await.unwrap();
}
