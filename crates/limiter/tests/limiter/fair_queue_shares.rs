//! The account's fair queue over time: weighted, work-conserving sharing of the account's
//! concurrency. Under contention each team's slot-time follows its weight; a team alone, or
//! teams beside an idle one, use every slot.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use limiter::{Limiter, RefusedBy};

use crate::support::{TestLimiter, again, request};

behaviour_tests!(
    slot_time_follows_the_weights_under_contention,
    a_team_alone_gets_every_slot,
    an_idle_teams_share_is_absorbed_by_the_others,
);

const ACCOUNT_SLOTS: u32 = 4;

/// How long a slot is held in the work-conservation tests. A freed slot passes to a waiter at
/// the waiter's next poll (10-25 ms, longer on a loaded machine), so a hold far longer than
/// that gap keeps the utilisation check about sharing, not about the machine's load.
const HANDOFF_HOLD_MS: u64 = 250;

/// Slot-time per team (as fractions of the whole window's slot capacity) and the most
/// account slots seen in use at once.
struct Usage {
    shares: Vec<f64>,
    utilisation: f64,
    most_in_flight: u32,
}

/// Each team runs `workers` loops of admit_or_wait, hold the slot for `hold`, settle; for
/// `run`. Slot-time is counted inside the window only.
async fn drive(
    limiter: &Arc<dyn Limiter>,
    teams: &[(&str, u32)],
    workers: usize,
    hold: Duration,
    run: Duration,
) -> Usage {
    let started = Instant::now();
    let end = started + run;
    let slot_micros: Arc<Vec<AtomicU64>> =
        Arc::new(teams.iter().map(|_| AtomicU64::new(0)).collect());
    let in_flight = Arc::new(AtomicU32::new(0));
    let most = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for (index, &(team, weight)) in teams.iter().enumerate() {
        let mut r = request(team);
        r.account.concurrency = ACCOUNT_SLOTS;
        for _ in 0..workers {
            let (limiter, r) = (limiter.clone(), r.clone());
            let (slot_micros, in_flight, most) =
                (slot_micros.clone(), in_flight.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < end {
                    let request = again(&r);
                    let admission = limiter
                        .admit_or_wait(&request, weight, Duration::from_secs(3))
                        .await
                        .unwrap();
                    let Some(lease) = admission.lease() else {
                        assert_eq!(admission.refused_by(), Some(RefusedBy::AccountConcurrency));
                        continue;
                    };
                    let now_in_flight = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now_in_flight, Ordering::SeqCst);
                    let from = Instant::now();
                    tokio::time::sleep(hold).await;
                    let to = Instant::now().min(end);
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    limiter.release(lease).await.unwrap();
                    let held = to.saturating_duration_since(from.min(end));
                    slot_micros[index].fetch_add(held.as_micros() as u64, Ordering::SeqCst);
                }
            }));
        }
    }
    for task in join_all(tasks).await {
        task.unwrap();
    }
    let used: Vec<f64> = slot_micros
        .iter()
        .map(|m| m.load(Ordering::SeqCst) as f64)
        .collect();
    let total: f64 = used.iter().sum();
    let capacity = run.as_micros() as f64 * f64::from(ACCOUNT_SLOTS);
    Usage {
        shares: used.iter().map(|u| u / total).collect(),
        utilisation: total / capacity,
        most_in_flight: most.load(Ordering::SeqCst),
    }
}

fn assert_near(actual: f64, target: f64, what: &str) {
    assert!(
        (actual - target).abs() <= 0.1 * target,
        "{what}: {actual:.3} not within 10% of {target:.3}"
    );
}

async fn slot_time_follows_the_weights_under_contention(limiter: &TestLimiter) {
    let teams = [("team-a", 1), ("team-b", 1), ("team-c", 2)];
    let usage = drive(
        &limiter.limiter,
        &teams,
        6,
        Duration::from_millis(40),
        Duration::from_millis(3_000),
    )
    .await;
    let s = &usage.shares;
    assert_near(s[0], 0.25, "team-a (weight 1)");
    assert_near(s[1], 0.25, "team-b (weight 1)");
    assert_near(s[2], 0.50, "team-c (weight 2)");
    assert!(usage.most_in_flight <= ACCOUNT_SLOTS);
}

async fn a_team_alone_gets_every_slot(limiter: &TestLimiter) {
    let usage = drive(
        &limiter.limiter,
        &[("team-a", 1)],
        8,
        Duration::from_millis(HANDOFF_HOLD_MS),
        Duration::from_millis(2_500),
    )
    .await;
    assert_eq!(usage.most_in_flight, ACCOUNT_SLOTS);
    assert!(
        usage.utilisation > 0.75,
        "utilisation {:.3}",
        usage.utilisation
    );
}

async fn an_idle_teams_share_is_absorbed_by_the_others(limiter: &TestLimiter) {
    // team-c (weight 2) first takes its half, then goes idle; a and b split its share.
    let busy = [("team-a", 1), ("team-b", 1), ("team-c", 2)];
    let before = drive(
        &limiter.limiter,
        &busy,
        6,
        Duration::from_millis(60),
        Duration::from_millis(1_500),
    )
    .await;
    assert!(before.shares[2] > 0.4, "team-c {:.3}", before.shares[2]);
    let usage = drive(
        &limiter.limiter,
        &busy[..2],
        6,
        Duration::from_millis(HANDOFF_HOLD_MS),
        Duration::from_millis(3_000),
    )
    .await;
    assert_near(usage.shares[0], 0.5, "team-a");
    assert_near(usage.shares[1], 0.5, "team-b");
    assert_eq!(usage.most_in_flight, ACCOUNT_SLOTS);
    assert!(
        usage.utilisation > 0.75,
        "utilisation {:.3}",
        usage.utilisation
    );
}
