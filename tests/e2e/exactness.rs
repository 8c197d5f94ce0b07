//! The money invariant under load: thousands of concurrent requests from several teams while
//! the simulator injects faults; afterwards each team's posted total equals, to the credit,
//! what the simulator charged for that team's requests (joined by request id), and no entry
//! is left PENDING.

use accounting::EntryStatus;
use cloro_sim::{FaultRates, SimConfig};
use e2e_tests::TestApp;
use e2e_tests::ledger::entries_for;
use futures::StreamExt;
use serde_json::json;
use std::collections::HashMap;

const TEAMS: [&str; 4] = ["alpha", "beta", "gamma", "delta"];
const REQUESTS: usize = 2000;
const IN_FLIGHT: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_matches_upstream_charges_to_the_credit_under_faults() {
    let sim = SimConfig {
        concurrency_limit: 48,
        latency: "lognormal:median=5ms,p99=40ms".parse().unwrap(),
        faults: FaultRates {
            internal_error: 0.04,
            external_service_error: 0.04,
            service_unavailable: 0.04,
            empty_answer: 0.05,
            ..FaultRates::default()
        },
        seed: 7,
        ..SimConfig::default()
    };
    let app = TestApp::builder()
        .sim(sim)
        .settings(|s| {
            s.upstream.retry_base_ms = 20;
            s.database.max_connections = 20;
        })
        .spawn()
        .await
        .unwrap();
    let mut tokens = Vec::new();
    for team in TEAMS {
        app.create_team(team).await;
        tokens.push(app.team_token(team).await);
    }
    let bodies = [
        (
            "/v1/monitor/chatgpt",
            json!({"prompt": "p", "country": "US", "include": {"ads": true}}),
        ),
        (
            "/v1/monitor/google",
            json!({"query": "q", "country": "US", "pages": 3}),
        ),
        (
            "/v1/monitor/aimode",
            json!({"prompt": "p", "country": "US", "include": {"expandProducts": true}}),
        ),
        (
            "/v1/monitor/perplexity",
            json!({"prompt": "p", "country": "US", "state": "CA"}),
        ),
    ];

    let statuses: Vec<u16> = futures::stream::iter(0..REQUESTS)
        .map(|i| {
            let (path, body) = &bodies[i % bodies.len()];
            let request = app.post_json(path, &tokens[i % TEAMS.len()], body);
            async move {
                request
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert!(ok > REQUESTS / 2, "most requests succeed ({ok}/{REQUESTS})");
    assert!(ok < REQUESTS, "faults were injected");

    // What the simulator charged, per X-Request-ID (the gateway's ledger id).
    let mut charged_by_id: HashMap<String, u64> = HashMap::new();
    for record in app.sim.requests() {
        if let Some(id) = record.request_id {
            *charged_by_id.entry(id).or_default() += record.credits_charged;
        }
    }
    let mut grand_total = 0;
    for team in TEAMS {
        let entries = entries_for(&app, team).await;
        assert_eq!(
            entries.len(),
            REQUESTS / TEAMS.len(),
            "{team}: one entry per request"
        );
        assert!(
            entries.iter().all(|e| e.status != EntryStatus::Pending),
            "{team}: nothing left PENDING"
        );
        let posted: i64 = entries
            .iter()
            .filter(|e| e.status == EntryStatus::Posted)
            .map(|e| e.charged.map(|c| c.get()).unwrap_or(0))
            .sum();
        let upstream: u64 = entries
            .iter()
            .map(|e| charged_by_id.get(&e.id.to_string()).copied().unwrap_or(0))
            .sum();
        assert_eq!(
            posted as u64, upstream,
            "{team}: ledger equals upstream charges"
        );
        grand_total += upstream;
    }
    assert_eq!(
        grand_total,
        app.sim.stats().credits_charged,
        "every charge belongs to a team"
    );
    app.shutdown().await.unwrap();
}
