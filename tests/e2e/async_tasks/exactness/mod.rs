//! The money invariant across sync calls, single async tasks and batches while cloro-sim
//! injects faults (500, 502, 503, empty answers, broken bodies; a task that meets a fault
//! FAILS upstream and is charged 0). Three teams send the mix at once; the gateway settles
//! tasks by its fast poller, by the teams' reads and, in one variant, by cloro's signed
//! webhooks reaching it through a relay that loses, refuses and duplicates deliveries.
//! Afterwards nothing is PENDING and, per team, the ledger holds exactly what cloro charged
//! for that team's calls (joined by X-Request-ID) and tasks (joined by the task ids the team
//! was given), to the credit; entry by entry too, tasks joined by the gateway's upstream key.

mod charges;
mod load;
mod lossy_relay;

use charges::{Booked, Cloro, booked_entries, compare_entries};
use cloro_sim::{FaultRates, SimConfig};
use e2e_tests::TestApp;
use futures::StreamExt;
use load::{Sent, send};
use lossy_relay::LossyRelay;
use std::time::{Duration, Instant};

const TEAMS: [&str; 3] = ["north", "south", "east"];
/// Jobs per team: 5 of every 8 a sync call, 2 a single task, 1 a batch.
const JOBS_PER_TEAM: usize = 96;
const IN_FLIGHT: usize = 24;
const WEBHOOK_SECRET: &str = "whsec_exactness_under_faults";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settlement {
    /// No webhook: the poller (every second, at once) and the teams' reads settle tasks.
    Poller,
    /// cloro's signed webhooks reach the gateway through a lossy relay; the poller (every
    /// second, for tasks unsettled after 2 s) covers the deliveries that never arrive.
    LossyWebhooks,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_tasks_and_batches_settle_at_cloros_charge_by_polling_under_faults() {
    exact_under_faults(Settlement::Poller).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_tasks_and_batches_settle_at_cloros_charge_with_lost_webhooks_under_faults() {
    exact_under_faults(Settlement::LossyWebhooks).await;
}

async fn exact_under_faults(settlement: Settlement) {
    let started = Instant::now();
    let webhooks = settlement == Settlement::LossyWebhooks;
    let relay = if webhooks {
        Some(LossyRelay::start().unwrap())
    } else {
        None
    };
    let sim = SimConfig {
        concurrency_limit: 64,
        rate_limit: 10_000,
        latency: "lognormal:median=5ms,p99=40ms".parse().unwrap(),
        faults: FaultRates {
            internal_error: 0.04,
            external_service_error: 0.04,
            service_unavailable: 0.04,
            empty_answer: 0.03,
            broken_body: 0.04,
        },
        seed: if webhooks { 23 } else { 17 },
        // Webhook retries 1, 2, 4, 8 s apart instead of minutes; tasks kept 12 minutes.
        time_scale: 120.0,
        webhook_secret: webhooks.then(|| WEBHOOK_SECRET.to_owned()),
        ..SimConfig::default()
    };
    let api_key = sim.api_key.clone();
    let webhook_url = relay.as_ref().map(|r| r.url.clone());
    let app = TestApp::builder()
        .sim(sim)
        .settings(move |s| {
            s.upstream.retry_base_ms = 20;
            s.database.max_connections = 20;
            s.async_tasks.poll_every_secs = 1;
            s.async_tasks.poll_after_secs = 0;
            if let Some(url) = webhook_url {
                s.async_tasks.webhook_url = url;
                s.async_tasks.webhook_secret = cloro_gateway::secret::Secret::new(WEBHOOK_SECRET);
                // Deliveries get the first chance; the poller finds the lost ones.
                s.async_tasks.poll_after_secs = 2;
            }
        })
        .spawn()
        .await
        .unwrap();
    if let Some(relay) = &relay {
        relay.point_at(app.url("/webhooks/cloro"));
    }
    let mut tokens = Vec::new();
    for team in TEAMS {
        app.create_team(team).await;
        tokens.push(app.team_token(team).await);
    }

    let jobs: Vec<(usize, usize)> = (0..JOBS_PER_TEAM)
        .flat_map(|i| (0..TEAMS.len()).map(move |team| (team, i)))
        .collect();
    let sent: Vec<Sent> = futures::stream::iter(jobs)
        .map(|(team, i)| send(&app, team, &tokens[team], i))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let sync_ok = sent
        .iter()
        .filter(|s| !s.request_ids.is_empty() && s.status == 200)
        .count();
    let sync_total = sent.iter().filter(|s| !s.request_ids.is_empty()).count();
    assert!(
        sync_ok > sync_total / 2 && sync_ok < sync_total,
        "most sync calls succeed, some meet faults ({sync_ok}/{sync_total})"
    );
    let tasks_given: usize = sent.iter().map(|s| s.task_ids.len()).sum();
    assert!(tasks_given > 0, "tasks were accepted");

    wait_settled(&app).await;
    let stats = app.sim.stats();
    assert!(
        stats.tasks_failed > 0 && stats.tasks_completed > 0,
        "some tasks FAILED upstream, most completed: {stats:?}"
    );

    let cloro = Cloro::read(&app, &api_key).await;
    assert_eq!(
        cloro.by_task.len(),
        tasks_given,
        "cloro ran exactly the tasks the teams were given"
    );
    let booked = booked_entries(&app).await;
    let mismatches = compare_entries(&booked, &cloro);
    assert!(
        mismatches.is_empty(),
        "{} ledger entries differ from what cloro charged:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );

    // Per team: the ledger's effective charges against what cloro charged for the calls the
    // team sent and the tasks it was given (not through the ledger), and every charge cloro
    // made belongs to one team.
    let mut attributed = 0;
    for (index, team) in TEAMS.iter().enumerate() {
        let ledger: i64 = booked
            .iter()
            .filter(|b| b.slug == *team)
            .map(Booked::effective)
            .sum();
        let mine = sent.iter().filter(|s| s.team == index);
        let calls: u64 = mine
            .clone()
            .flat_map(|s| &s.request_ids)
            .map(|id| cloro.by_request_id.get(id).copied().unwrap_or(0))
            .sum();
        let tasks: u64 = mine
            .flat_map(|s| &s.task_ids)
            .map(|id| cloro.by_task.get(id).map_or(0, |t| t.charged))
            .sum();
        assert_eq!(
            ledger as u64,
            calls + tasks,
            "{team}: ledger {ledger} vs cloro {calls} (sync) + {tasks} (async)"
        );
        attributed += calls + tasks;
    }
    assert_eq!(
        attributed, stats.credits_charged,
        "every credit cloro charged belongs to a team's call or task"
    );
    assert!(
        cloro.unattributed.is_empty(),
        "charges cloro made for no request the teams sent: {:?}",
        cloro.unattributed
    );

    if let Some(relay) = relay {
        let seen = relay.stats();
        assert!(
            seen.lost > 0
                && seen.refused > 0
                && seen.duplicated > 0
                && seen.acknowledged > 0
                && seen.seen >= seen.lost + seen.refused + seen.duplicated,
            "the relay lost, refused, duplicated and passed deliveries: {seen:?}"
        );
        println!("webhook relay: {seen:?}");
        relay.stop().await;
    }
    println!(
        "{settlement:?}: {} jobs, {sync_total} sync calls ({sync_ok} answered 200), \
         {tasks_given} tasks accepted ({} FAILED upstream), {} credits, {:.1} s",
        sent.len(),
        stats.tasks_failed,
        stats.credits_charged,
        started.elapsed().as_secs_f64()
    );
    app.shutdown().await.unwrap();
}

/// Waits until cloro has nothing queued or running and no ledger entry is PENDING.
async fn wait_settled(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stats = app.sim.stats();
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM ledger_entries WHERE status = 'PENDING'")
                .fetch_one(&app.db)
                .await
                .unwrap();
        let busy = stats.tasks_queued + stats.tasks_processing + stats.current_concurrency as usize;
        if busy == 0 && pending == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} entries still PENDING ({busy} calls and tasks still at cloro) after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
