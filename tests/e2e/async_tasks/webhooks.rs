//! Completions both ways: cloro's signed delivery to the gateway settles a task nobody reads,
//! and the gateway relays it to the team's own webhook, signed with the team's secret, with
//! the team's key. Webhook URLs that could reach internal services are refused.

use super::{chatgpt_task, post, settled_entries};
use accounting::EntryStatus;
use cloro_gateway::secret::Secret;
use cloro_sim::SimConfig;
use e2e_tests::{TestApp, WebhookReceiver};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn cloros_signed_webhook_settles_the_task_and_the_team_gets_it_signed_with_its_secret() {
    let hook = WebhookReceiver::start();
    let hook_url = hook.url.clone();
    let port = free_port();
    let app = TestApp::builder()
        .sim(SimConfig {
            webhook_secret: Some("whsec_upstream".into()),
            ..Default::default()
        })
        .settings(move |s| {
            s.server.listen = format!("127.0.0.1:{port}");
            s.async_tasks.webhook_url = format!("http://127.0.0.1:{port}/webhooks/cloro");
            s.async_tasks.webhook_secret = Secret::new("whsec_upstream");
            // Only the webhook can settle in time: the poller waits an hour.
            s.async_tasks.poll_after_secs = 3600;
            s.async_tasks.webhook_allowed_hosts = vec!["127.0.0.1".into()];
        })
        .spawn()
        .await
        .unwrap();
    app.create_team("hooked").await;
    let token = app.team_token("hooked").await;
    let (status, secret) = app.get_json("/team/webhook-secret", &token).await;
    assert_eq!(status, 200, "{secret}");
    let team_secret = secret["secret"].as_str().unwrap().to_owned();

    let mut task = chatgpt_task(Some("report-7"));
    task["webhook"] = json!({"url": hook_url});
    let (status, created) = post(&app, "/v1/async/task", &token, &task).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(
        created["webhook"]["url"],
        hook_url.as_str(),
        "the team sees its own webhook"
    );
    let task_id = created["task"]["id"].as_str().unwrap().to_owned();

    let entries = settled_entries(&app, "hooked").await;
    assert_eq!(entries[0].status, EntryStatus::Posted);

    let (headers, body) = hook
        .wait_for(1)
        .await
        .into_iter()
        .next()
        .expect("the completion was relayed to the team");
    let timestamp = &headers["x-cloro-timestamp"];
    assert_eq!(
        headers["x-cloro-signature"],
        signature(&team_secret, timestamp, &body),
        "signed with the team's secret"
    );
    assert_eq!(headers["x-cloro-webhook-id"], format!("{task_id}-1"));
    let relayed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(relayed["task"]["id"], task_id.as_str());
    assert_eq!(relayed["task"]["idempotencyKey"], "report-7");
    assert!(relayed.get("webhook").is_none());
    assert_eq!(
        relayed["credits"]["creditsCharged"].as_i64(),
        entries[0].charged.map(|c| c.get())
    );

    let (status, listed) = app.get_json("/team/webhook-deliveries", &token).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["items"][0]["state"], "DELIVERED", "{listed}");

    // An unsigned delivery to the gateway is refused.
    let forged = app
        .http
        .post(app.url("/webhooks/cloro"))
        .json(&json!({"task": {"id": task_id, "status": "COMPLETED"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    hook.stop().await;
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn webhook_urls_that_could_reach_internal_services_are_refused() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("careful").await;
    let token = app.team_token("careful").await;
    for url in [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://localhost/hook",
        "not a url",
    ] {
        let mut task = chatgpt_task(None);
        task["webhook"] = json!({"url": url});
        let (status, refused) = post(&app, "/v1/async/task", &token, &task).await;
        assert_eq!(status, 400, "{url}: {refused}");
        assert_eq!(
            refused["error"]["details"][0]["field"], "webhook.url",
            "{url}"
        );
    }
    let mut bad = chatgpt_task(None);
    bad["webhook"] = json!({"url": "https://192.168.0.10/hook"});
    let (status, answer) = post(
        &app,
        "/v1/async/task/batch",
        &token,
        &json!([chatgpt_task(None), bad]),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["success"], true);
    assert_eq!(answer["results"][1]["error"]["code"], "VALIDATION_ERROR");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn unsigned_deliveries_read_a_task_from_cloro_at_most_once_per_interval() {
    // No webhook secret: a delivery is only a hint, answered by reading the task from cloro.
    let app = TestApp::builder()
        .settings(|s| s.async_tasks.poll_after_secs = 3600)
        .spawn()
        .await
        .unwrap();
    app.create_team("hinted").await;
    let token = app.team_token("hinted").await;
    let (status, created) = post(&app, "/v1/async/task", &token, &chatgpt_task(None)).await;
    assert_eq!(status, 200, "{created}");
    let task_id = created["task"]["id"].as_str().unwrap().to_owned();
    let upstream_key: String = sqlx::query_scalar("SELECT upstream_key FROM async_tasks")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let reads = || {
        app.sim
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.contains(&task_id))
            .count()
    };
    let before = reads();
    let hint = json!({"task": {"id": task_id, "idempotencyKey": upstream_key}});
    for _ in 0..20 {
        let answer = app
            .http
            .post(app.url("/webhooks/cloro"))
            .json(&hint)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    assert_eq!(reads() - before, 1, "twenty hints, one read of the task");
    app.shutdown().await.unwrap();
}
