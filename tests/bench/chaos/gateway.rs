//! The real gateway as separate processes: this binary re-executed as `chaos-bench gateway
//! <args>` (which runs the gateway's own CLI), with the run's environment, its output
//! appended to files in the run's temp dir.

use anyhow::{Context, bail};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// The company key the simulator accepts and the gateway forwards.
pub const COMPANY_KEY: &str = "sk_live_c4a05c4a05c4a05c4a05c4a05c4a05aa";
const SIGNING_SECRET: &str = "chaos-bench-signing-secret-0123456789abcdef";
/// cloro's webhook signing secret, known to the simulator and the gateway.
pub const WEBHOOK_SECRET: &str = "whsec_c4a05c4a05c4a05";
/// The Redis key prefix of every gateway process of the run.
pub const KEY_PREFIX: &str = "chaos:";
/// `limits.account_name`: the hash tag of every limiter key.
pub const ACCOUNT_NAME: &str = "cloro";

/// Timings short enough for faults to play out within a run of a minute or two.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    pub request_timeout_secs: u64,
    pub lease_ttl_secs: u64,
    pub lease_renew_secs: u64,
    pub pending_deadline_secs: u64,
    pub sweep_every_secs: u64,
    pub account_queue_wait_ms: u64,
    pub account_concurrency: u32,
    /// How often each replica polls cloro for unsettled async tasks, and how old a task
    /// must be first (its webhook gets the first chance).
    pub poll_every_secs: u64,
    pub poll_after_secs: u64,
}

/// How to start any gateway process of this run.
pub struct GatewayEnv {
    exe: PathBuf,
    logs: PathBuf,
    env: Vec<(String, String)>,
}

impl GatewayEnv {
    /// `webhook_url`: where cloro sends task completions (one replica's `/webhooks/cloro`).
    pub fn new(
        logs: PathBuf,
        database_url: String,
        redis_url: String,
        upstream_url: String,
        webhook_url: String,
        timings: &Timings,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("finding this executable")?;
        let env = [
            ("DATABASE_URL", database_url),
            ("REDIS_URL", redis_url),
            ("CLORO_BASE_URL", upstream_url),
            ("CLORO_API_KEY", COMPANY_KEY.to_owned()),
            ("CLORO_GATEWAY__AUTH__SIGNING_SECRET", SIGNING_SECRET.into()),
            ("CLORO_GATEWAY__LOG__FILTER", "warn".into()),
            ("CLORO_GATEWAY__LOG__FORMAT", "json".into()),
            ("CLORO_GATEWAY__REDIS__KEY_PREFIX", KEY_PREFIX.into()),
            ("CLORO_GATEWAY__LIMITS__ACCOUNT_NAME", ACCOUNT_NAME.into()),
            (
                "CLORO_GATEWAY__UPSTREAM__REQUEST_TIMEOUT_SECS",
                timings.request_timeout_secs.to_string(),
            ),
            ("CLORO_GATEWAY__UPSTREAM__RETRY_BASE_MS", "50".into()),
            (
                "CLORO_GATEWAY__LIMITS__LEASE_TTL_SECS",
                timings.lease_ttl_secs.to_string(),
            ),
            (
                "CLORO_GATEWAY__LIMITS__LEASE_RENEW_SECS",
                timings.lease_renew_secs.to_string(),
            ),
            (
                "CLORO_GATEWAY__LIMITS__ACCOUNT_CONCURRENCY",
                timings.account_concurrency.to_string(),
            ),
            (
                "CLORO_GATEWAY__LIMITS__ACCOUNT_QUEUE_WAIT_MS",
                timings.account_queue_wait_ms.to_string(),
            ),
            ("CLORO_GATEWAY__LIMITS__ADAPTIVE_RECOVER_SECS", "1".into()),
            (
                "CLORO_GATEWAY__LEDGER__PENDING_DEADLINE_SECS",
                timings.pending_deadline_secs.to_string(),
            ),
            (
                "CLORO_GATEWAY__LEDGER__SWEEP_EVERY_SECS",
                timings.sweep_every_secs.to_string(),
            ),
            ("CLORO_GATEWAY__SERVER__SHUTDOWN_TIMEOUT_SECS", "5".into()),
            ("CLORO_GATEWAY__ASYNC_TASKS__WEBHOOK_URL", webhook_url),
            (
                "CLORO_GATEWAY__ASYNC_TASKS__WEBHOOK_SECRET",
                WEBHOOK_SECRET.into(),
            ),
            (
                "CLORO_GATEWAY__ASYNC_TASKS__POLL_EVERY_SECS",
                timings.poll_every_secs.to_string(),
            ),
            (
                "CLORO_GATEWAY__ASYNC_TASKS__POLL_AFTER_SECS",
                timings.poll_after_secs.to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Ok(Self { exe, logs, env })
    }

    /// `chaos-bench gateway <args>`; stdout and stderr appended to `<logs>/<name>.{out,err}`
    /// unless `piped`.
    fn command(&self, name: &str, args: &[&str], piped: bool) -> anyhow::Result<Command> {
        let mut command = Command::new(&self.exe);
        command
            .arg("gateway")
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("CLORO_GATEWAY_CONFIG")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null());
        if piped {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
        } else {
            let open = |ext: &str| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.logs.join(format!("{name}.{ext}")))
            };
            command
                .stdout(Stdio::from(open("out")?))
                .stderr(Stdio::from(open("err")?));
        }
        Ok(command)
    }

    /// Runs a gateway command to completion; returns its stdout.
    pub async fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = self
            .command("cli", args, true)?
            .output()
            .await
            .with_context(|| format!("running gateway {}", args.join(" ")))?;
        if !output.status.success() {
            bail!(
                "gateway {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}

/// One `gateway serve` process on a fixed port (kept across restarts, so clients keep
/// their URL).
pub struct Replica {
    pub name: String,
    pub port: u16,
    child: Option<Child>,
}

impl Replica {
    pub fn new(name: &str) -> anyhow::Result<Self> {
        Ok(Self {
            name: name.to_owned(),
            port: e2e_tests::private_postgres::free_port()?,
            child: None,
        })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts `serve` and waits until `/readyz` answers 200.
    pub async fn start(&mut self, env: &GatewayEnv, http: &reqwest::Client) -> anyhow::Result<()> {
        let listen = format!("127.0.0.1:{}", self.port);
        let started = Instant::now();
        let mut child = env
            .command(&self.name, &["serve", "--listen", &listen], false)?
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting replica {}", self.name))?;
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "replica {} exited with {status} while starting (see {}.err)",
                    self.name,
                    self.name
                );
            }
            let ready = http
                .get(format!("{}/readyz", self.url()))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("replica {} was not ready within 60 s", self.name);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL, no goodbye: in-flight requests, leases and settlements are lost with it.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child
                .kill()
                .await
                .with_context(|| format!("killing replica {}", self.name))?;
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL if it has not stopped within `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        if tokio::time::timeout(grace, child.wait()).await.is_err() {
            let _ = child.kill().await;
        }
    }
}
