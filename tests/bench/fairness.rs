//! Benchmark: fair sharing of the account's concurrency through the real gateway and the cloro
//! simulator. Three teams with weights 1:1:2 each keep 12 ChatGPT calls going back to back
//! against an account of 10 slots (the simulator's plan limit too, with a seeded log-normal
//! latency of a few hundred ms); after the first phase team-a stops and the other two go on.
//! Slot-time per team comes from the simulator's request log (each record's serving time,
//! joined to its team by the X-Request-ID the gateway sent upstream and echoed to the client),
//! clipped to each phase's window. The same load then runs on a static partition (team
//! concurrency 3/3/4, no queue, clients retrying refusals after 20 ms) for comparison.
//!
//! Run with `cargo run --release -p e2e-tests --bin gateway-fairness-bench -- [BUSY_SECS] [IDLE_SECS]`
//! (defaults 20 and 10).

use accounting::quotas::{self, QuotaValues};
use chrono::{DateTime, Utc};
use cloro_sim::{RecordKind, RequestRecord, SimConfig};
use e2e_tests::TestApp;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const ACCOUNT_SLOTS: u32 = 10;
const TEAMS: [&str; 3] = ["team-a", "team-b", "team-c"];
const WORKERS_PER_TEAM: usize = 12;
const RETRY_SLEEP: Duration = Duration::from_millis(20);
/// The weights the shares are judged against (the fair run's quota weights).
const WEIGHTS: [f64; 3] = [1.0, 1.0, 2.0];
const SIM_LATENCY: &str = "lognormal:median=300ms,p99=900ms";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Weights 1:1:2, team concurrency 100 each, account queue wait 30 s.
    Fair,
    /// Team concurrency 3/3/4, no account queue, refusals retried by the client.
    Static,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Fair => "fair queue (weights 1:1:2)",
            Mode::Static => "static 3/3/4",
        }
    }

    fn quota(self, team: usize) -> QuotaValues {
        let (concurrency, weight) = match self {
            // Above the team's 12 client loops: only the account's concurrency binds.
            Mode::Fair => (100, [1, 1, 2][team]),
            Mode::Static => ([3, 3, 4][team], 1),
        };
        QuotaValues {
            rps: 1000.0,
            burst: 1000,
            concurrency,
            weight,
            budget: None,
            hard_budget: false,
            alert_threshold_pct: None,
            max_priority: quotas::DEFAULT_MAX_PRIORITY,
            max_queued_tasks: quotas::DEFAULT_MAX_QUEUED_TASKS,
        }
    }
}

/// One logical call as the client saw it (retries of a refusal included).
struct Call {
    team: usize,
    request_id: Option<String>,
    status: u16,
    finished: DateTime<Utc>,
    latency: Duration,
    /// Gateway refusals (429) retried before this final answer.
    refusals: u32,
    /// `code/scope` of a non-200 answer.
    error: Option<String>,
}

async fn worker(
    http: reqwest::Client,
    url: String,
    token: String,
    team: usize,
    stop: Arc<AtomicBool>,
    retry_refused: bool,
) -> Vec<Call> {
    let body = json!({"prompt": "What do you know about Acme Corp?", "country": "US"});
    let mut calls = Vec::new();
    'calls: while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let mut refusals = 0;
        loop {
            let (status, request_id, error) =
                match http.post(&url).bearer_auth(&token).json(&body).send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let id = response
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        let body = response.bytes().await.unwrap_or_default();
                        let error = (status != 200).then(|| describe_error(status, &body));
                        (status, id, error)
                    }
                    Err(e) => (0, None, Some(format!("transport: {e}"))),
                };
            if status == 429 && retry_refused {
                if stop.load(Ordering::Relaxed) {
                    break 'calls;
                }
                refusals += 1;
                tokio::time::sleep(RETRY_SLEEP).await;
                continue;
            }
            calls.push(Call {
                team,
                request_id,
                status,
                finished: Utc::now(),
                latency: started.elapsed(),
                refusals,
                error,
            });
            break;
        }
    }
    calls
}

/// `STATUS CODE/scope` from a gateway error body.
fn describe_error(status: u16, body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let code = value["code"].as_str().unwrap_or("?");
    let scope = value["details"]["scope"].as_str().unwrap_or("-");
    format!("{status} {code}/{scope}")
}

struct Phase {
    label: &'static str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Teams taking part (team-a is idle in the second phase).
    active: Vec<usize>,
}

impl Phase {
    fn seconds(&self) -> f64 {
        (self.to - self.from).as_seconds_f64()
    }
}

