//! `TestApp`: the real gateway on port 0 with its own database, its own Redis key prefix
//! and its own cloro simulator, plus the clients a test needs to talk to all three. The
//! database is on the shared Postgres (dropped when the test ends, even by panic), or on a
//! private Postgres of the app's own when a test needs to stop it.

use crate::private_postgres::PrivatePostgres;
use crate::services::{database_url, services};
use crate::test_database::TestDatabase;
use crate::tokens::TEST_SIGNING_SECRET;
use accounting::{Role, TeamSlug};
use actix_web::dev::ServerHandle;
use anyhow::Context;
use cloro_gateway::auth::mint::MintedToken;
use cloro_gateway::secret::Secret;
use cloro_gateway::{Application, Settings};
use cloro_sim::{RunningSim, SimConfig};
use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::Mutex;

/// A running gateway with everything around it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT` of the gateway.
    pub address: String,
    pub port: u16,
    /// `http://127.0.0.1:PORT` of `server.admin_listen`, when the test set it.
    pub admin_address: Option<String>,
    /// The gateway's own pool on its database; closed at shutdown so the gateway's
    /// background tasks stop using the database before it is dropped.
    pub db: PgPool,
    pub database_name: String,
    pub redis_url: String,
    pub redis_prefix: String,
    pub sim: RunningSim,
    pub http: reqwest::Client,
    /// The settings the gateway runs with.
    pub settings: Settings,
    server: ServerHandle,
    /// Where the database lives: the shared Postgres or the app's own.
    database: Database,
}

/// The test database's home.
enum Database {
    /// On the shared Postgres: dropped at shutdown, or by the guard if the test panics.
    Shared(TestDatabase),
    /// On a Postgres of this app's own, which a test may stop; discarded whole at the end.
    Private(Mutex<PrivatePostgres>),
}

/// A second gateway process-alike on the same database, Redis and upstream.
pub struct Replica {
    pub address: String,
    server: ServerHandle,
    db: PgPool,
}

impl Replica {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
        self.db.close().await;
    }
}

/// Options for [`TestApp`]: the simulator's config and a hook to change the settings.
pub struct TestAppBuilder {
    sim: SimConfig,
    tweak: Box<dyn FnOnce(&mut Settings) + Send>,
    private_postgres: bool,
    admin_listener: bool,
}

impl Default for TestAppBuilder {
    fn default() -> Self {
        Self {
            sim: SimConfig::default(),
            tweak: Box::new(|_| {}),
            private_postgres: false,
            admin_listener: false,
        }
    }
}

impl TestAppBuilder {
    pub fn sim(mut self, sim: SimConfig) -> Self {
        self.sim = sim;
        self
    }

    pub fn settings(mut self, tweak: impl FnOnce(&mut Settings) + Send + 'static) -> Self {
        self.tweak = Box::new(tweak);
        self
    }

    /// Settles async tasks quickly: the poller runs every second and reads every unsettled
    /// task (`async_tasks.poll_every_secs = 1`, `poll_after_secs = 0`).
    pub fn poll_async_tasks_every_second(self) -> Self {
        self.settings(|s| {
            s.async_tasks.poll_every_secs = 1;
            s.async_tasks.poll_after_secs = 0;
        })
    }

    /// Serves the operator routes (`/metrics`, `/readyz`, `/docs`, `/openapi.json`) on a
    /// second listener on a free port (`server.admin_listen = "127.0.0.1:0"`); its address is
    /// [`TestApp::admin_url`].
    pub fn admin_listener(mut self) -> Self {
        self.admin_listener = true;
        self
    }

    /// Runs the gateway on a Postgres of its own (initdb'd into a temp dir, on a free port)
    /// instead of the shared one, so the test may stop it ([`TestApp::stop_postgres`]).
    /// Needs the PostgreSQL server binaries (`initdb`, `pg_ctl`).
    pub fn private_postgres(mut self) -> Self {
        self.private_postgres = true;
        self
    }

    pub async fn spawn(self) -> anyhow::Result<TestApp> {
        let services = services().await?;
        let database_name = format!("gw_test_{}", uuid::Uuid::new_v4().simple());
        let (db_url, database) = if self.private_postgres {
            let postgres = PrivatePostgres::start_temporary()
                .await
                .context("starting a private Postgres")?;
            (
                postgres.url(&database_name),
                Database::Private(Mutex::new(postgres)),
            )
        } else {
            // Guarded before the gateway creates it, so a failed start drops it too.
            let url = database_url(&services.postgres_admin_url, &database_name)?;
            (url.clone(), Database::Shared(TestDatabase::new(url)))
        };
        let redis_prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());

