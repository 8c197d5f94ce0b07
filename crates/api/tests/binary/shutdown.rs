//! A graceful shutdown (SIGTERM) drains detached work: a call whose client already hung up
//! keeps running upstream, and the process waits for it to be settled before it exits, so
//! its entry is POSTED with what cloro charged instead of being left to the sweeper.

use crate::support::{Deployment, signal, wait_exit};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_waits_for_calls_whose_client_hung_up() {
    let sim = cloro_sim::SimConfig {
        latency: "fixed:2000ms".parse().unwrap(),
        ..cloro_sim::SimConfig::default()
    };
    let deployment = Deployment::new(
        sim,
        &[
            ("CLORO_GATEWAY__SERVER__SHUTDOWN_TIMEOUT_SECS", "10"),
            ("CLORO_GATEWAY__LEDGER__PENDING_DEADLINE_SECS", "600"),
        ],
    )
    .await;
    deployment.run("migrate", &["migrate"]);
    let (token, _) = deployment.team_with_token("acme");
    let (mut gateway, url) = deployment.serve("draining").await;

    // The client gives up long before cloro answers.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let hung_up = impatient
        .post(format!("{url}/v1/monitor/chatgpt"))
        .bearer_auth(&token)
        .header("x-request-id", "client-hung-up")
        .json(&serde_json::json!({"prompt": "p", "country": "US"}))
        .send()
        .await;
    assert!(hung_up.is_err(), "the client timed out");

    let stopping = Instant::now();
    signal(&gateway, "-TERM");
    let status = wait_exit(&mut gateway, Duration::from_secs(20)).await;
    assert!(status.success(), "a graceful exit: {status:?}");
    let waited = stopping.elapsed();
    assert!(
        waited >= Duration::from_millis(1000),
        "the process waited for the call ({waited:?})"
    );

    let pool = deployment.pool().await;
    let (entry_status, charged): (String, Option<i64>) = sqlx::query_as(
        "SELECT status, charged FROM ledger_entries WHERE client_request_id = 'client-hung-up'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((entry_status.as_str(), charged), ("POSTED", Some(7)));
    assert_eq!(deployment.sim.stats().credits_charged, 7);
    pool.close().await;
    deployment.teardown().await;
}
