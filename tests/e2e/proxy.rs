//! The proxy path end to end: every sync endpoint answers as cloro would and is booked at
//! what the simulator charged; bad input and failures cost nothing; the company key never
//! leaves the gateway.

use accounting::EntryStatus;
use cloro_sim::{FaultRates, SimConfig};
use e2e_tests::TestApp;
use e2e_tests::ledger::{entries_for, sim_charge};
use serde_json::{Value, json};
use std::time::Duration;

fn prompt() -> Value {
    json!({"prompt": "What do you know about Acme Corp?", "country": "US"})
}

#[tokio::test]
async fn every_sync_endpoint_is_proxied_and_booked_at_the_upstream_charge() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let cases = [
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": "p", "country": "US", "include": {"searchQueries": true}}),
            9,
        ),
        ("/v1/monitor/perplexity", prompt(), 6),
        ("/v1/monitor/copilot", prompt(), 7),
        ("/v1/monitor/gemini", prompt(), 6),
        ("/v1/monitor/grok", prompt(), 6),
        (
            "/v1/monitor/aimode",
            json!({"prompt": "p", "country": "US"}),
            6,
        ),
        (
            "/v1/monitor/google",
            json!({"query": "acme", "country": "US", "pages": 2}),
            7,
        ),
        (
            "/v1/monitor/google/news",
            json!({"query": "acme", "country": "US"}),
            5,
        ),
        (
            "/v1/monitor/google/goto",
            json!({"url": "https://www.google.com/search?q=acme"}),
            0,
        ),
    ];
    for (path, body, price) in cases {
        let response = app.post_json(path, &token, &body).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            response.headers()["x-credits-charged"],
            price.to_string().as_str(),
            "{path}"
        );
        assert!(
            response.headers().get("x-credits-remaining").is_none(),
            "company balance leaked"
        );
        let text = response.text().await.unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["success"], true, "{path}");
        assert!(
            !text.contains(app.settings.upstream.api_key.expose()),
            "company key leaked"
        );
        assert_eq!(sim_charge(&app, &request_id), price as u64, "{path}");
    }
    let entries = entries_for(&app, "alpha").await;
    assert_eq!(entries.len(), 9);
    for entry in &entries {
        assert_eq!(entry.status, EntryStatus::Posted);
    }
    // The account balance the upstream reported is kept for reconciliation.
    let (observations, last): (i64, Option<i64>) = sqlx::query_as(
        "SELECT count(*), (SELECT credits_remaining FROM account_balance_observations \
         ORDER BY id DESC LIMIT 1) FROM account_balance_observations",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(observations, 9);
    assert_eq!(last, Some(app.sim.stats().balance));
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_spent() {
    let app = TestApp::builder()
        .settings(|s| s.server.max_body_bytes = 4096)
        .spawn()
        .await
        .unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let url = app.url("/v1/monitor/chatgpt");
    let send = |body: String| {
        app.http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (body, status) in [
        ("{not json".to_owned(), 400),
        ("".to_owned(), 400),
        ("[1,2]".to_owned(), 400),
        (
            json!({"prompt": "p", "country": "US", "include": "all"}).to_string(),
            400,
        ),
        (
            format!(
                "{{\"prompt\": \"{}\", \"country\": \"US\"}}",
                "x".repeat(5000)
            ),
            413,
        ),
    ] {
        let response = send(body).await.unwrap();
        assert_eq!(response.status(), status);
        let envelope: Value = response.json().await.unwrap();
        assert_eq!(envelope["success"], false);
    }
    let response = app
        .post_json(
            "/v1/monitor/google",
            &token,
            &json!({"query": "q", "pages": 11}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let envelope: Value = response.json().await.unwrap();
    assert_eq!(envelope["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(envelope["error"]["details"][0]["field"], "pages");

    assert!(
        app.sim.requests().is_empty(),
        "nothing may reach the upstream"
    );
    assert!(
        entries_for(&app, "alpha").await.is_empty(),
        "nothing may be booked"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn upstream_errors_pass_through_unchanged_and_void_the_entry() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    // Lower-case country: cloro's own 400, passed through as it is.
    let response = app
        .post_json(
            "/v1/monitor/chatgpt",
            &token,
            &json!({"prompt": "p", "country": "us"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    let entries = entries_for(&app, "alpha").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].status, EntryStatus::Voided);
    assert_eq!(entries[0].charged.map(|c| c.get()), Some(0));
    assert_eq!(entries[0].upstream_status, Some(400));
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn upstream_5xx_and_exhausted_retries_void_the_entry() {
    let sim = SimConfig {
        faults: FaultRates {
            internal_error: 1.0,
            ..FaultRates::default()
        },
        ..SimConfig::default()
    };
    let app = TestApp::builder().sim(sim).spawn().await.unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let response = app
        .post_json("/v1/monitor/gemini", &token, &prompt())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INTERNAL_SERVER_ERROR");

    // 503 is retried (max_retries = 3 by default) and then passed through.
    app.sim_config(json!({"faults": {"internal_error": 0.0, "service_unavailable": 1.0}}))
        .await;
    let response = app
        .post_json("/v1/monitor/gemini", &token, &prompt())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let attempts = app
        .sim
        .requests()
        .iter()
        .filter(|r| r.request_id.as_deref() == Some(request_id.as_str()))
        .count();
    assert_eq!(attempts, 4, "one call and three retries");

    let entries = entries_for(&app, "alpha").await;
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e.status == EntryStatus::Voided));
    assert_eq!(app.sim.stats().credits_charged, 0);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_concurrency_429_is_retried_until_a_slot_frees() {
    let sim = SimConfig {
        concurrency_limit: 1,
        latency: "fixed:300ms".parse().unwrap(),
        ..SimConfig::default()
    };
    let app = TestApp::builder()
        .sim(sim)
        .settings(|s| s.upstream.retry_base_ms = 150)
        .spawn()
        .await
        .unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let first = app
        .post_json("/v1/monitor/gemini", &token, &prompt())
        .send();
    let second = app
        .post_json("/v1/monitor/gemini", &token, &prompt())
        .send();
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first.unwrap().status(), 200);
    assert_eq!(second.unwrap().status(), 200);
    assert!(
        app.sim.stats().responses_429 >= 1,
        "the simulator must have refused one attempt"
    );
    let entries = entries_for(&app, "alpha").await;
    assert!(entries.iter().all(|e| e.status == EntryStatus::Posted));
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn timeouts_and_unreachable_upstreams_answer_504_and_502_and_void() {
    let sim = SimConfig {
        latency: "fixed:3s".parse().unwrap(),
        ..SimConfig::default()
    };
    let app = TestApp::builder()
        .sim(sim)
        .settings(|s| s.upstream.request_timeout_secs = 1)
        .spawn()
        .await
        .unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let response = app
        .post_json("/v1/monitor/gemini", &token, &prompt())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UPSTREAM_TIMEOUT");
    app.shutdown().await.unwrap();

    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let app = TestApp::builder()
        .settings(move |s| s.upstream.base_url = dead_url)
        .spawn()
        .await
        .unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let response = app
        .post_json("/v1/monitor/gemini", &token, &prompt())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let text = response.text().await.unwrap();
    assert!(text.contains("UPSTREAM_UNREACHABLE"));
    assert!(!text.contains("127.0.0.1"), "no internals in the error");
    let entries = entries_for(&app, "alpha").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].status, EntryStatus::Voided);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_that_hangs_up_is_still_booked() {
    let sim = SimConfig {
        latency: "fixed:800ms".parse().unwrap(),
        ..SimConfig::default()
    };
    let app = TestApp::builder().sim(sim).spawn().await.unwrap();
    app.create_team("alpha").await;
    let token = app.team_token("alpha").await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let result = impatient
        .post(app.url("/v1/monitor/chatgpt"))
        .bearer_auth(&token)
        .header("x-request-id", "hang-up-1")
        .json(&prompt())
        .send()
        .await;
    assert!(result.is_err(), "the client gives up first");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let entries = entries_for(&app, "alpha").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].status, EntryStatus::Posted);
    assert_eq!(entries[0].charged.map(|c| c.get()), Some(7));
    assert_eq!(entries[0].client_request_id.as_deref(), Some("hang-up-1"));
    assert_eq!(sim_charge(&app, "hang-up-1"), 7);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn reference_data_passes_through_and_credits_are_the_teams_own() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("alpha").await;
    app.create_team("beta").await;
    let alpha = app.team_token("alpha").await;
    let beta = app.team_token("beta").await;
    for path in [
        "/v1/countries",
        "/v1/countries?model=chatgpt",
        "/v1/states?country=US",
    ] {
        let response = app
            .http
            .get(app.url(path))
            .bearer_auth(&alpha)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    app.post_json("/v1/monitor/chatgpt", &alpha, &prompt())
        .send()
        .await
        .unwrap();
    let credits = |token: String| {
        let request = app.http.get(app.url("/v1/credits")).bearer_auth(token);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let a = credits(alpha.clone()).await;
    let b = credits(beta.clone()).await;
    assert_eq!(a["charged"], 7);
    assert_eq!(b["charged"], 0, "team B never sees team A's usage");
    assert!(a["cycleResetsAt"].is_string());
    assert!(a.get("remaining").is_some());
    app.shutdown().await.unwrap();
}
