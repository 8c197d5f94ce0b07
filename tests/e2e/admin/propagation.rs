//! Admin changes reach a second replica at once through the pushed directory refresh: the
//! periodic refresh is a minute here, so only the push can explain the timing.

use super::{ALICE, chatgpt};
use accounting::Role;
use e2e_tests::{Replica, TestApp};
use serde_json::json;
use std::time::{Duration, Instant};

/// Polls `url` with a chatgpt call as `token` until it answers `status`; returns how long
/// it took (at most a second).
async fn time_until(http: &reqwest::Client, url: &str, token: &str, status: u16) -> Duration {
    let started = Instant::now();
    loop {
        let response = http
            .post(url)
            .bearer_auth(token)
            .json(&chatgpt())
            .send()
            .await
            .unwrap();
        if response.status().as_u16() == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "not applied within a second"
        );
    }
}

/// A gateway refreshing its directory only every minute, a replica of it, alice, and team
/// alpha's token already served by the replica.
struct TwoReplicas {
    app: TestApp,
    replica: Replica,
    admin: String,
    /// The replica's chatgpt URL.
    url: String,
    token: String,
    jti: uuid::Uuid,
}

async fn two_replicas_serving_alpha() -> TwoReplicas {
    let app = TestApp::builder()
        .settings(|s| s.auth.directory_refresh_ms = 60_000)
        .spawn()
        .await
        .unwrap();
    let replica = app.replica().await.unwrap();
    let admin = app.admin_token_as(ALICE).await;
    app.create_team("alpha").await;
    let minted = app.mint(Role::Team, Some("alpha")).await;
    let url = replica.url("/v1/monitor/chatgpt");
    time_until(&app.http, &url, &minted.token, 200).await;
    TwoReplicas {
        app,
        replica,
        admin,
        url,
        token: minted.token,
        jti: minted.jti,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspension_and_a_resumption_reach_a_second_replica_at_once() {
    let TwoReplicas {
        app,
        replica,
        admin,
        url,
        token,
        ..
    } = two_replicas_serving_alpha().await;
    let patch = |status: &'static str| {
        app.admin_patch("/admin/teams/alpha", &admin, json!({"status": status}))
    };
    assert_eq!(patch("suspended").await.0, 200);
    let suspended_in = time_until(&app.http, &url, &token, 403).await;
    assert_eq!(patch("active").await.0, 200);
    let resumed_in = time_until(&app.http, &url, &token, 200).await;
    println!(
        "propagation to a second replica (push, periodic refresh 60 s): suspend \
         {suspended_in:?}, resume {resumed_in:?}"
    );
    replica.stop().await;
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_a_second_replica_at_once() {
    let TwoReplicas {
        app,
        replica,
        admin,
        url,
        token,
        jti,
    } = two_replicas_serving_alpha().await;
    let revoked = app
        .admin_delete(&format!("/admin/tokens/{jti}"), &admin)
        .await;
    assert_eq!(revoked.0, 200, "{}", revoked.1);
    let revoked_in = time_until(&app.http, &url, &token, 401).await;
    println!(
        "propagation to a second replica (push, periodic refresh 60 s): revoke {revoked_in:?}"
    );
    replica.stop().await;
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_reaches_a_second_replica_at_once() {
    let TwoReplicas {
        app,
        replica,
        admin,
        url,
        ..
    } = two_replicas_serving_alpha().await;
    let other = app.team_token("alpha").await;
    let quota = json!({"rps": 100.0, "burst": 100, "concurrency": 5, "budget": 0});
    let set = app
        .admin_put("/admin/teams/alpha/quota", &admin, quota)
        .await;
    assert_eq!(set.0, 200, "{}", set.1);
    let quota_in = time_until(&app.http, &url, &other, 403).await;
    println!("propagation to a second replica (push, periodic refresh 60 s): quota {quota_in:?}");
    replica.stop().await;
    app.shutdown().await.unwrap();
}
