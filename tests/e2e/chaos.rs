//! The chaos suite, short: `chaos-bench` (tests/bench/chaos.rs) with a few thousand requests
//! (sync calls, async tasks and batches), on its own private Postgres and Redis, so it cannot
//! disturb the tests running beside it.
//! It exits 0 only when the ledger matched cloro to the credit, hard budgets held, nothing
//! stayed PENDING, no slot leaked and both replicas are ready again.

use std::process::Stdio;
use std::time::Duration;

/// The whole run (start-up, load, sweeper wait, checks) stays under two minutes.
const LIMIT: Duration = Duration::from_secs(150);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_stays_exact_and_hard_budgets_hold_under_faults() {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_chaos-bench"))
        .args(["--requests", "3000", "--concurrency", "32"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let waited = tokio::time::timeout(LIMIT, child.wait_with_output()).await;
    let Ok(output) = waited else {
        // SIGINT lets the suite stop its private Postgres, Redis and replicas itself.
        let _ = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
        tokio::time::sleep(Duration::from_secs(10)).await;
        panic!("chaos-bench did not finish within {LIMIT:?}");
    };
    let output = output.unwrap();
    let printed = format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "chaos-bench failed ({}):\n{printed}",
        output.status
    );
    println!("{printed}");
}
