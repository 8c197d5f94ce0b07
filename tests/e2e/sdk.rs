//! The official Python SDK, unchanged but for its base URL: against the simulator with the
//! company key, and against the gateway with a team token (sync calls and async tasks).

use accounting::EntryStatus;
use cloro_sim::{LatencySpec, RecordKind, SimConfig};
use e2e_tests::TestApp;
use e2e_tests::ledger::entries_for;
use e2e_tests::python_sdk::run_script;
use std::collections::HashSet;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdk_drives_the_simulator() {
    let sim = SimConfig {
        latency: LatencySpec::Fixed(Duration::from_millis(20)),
        ..SimConfig::default()
    };
    let app = TestApp::builder().sim(sim).spawn().await.unwrap();
    let base = app.sim.base_url();
    let key = app.settings.upstream.api_key.expose().to_owned();
    let stdout = run_script(
        "sim_sdk_check.py",
        &[("CLORO_SIM_BASE_URL", &base), ("CLORO_SIM_API_KEY", &key)],
    )
    .await;
    assert!(stdout.contains("sdk check ok"), "{stdout}");
    assert!(
        app.sim.stats().responses_429 >= 1,
        "the script saw a concurrency 429"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdk_drives_the_gateway_with_a_team_token() {
    let app = TestApp::spawn().await.unwrap();
    app.create_team("sdk-team").await;
    let token = app.team_token("sdk-team").await;
    let stdout = run_script(
        "gateway_sdk_check.py",
        &[
            ("CLORO_GATEWAY_BASE_URL", &app.address),
            ("CLORO_TEAM_TOKEN", &token),
        ],
    )
    .await;
    assert!(stdout.contains("gateway sdk check ok"), "{stdout}");
    // Six monitor calls succeeded and one was refused upstream: all booked for the team.
    let entries = entries_for(&app, "sdk-team").await;
    assert_eq!(entries.len(), 7);
    assert_eq!(
        app.sim.stats().credits_charged,
        entries
            .iter()
            .filter_map(|e| e.charged)
            .map(|c| c.get() as u64)
            .sum::<u64>()
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdks_async_task_calls_work_through_the_gateway() {
    let sim = SimConfig {
        latency: LatencySpec::Fixed(Duration::from_millis(100)),
        ..SimConfig::default()
    };
    let app = TestApp::builder().sim(sim).spawn().await.unwrap();
    app.create_team("sdk-async").await;
    app.create_team("sdk-bystander").await;
    let token = app.team_token("sdk-async").await;
    let other = app.team_token("sdk-bystander").await;
    let stdout = run_script(
        "gateway_async_sdk_check.py",
        &[
            ("CLORO_GATEWAY_BASE_URL", &app.address),
            ("CLORO_TEAM_TOKEN", &token),
            ("CLORO_OTHER_TEAM_TOKEN", &other),
        ],
    )
    .await;
    assert!(stdout.contains("gateway async sdk check ok"), "{stdout}");
    let tasks: HashSet<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("task "))
        .collect();
    assert_eq!(tasks.len(), 4, "{stdout}");

    // The SDK read every task to its end, which settled each: one POSTED entry per task,
    // at what cloro charged for those tasks; the refused repeats and the other team's
    // reads booked nothing.
    let entries = entries_for(&app, "sdk-async").await;
    assert_eq!(entries.len(), 4, "{entries:?}");
    assert!(
        entries.iter().all(|e| e.status == EntryStatus::Posted),
        "{entries:?}"
    );
    let booked: i64 = entries
        .iter()
        .filter_map(|e| e.charged)
        .map(|c| c.get())
        .sum();
    let charged: u64 = app
        .sim
        .requests()
        .iter()
        .filter(|r| r.kind == RecordKind::TaskFinished)
        .filter(|r| r.task_id.as_deref().is_some_and(|id| tasks.contains(id)))
        .map(|r| r.credits_charged)
        .sum();
    assert_eq!(booked as u64, charged);
    assert!(entries_for(&app, "sdk-bystander").await.is_empty());
    app.shutdown().await.unwrap();
}
