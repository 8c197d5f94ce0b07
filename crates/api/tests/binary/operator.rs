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

/// Stdout of a command that must succeed.
fn stdout(deployment: &Deployment, name: &str, args: &[&str]) -> String {
    String::from_utf8(deployment.run(name, args).stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_lists_teams_manages_quotas_and_tokens_and_every_change_is_audited_as_cli() {
    let deployment = Deployment::new(cloro_sim::SimConfig::default(), &[]).await;
    deployment.run("create", &["team", "create", "acme", "--name", "Acme"]);
    deployment.run("create-2", &["team", "create", "zeta"]);
    deployment.run("suspend", &["team", "suspend", "zeta"]);

    let list = stdout(&deployment, "list", &["team", "list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert!(lines[0].starts_with("SLUG"), "a header line: {list}");
    assert!(lines[1].starts_with("acme") && lines[1].contains("active"));
    assert!(lines[2].starts_with("zeta") && lines[2].contains("suspended"));
    let suspended = stdout(
        &deployment,
        "list-s",
        &["team", "list", "--status", "suspended"],
    );
    assert!(!suspended.contains("acme") && suspended.contains("zeta"));

    let shown = stdout(&deployment, "show", &["quota", "show", "acme"]);
    assert!(shown.contains("default"), "the configured default: {shown}");
    let set = stdout(
        &deployment,
        "set",
        &[
            "quota",
            "set",
            "acme",
            "--rps",
            "5",
            "--burst",
            "10",
            "--concurrency",
            "2",
            "--budget",
            "1000",
            "--soft",
            "--alert-pct",
            "80",
        ],
    );
    assert!(
        set.contains("soft") && set.contains("1000") && set.contains("team"),
        "{set}"
    );
    let team = stdout(&deployment, "team-show", &["team", "show", "acme"]);
    assert!(team.contains("Acme") && team.contains("1000"), "{team}");
    let bad = deployment
        .command(
            "bad",
            &[
                "quota",
                "set",
                "acme",
                "--rps",
                "5",
                "--burst",
                "0",
                "--concurrency",
                "2",
            ],
        )
        .output()
        .unwrap();
    assert!(!bad.status.success(), "burst 0 is refused");
    deployment.run("clear", &["quota", "clear", "acme"]);
    let cleared = stdout(&deployment, "show-2", &["quota", "show", "acme"]);
    assert!(cleared.contains("default"), "{cleared}");

    let (token, jti) = deployment.mint("acme");
    let tokens = stdout(&deployment, "tokens", &["token", "list", "--team", "acme"]);
    assert!(
        tokens.contains(&jti) && tokens.contains("active"),
        "{tokens}"
    );
    assert!(!tokens.contains(&token), "a token's text was listed");
    deployment.run("revoke", &["token", "revoke", &jti]);
    let after = stdout(
        &deployment,
        "tokens-2",
        &["token", "list", "--team", "acme"],
    );
    assert!(
        !after.contains(&jti),
        "revoked tokens are hidden by default"
    );
    let with_revoked = stdout(
        &deployment,
        "tokens-3",
        &[
            "token",
            "list",
            "--team",
            "acme",
            "--include-revoked",
            "--role",
            "team",
        ],
    );
    assert!(with_revoked.contains(&jti) && with_revoked.contains("revoked"));

    let pool = deployment.pool().await;
    let actions: Vec<(String, String, String)> =
        sqlx::query_as("SELECT actor, action, target_id FROM audit_log ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let expected = [
        ("team.create", "acme"),
        ("team.create", "zeta"),
        ("team.update", "zeta"),
        ("quota.set", "acme"),
        ("quota.clear", "acme"),
        ("token.mint", jti.as_str()),
        ("token.revoke", jti.as_str()),
    ];
    let got: Vec<(&str, &str)> = actions
        .iter()
        .map(|(_, action, target)| (action.as_str(), target.as_str()))
        .collect();
    assert_eq!(got, expected);
    assert!(actions.iter().all(|(actor, _, _)| actor == "cli"));
    let audited: String =
        sqlx::query_scalar("SELECT string_agg(coalesce(after::text, ''), ' ') FROM audit_log")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!audited.contains(&token), "a token's text was audited");

    // The usage report reads the rollups the ledger keeps as entries settle.
    for (slug, charged) in [("acme", 7_i64), ("acme", 7), ("zeta", 5)] {
        let id = uuid::Uuid::now_v7();
        sqlx::query(
            "INSERT INTO ledger_entries (id, created_at, team_id, endpoint, estimate, status, \
                 charged, settled_at) \
             SELECT $1, $2, id, '/v1/monitor/chatgpt', $3, 'POSTED', $3, now() \
             FROM teams WHERE slug = $4",
        )
        .bind(id)
        .bind(accounting::ledger::created_at_of(id))
        .bind(charged)
        .bind(slug)
        .execute(&pool)
        .await
        .unwrap();
    }
    let usage = stdout(&deployment, "usage", &["usage", "--by", "team"]);
    let line = |first: &str| {
        usage
            .lines()
            .find(|l| l.starts_with(first))
            .unwrap_or_else(|| panic!("no {first} line in {usage}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    // team, entries, posted, voided, expired, flagged, estimate, charged
    assert_eq!(line("acme")[1], "2");
    assert_eq!(line("acme").last().unwrap(), "14");
    assert_eq!(line("zeta").last().unwrap(), "5");
    assert_eq!(line("TOTAL").last().unwrap(), "19");
    pool.close().await;
    deployment.teardown().await;
}
