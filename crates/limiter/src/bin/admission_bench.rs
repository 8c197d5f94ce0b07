//! Measures the admission script's cost against a real Redis: N admit+settle pairs from C
//! concurrent tasks, printing admissions/s and p50/p99/max latency of each script call.
//!
//! cargo run --release -p limiter --bin admission-bench -- [--pairs 50000] [--tasks 32]
//! (REDIS_URL, default redis://127.0.0.1:6379; keys under a fresh `bench:<nanos>:` prefix,
//! deleted at the end.)

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use limiter::{
    AccountLimits, AdmissionRequest, BudgetPeriod, Limiter, RedisLimiter, RedisLimiterSettings,
    TeamQuota,
};

const TEAMS: u64 = 8;

struct Options {
    pairs: u64,
    tasks: u64,
    redis_url: String,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        pairs: 50_000,
        tasks: 32,
        redis_url: std::env::var("REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--pairs" => options.pairs = number()?,
            "--tasks" => options.tasks = number()?.max(1),
            "--redis" => options.redis_url = value,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(options)
}

fn request(prefix_nanos: u128, i: u64) -> AdmissionRequest {
    AdmissionRequest {
        team_id: format!("team-{}", i % TEAMS),
        endpoint: format!("endpoint-{}", i % 3),
        lease_id: format!("bench-{prefix_nanos}-{i}"),
        estimate: 5,
        team: TeamQuota {
            rps: 1_000_000.0,
            burst: 1_000_000,
            concurrency: 1_000,
            budget: Some(1_000_000_000),
            hard_budget: true,
        },
        account: AccountLimits {
            rps_per_endpoint: 1_000_000.0,
            burst: 1_000_000,
            concurrency: 1_000,
        },
        takes_account_slot: true,
        takes_team_slot: true,
        period: BudgetPeriod::new("bench", 4_102_444_800_000),
        lease_ttl_ms: 30_000,
    }
}

fn percentile(sorted: &[u64], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    Duration::from_micros(sorted[rank.min(sorted.len() - 1)])
}

fn report(name: &str, mut micros: Vec<u64>) {
    micros.sort_unstable();
    println!(
        "{name:<7} p50 {:>8.3} ms   p99 {:>8.3} ms   max {:>8.3} ms",
        percentile(&micros, 0.50).as_secs_f64() * 1e3,
        percentile(&micros, 0.99).as_secs_f64() * 1e3,
        percentile(&micros, 1.0).as_secs_f64() * 1e3,
    );
}

async fn run(options: Options) -> Result<(), String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_nanos();
    let prefix = format!("bench:{nanos}:");
    let mut settings = RedisLimiterSettings::new(prefix.clone(), "bench");
    settings.command_timeout = Duration::from_secs(2);
    let limiter =
        Arc::new(RedisLimiter::connect(&options.redis_url, settings).map_err(|e| e.to_string())?);

    // Budgets count only once seeded from the ledger (nothing spent yet here).
    for team in 0..TEAMS {
        let r = request(nanos, team);
        limiter
            .seed_charged(&r.team_id, &r.period, 0)
            .await
            .map_err(|e| e.to_string())?;
    }

    // Warm up: loads the scripts and fills the pool.
    let warm = request(nanos, u64::MAX);
    let lease = limiter.admit(&warm).await.map_err(|e| e.to_string())?;
    if let Some(lease) = lease.lease() {
        limiter.settle(lease, 5).await.map_err(|e| e.to_string())?;
    }

    let server_before = evalsha_stats(&options.redis_url).await?;
    let next = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..options.tasks {
        let (limiter, next, refused) = (limiter.clone(), next.clone(), refused.clone());
        let pairs = options.pairs;
        handles.push(tokio::spawn(async move {
            let (mut admit_us, mut settle_us) = (Vec::new(), Vec::new());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= pairs {
                    break;
                }
                let t = Instant::now();
                let admission = limiter.admit(&request(nanos, i)).await?;
                admit_us.push(t.elapsed().as_micros() as u64);
                match admission.lease() {
                    Some(lease) => {
                        let t = Instant::now();
                        limiter.settle(lease, 4).await?;
                        settle_us.push(t.elapsed().as_micros() as u64);
                    }
                    None => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Ok::<_, limiter::LimiterError>((admit_us, settle_us))
        }));
    }
    let (mut admit_us, mut settle_us) = (Vec::new(), Vec::new());
    for handle in handles {
        let (a, s) = handle
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{e}: {:?}", std::error::Error::source(&e)))?;
        admit_us.extend(a);
        settle_us.extend(s);
    }
    let elapsed = started.elapsed();

    println!(
        "{} admit+settle pairs, {} tasks, {:.2} s: {:.0} admissions/s ({:.0} script calls/s), {} refused",
        options.pairs,
        options.tasks,
        elapsed.as_secs_f64(),
        options.pairs as f64 / elapsed.as_secs_f64(),
        (admit_us.len() + settle_us.len()) as f64 / elapsed.as_secs_f64(),
        refused.load(Ordering::Relaxed),
    );
    report("admit", admit_us);
    report("settle", settle_us);
    let server_after = evalsha_stats(&options.redis_url).await?;
    let (calls, usec) = (
        server_after.0.saturating_sub(server_before.0),
        server_after.1.saturating_sub(server_before.1),
    );
    if calls > 0 {
        println!(
            "redis   {calls} EVALSHA calls, {:.1} us each inside Redis (INFO commandstats; \
             includes other clients' calls if Redis is shared)",
            usec as f64 / calls as f64
        );
    }

    cleanup(&options.redis_url, &prefix).await
}

/// (calls, usec) of EVALSHA so far, from `INFO commandstats` (read-only; stats are not reset).
async fn evalsha_stats(redis_url: &str) -> Result<(u64, u64), String> {
    let client = redis::Client::open(redis_url).map_err(|e| e.to_string())?;
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut connection)
        .await
        .map_err(|e| e.to_string())?;
    let line = info
        .lines()
        .find(|l| l.starts_with("cmdstat_evalsha:"))
        .unwrap_or_default();
    let field = |name: &str| {
        line.split([':', ','])
            .find_map(|kv| kv.strip_prefix(name))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((field("calls="), field("usec=")))
}

/// Deletes the bench's own keys (everything under its fresh prefix).
async fn cleanup(redis_url: &str, prefix: &str) -> Result<(), String> {
    let client = redis::Client::open(redis_url).map_err(|e| e.to_string())?;
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    let keys: Vec<String> = {
        let mut iter: redis::AsyncIter<'_, String> =
            redis::AsyncCommands::scan_match(&mut connection, format!("{prefix}*"))
                .await
                .map_err(|e| e.to_string())?;
        let mut keys = Vec::new();
        while let Some(key) = iter.next_item().await {
            keys.push(key.map_err(|e| e.to_string())?);
        }
        keys
    };
    if !keys.is_empty() {
        redis::cmd("UNLINK")
            .arg(&keys)
            .query_async::<()>(&mut connection)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match options() {
        Ok(options) => run(options).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("admission-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
