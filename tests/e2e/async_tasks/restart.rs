//! Tasks in flight survive a gateway restart: the gateway stops while cloro still runs them,
//! and a replica on the same database, Redis and upstream settles every one exactly once at
//! what cloro charged, for the team that owns it.

use super::{chatgpt_task, post};
use accounting::EntryStatus;
use accounting::ledger::LedgerEntry;
use cloro_sim::{LatencySpec, RecordKind, SimConfig};
use e2e_tests::TestApp;
use e2e_tests::ledger::entries_for;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// Submits `singles` tasks one by one, then a batch of `batched`; returns cloro's task ids.
async fn submit(app: &TestApp, token: &str, singles: usize, batched: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..singles {
        let (status, created) = post(app, "/v1/async/task", token, &chatgpt_task(None)).await;
        assert_eq!(status, 200, "{created}");
        ids.push(created["task"]["id"].as_str().unwrap().to_owned());
    }
    let batch: Vec<Value> = (0..batched)
        .map(|_| json!({"taskType": "GEMINI", "payload": {"prompt": "acme", "country": "US"}}))
        .collect();
    let (status, answer) = post(app, "/v1/async/task/batch", token, &json!(batch)).await;
    assert_eq!(status, 200, "{answer}");
    for result in answer["results"].as_array().unwrap() {
        assert_eq!(result["success"], true, "{answer}");
        ids.push(result["task"]["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// Waits until no entry of any team is PENDING; returns each team's entries.
async fn all_settled(app: &TestApp, teams: &[&str]) -> HashMap<String, Vec<LedgerEntry>> {
    for _ in 0..600 {
        let mut by_team = HashMap::new();
        for team in teams {
            by_team.insert((*team).to_owned(), entries_for(app, team).await);
        }
        if by_team
            .values()
            .flatten()
            .all(|e| e.status != EntryStatus::Pending)
        {
            return by_team;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("some tasks were never settled after the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_in_flight_are_settled_once_by_the_gateway_that_comes_back() {
    // cloro runs two tasks at a time, two seconds each: most are still queued or running
    // when the gateway stops. The first gateway polls too rarely to settle any itself.
    let app = TestApp::builder()
        .sim(SimConfig {
            latency: LatencySpec::Fixed(Duration::from_secs(2)),
            concurrency_limit: 2,
            ..SimConfig::default()
        })
        .spawn()
        .await
        .unwrap();
    app.create_team("early").await;
    app.create_team("late").await;
    let early = app.team_token("early").await;
    let late = app.team_token("late").await;
    let mut owned = HashMap::new();
    owned.insert("early", submit(&app, &early, 2, 3).await);
    owned.insert("late", submit(&app, &late, 1, 2).await);

    let before = all_entries(&app, &["early", "late"]).await;
    assert_eq!(before.len(), 8);
    assert!(
        before.iter().all(|e| e.status == EntryStatus::Pending),
        "nothing is settled before the restart: {before:?}"
    );
    app.stop_gateway().await;
    let fresh = reqwest::Client::new();
    assert!(
        fresh.get(app.url("/healthz")).send().await.is_err(),
        "the first gateway still answers"
    );

    let replica = app
        .replica_with(|s| {
            s.async_tasks.poll_every_secs = 1;
            s.async_tasks.poll_after_secs = 0;
        })
        .await
        .unwrap();
    let settled = all_settled(&app, &["early", "late"]).await;
    // A few more passes of the poller change nothing: each task was settled once.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(all_entries(&app, &["early", "late"]).await, {
        let mut entries: Vec<_> = settled.values().flatten().cloned().collect();
        entries.sort_by_key(|e| e.id);
        entries
    });

    let finished = app.sim.requests();
    for (team, ids) in &owned {
        let entries = &settled[*team];
        assert_eq!(entries.len(), ids.len(), "{team}: one entry per task");
        assert!(
            entries.iter().all(|e| e.status == EntryStatus::Posted),
            "{team}: {entries:?}"
        );
        let booked: i64 = entries
            .iter()
            .filter_map(|e| e.charged)
            .map(|c| c.get())
            .sum();
        let charged: u64 = finished
            .iter()
            .filter(|r| r.kind == RecordKind::TaskFinished)
            .filter(|r| r.task_id.as_ref().is_some_and(|id| ids.contains(id)))
            .map(|r| r.credits_charged)
            .sum();
        assert!(charged > 0, "{team}: cloro charged for its tasks");
        assert_eq!(booked as u64, charged, "{team}: booked what cloro charged");

        // The replica shows each team its own tasks, done, at the same charges.
        let token = if *team == "early" { &early } else { &late };
        let mut read_back = 0;
        for id in ids {
            let view: Value = app
                .http
                .get(replica.url(&format!("/v1/async/task/{id}")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(view["task"]["status"], "COMPLETED", "{view}");
            read_back += view["credits"]["creditsCharged"].as_u64().unwrap();
        }
        assert_eq!(read_back, charged, "{team}");
    }
    let unsettled = accounting::async_tasks::unsettled(&app.db, chrono::Utc::now(), 100)
        .await
        .unwrap();
    assert!(unsettled.is_empty(), "{unsettled:?}");

    replica.stop().await;
    app.shutdown().await.unwrap();
}

/// Every entry of the teams, by id.
async fn all_entries(app: &TestApp, teams: &[&str]) -> Vec<LedgerEntry> {
    let mut entries = Vec::new();
    for team in teams {
        entries.extend(entries_for(app, team).await);
    }
    entries.sort_by_key(|e| e.id);
    entries
}
