//! The `cloro-gateway` binary as an operator runs it: `migrate`, `team`, `token`, `serve`
//! with JSON logs at debug level, and SIGTERM. The company key and team tokens must never
//! appear in anything it prints.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sqlx::migrate::MigrateDatabase;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cloro-gateway");
const COMPANY_KEY: &str = "sk_live_5ec7e75ec7e75ec7e75ec7e75ec7e7aa";
const SIGNING_SECRET: &str = "binary-test-signing-secret-0123456789abcdef";

fn admin_database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `admin` with its database replaced by `name`.
fn database_url(name: &str) -> String {
    let admin = admin_database_url();
    let (base, _) = admin.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

fn gateway(
    db_url: &str,
    upstream: &str,
    log_dir: &std::path::Path,
    name: &str,
    args: &[&str],
) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("DATABASE_URL", db_url)
        .env(
            "REDIS_URL",
            std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        )
        .env("CLORO_BASE_URL", upstream)
        .env("CLORO_API_KEY", COMPANY_KEY)
        .env("CLORO_GATEWAY__AUTH__SIGNING_SECRET", SIGNING_SECRET)
        .env("CLORO_GATEWAY__LOG__FORMAT", "json")
        .env(
            "CLORO_GATEWAY__REDIS__KEY_PREFIX",
            format!("binary-test:{}:", uuid::Uuid::new_v4().simple()),
        )
        .env("RUST_LOG", "debug")
        .stdout(std::fs::File::create(log_dir.join(format!("{name}.out"))).unwrap())
        .stderr(std::fs::File::create(log_dir.join(format!("{name}.err"))).unwrap());
    command
}

fn run(mut command: Command) -> Output {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_serve_and_sigterm_never_print_secrets() {
    let sim_config = cloro_sim::SimConfig {
        api_key: COMPANY_KEY.into(),
        ..cloro_sim::SimConfig::default()
    };
    let sim = cloro_sim::spawn(
        sim_config,
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
    )
    .await
    .unwrap();
    let db_name = format!("gw_bin_{}", uuid::Uuid::new_v4().simple());
    let db_url = database_url(&db_name);
    let logs = std::env::temp_dir().join(&db_name);
    std::fs::create_dir_all(&logs).unwrap();

    run(gateway(
        &db_url,
        &sim.base_url(),
        &logs,
        "migrate",
        &["migrate"],
    ));
    let tables: i64 = {
        let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
        let n = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'ledger_entries'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        pool.close().await;
        n
    };
    assert_eq!(tables, 1, "migrate created the ledger");

    let created = run(gateway(
        &db_url,
        &sim.base_url(),
        &logs,
        "team",
        &["team", "create", "acme", "--name", "Acme"],
    ));
    assert!(String::from_utf8_lossy(&created.stdout).contains("created team acme"));
    let minted = run(gateway(
        &db_url,
        &sim.base_url(),
        &logs,
        "token",
        &[
            "token", "mint", "--team", "acme", "--role", "team", "--ttl", "1h",
        ],
    ));
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT on stdout");
    let jti = String::from_utf8_lossy(&minted.stderr)
        .split_whitespace()
        .skip_while(|word| *word != "jti")
        .nth(1)
        .expect("the jti on stderr")
        .to_owned();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = gateway(
        &db_url,
        &sim.base_url(),
        &logs,
        "serve",
        &["serve", "--listen", &listen],
    )
    .spawn()
    .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "gateway did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = serde_json::json!({"prompt": "p", "country": "US"});
    let ok = http
        .post(format!("{base}/v1/monitor/chatgpt"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let text = ok.text().await.unwrap();
    assert!(!text.contains(COMPANY_KEY));
    let refused = http
        .post(format!("{base}/v1/monitor/chatgpt"))
        .bearer_auth("bad.token.here")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let upstream_error = http
        .post(format!("{base}/v1/monitor/chatgpt"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"prompt": "p", "country": "us"}))
        .send()
        .await
        .unwrap();
    assert_eq!(upstream_error.status(), 400);

    // Suspension, resumption and revocation from the shell reach the running gateway.
    let chatgpt = |token: String| {
        let request = http
            .post(format!("{base}/v1/monitor/chatgpt"))
            .bearer_auth(token)
            .json(&body);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let directory_refresh = Duration::from_millis(1500);
    run(gateway(
        &db_url,
        &sim.base_url(),
        &logs,
        "suspend",
        &["team", "suspend", "acme"],
    ));
    tokio::time::sleep(directory_refresh).await;
    assert_eq!(chatgpt(token.clone()).await, 403);
    run(gateway(
        &db_url,
        &sim.base_url(),
        &logs,
        "resume",
        &["team", "resume", "acme"],
    ));
    tokio::time::sleep(directory_refresh).await;
    assert_eq!(chatgpt(token.clone()).await, 200);
    run(gateway(
        &db_url,
        &sim.base_url(),
        &logs,
        "revoke",
        &["token", "revoke", &jti],
    ));
    tokio::time::sleep(directory_refresh).await;
    assert_eq!(chatgpt(token.clone()).await, 401);

    // SIGTERM: a graceful stop with exit status 0.
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "gateway did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "graceful exit, got {status}");

    let mut printed = String::new();
    for entry in std::fs::read_dir(&logs).unwrap() {
        printed.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
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

    sim.stop().await;
    let _ = std::fs::remove_dir_all(&logs);
    let _ = sqlx::Postgres::force_drop_database(&db_url).await;
}