        let sim_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let api_key = self.sim.api_key.clone();
        let sim = cloro_sim::spawn(self.sim, sim_listener).await?;

        let mut settings = Settings::from_sources(None, test_log_env())?;
        settings.server.listen = "127.0.0.1:0".into();
        settings.server.workers = 2;
        settings.server.shutdown_timeout_secs = 1;
        settings.database.url = Secret::new(db_url);
        settings.database.max_connections = 10;
        settings.redis.url = Secret::new(services.redis_url.clone());
        settings.redis.key_prefix = redis_prefix.clone();
        settings.upstream.base_url = sim.base_url();
        settings.upstream.api_key = Secret::new(api_key);
        settings.auth.signing_secret = Secret::new(TEST_SIGNING_SECRET);
        settings.auth.directory_refresh_ms = 100;
        // Generous limits, so that only the tests about limits meet them.
        settings.limits.account_concurrency = 1000;
        settings.limits.team_default.rps = 10_000.0;
        settings.limits.team_default.burst = 10_000;
        settings.limits.team_default.concurrency = 1000;
        if self.admin_listener {
            settings.server.admin_listen = "127.0.0.1:0".into();
        }
        (self.tweak)(&mut settings);
        // One subscriber (and log thread) for the whole test process, kept until it exits.
        static LOGS: std::sync::OnceLock<cloro_gateway::telemetry::LogGuard> =
            std::sync::OnceLock::new();
        LOGS.get_or_init(|| cloro_gateway::telemetry::init(&settings.log));

        let app = Application::build(settings.clone())
            .await
            .context("building the gateway")?;
        let port = app.port();
        let admin_address = app
            .admin_port()
            .map(|port| format!("http://127.0.0.1:{port}"));
        let server = app.handle();
        let db = app.db();
        tokio::spawn(app.run_until_stopped());

        Ok(TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            admin_address,
            db,
            database_name,
            redis_url: services.redis_url,
            redis_prefix,
            sim,
            http: reqwest::Client::new(),
            settings,
            server,
            database,
        })
    }
}

/// Logs stay silent unless `TEST_LOG` is set (then its value is the filter).
fn test_log_env() -> Vec<(String, String)> {
    let filter = std::env::var("TEST_LOG").unwrap_or_else(|_| "off".into());
    vec![("CLORO_GATEWAY__LOG__FILTER".into(), filter)]
}

impl TestApp {
    /// A gateway with default settings and a default simulator.
    pub async fn spawn() -> anyhow::Result<Self> {
        TestAppBuilder::default().spawn().await
    }

    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// `path` on the admin listener. Panics unless the app was built with
    /// [`TestAppBuilder::admin_listener`].
    pub fn admin_url(&self, path: &str) -> String {
        let address = self
            .admin_address
            .as_deref()
            .expect("no admin listener: build the app with TestApp::builder().admin_listener()");
        format!("{address}{path}")
    }

    /// Creates an active team.
    pub async fn create_team(&self, slug: &str) -> accounting::teams::Team {
        let slug = TeamSlug::parse(slug).expect("valid slug");
        accounting::teams::create(&self.db, &slug, slug.as_str())
            .await
            .expect("create team")
    }

    /// A valid token for `team` minted by the gateway (recorded, revocable).
    pub async fn team_token(&self, team: &str) -> String {
        self.mint(Role::Team, Some(team)).await.token
    }

    /// A valid admin token (subject `cli:admin`).
    pub async fn admin_token(&self) -> String {
        self.mint(Role::Admin, None).await.token
    }

    /// A valid finance token (subject `cli:finance`).
    pub async fn finance_token(&self) -> String {
        self.mint(Role::Finance, None).await.token
    }

    pub async fn mint(&self, role: Role, team: Option<&str>) -> MintedToken {
        cloro_gateway::cli::mint_for(
            &self.db,
            &self.settings,
            role,
            team,
            None,
            Duration::from_secs(3600),
        )
        .await
        .expect("mint token")
    }

