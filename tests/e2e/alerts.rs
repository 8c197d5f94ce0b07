//! Alerts end to end: a team crossing its alert threshold and the account balance falling
//! below the floor are each raised once (across replicas), delivered to the webhook signed
//! over its timestamp and body, listed for finance (and for the team, its own only) and
//! counted.

use accounting::quotas::{self, QuotaValues};
use cloro_sim::SimConfig;
use e2e_tests::{TestApp, WebhookReceiver};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;

/// A lookup of a counter summed over the `/metrics` pages at `urls`.
async fn counters(app: &TestApp, urls: &[String]) -> impl Fn(&str) -> u64 + use<> {
    let mut pages = Vec::new();
    for url in urls {
        pages.push(
            app.http
                .get(url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    move |name: &str| {
        pages
            .iter()
            .flat_map(|page| page.lines())
            .filter_map(|line| line.strip_prefix(&format!("{name} ")))
            .filter_map(|value| value.parse::<u64>().ok())
            .sum()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threshold_and_balance_alerts_are_raised_once_signed_and_listed() {
    let receiver = WebhookReceiver::start();
    let url = receiver.url.clone();
    let app = TestApp::builder()
        .sim(SimConfig {
            credits: 10_000,
            ..SimConfig::default()
        })
        .settings(move |s| {
            s.alerts.webhook_url = url;
            s.alerts.webhook_secret = cloro_gateway::secret::Secret::new("whsec-test");
            s.alerts.balance_floor = 9_970;
        })
        .spawn()
        .await
        .unwrap();
    let alpha = app.create_team("alpha").await;
    app.create_team("beta").await;
    quotas::set(
        &app.db,
        alpha.id,
        &QuotaValues {
            rps: 1000.0,
            burst: 1000,
            concurrency: 100,
            weight: 1,
            budget: Some(100),
            hard_budget: true,
            alert_threshold_pct: Some(50),
            max_priority: quotas::DEFAULT_MAX_PRIORITY,
            max_queued_tasks: quotas::DEFAULT_MAX_QUEUED_TASKS,
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let token = app.team_token("alpha").await;
    let replica = app.replica().await.unwrap();
    let body = json!({"prompt": "p", "country": "US"});
    // 7 credits each: the 8th call takes alpha to 56 of 100; the balance passes 9,970 on
    // the 5th. Later calls, on either replica, raise nothing new.
    for i in 0..10 {
        let url = if i % 2 == 0 {
            app.url("/v1/monitor/chatgpt")
        } else {
            replica.url("/v1/monitor/chatgpt")
        };
        let response = app
            .http
            .post(url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    receiver.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered = receiver.deliveries();
    assert_eq!(delivered.len(), 2, "each alert is delivered exactly once");
    let mut kinds = Vec::new();
    for (headers, body) in &delivered {
        // `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`, the timestamp a recent one.
        let timestamp = headers.get("x-gateway-timestamp").expect("a timestamp");
        let sent_at: i64 = timestamp.parse().unwrap();
        assert!(
            (chrono::Utc::now().timestamp() - sent_at).abs() < 60,
            "{sent_at}"
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec-test").unwrap();
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(headers.get("x-gateway-signature"), Some(&expected));
        let payload: Value = serde_json::from_slice(body).unwrap();
        kinds.push(payload["kind"].as_str().unwrap().to_owned());
        if payload["kind"] == "team_budget_threshold" {
            assert_eq!(payload["details"]["team"], "alpha");
            assert_eq!(payload["details"]["budget"], 100);
            assert!(payload["details"]["used"].as_i64().unwrap() >= 50);
        } else {
            assert!(payload["details"]["creditsRemaining"].as_i64().unwrap() < 9_970);
        }
    }
    kinds.sort();
    assert_eq!(kinds, ["account_balance_floor", "team_budget_threshold"]);

    let finance = app.finance_token().await;
    let (_, listed) = app.get_json("/finance/alerts", &finance).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    let (_, own) = app.get_json("/team/alerts", &token).await;
    assert_eq!(own["items"].as_array().unwrap().len(), 1);
    assert_eq!(own["items"][0]["team"], "alpha");
    let beta = app.team_token("beta").await;
    let (_, none) = app.get_json("/team/alerts", &beta).await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);

    let counted = counters(&app, &[app.url("/metrics"), replica.url("/metrics")]).await;
    for name in [
        "cloro_gateway_alerts_team_budget_threshold_total",
        "cloro_gateway_alerts_account_balance_floor_total",
    ] {
        assert_eq!(counted(name), 1, "{name}");
    }
    assert_eq!(counted("cloro_gateway_alert_webhook_delivered_total"), 2);
    replica.stop().await;
    receiver.stop().await;
    app.shutdown().await.unwrap();
}
