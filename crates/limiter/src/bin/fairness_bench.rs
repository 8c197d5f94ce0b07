//! The fair queue against a real Redis: account concurrency 10, teams weighted 1:1:2
//! with 12 workers each (more demand than capacity), each admitted call holding its slot for
//! a seeded log-normal latency around 300 ms. Prints per-team slot-time shares against the
//! weighted target, account slot utilisation, most slots in use at once (over 10 would be
//! upstream 429s) and waits (p50/p99); then team-a goes idle and the others absorb its
//! share. The same two phases then run with a static partition (team concurrency 3/3/4, no
//! sharing, refused requests retry after 10–25 ms) for comparison.
//!
//! cargo run --release -p limiter --bin fairness-bench -- [--seconds 20] [--redis URL]
//! (keys under a fresh `bench:<nanos>:` prefix; they expire by themselves.)

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use limiter::{
    AccountLimits, AdmissionRequest, BudgetPeriod, Limiter, RedisLimiter, RedisLimiterSettings,
    RefusedBy, TeamQuota,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ACCOUNT_SLOTS: u32 = 10;
const WORKERS_PER_TEAM: u32 = 12;
const TEAMS: [(&str, u32, u32); 3] = [("team-a", 1, 3), ("team-b", 1, 3), ("team-c", 2, 4)];
const MAX_WAIT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, PartialEq)]
enum Sharing {
    Fair,
    Static,
}

struct Phase {
    slot_micros: Vec<AtomicU64>,
    in_flight: AtomicU32,
    most_in_flight: AtomicU32,
    over_limit: AtomicU64,
    timeouts: AtomicU64,
    waits_micros: std::sync::Mutex<Vec<u64>>,
}

fn request(team: &str, lease: String, sharing: Sharing, team_slots: u32) -> AdmissionRequest {
    AdmissionRequest {
        team_id: team.to_owned(),
        endpoint: "chatgpt".to_owned(),
        lease_id: lease,
        estimate: 1,
        team: TeamQuota {
            rps: 1_000_000.0,
            burst: 1_000_000,
            concurrency: match sharing {
                Sharing::Fair => WORKERS_PER_TEAM,
                Sharing::Static => team_slots,
            },
            budget: None,
            hard_budget: false,
        },
        account: AccountLimits {
            rps_per_endpoint: 1_000.0,
            burst: 1_000,
            concurrency: ACCOUNT_SLOTS,
        },
        takes_account_slot: true,
        takes_team_slot: true,
        period: BudgetPeriod::new("bench", 4_102_444_800_000),
        lease_ttl_ms: 30_000,
    }
}

/// Log-normal around 300 ms (median 300 ms, sigma 0.35), via Box-Muller.
fn latency(rng: &mut StdRng) -> Duration {
    let (u1, u2): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    Duration::from_secs_f64((0.3f64.ln() + 0.35 * z).exp().min(3.0))
}