    /// A POST with a bearer token and a JSON body.
    pub fn post_json(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(token).json(body)
    }

    /// A GET with a bearer token: the status and the JSON body (null if not JSON).
    pub async fn get_json(&self, path: &str, token: &str) -> (u16, serde_json::Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Another gateway replica sharing this one's database, Redis prefix and simulator.
    pub async fn replica(&self) -> anyhow::Result<Replica> {
        self.replica_with(|_| {}).await
    }

    /// A replica as [`TestApp::replica`], its settings changed by `tweak` first (e.g. a
    /// faster async poller than this app's).
    pub async fn replica_with(&self, tweak: impl FnOnce(&mut Settings)) -> anyhow::Result<Replica> {
        let mut settings = self.settings.clone();
        tweak(&mut settings);
        let app = Application::build(settings).await?;
        let address = format!("http://127.0.0.1:{}", app.port());
        let server = app.handle();
        let db = app.db();
        tokio::spawn(app.run_until_stopped());
        Ok(Replica {
            address,
            server,
            db,
        })
    }

    /// Stops this app's gateway as SIGTERM would (its loops end, detached work drains) and
    /// keeps its database, Redis keys and simulator, so a [`TestApp::replica`] started next
    /// models the gateway restarted. `app.db` stays open for the test's reads.
    pub async fn stop_gateway(&self) {
        self.server.stop(true).await;
    }

    /// Changes the simulator's knobs at run time (`PUT /_sim/config`).
    pub async fn sim_config(&self, patch: serde_json::Value) {
        let response = self
            .http
            .put(format!("{}/_sim/config", self.sim.base_url()))
            .json(&patch)
            .send()
            .await
            .expect("sim config");
        assert!(
            response.status().is_success(),
            "sim config refused: {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// The gateway's `/metrics` text (from the admin listener, if any).
    pub async fn metrics_text(&self) -> String {
        let url = match &self.admin_address {
            Some(_) => self.admin_url("/metrics"),
            None => self.url("/metrics"),
        };
        self.http
            .get(url)
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// The value of the series `series` (its name and labels, exactly as printed) in
    /// `/metrics`, if it is there.
    pub async fn series(&self, series: &str) -> Option<f64> {
        let text = self.metrics_text().await;
        text.lines().find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
    }

    /// A gauge or counter from the gateway's `/metrics` (on the admin listener, if any).
    pub async fn metric(&self, name: &str) -> u64 {
        let text = self.metrics_text().await;
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
    }

    /// Deletes every Redis key of this gateway (its prefix only), as a Redis restart without
    /// persistence, a failover or FLUSHDB would.
    pub async fn flush_redis(&self) {
        let client = redis::Client::open(self.redis_url.as_str()).expect("redis url");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection");
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.redis_prefix))
            .query_async(&mut connection)
            .await
            .expect("KEYS");
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(&keys)
                .query_async::<()>(&mut connection)
                .await
                .expect("DEL");
        }
    }

    /// Stops the gateway's private Postgres (`pg_ctl stop -m fast`: every connection cut).
    /// Panics when the app runs on the shared Postgres, which is never stopped.
    pub async fn stop_postgres(&self) {
        self.private_postgres()
            .lock()
            .await
            .stop_fast()
            .await
            .expect("stopping the private Postgres");
    }

    /// Starts the gateway's private Postgres again, on the same port with the same data.
    pub async fn start_postgres(&self) {
        self.private_postgres()
            .lock()
            .await
            .start()
            .await
            .expect("starting the private Postgres");
    }

    fn private_postgres(&self) -> &Mutex<PrivatePostgres> {
        match &self.database {
            Database::Private(postgres) => postgres,
            Database::Shared(_) => panic!(
                "this app runs on the shared Postgres, which is never stopped: \
                 build it with TestApp::builder().private_postgres()"
            ),
        }
    }

    /// Stops the gateway and the simulator, then drops the test database (or the whole
    /// private Postgres).
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.server.stop(true).await;
        self.sim.stop().await;
        self.db.close().await;
        match self.database {
            Database::Shared(database) => database.drop_now().await,
            Database::Private(postgres) => {
                let mut postgres = postgres.into_inner();
                if postgres.is_running() {
                    postgres.stop_fast().await?;
                }
                // Dropping it removes its directory.
                drop(postgres);
                Ok(())
            }
        }
    }
}
