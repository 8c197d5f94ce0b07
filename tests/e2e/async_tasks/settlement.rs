//! A task is settled once at cloro's charge without anyone reading it (the poller), and the
//! admin's queue clearing releases what cloro deleted.

use super::{chatgpt_task, post, settled_entries};
use accounting::EntryStatus;
use e2e_tests::TestApp;
use e2e_tests::ledger::entries_for;
use std::time::Duration;

#[tokio::test]
async fn the_poller_settles_a_task_nobody_reads_at_cloros_charge() {
    let app = TestApp::builder()
        .poll_async_tasks_every_second()
        .spawn()
        .await
        .unwrap();
    app.create_team("quiet").await;
    let token = app.team_token("quiet").await;
    let (status, created) = post(&app, "/v1/async/task", &token, &chatgpt_task(None)).await;
    assert_eq!(status, 200, "{created}");
    let entries = settled_entries(&app, "quiet").await;
    assert_eq!(entries[0].status, EntryStatus::Posted);
    let sim_charged: u64 = app.sim.requests().iter().map(|r| r.credits_charged).sum();
    assert_eq!(
        entries[0].charged.map(|c| c.get() as u64),
        Some(sim_charged)
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn clearing_the_queue_releases_every_task_cloro_deleted() {
    let app = TestApp::builder()
        .sim(cloro_sim::SimConfig {
            // One slot, held for a minute by the first task: the next ones stay queued.
            concurrency_limit: 1,
            latency: cloro_sim::LatencySpec::Fixed(Duration::from_secs(60)),
            ..Default::default()
        })
        .spawn()
        .await
        .unwrap();
    app.create_team("queued").await;
    let token = app.team_token("queued").await;
    for key in ["running", "q1", "q2"] {
        let (status, body) = post(&app, "/v1/async/task", &token, &chatgpt_task(Some(key))).await;
        assert_eq!(status, 200, "{body}");
    }
    let admin = app.admin_token().await;
    let (status, cleared) = app.admin_delete("/admin/async/queue", &admin).await;
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(cleared["released"], 2, "{cleared}");
    let entries = entries_for(&app, "queued").await;
    let voided = entries
        .iter()
        .filter(|e| e.status == EntryStatus::Voided)
        .count();
    let pending = entries
        .iter()
        .filter(|e| e.status == EntryStatus::Pending)
        .count();
    assert_eq!((voided, pending), (2, 1), "{entries:?}");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_task_cloro_forgot_before_it_was_settled_is_booked_at_its_estimate_flagged() {
    let app = TestApp::builder()
        // cloro keeps finished tasks 24 h / 100,000: under a second.
        .sim(cloro_sim::SimConfig {
            time_scale: 100_000.0,
            ..Default::default()
        })
        // Nobody polls in time.
        .settings(|s| s.async_tasks.poll_after_secs = 3600)
        .spawn()
        .await
        .unwrap();
    app.create_team("late").await;
    let token = app.team_token("late").await;
    let (status, created) = post(&app, "/v1/async/task", &token, &chatgpt_task(None)).await;
    assert_eq!(status, 200, "{created}");
    let task_id = created["task"]["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, _) = app
        .get_json(&format!("/v1/async/task/{task_id}"), &token)
        .await;
    assert_eq!(status, 404);
    let entries = entries_for(&app, "late").await;
    assert_eq!(entries[0].status, EntryStatus::Posted);
    assert_eq!(entries[0].charged, Some(entries[0].estimate));
    assert_eq!(entries[0].flag_reason.as_deref(), Some("task_gone"));
    app.shutdown().await.unwrap();
}
