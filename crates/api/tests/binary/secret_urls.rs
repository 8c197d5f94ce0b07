//! URLs that carry secrets never reach the logs: the alert webhook (a Slack-style URL is
//! itself the credential) and the JWKS URL. Both point at a closed port so every attempt
//! fails, the failures are logged at debug level in JSON, and nothing any process printed
//! may contain either URL or its secret path.

use crate::support::{Deployment, signal, wait_exit};
use serde_json::json;
use std::time::{Duration, Instant};

/// A local port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_and_jwks_urls_never_appear_in_logs() {
    let webhook_secret = format!("hook-secret-{}", uuid::Uuid::new_v4().simple());
    let jwks_secret = format!("jwks-secret-{}", uuid::Uuid::new_v4().simple());
    let webhook_url = format!(
        "http://127.0.0.1:{}/services/T0001/B0001/{webhook_secret}",
        closed_port()
    );
    let jwks_url = format!(
        "http://127.0.0.1:{}/{jwks_secret}/.well-known/jwks.json",
        closed_port()
    );
    let deployment = Deployment::new(
        cloro_sim::SimConfig::default(),
        &[
            ("CLORO_GATEWAY__ALERTS__WEBHOOK_URL", &webhook_url),
            ("CLORO_GATEWAY__ALERTS__WEBHOOK_MAX_ATTEMPTS", "2"),
            // Above the simulator's balance: the first call raises the balance alert.
            ("CLORO_GATEWAY__ALERTS__BALANCE_FLOOR", "1000000000"),
            ("CLORO_GATEWAY__AUTH__JWKS_URL", &jwks_url),
        ],
    )
    .await;
    deployment.run("migrate", &["migrate"]);
    let (token, _) = deployment.team_with_token("acme");
    let (mut gateway, url) = deployment.serve("gateway").await;
    let answered = reqwest::Client::new()
        .post(format!("{url}/v1/monitor/chatgpt"))
        .bearer_auth(&token)
        .json(&json!({"prompt": "p", "country": "US"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);

    let gave_up = |lines: &[serde_json::Value]| {
        lines
            .iter()
            .any(|line| line["message"] == "alert webhook delivery failed for good")
    };
    let started = Instant::now();
    while !gave_up(&deployment.log_lines("gateway")) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the webhook delivery never failed for good:\n{}",
            deployment.printed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal(&gateway, "-TERM");
    wait_exit(&mut gateway, Duration::from_secs(20)).await;

    let lines = deployment.log_lines("gateway");
    let logged = |message: &str| lines.iter().any(|line| line["message"] == message);
    assert!(
        logged("alert webhook unreachable"),
        "the failures were logged"
    );
    assert!(
        lines.iter().any(|line| line["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("JWKS fetch"))),
        "the JWKS failure was logged"
    );
    let printed = deployment.printed();
    for secret in [&webhook_url, &webhook_secret, &jwks_url, &jwks_secret] {
        let leaks: Vec<&str> = printed
            .lines()
            .filter(|line| line.contains(secret.as_str()))
            .collect();
        assert!(
            leaks.is_empty(),
            "{secret} was printed:\n{}",
            leaks.join("\n")
        );
    }
    deployment.teardown().await;
}
