//! Everything one run starts: its temp dir, private Postgres and Redis, the in-process
//! simulator and two gateway replicas. Dropping it stops them all (replicas and Redis by
//! SIGKILL, Postgres by `pg_ctl stop -m immediate`) and removes the dir unless `--keep`.

use super::gateway::{COMPANY_KEY, GatewayEnv, Replica, Timings, WEBHOOK_SECRET};
use super::services::PrivateRedis;
use anyhow::Context;
use cloro_sim::{FaultRates, RunningSim, SimConfig};
use e2e_tests::private_postgres::PrivatePostgres;
use std::path::{Path, PathBuf};

/// The simulator's normal fault rates (the brownout raises the 503 rate for a while).
pub fn base_faults() -> FaultRates {
    FaultRates {
        internal_error: 0.02,
        external_service_error: 0.02,
        service_unavailable: 0.02,
        empty_answer: 0.02,
        ..FaultRates::default()
    }
}
/// Upstream answers whose body breaks off after the success headers (charged upstream): set
/// through `PUT /_sim/config` when the simulator knows this fault, skipped when it does not.
pub const BROKEN_BODY_RATE: f64 = 0.01;
/// Log-normal engine latency: most calls are quick, a few per cent outlast the gateway's
/// upstream deadline (2 s), and the simulator still finishes and charges them.
pub const SIM_LATENCY: &str = "lognormal:median=150ms,p99=3s";
/// Divides cloro's webhook retry gaps (2, 4, 8, 16 min: 4 to 32 s here) and its task
/// retention (24 h: 48 min here, longer than a 100,000-request run).
pub const SIM_TIME_SCALE: f64 = 30.0;

/// The run's directory; removed on drop unless kept.
pub struct RunDir {
    pub path: PathBuf,
    keep: bool,
}

impl RunDir {
    pub fn create(keep: bool) -> anyhow::Result<Self> {
        let path =
            std::env::temp_dir().join(format!("chaos-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path, keep })
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("chaos-bench: kept {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Fields drop in order: replicas first, the directory last.
pub struct Cluster {
    pub replicas: Vec<Replica>,
    pub gateway: GatewayEnv,
    pub sim: RunningSim,
    pub redis: PrivateRedis,
    pub postgres: PrivatePostgres,
    pub database_url: String,
    pub sim_concurrency: u32,
    pub dir: RunDir,
}

impl Cluster {
    /// Starts Postgres, Redis and the simulator, migrates, and starts two replicas; cloro's
    /// task completions go to the first replica.
    pub async fn start(
        keep: bool,
        seed: u64,
        timings: &Timings,
        http: &reqwest::Client,
    ) -> anyhow::Result<Self> {
        let dir = RunDir::create(keep)?;
        let postgres = PrivatePostgres::start_new(&dir.path).await?;
        let redis = PrivateRedis::start_new(&dir.path).await?;
        let sim_concurrency = timings.account_concurrency;
        let sim_config = SimConfig {
            api_key: COMPANY_KEY.into(),
            concurrency_limit: sim_concurrency,
            credits: 1_000_000_000_000,
            latency: SIM_LATENCY
                .parse()
                .map_err(|e| anyhow::anyhow!("latency {SIM_LATENCY}: {e}"))?,
            faults: base_faults(),
            seed,
            time_scale: SIM_TIME_SCALE,
            webhook_secret: Some(WEBHOOK_SECRET.into()),
            ..SimConfig::default()
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let sim = cloro_sim::spawn(sim_config, listener).await?;
        let database_url = postgres.url("cloro_gateway");
        let replicas = vec![Replica::new("replica-a")?, Replica::new("replica-b")?];
        let gateway = GatewayEnv::new(
            dir.path.clone(),
            database_url.clone(),
            redis.url(),
            sim.base_url(),
            format!("{}/webhooks/cloro", replicas[0].url()),
            timings,
        )?;
        gateway.run(&["migrate"]).await?;
        let mut cluster = Self {
            replicas,
            gateway,
            sim,
            redis,
            postgres,
            database_url,
            sim_concurrency,
            dir,
        };
        for replica in &mut cluster.replicas {
            replica.start(&cluster.gateway, http).await?;
        }
        Ok(cluster)
    }

    pub fn dir(&self) -> &Path {
        &self.dir.path
    }

    pub fn replica_urls(&self) -> Vec<String> {
        self.replicas.iter().map(Replica::url).collect()
    }
}
