//! The binary as an operator runs it: `migrate`, `team`, `token`, `serve` with JSON logs at
//! debug level, and SIGTERM. The company key, team tokens and the signing secret must
//! never appear in anything it prints.

use crate::support::{COMPANY_KEY, Deployment, SIGNING_SECRET, signal, wait_exit};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_serve_and_sigterm_never_print_secrets() {
    let deployment = Deployment::new(cloro_sim::SimConfig::default(), &[]).await;
    deployment.run("migrate", &["migrate"]);
    let pool = deployment.pool().await;
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'ledger_entries'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(tables, 1, "migrate created the ledger");

    let created = deployment.run("team", &["team", "create", "acme", "--name", "Acme"]);
    assert!(String::from_utf8_lossy(&created.stdout).contains("created team acme"));
    let (token, jti) = deployment.mint("acme");
    assert_eq!(token.split('.').count(), 3, "a JWT on stdout");

    let (mut server, base) = deployment.serve("serve").await;
    let http = reqwest::Client::new();
    let body = serde_json::json!({"prompt": "p", "country": "US"});
    let chatgpt = |token: String, body: serde_json::Value| {
        let request = http
            .post(format!("{base}/v1/monitor/chatgpt"))
            .bearer_auth(token)
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let ok = chatgpt(token.clone(), body.clone()).await;
    assert_eq!(ok.status(), 200);
    assert!(!ok.text().await.unwrap().contains(COMPANY_KEY));
    assert_eq!(
        chatgpt("bad.token.here".into(), body.clone())
            .await
            .status(),
        401
    );
    let lower_case = serde_json::json!({"prompt": "p", "country": "us"});
    assert_eq!(chatgpt(token.clone(), lower_case).await.status(), 400);

    // Suspension, resumption and revocation from the shell reach the running gateway.
    let directory_refresh = Duration::from_millis(1500);
    deployment.run("suspend", &["team", "suspend", "acme"]);
    tokio::time::sleep(directory_refresh).await;
    assert_eq!(chatgpt(token.clone(), body.clone()).await.status(), 403);
    deployment.run("resume", &["team", "resume", "acme"]);
    tokio::time::sleep(directory_refresh).await;
    assert_eq!(chatgpt(token.clone(), body.clone()).await.status(), 200);
    deployment.run("revoke", &["token", "revoke", &jti]);
    tokio::time::sleep(directory_refresh).await;
    assert_eq!(chatgpt(token.clone(), body.clone()).await.status(), 401);

    // SIGTERM: a graceful stop with exit status 0.
    signal(&server, "-TERM");
    let status = wait_exit(&mut server, Duration::from_secs(20)).await;
    assert!(status.success(), "graceful exit, got {status}");

    let printed = deployment.printed();
    assert!(
        printed.contains("\"request_id\""),
        "the logs were captured and carry request ids"
    );
    assert!(printed.contains("served"), "request outcomes are logged");
    assert!(
        !printed.contains(COMPANY_KEY),
        "the company key was printed"
    );
    assert!(!printed.contains(&token), "a team token was printed");
    assert!(
        !printed.contains(SIGNING_SECRET),
        "the signing secret was printed"
    );
    pool.close().await;
    deployment.teardown().await;
}
