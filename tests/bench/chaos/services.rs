//! The run's own Redis: started from its binary on a free port, restarted on demand by the
//! fault schedule, and killed when dropped, so the shared instance (6379) is never touched.
//! The run's own Postgres is the harness's [`e2e_tests::private_postgres::PrivatePostgres`].

use anyhow::{Context, bail};
use e2e_tests::private_postgres::free_port;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// A private Redis without persistence: killing it loses every key.
pub struct PrivateRedis {
    pub port: u16,
    log: PathBuf,
    child: Option<Child>,
}

impl PrivateRedis {
    pub async fn start_new(run_dir: &Path) -> anyhow::Result<Self> {
        let mut redis = Self {
            port: free_port()?,
            log: run_dir.join("redis.log"),
            child: None,
        };
        redis.start().await?;
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .context("starting redis-server (is it installed?)")?;
        self.child = Some(child);
        let client = redis::Client::open(self.url())?;
        let started = Instant::now();
        loop {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!(
                    "the private Redis did not answer (log: {})",
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: with no persistence, every key is gone.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.context("killing redis-server")?;
        }
        Ok(())
    }
}