struct PhaseResult {
    run: &'static str,
    phase: &'static str,
    seconds: f64,
    shares: [f64; 3],
    targets: [Option<f64>; 3],
    utilisation: f64,
    unattributed_slot_secs: f64,
    upstream_429: usize,
    non_200: usize,
    refusals: u32,
    calls: [usize; 3],
    latency: [Option<(f64, f64)>; 3],
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted
        .get(index)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or_default()
}

/// Seconds of `[start, end]` inside `[from, to]`.
fn overlap(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> f64 {
    let lo = start.max(from);
    let hi = end.min(to);
    (hi - lo).as_seconds_f64().max(0.0)
}

fn analyse(
    run: &'static str,
    phase: &Phase,
    weights: [f64; 3],
    records: &[RequestRecord],
    teams_by_id: &HashMap<String, usize>,
    calls: &[Call],
) -> PhaseResult {
    let mut slot_secs = [0.0f64; 3];
    let mut unattributed = 0.0;
    let mut upstream_429 = 0;
    for record in records {
        if record.kind != RecordKind::Http || !record.path.starts_with("/v1/monitor/") {
            continue;
        }
        let end = record.time;
        if record.status == 429 {
            if end >= phase.from && end < phase.to {
                upstream_429 += 1;
            }
            continue;
        }
        let start = end - chrono::Duration::milliseconds(record.duration_ms as i64);
        let secs = overlap(start, end, phase.from, phase.to);
        match record
            .request_id
            .as_ref()
            .and_then(|id| teams_by_id.get(id))
        {
            Some(&team) => slot_secs[team] += secs,
            None => unattributed += secs,
        }
    }
    let total: f64 = slot_secs.iter().sum();
    let shares = slot_secs.map(|s| if total > 0.0 { s / total } else { 0.0 });
    let active_weight: f64 = phase.active.iter().map(|&t| weights[t]).sum();
    let mut targets = [None; 3];
    for &team in &phase.active {
        targets[team] = Some(weights[team] / active_weight);
    }

    let in_phase: Vec<&Call> = calls
        .iter()
        .filter(|c| c.finished >= phase.from && c.finished < phase.to)
        .collect();
    let mut latency = [None; 3];
    let mut counts = [0usize; 3];
    for team in 0..3 {
        let mut ok: Vec<Duration> = in_phase
            .iter()
            .filter(|c| c.team == team && c.status == 200)
            .map(|c| c.latency)
            .collect();
        ok.sort();
        counts[team] = ok.len();
        if !ok.is_empty() {
            latency[team] = Some((percentile(&ok, 0.50), percentile(&ok, 0.99)));
        }
    }
    PhaseResult {
        run,
        phase: phase.label,
        seconds: phase.seconds(),
        shares,
        targets,
        utilisation: (total + unattributed) / (f64::from(ACCOUNT_SLOTS) * phase.seconds()),
        unattributed_slot_secs: unattributed,
        upstream_429,
        non_200: in_phase.iter().filter(|c| c.status != 200).count(),
        refusals: in_phase.iter().map(|c| c.refusals).sum(),
        calls: counts,
        latency,
    }
}

async fn run(mode: Mode, busy: Duration, idle: Duration) -> anyhow::Result<Vec<PhaseResult>> {
    let sim = SimConfig {
        concurrency_limit: ACCOUNT_SLOTS,
        latency: SIM_LATENCY.parse()?,
        seed: 7,
        credits: 1_000_000_000_000,
        ..SimConfig::default()
    };
    let app = TestApp::builder()
        .sim(sim)
        .settings(move |s| {
            s.limits.account_concurrency = ACCOUNT_SLOTS;
            s.limits.account_queue_wait_ms = match mode {
                Mode::Fair => 30_000,
                Mode::Static => 0,
            };
        })
        .spawn()
        .await?;
    let mut tokens = Vec::new();
    for (index, slug) in TEAMS.iter().enumerate() {
        let team = app.create_team(slug).await;
        quotas::set(&app.db, team.id, &mode.quota(index)).await?;
        tokens.push(app.team_token(slug).await);
    }
    // Every replica picks quotas up with its directory refresh (100 ms in tests).
    tokio::time::sleep(Duration::from_millis(350)).await;

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(TEAMS.len() * WORKERS_PER_TEAM)
        .build()?;
    let url = app.url("/v1/monitor/chatgpt");
    let stops: Vec<Arc<AtomicBool>> = TEAMS
        .iter()
        .map(|_| Arc::new(AtomicBool::new(false)))
        .collect();
    let mut handles: Vec<Vec<tokio::task::JoinHandle<Vec<Call>>>> = Vec::new();
    let started = Utc::now();
    for (team, token) in tokens.iter().enumerate() {
        let team_handles = (0..WORKERS_PER_TEAM)
            .map(|_| {
                tokio::spawn(worker(
                    http.clone(),
                    url.clone(),
                    token.clone(),
                    team,
                    Arc::clone(&stops[team]),
                    mode == Mode::Static,
                ))
            })
            .collect();
        handles.push(team_handles);
    }

    tokio::time::sleep(busy).await;
    let a_stopped = Utc::now();
    stops[0].store(true, Ordering::Relaxed);
    let mut calls = Vec::new();
    let mut a_handles = Vec::new();
    std::mem::swap(&mut a_handles, &mut handles[0]);
    for handle in a_handles {
        calls.extend(handle.await?);
    }
    // Team-a is idle once its last call has come back.
    let a_idle = Utc::now();
    tokio::time::sleep(idle).await;
    let ended = Utc::now();
    for stop in &stops {
        stop.store(true, Ordering::Relaxed);
    }
    for handle in handles.into_iter().flatten() {
        calls.extend(handle.await?);
    }

    let teams_by_id: HashMap<String, usize> = calls
        .iter()
        .filter_map(|c| c.request_id.clone().map(|id| (id, c.team)))
        .collect();
    let records = app.sim.requests();
    let stats = app.sim.stats();
    let phases = [
        Phase {
            label: "all busy",
            from: started,
            to: a_stopped,
            active: vec![0, 1, 2],
        },
        Phase {
            label: "team-a idle",
            from: a_idle,
            to: ended,
            active: vec![1, 2],
        },
    ];
    let results = phases
        .iter()
        .map(|phase| analyse(mode.label(), phase, WEIGHTS, &records, &teams_by_id, &calls))
        .collect();
    println!(
        "{}: team-a drained {:.2} s after it stopped; simulator peak concurrency {}, 429s in total {}",
        mode.label(),
        (a_idle - a_stopped).as_seconds_f64(),
        stats.peak_concurrency,
        stats.responses_429
    );
    let mut errors: HashMap<(usize, String), usize> = HashMap::new();
    for call in &calls {
        if let Some(error) = &call.error {
            *errors.entry((call.team, error.clone())).or_default() += 1;
        }
    }
    let mut errors: Vec<_> = errors.into_iter().collect();
    errors.sort();
    for ((team, error), count) in errors {
        println!(
            "{}: non-200 over the whole run, {} {error}: {count}",
            mode.label(),
            TEAMS[team]
        );
    }
    app.shutdown().await?;
    Ok(results)
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

fn share_cell(result: &PhaseResult, team: usize) -> String {
    match result.targets[team] {
        Some(target) => format!("{} ({})", pct(result.shares[team]), pct(target)),
        None => format!("{} (idle)", pct(result.shares[team])),
    }
}

fn latency_cell(result: &PhaseResult, team: usize) -> String {
    match result.latency[team] {
        Some((p50, p99)) => format!("{p50:.0} / {p99:.0} ms"),
        None => "–".to_owned(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let busy: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(20);
    let idle: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10);
    let (busy, idle) = (Duration::from_secs(busy), Duration::from_secs(idle));
    println!(
        "fairness benchmark: account concurrency {ACCOUNT_SLOTS}, simulator limit {ACCOUNT_SLOTS}, \
         latency {SIM_LATENCY}; {} teams x {WORKERS_PER_TEAM} client loops; \
         {} s all busy, then {} s with team-a idle",
        TEAMS.len(),
        busy.as_secs(),
        idle.as_secs()
    );
    let mut results = run(Mode::Fair, busy, idle).await?;
    results.extend(run(Mode::Static, busy, idle).await?);

    println!();
    println!(
        "| run | phase | team-a (w1) | team-b (w1) | team-c (w2) | slot utilisation | upstream 429 | non-200 | refusals retried |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {} ({:.1} s) | {} | {} | {} | {} | {} | {} | {} |",
            r.run,
            r.phase,
            r.seconds,
            share_cell(r, 0),
            share_cell(r, 1),
            share_cell(r, 2),
            pct(r.utilisation),
            r.upstream_429,
            r.non_200,
            r.refusals,
        );
    }
    println!();
    println!(
        "| run | phase | team-a p50 / p99 | team-b p50 / p99 | team-c p50 / p99 | calls a / b / c |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {} | {} | {} | {} | {} / {} / {} |",
            r.run,
            r.phase,
            latency_cell(r, 0),
            latency_cell(r, 1),
            latency_cell(r, 2),
            r.calls[0],
            r.calls[1],
            r.calls[2],
        );
    }
    let unattributed: f64 = results.iter().map(|r| r.unattributed_slot_secs).sum();
    if unattributed > 0.0 {
        println!("\nslot-seconds not matched to a team by request id: {unattributed:.2}");
    }
    Ok(())
}
