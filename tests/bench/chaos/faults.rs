//! The fault schedule, played while the load runs, each fault once at a point of the load's
//! progress: an upstream brownout, a Postgres restart, a replica SIGKILLed and restarted,
//! and a Redis restart that loses every key. Upstream timeouts need no trigger: the
//! simulator's slow tail outlasts the gateway's upstream deadline all along.

use super::cluster::{BROKEN_BODY_RATE, Cluster, base_faults};
use super::load::Load;
use anyhow::{Context, bail};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A replica killed with SIGKILL, and when (since the run's origin).
#[derive(Debug, Clone, Copy)]
pub struct Kill {
    pub replica: usize,
    pub at: Duration,
}

/// What happened when, for the report.
#[derive(Debug, Default)]
pub struct FaultLog {
    pub events: Vec<(Duration, String)>,
    pub kills: Vec<Kill>,
    /// Faults that ran to the end: brownout, postgres, kill, redis.
    pub completed: Vec<&'static str>,
}

impl FaultLog {
    fn note(&mut self, origin: Instant, what: impl Into<String>) {
        let what = what.into();
        let at = origin.elapsed();
        eprintln!("chaos-bench: [{:>7.1}s] {what}", at.as_secs_f64());
        self.events.push((at, what));
    }
}

/// Brownout: most calls get 503 and the plan's concurrency drops to this, for this long.
const BROWNOUT_503_RATE: f64 = 0.6;
const BROWNOUT_CONCURRENCY: u32 = 4;
const BROWNOUT_FOR: Duration = Duration::from_secs(4);

/// Plays the schedule; marks the load's faults done whatever happens.
pub async fn run(
    cluster: &mut Cluster,
    load: &Arc<Load>,
    http: &reqwest::Client,
    origin: Instant,
) -> anyhow::Result<FaultLog> {
    let mut log = FaultLog::default();
    let result = play(cluster, load, http, origin, &mut log).await;
    load.faults_done.store(true, Ordering::Relaxed);
    if result.is_err() {
        load.abort.store(true, Ordering::Relaxed);
    }
    result.map(|()| log)
}

async fn play(
    cluster: &mut Cluster,
    load: &Arc<Load>,
    http: &reqwest::Client,
    origin: Instant,
    log: &mut FaultLog,
) -> anyhow::Result<()> {
    log.note(
        origin,
        "upstream timeouts: throughout (sim latency tail above the gateway's deadline)",
    );
    let sim_config = format!("{}/_sim/config", cluster.sim.base_url());
    let broken = json!({"faults": {"broken_body": BROKEN_BODY_RATE}});
    match put_sim_config(http, &sim_config, broken).await {
        Ok(()) => {
            log.note(
                origin,
                format!("broken bodies: throughout (rate {BROKEN_BODY_RATE}, headers then a cut)"),
            );
            log.completed.push("broken body");
        }
        Err(err) => log.note(
            origin,
            format!("broken bodies: not supported by this simulator ({err:#})"),
        ),
    }

    wait_for(load, 0.12).await;
    put_sim_config(
        http,
        &sim_config,
        json!({
            "faults": {"service_unavailable": BROWNOUT_503_RATE},
            "concurrency_limit": BROWNOUT_CONCURRENCY,
        }),
    )
    .await?;
    log.note(
        origin,
        format!(
            "brownout: upstream 503 rate {BROWNOUT_503_RATE}, concurrency limit {BROWNOUT_CONCURRENCY}"
        ),
    );
    tokio::time::sleep(BROWNOUT_FOR).await;
    put_sim_config(
        http,
        &sim_config,
        json!({
            "faults": {"service_unavailable": base_faults().service_unavailable},
            "concurrency_limit": cluster.sim_concurrency,
        }),
    )
    .await?;
    log.note(origin, "brownout over: upstream restored");
    log.completed.push("brownout");

    wait_for(load, 0.30).await;
    log.note(origin, "postgres: pg_ctl stop -m fast");
    cluster.postgres.stop_fast().await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.postgres.start().await?;
    log.note(origin, "postgres: started again");
    log.completed.push("postgres restart");

    wait_for(load, 0.48).await;
    let victim = 1;
    // Taken before the signal: every request the kill cuts ends after this.
    let at = origin.elapsed();
    cluster.replicas[victim].kill().await?;
    log.kills.push(Kill {
        replica: victim,
        at,
    });
    log.note(
        origin,
        format!("SIGKILL {} mid-load", cluster.replicas[victim].name),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let replica = &mut cluster.replicas[victim];
    replica
        .start(&cluster.gateway, http)
        .await
        .context("restarting the killed replica")?;
    log.note(origin, format!("{} restarted and ready", replica.name));
    log.completed.push("replica kill");

    wait_for(load, 0.66).await;
    cluster.redis.kill().await?;
    log.note(origin, "redis: SIGKILL (no persistence: every key lost)");
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.redis.start().await?;
    log.note(origin, "redis: started again, empty");
    log.completed.push("redis restart");
    Ok(())
}

/// Waits until the load has finished this share of its target.
async fn wait_for(load: &Load, share: f64) {
    while load.progress() < share && !load.abort.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn put_sim_config(
    http: &reqwest::Client,
    url: &str,
    patch: serde_json::Value,
) -> anyhow::Result<()> {
    let response = http
        .put(url)
        .json(&patch)
        .send()
        .await
        .context("PUT /_sim/config")?;
    if !response.status().is_success() {
        bail!(
            "PUT /_sim/config answered {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }
    Ok(())
}
