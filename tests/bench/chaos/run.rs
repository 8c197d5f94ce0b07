//! One chaos run from start to verdict: start everything, create the teams, play the load and
//! the faults together, let the sweeper and the lease TTL do their work, then check.

use super::checks::{self, Evidence, Windows};
use super::cluster::Cluster;
use super::faults;
use super::gateway::Timings;
use super::load::Load;
use super::report::{self, RunInfo};
use super::teams;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The command line of a run.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Requests to send (about two minutes on a 2-core machine by default). The load goes on
    /// past this until every fault has played out.
    #[arg(long, default_value_t = 10_000)]
    pub requests: u64,
    /// Client workers sending at once.
    #[arg(long, default_value_t = 48)]
    pub concurrency: usize,
    /// Seeds the simulator and every client choice.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Keep the run's temp dir (logs of every process, the Postgres data).
    #[arg(long)]
    pub keep: bool,
    /// Count entries booked at the estimate for an unknown upstream outcome as violations too.
    #[arg(long)]
    pub strict: bool,
}

pub const TIMINGS: Timings = Timings {
    // Below the simulator's slow tail, so a few per cent of calls time out while cloro
    // still finishes and charges them.
    request_timeout_secs: 2,
    lease_ttl_secs: 3,
    lease_renew_secs: 1,
    // Above the request timeout, as the gateway requires.
    pending_deadline_secs: 8,
    sweep_every_secs: 1,
    account_queue_wait_ms: 2_000,
    account_concurrency: 32,
    poll_every_secs: 1,
    poll_after_secs: 2,
};

/// Runs everything; returns whether every check passed. Every process started is stopped
/// when this returns, error or not.
pub async fn run(options: &Options) -> anyhow::Result<bool> {
    let started = Instant::now();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let mut cluster = Cluster::start(options.keep, options.seed, &TIMINGS, &http).await?;
    eprintln!(
        "chaos-bench: run dir {}, postgres :{}, redis :{}, simulator {}, replicas {}",
        cluster.dir().display(),
        cluster.postgres.port,
        cluster.redis.port,
        cluster.sim.base_url(),
        cluster.replica_urls().join(" ")
    );
    let teams = teams::create(&cluster.gateway, options.requests).await?;
    eprintln!(
        "chaos-bench: {} teams ready (hard budgets {} credits) after {:.1} s; load starts",
        teams.len(),
        teams::budget_for(options.requests),
        started.elapsed().as_secs_f64()
    );

    let origin = Instant::now();
    let load = Load::new(
        http.clone(),
        teams.clone(),
        cluster.replica_urls(),
        options.requests,
        options.seed,
        origin,
    );
    let ticking = Arc::new(AtomicBool::new(true));
    let ticker = tokio::spawn(progress_ticker(
        Arc::clone(&load),
        Arc::clone(&ticking),
        origin,
    ));
    let (sent, fault_log) = tokio::join!(
        load.run(options.concurrency),
        faults::run(&mut cluster, &load, &http, origin)
    );
    ticking.store(false, Ordering::Relaxed);
    ticker.abort();
    let load_time = origin.elapsed();
    let fault_log = fault_log?;
    eprintln!(
        "chaos-bench: load done: {} requests in {:.1} s; waiting for the sweeper and lease TTL",
        sent.len(),
        load_time.as_secs_f64()
    );

    // Let cloro finish every call and task (abandoned calls are logged when their work
    // ends), then give the sweeper its deadline, the pollers two passes over the last tasks
    // and the leases their TTL.
    let idle_since = Instant::now();
    while idle_since.elapsed() < Duration::from_secs(60) {
        let stats = cluster.sim.stats();
        if stats.current_concurrency == 0 && stats.tasks_queued + stats.tasks_processing == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let quiet = Duration::from_millis(TIMINGS.account_queue_wait_ms)
        + Duration::from_secs(
            (TIMINGS.request_timeout_secs
                + TIMINGS.pending_deadline_secs
                + 2 * TIMINGS.sweep_every_secs)
                .max(TIMINGS.poll_after_secs + 2 * TIMINGS.poll_every_secs)
                + 3,
        );
    tokio::time::sleep(quiet.saturating_sub(idle_since.elapsed())).await;

    let evidence = Evidence {
        teams: &teams,
        sent: &sent,
        records: cluster.sim.requests(),
        sim_url: cluster.sim.base_url(),
        sim_stats: cluster.sim.stats(),
        faults: &fault_log,
        database_url: &cluster.database_url,
        redis_url: cluster.redis.url(),
        replicas: cluster
            .replicas
            .iter()
            .map(|r| (r.name.clone(), r.url()))
            .collect(),
        windows: Windows {
            in_flight: Duration::from_millis(TIMINGS.account_queue_wait_ms)
                + Duration::from_secs(TIMINGS.request_timeout_secs + 5),
        },
        strict: options.strict,
    };
    let findings = checks::check(evidence, &http).await?;
    let info = RunInfo {
        requests: options.requests,
        concurrency: options.concurrency,
        seed: options.seed,
        load_time,
        total_time: started.elapsed(),
        strict: options.strict,
    };
    print!("{}", report::render(&info, &sent, &fault_log, &findings));
    for replica in &mut cluster.replicas {
        replica.stop(Duration::from_secs(5)).await;
    }
    Ok(findings.violations.is_empty())
}

async fn progress_ticker(load: Arc<Load>, ticking: Arc<AtomicBool>, origin: Instant) {
    while ticking.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_secs(10)).await;
        eprintln!(
            "chaos-bench: [{:>7.1}s] progress {:.0}%",
            origin.elapsed().as_secs_f64(),
            load.progress() * 100.0
        );
    }
}
