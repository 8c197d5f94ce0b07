//! Ids callers choose (`X-Request-ID`, `Idempotency-Key`) come back in the ledger's CSV
//! exports, so they are limited to `[A-Za-z0-9._:/-]`: an odd request id is replaced by a
//! minted one, an odd idempotency key is refused, and no export line can carry a formula.

use e2e_tests::{TestApp, assert_error};
use serde_json::{Value, json};

fn chatgpt() -> Value {
    json!({"prompt": "p", "country": "US"})
}

/// The finance entries export: its header and rows, split on commas (no field of these
/// rows holds one).
async fn exported_entries(app: &TestApp) -> (String, Vec<Vec<String>>) {
    let finance = app.finance_token().await;
    let response = app
        .http
        .get(app.url("/finance/export/entries.csv"))
        .bearer_auth(&finance)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let csv = response.text().await.unwrap();
    let rows = csv
        .lines()
        .map(|line| line.split(',').map(str::to_owned).collect())
        .collect();
    (csv, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_that_could_be_a_formula_is_replaced_by_a_minted_one() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let mut echoed = Vec::new();
    for sent in ["a;=cmd|x", "trace-42"] {
        let response = app
            .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
            .header("X-Request-ID", sent)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        echoed.push(id);
    }
    let minted = uuid::Uuid::parse_str(&echoed[0]).expect("a minted id is a UUID");
    assert_eq!(minted.get_version_num(), 7);
    assert_eq!(echoed[1], "trace-42", "a safe id is still honoured");

    let (csv, rows) = exported_entries(&app).await;
    assert!(!csv.contains(";="), "{csv}");
    assert!(!csv.contains("cmd|x"), "{csv}");
    let column = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    let (request_id, client_request_id) = (column("request_id"), column("client_request_id"));
    let row_of = |id: &str| {
        rows.iter()
            .find(|row| row[request_id] == id)
            .unwrap_or_else(|| panic!("no row for {id}: {csv}"))
    };
    let odd = row_of(&echoed[0]);
    assert_eq!(odd.len(), rows[0].len(), "{csv}");
    assert_eq!(
        odd[client_request_id], "",
        "the minted id is the entry's own"
    );
    let traced = rows
        .iter()
        .find(|row| row.get(client_request_id).map(String::as_str) == Some("trace-42"))
        .unwrap_or_else(|| panic!("no row carries trace-42: {csv}"));
    assert_eq!(traced.len(), rows[0].len());
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_outside_the_safe_alphabet_is_refused() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    for key in ["a;=cmd|x", "with space", "k,@SUM(1)"] {
        let response = app
            .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
            .header("Idempotency-Key", key)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_error(
            &(status, body),
            400,
            "VALIDATION_ERROR",
            Some("Idempotency-Key"),
        );
    }
    assert!(app.sim.requests().is_empty(), "nothing went upstream");
    let accepted = app
        .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
        .header("Idempotency-Key", "order-42/retry.1:a_b")
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    app.shutdown().await.unwrap();
}