/// One worker: admit (waiting fairly, or retrying), hold for the simulated latency, settle.
async fn worker(
    limiter: Arc<RedisLimiter>,
    phase: Arc<Phase>,
    (index, team, weight, team_slots): (usize, &'static str, u32, u32),
    sharing: Sharing,
    seed: u64,
    end: Instant,
) -> Result<(), limiter::LimiterError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut n = 0u64;
    while Instant::now() < end {
        n += 1;
        let r = request(team, format!("w{seed}-{n}"), sharing, team_slots);
        let asked = Instant::now();
        let admission = loop {
            let admission = match sharing {
                Sharing::Fair => limiter.admit_or_wait(&r, weight, MAX_WAIT).await?,
                Sharing::Static => limiter.admit(&r).await?,
            };
            let retry =
                sharing == Sharing::Static && !admission.is_admitted() && Instant::now() < end;
            if !retry {
                break admission;
            }
            let pause = rng.random_range(10..=25);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        };
        let Some(lease) = admission.lease() else {
            if admission.refused_by() == Some(RefusedBy::AccountConcurrency) {
                phase.timeouts.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        };
        let from = Instant::now();
        if from < end {
            let wait = u64::try_from(from.duration_since(asked).as_micros()).unwrap_or(0);
            if let Ok(mut waits) = phase.waits_micros.lock() {
                waits.push(wait);
            }
        }
        let now_in_flight = phase.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        phase
            .most_in_flight
            .fetch_max(now_in_flight, Ordering::SeqCst);
        if now_in_flight > ACCOUNT_SLOTS {
            phase.over_limit.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(latency(&mut rng)).await;
        let to = Instant::now().min(end);
        phase.in_flight.fetch_sub(1, Ordering::SeqCst);
        limiter.release(lease).await?;
        let held = to.saturating_duration_since(from.min(end));
        let held = u64::try_from(held.as_micros()).unwrap_or(0);
        phase.slot_micros[index].fetch_add(held, Ordering::Relaxed);
    }
    Ok(())
}

async fn run_phase(
    limiter: &Arc<RedisLimiter>,
    title: &str,
    sharing: Sharing,
    active: &[usize],
    run: Duration,
) -> Result<(), String> {
    let phase = Arc::new(Phase {
        slot_micros: TEAMS.iter().map(|_| AtomicU64::new(0)).collect(),
        in_flight: AtomicU32::new(0),
        most_in_flight: AtomicU32::new(0),
        over_limit: AtomicU64::new(0),
        timeouts: AtomicU64::new(0),
        waits_micros: std::sync::Mutex::new(Vec::new()),
    });
    let end = Instant::now() + run;
    let mut handles = Vec::new();
    for &index in active {
        let (team, weight, slots) = TEAMS[index];
        for w in 0..WORKERS_PER_TEAM {
            let seed = (index as u64) * 1_000 + u64::from(w) + 7;
            let task = worker(
                limiter.clone(),
                phase.clone(),
                (index, team, weight, slots),
                sharing,
                seed,
                end,
            );
            handles.push(tokio::spawn(task));
        }
    }
    for handle in handles {
        handle
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    }
    print_phase(title, sharing, active, run, &phase);
    Ok(())
}

fn print_phase(title: &str, sharing: Sharing, active: &[usize], run: Duration, phase: &Phase) {
    let used: Vec<f64> = phase
        .slot_micros
        .iter()
        .map(|m| m.load(Ordering::Relaxed) as f64)
        .collect();
    let total: f64 = used.iter().sum::<f64>().max(1.0);
    let weights: u32 = active.iter().map(|&i| TEAMS[i].1).sum();
    println!("\n== {title} ({} s)", run.as_secs());
    for (index, (team, weight, slots)) in TEAMS.iter().enumerate() {
        let share = used[index] / total * 100.0;
        let target = if active.contains(&index) {
            f64::from(*weight) / f64::from(weights) * 100.0
        } else {
            0.0
        };
        let quota = match sharing {
            Sharing::Fair => format!("weight {weight}"),
            Sharing::Static => format!("{slots} slots"),
        };
        println!(
            "{team} ({quota:>9}): slot-time share {share:5.1}%  (weighted target {target:4.1}%)"
        );
    }
    let capacity = run.as_micros() as f64 * f64::from(ACCOUNT_SLOTS);
    let mut waits = phase
        .waits_micros
        .lock()
        .map(|w| w.clone())
        .unwrap_or_default();
    waits.sort_unstable();
    let pct = |p: f64| {
        let rank = ((waits.len().max(1) - 1) as f64 * p).round() as usize;
        waits.get(rank).copied().unwrap_or(0) as f64 / 1e3
    };
    println!(
        "account slot utilisation {:.1}%   most in flight {} / {ACCOUNT_SLOTS}   over the limit (would be upstream 429s) {}",
        total / capacity * 100.0,
        phase.most_in_flight.load(Ordering::Relaxed),
        phase.over_limit.load(Ordering::Relaxed),
    );
    println!(
        "calls {}   wait p50 {:.0} ms   p99 {:.0} ms   wait timeouts {}",
        waits.len(),
        pct(0.50),
        pct(0.99),
        phase.timeouts.load(Ordering::Relaxed),
    );
}

async fn run(seconds: u64, redis_url: &str) -> Result<(), String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_nanos();
    let mut settings = RedisLimiterSettings::new(format!("bench:{nanos}:"), "fairness");
    settings.command_timeout = Duration::from_secs(2);
    let limiter = Arc::new(RedisLimiter::connect(redis_url, settings).map_err(|e| e.to_string())?);
    let busy = Duration::from_secs(seconds);
    let idle = Duration::from_secs((seconds / 2).max(1));
    let sharings = [
        (Sharing::Fair, "fair queue"),
        (Sharing::Static, "static partition 3/3/4"),
    ];
    for (sharing, name) in sharings {
        let all_busy = format!("{name}, all teams busy");
        run_phase(&limiter, &all_busy, sharing, &[0, 1, 2], busy).await?;
        let a_idle = format!("{name}, team-a idle");
        run_phase(&limiter, &a_idle, sharing, &[1, 2], idle).await?;
    }
    Ok(())
}

fn options() -> Result<(u64, String), String> {
    let mut seconds = 20;
    let mut redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--seconds" => seconds = value.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--redis" => redis_url = value,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok((seconds.max(1), redis_url))
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match options() {
        Ok((seconds, url)) => run(seconds, &url).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fairness-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
