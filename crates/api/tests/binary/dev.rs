//! `cloro-gateway dev` as a developer runs it: it refuses a database that is not on this
//! machine and a configured signing secret (before touching either), and the demo team it
//! creates leaves an audit row like `team create` does.

use crate::support::{Deployment, signal, wait_exit};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

const SIGNING_SECRET_VAR: &str = "CLORO_GATEWAY__AUTH__SIGNING_SECRET";

/// Waits up to `limit` for the child to exit; kills it and fails the test otherwise.
async fn exit_within(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: `dev` was still running after {limit:?} instead of refusing");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn free_listen_address() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_refuses_a_database_that_is_not_local() {
    let deployment = Deployment::new(cloro_sim::SimConfig::default(), &[]).await;
    let remote = "postgres://gw:remote-db-password-31337@db.internal.example:5432/prod";
    let mut child = deployment
        .command("dev-remote", &["dev", "--listen", &free_listen_address()])
        .env("DATABASE_URL", remote)
        .env_remove(SIGNING_SECRET_VAR)
        .spawn()
        .unwrap();
    let status = exit_within(&mut child, Duration::from_secs(20), "a remote database").await;
    let printed = deployment.printed();
    assert!(!status.success(), "{printed}");
    assert!(
        printed.contains("runs only against a local database")
            && printed.contains("db.internal.example"),
        "the refusal names the reason and the host:\n{printed}"
    );
    assert!(!printed.contains("remote-db-password-31337"), "{printed}");
    deployment.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_refuses_a_configured_signing_secret() {
    let deployment = Deployment::new(cloro_sim::SimConfig::default(), &[]).await;
    // The deployment's processes all get its signing secret, as a real one would be set.
    let mut child = deployment
        .command("dev-secret", &["dev", "--listen", &free_listen_address()])
        .spawn()
        .unwrap();
    let status = exit_within(&mut child, Duration::from_secs(20), "a signing secret").await;
    let printed = deployment.printed();
    assert!(!status.success(), "{printed}");
    assert!(
        printed.contains("refuses to run with auth.signing_secret configured"),
        "the refusal names the setting:\n{printed}"
    );
    assert!(
        !printed.contains("admin token (24 h"),
        "no token was printed"
    );
    deployment.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_creates_its_demo_team_through_the_audited_action() {
    let deployment = Deployment::new(cloro_sim::SimConfig::default(), &[]).await;
    let listen = free_listen_address();
    let mut child = deployment
        .command("dev", &["dev", "--listen", &listen, "--sim-latency", "0"])
        .env_remove(SIGNING_SECRET_VAR)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while reqwest::get(format!("http://{listen}/healthz"))
        .await
        .is_err()
    {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dev did not start:\n{}", deployment.printed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pool = deployment.pool().await;
    let audited: Vec<(String, String)> = sqlx::query_as(
        "SELECT actor, action FROM audit_log WHERE target_type = 'team' AND target_id = 'demo'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    signal(&child, "-TERM");
    wait_exit(&mut child, Duration::from_secs(20)).await;
    assert_eq!(audited, [("cli".to_owned(), "team.create".to_owned())]);
    deployment.teardown().await;
}
