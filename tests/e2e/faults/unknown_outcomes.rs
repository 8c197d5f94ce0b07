//! Calls whose outcome the gateway cannot know: booked at what cloro charged or the estimate,
//! flagged `outcome_unknown`, and never sent twice for one Idempotency-Key.

use super::{chatgpt, sim_charges, sim_idle};
use accounting::EntryStatus;
use cloro_sim::{FaultRates, SimConfig};
use e2e_tests::TestApp;
use e2e_tests::ledger::entries_for;
use futures::StreamExt;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_below_the_upstream_latency_books_what_cloro_charged() {
    let sim = SimConfig {
        latency: "lognormal:median=700ms,p99=3s".parse().unwrap(),
        concurrency_limit: 100,
        seed: 11,
        ..SimConfig::default()
    };
    let app = TestApp::builder()
        .sim(sim)
        .settings(|s| {
            s.upstream.request_timeout_secs = 1;
            s.ledger.pending_deadline_secs = 30;
        })
        .spawn()
        .await
        .unwrap();
    let teams = ["north", "south"];
    let mut tokens = Vec::new();
    for team in teams {
        app.create_team(team).await;
        tokens.push(app.team_token(team).await);
    }
    let statuses: Vec<u16> = futures::stream::iter(0..60)
        .map(|i| {
            let request = app.post_json("/v1/monitor/chatgpt", &tokens[i % 2], &chatgpt());
            async move {
                request
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            }
        })
        .buffer_unordered(20)
        .collect()
        .await;
    let timed_out = statuses.iter().filter(|s| **s == 504).count();
    assert!(
        timed_out > 0,
        "some calls outlived the deadline: {statuses:?}"
    );
    assert!(statuses.contains(&200), "some calls finished in time");
    sim_idle(&app).await;

    let charged = sim_charges(&app);
    for team in teams {
        let entries = entries_for(&app, team).await;
        assert!(entries.iter().all(|e| e.status != EntryStatus::Pending));
        assert!(
            entries.iter().all(|e| e.status != EntryStatus::Voided),
            "no timeout is voided"
        );
        let booked: i64 = entries
            .iter()
            .map(|e| e.charged.map(|c| c.get()).unwrap_or(0))
            .sum();
        let upstream: u64 = entries
            .iter()
            .map(|e| charged.get(&e.id.to_string()).copied().unwrap_or(0))
            .sum();
        assert_eq!(
            booked as u64, upstream,
            "{team}: the ledger equals what cloro charged"
        );
        let unknown = entries
            .iter()
            .filter(|e| e.flag_reason.as_deref() == Some("outcome_unknown"))
            .count();
        assert!(unknown > 0, "{team}: timeouts are flagged outcome_unknown");
    }
    assert_eq!(
        app.metric("cloro_gateway_upstream_outcome_unknown_total")
            .await,
        timed_out as u64
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_retry_of_a_timed_out_call_replays_the_504_and_is_not_charged_again() {
    let sim = SimConfig {
        latency: "fixed:1800ms".parse().unwrap(),
        ..SimConfig::default()
    };
    let app = TestApp::builder()
        .sim(sim)
        .settings(|s| s.upstream.request_timeout_secs = 1)
        .spawn()
        .await
        .unwrap();
    app.create_team("acme").await;
    let token = app.team_token("acme").await;
    let send = || {
        app.post_json("/v1/monitor/chatgpt", &token, &chatgpt())
            .header("idempotency-key", "report-7")
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 504);
    let first_body: Value = first.json().await.unwrap();
    assert_eq!(first_body["error"]["code"], "UPSTREAM_TIMEOUT");
    sim_idle(&app).await;

    let retry = send().await.unwrap();
    assert_eq!(retry.status(), 504, "the retry gets the same answer");
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let retry_body: Value = retry.json().await.unwrap();
    assert_eq!(retry_body["error"]["code"], "UPSTREAM_TIMEOUT");

    assert_eq!(app.sim.stats().requests, 1, "the retry was never sent");
    let entries = entries_for(&app, "acme").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].status, EntryStatus::Posted);
    assert_eq!(entries[0].charged.map(|c| c.get()), Some(7));
    assert_eq!(app.sim.stats().credits_charged, 7, "charged once");

    // A new key is the caller's explicit choice to pay again.
    let fresh = app
        .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
        .header("idempotency-key", "report-8")
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 504);
    sim_idle(&app).await;
    assert_eq!(app.sim.stats().requests, 2);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_breaks_off_is_booked_at_the_charge_its_headers_announced() {
    let sim = SimConfig {
        faults: FaultRates {
            broken_body: 1.0,
            ..FaultRates::default()
        },
        ..SimConfig::default()
    };
    let app = TestApp::builder().sim(sim).spawn().await.unwrap();
    app.create_team("acme").await;
    let token = app.team_token("acme").await;
    let body = json!({"prompt": "p", "country": "US", "include": {"ads": true}});
    let response = app
        .post_json("/v1/monitor/chatgpt", &token, &body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    let entries = entries_for(&app, "acme").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].status, EntryStatus::Posted);
    assert_eq!(entries[0].charged.map(|c| c.get()), Some(9));
    assert_eq!(entries[0].upstream_status, Some(200));
    assert_eq!(entries[0].flag_reason.as_deref(), Some("outcome_unknown"));
    assert_eq!(app.sim.stats().credits_charged, 9);

    let finance = app.finance_token().await;
    let (status, listed) = app
        .get_json("/finance/entries?flag=outcome_unknown", &finance)
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    let (status, listed) = app
        .get_json("/finance/entries?flag=expired", &finance)
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(0));
    let (status, _) = app
        .get_json("/finance/entries?flag=surprise", &finance)
        .await;
    assert_eq!(status, 400);
    app.shutdown().await.unwrap();
}
