//! Two gateway processes share the account's concurrency through Redis; one killed with
//! SIGKILL in the middle of a request gives its slot back by itself within the lease TTL,
//! and its PENDING ledger entry is resolved by the other's sweeper (charged at the estimate
//! and flagged), so nothing leaks or is lost.

use crate::support::{Deployment, signal, wait_exit};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_request_leaks_no_slot_and_loses_no_entry() {
    let sim = cloro_sim::SimConfig {
        latency: "fixed:1500ms".parse().unwrap(),
        ..cloro_sim::SimConfig::default()
    };
    let deployment = Deployment::new(
        sim,
        &[
            ("CLORO_GATEWAY__LIMITS__ACCOUNT_CONCURRENCY", "1"),
            ("CLORO_GATEWAY__LIMITS__LEASE_TTL_SECS", "2"),
            ("CLORO_GATEWAY__LIMITS__ACCOUNT_QUEUE_WAIT_MS", "0"),
            ("CLORO_GATEWAY__LIMITS__LEASE_RENEW_SECS", "1"),
            ("CLORO_GATEWAY__UPSTREAM__REQUEST_TIMEOUT_SECS", "3"),
            ("CLORO_GATEWAY__LEDGER__PENDING_DEADLINE_SECS", "4"),
            ("CLORO_GATEWAY__LEDGER__SWEEP_EVERY_SECS", "1"),
        ],
    )
    .await;
    deployment.run("migrate", &["migrate"]);
    let (token, _) = deployment.team_with_token("acme");
    let http = reqwest::Client::new();
    let body = serde_json::json!({"prompt": "p", "country": "US"});

    let (mut doomed, doomed_url) = deployment.serve("doomed").await;
    let (mut survivor, survivor_url) = deployment.serve("survivor").await;
    let call = || {
        http.post(format!("{survivor_url}/v1/monitor/chatgpt"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let in_flight = {
        let request = http
            .post(format!("{doomed_url}/v1/monitor/chatgpt"))
            .bearer_auth(&token)
            .header("x-request-id", "killed-mid-call")
            .json(&body);
        tokio::spawn(async move { request.send().await })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Two live processes share the account's one slot through Redis.
    let refused = call().await.unwrap();
    assert_eq!(
        refused.status(),
        429,
        "the other process holds the account's slot"
    );
    let refusal: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(refusal["error"]["details"]["scope"], "account");

    signal(&doomed, "-KILL");
    wait_exit(&mut doomed, Duration::from_secs(10)).await;
    assert!(
        in_flight.await.unwrap().is_err(),
        "the caller lost its connection"
    );
    // The dead replica's lease still holds the account's only slot...
    let refused = call().await.unwrap();
    assert_eq!(refused.status(), 429, "the slot is still leased");
    // ...until its TTL passes and the next admission reclaims it.
    let killed_at = Instant::now();
    let reclaimed = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let response = call().await.unwrap();
        if response.status() == 200 {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(8),
            "the slot never came back"
        );
    };
    println!("slot reclaimed {reclaimed:?} after the survivor's first refusal");

    // The killed request's entry is resolved by the survivor's sweeper, not left PENDING.
    let pool = deployment.pool().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, flagged, charged): (String, bool, Option<i64>) = loop {
        let row: (String, bool, Option<i64>) = sqlx::query_as(
            "SELECT status, flagged, charged FROM ledger_entries WHERE client_request_id = 'killed-mid-call'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if row.0 != "PENDING" {
            break row;
        }
        assert!(Instant::now() < deadline, "the entry stayed PENDING");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        (status.as_str(), flagged, charged),
        ("EXPIRED", true, Some(7))
    );
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ledger_entries WHERE status = 'PENDING'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(pending, 0);

    signal(&survivor, "-TERM");
    wait_exit(&mut survivor, Duration::from_secs(20)).await;
    pool.close().await;
    deployment.teardown().await;
}
