//! A Postgres cluster of a test's (or a bench run's) own: `initdb` into a directory, started
//! with `pg_ctl` on a free port, stoppable and restartable on demand, and always stopped when
//! dropped, so a test can take Postgres away without touching the shared instance (5432).
//! As root the cluster runs as the `postgres` user (Postgres refuses to run as root).

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::Command;

/// A TCP port nobody listens on right now (bound, then released).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("picking a free port")?;
    Ok(listener.local_addr()?.port())
}

/// True when this process runs as root (then Postgres must run as the `postgres` user).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .and_then(|line| line.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// The directory holding `initdb` and `pg_ctl`: `CHAOS_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin`, else none (then whatever `PATH` has).
pub fn postgres_bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("CHAOS_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// A private Postgres cluster (trust auth, fsync off) in `<dir>/pg`.
pub struct PrivatePostgres {
    bin: Option<PathBuf>,
    data: PathBuf,
    socket_dir: PathBuf,
    log: PathBuf,
    pub port: u16,
    as_postgres_user: bool,
    running: bool,
    /// A directory this cluster created for itself, removed when it is dropped.
    owned_dir: Option<PathBuf>,
}

impl PrivatePostgres {
    /// `initdb` into `<dir>/pg` and start it on a free port. The caller owns `dir`.
    pub async fn start_new(dir: &Path) -> anyhow::Result<Self> {
        let root = dir.join("pg");
        let data = root.join("data");
        let socket_dir = root.join("sock");
        std::fs::create_dir_all(&socket_dir)?;
        let as_postgres_user = running_as_root();
        if as_postgres_user {
            // Postgres refuses to run as root: the cluster belongs to the `postgres` user.
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&root)
                .status()
                .await
                .context("chown of the private Postgres directory")?;
            if !status.success() {
                bail!("chown -R postgres:postgres {} failed", root.display());
            }
        }
        let mut postgres = Self {
            bin: postgres_bin_dir(),
            log: root.join("postgres.log"),
            data,
            socket_dir,
            port: free_port()?,
            as_postgres_user,
            running: false,
            owned_dir: None,
        };
        let data = postgres.data.display().to_string();
        postgres
            .run(
                "initdb",
                &[
                    "-D",
                    &data,
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ],
            )
            .await?;
        postgres.start().await?;
        Ok(postgres)
    }

    /// As [`start_new`](Self::start_new), in a fresh temp directory that is removed (data,
    /// log and all) when the cluster is dropped.
    pub async fn start_temporary() -> anyhow::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("private-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        match Self::start_new(&dir).await {
            Ok(mut postgres) => {
                postgres.owned_dir = Some(dir);
                Ok(postgres)
            }
            Err(err) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(err)
            }
        }
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The server's log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    fn command(&self, tool: &str) -> std::process::Command {
        let program = self
            .bin
            .as_ref()
            .map(|bin| bin.join(tool).display().to_string())
            .unwrap_or_else(|| tool.to_owned());
        let mut command = if self.as_postgres_user {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--", &program]);
            command
        } else {
            std::process::Command::new(program)
        };
        // Somewhere the `postgres` user may read (not the caller's working directory).
        if let Some(root) = self.data.parent() {
            command.current_dir(root);
        }
        command
    }

    async fn run(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        let mut command = Command::from(self.command(tool));
        command.args(args).stdin(Stdio::null());
        let output = command
            .output()
            .await
            .with_context(|| format!("running {tool}"))?;
        if !output.status.success() {
            bail!(
                "{tool} {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Starts the cluster (again) on its port and waits until it accepts connections.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300",
            self.port,
            self.socket_dir.display()
        );
        let data = self.data.display().to_string();
        let log = self.log.display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-o", &options, "-l", &log, "-w", "-t", "60", "start",
            ],
        )
        .await
        .with_context(|| format!("starting the private Postgres (log: {log})"))?;
        self.running = true;
        Ok(())
    }

    /// `pg_ctl stop -m fast`: every connection is cut, in-flight transactions roll back.
    pub async fn stop_fast(&mut self) -> anyhow::Result<()> {
        let data = self.data.display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"])
            .await?;
        self.running = false;
        Ok(())
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.running {
            let data = self.data.display().to_string();
            let _ = self
                .command("pg_ctl")
                .args(["-D", &data, "-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if let Some(dir) = &self.owned_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
