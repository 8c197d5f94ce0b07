//! The official Python SDK, unchanged but for its base URL: against the simulator with the
//! company key, and against the gateway with a team token.

use cloro_sim::{LatencySpec, SimConfig};
use e2e_tests::TestApp;
use e2e_tests::ledger::entries_for;
use e2e_tests::python_sdk::run_script;
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
