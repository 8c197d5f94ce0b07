//! A deployment of the real binary for these tests: one database, one Redis key prefix, one
//! simulator, and gateway processes started from the built `cloro-gateway`, their output
//! kept in files so a test can read everything they printed. The database is dropped when
//! the test ends, even when it panics.

use sqlx::migrate::MigrateDatabase;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cloro-gateway");
pub const COMPANY_KEY: &str = "sk_live_5ec7e75ec7e75ec7e75ec7e75ec7e7aa";
pub const SIGNING_SECRET: &str = "binary-test-signing-secret-0123456789abcdef";

pub struct Deployment {
    pub db_url: String,
    pub sim: cloro_sim::RunningSim,
    pub logs: PathBuf,
    redis_prefix: String,
    /// Extra environment every process gets.
    env: Vec<(String, String)>,
    /// Drops the database (which `migrate` or `serve` creates) if `teardown` never runs.
    database: DatabaseGuard,
}

impl Deployment {
    pub async fn new(sim_config: cloro_sim::SimConfig, env: &[(&str, &str)]) -> Self {
        let sim_config = cloro_sim::SimConfig {
            api_key: COMPANY_KEY.into(),
            ..sim_config
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let sim = cloro_sim::spawn(sim_config, listener).await.unwrap();
        let db_name = format!("gw_bin_{}", uuid::Uuid::new_v4().simple());
        let admin = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let (base, _) = admin.rsplit_once('/').unwrap();
        let logs = std::env::temp_dir().join(&db_name);
        std::fs::create_dir_all(&logs).unwrap();
        let db_url = format!("{base}/{db_name}");
        Self {
            database: DatabaseGuard {
                url: db_url.clone(),
                logs: logs.clone(),
                armed: true,
            },
            db_url,
            sim,
            logs,
            redis_prefix: format!("binary-test:{}:", uuid::Uuid::new_v4().simple()),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// The binary with this deployment's environment; output goes to `<logs>/<name>.*`.
    pub fn command(&self, name: &str, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("DATABASE_URL", &self.db_url)
            .env(
                "REDIS_URL",
                std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            )
            .env("CLORO_BASE_URL", self.sim.base_url())
            .env("CLORO_API_KEY", COMPANY_KEY)
            .env("CLORO_GATEWAY__AUTH__SIGNING_SECRET", SIGNING_SECRET)
            .env("CLORO_GATEWAY__LOG__FORMAT", "json")
            .env("CLORO_GATEWAY__REDIS__KEY_PREFIX", &self.redis_prefix)
            .env("RUST_LOG", "debug")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::fs::File::create(self.logs.join(format!("{name}.out"))).unwrap())
            .stderr(std::fs::File::create(self.logs.join(format!("{name}.err"))).unwrap());
        command
    }

    /// Runs a command to completion, failing the test if it fails; returns its output.
    pub fn run(&self, name: &str, args: &[&str]) -> Output {
        let mut command = self.command(name, args);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{name} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Starts `serve` on a free port and waits until it answers; returns it and its URL.
    pub async fn serve(&self, name: &str) -> (Child, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let child = self
            .command(name, &["serve", "--listen", &listen])
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while reqwest::get(format!("{base}/healthz")).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{name} did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (child, base)
    }

    /// Creates a team and mints a token for it; returns (token, jti).
    pub fn team_with_token(&self, slug: &str) -> (String, String) {
        self.run("team", &["team", "create", slug]);
        self.mint(slug)
    }

    /// `token mint` for the team: the token from stdout, the jti from stderr.
    pub fn mint(&self, slug: &str) -> (String, String) {
        let minted = self.run(
            "token",
            &[
                "token", "mint", "--team", slug, "--role", "team", "--ttl", "1h",
            ],
        );
        let token = String::from_utf8(minted.stdout).unwrap().trim().to_owned();
        let jti = String::from_utf8_lossy(&minted.stderr)
            .split_whitespace()
            .skip_while(|word| *word != "jti")
            .nth(1)
            .expect("the jti on stderr")
            .to_owned();
        (token, jti)
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.db_url).await.unwrap()
    }

    /// The JSON log lines a process wrote to stderr (`<logs>/<name>.err`), in order; lines
    /// that are not JSON objects (a panic, an `error:` line) are skipped.
    pub fn log_lines(&self, name: &str) -> Vec<serde_json::Value> {
        let path = self.logs.join(format!("{name}.err"));
        std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(serde_json::Value::is_object)
            .collect()
    }

    /// Everything every process printed.
    pub fn printed(&self) -> String {
        let mut printed = String::new();
        for entry in std::fs::read_dir(&self.logs).unwrap() {
            printed.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
        }
        printed
    }

    pub async fn teardown(mut self) {
        self.sim.stop().await;
        let _ = std::fs::remove_dir_all(&self.logs);
        if sqlx::Postgres::force_drop_database(&self.db_url)
            .await
            .is_ok()
        {
            self.database.armed = false;
        }
    }
}

/// The deployment's database, force-dropped when the guard is dropped while still armed (a
/// test that panicked before `teardown`). The drop runs on a thread with a runtime of its
/// own: the test's runtime may be the one unwinding. The processes' output is kept then.
struct DatabaseGuard {
    url: String,
    logs: PathBuf,
    armed: bool,
}

impl Drop for DatabaseGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        eprintln!(
            "a test ended without teardown; its processes' output is kept in {}",
            self.logs.display()
        );
        let url = std::mem::take(&mut self.url);
        let dropping = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(async {
                // A process still closing its connections can make one attempt fail.
                for _ in 0..5 {
                    if sqlx::Postgres::force_drop_database(&url).await.is_ok() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                eprintln!("could not drop the test database of a failed test");
            });
        });
        let _ = dropping.join();
    }
}

/// Sends a signal to a child process with `kill`.
pub fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for a child to exit; fails the test after `limit`.
pub async fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the process did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
