//! Security issue 12: schemathesis fuzzes every operation of the served OpenAPI document as
//! a team, a finance and an admin caller (`tests/fuzz/run_fuzz.sh`, the command in
//! `docs/security.md`) and finds no server error, no undocumented status or content type,
//! no documented header missing and no reply outside its schema.

use e2e_tests::TestApp;
use e2e_tests::schemathesis::run_fuzz;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_as_a_team_finance_or_admin_caller() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("fuzz-team").await;
    // Every caller fuzzes every operation, so the routes of the other roles are checked to
    // answer only documented refusals. The admin goes last: its run renames and suspends
    // teams and changes the account's limits and prices.
    let callers = [
        ("team", app.team_token("fuzz-team").await),
        ("finance", app.finance_token().await),
        ("admin", app.admin_token().await),
    ];
    let mut failures = Vec::new();
    for (role, token) in &callers {
        let run = run_fuzz(&app.address, token, &[], &[]).await;
        eprintln!(
            "schemathesis as {role}, {:.1?}:\n  {}",
            run.elapsed,
            run.summary().join("\n  ")
        );
        if !run.passed {
            failures.push(format!("--- schemathesis as {role}\n{}", run.output));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    app.shutdown().await.unwrap();
}
