//! Money under faults, through the real gateway: an upstream call whose outcome the gateway
//! cannot know is booked (flagged `outcome_unknown`), never voided, and an Idempotency-Key
//! retry of it is answered without running again; Redis losing its state never resets a
//! budget, and running calls get their leases back; a ledger that cannot be read refuses a
//! budgeted team instead of admitting it on an empty budget.

use accounting::quotas::{self, QuotaValues};
use accounting::{EntryStatus, TeamId};
use cloro_sim::{FaultRates, SimConfig};
use e2e_tests::TestApp;
use e2e_tests::ledger::entries_for;
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn chatgpt() -> Value {
    json!({"prompt": "p", "country": "US"})
}

async fn set_budget(app: &TestApp, team: TeamId, budget: i64) {
    let values = QuotaValues {
        rps: 10_000.0,
        burst: 10_000,
        concurrency: 1000,
        weight: 1,
        budget: Some(budget),
        hard_budget: true,
        alert_threshold_pct: None,
    };
    quotas::set(&app.db, team, &values).await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
}

/// Waits until the simulator has finished every call, abandoned ones included.
async fn sim_idle(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.sim.stats().current_concurrency > 0 {
        assert!(Instant::now() < deadline, "the simulator never went idle");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the simulator charged per X-Request-ID (the gateway's ledger id).
fn sim_charges(app: &TestApp) -> HashMap<String, u64> {
    let mut charged: HashMap<String, u64> = HashMap::new();
    for record in app.sim.requests() {
        if let Some(id) = record.request_id {
            *charged.entry(id).or_default() += record.credits_charged;
        }
    }
    charged
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_budget_holds_after_redis_loses_its_state() {
    let app = TestApp::spawn().await.unwrap();
    let team = app.create_team("frugal").await;
    set_budget(&app, team.id, 100).await;
    let token = app.team_token("frugal").await;
    let call = || {
        app.post_json("/v1/monitor/chatgpt", &token, &chatgpt())
            .send()
    };

    for _ in 0..14 {
        assert_eq!(call().await.unwrap().status(), 200);
    }
    assert_eq!(app.sim.stats().credits_charged, 98);
    assert_eq!(call().await.unwrap().status(), 403, "7 more would pass 100");

    app.flush_redis().await;
    for _ in 0..5 {
        let response = call().await.unwrap();
        assert_eq!(
            response.status(),
            403,
            "still refused after Redis lost its state"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "INSUFFICIENT_CREDITS");
    }
    assert_eq!(
        app.sim.stats().credits_charged,
        98,
        "never above the budget"
    );
    assert!(app.metric("cloro_gateway_budget_seeds_total").await >= 1);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_calls_get_their_leases_and_holds_back_after_redis_loses_its_state() {
    let sim = SimConfig {
        latency: "fixed:3000ms".parse().unwrap(),
        ..SimConfig::default()
    };
    let app = TestApp::builder()
        .sim(sim)
        .settings(|s| {
            s.limits.account_concurrency = 1;
            s.limits.account_queue_wait_ms = 0;
            s.limits.lease_renew_secs = 1;
            s.limits.lease_ttl_secs = 5;
            s.limits.budget_reconcile_secs = 1;
        })
        .spawn()
        .await
        .unwrap();
    let team = app.create_team("steady").await;
    set_budget(&app, team.id, 1000).await;
    let token = app.team_token("steady").await;
    let running = tokio::spawn(
        app.post_json("/v1/monitor/chatgpt", &token, &chatgpt())
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.flush_redis().await;
    // Within one renewal period the running call's account slot is back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let other = app
        .post_json("/v1/monitor/gemini", &token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        429,
        "the account's only slot is taken again"
    );
    assert!(app.metric("cloro_gateway_leases_recreated_total").await >= 1);
    assert!(app.metric("cloro_gateway_holds_restored_total").await >= 1);

    assert_eq!(running.await.unwrap().unwrap().status(), 200);
    // Whatever Redis counted while it recovered, the reconciler brings it back to the
    // ledger: 7 charged, so a 6-credit call leaves 987.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let response = app
        .post_json("/v1/monitor/gemini", &token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-credits-remaining"], "987");
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budgeted_team_is_refused_when_the_ledger_cannot_seed_its_budget() {
    let app = TestApp::spawn().await.unwrap();
    let team = app.create_team("careful").await;
    set_budget(&app, team.id, 100).await;
    let token = app.team_token("careful").await;
    // The gateway loses Postgres (its pool is closed for good), then Redis loses its state.
    app.db.close().await;
    app.flush_redis().await;
    let response = app
        .post_json("/v1/monitor/chatgpt", &token, &chatgpt())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "LEDGER_UNAVAILABLE");
    assert_eq!(app.sim.stats().requests, 0, "nothing was sent");
    app.shutdown().await.unwrap();
}
