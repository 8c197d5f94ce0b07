//! Building the application: connections, migrations, the listener and the HTTP server.
//! `main` and the tests both start the gateway through [`Application::build`].

use crate::admission::{self, Admitter};
use crate::alerts::Alerter;
use crate::async_tasks::{self, AsyncTaskServices, AsyncTasks};
use crate::auth::{self, Authenticator};
use crate::config::Settings;
use crate::connections;
use crate::directory::{AccountSettings, Directory, DirectoryConfig};
use crate::error::{ApiError, ErrorCode};
use crate::extractors;
use crate::ledger::Ledger;
use crate::ledger_gauges::LedgerGaugeReader;
use crate::maintenance;
use crate::openapi::ApiDoc;
use crate::proxy::{OutcomeCounters, Proxy, ProxyServices, ReferenceData};
use crate::relay::{Relay, RelayOptions};
use crate::routes;
use crate::routes::metrics::{MetricsSources, MetricsToken};
use crate::routing;
use crate::services::Services;
use crate::stage_timings::StageTimings;
use crate::tasks::BackgroundTasks;
use crate::team_metrics::TeamMetrics;
use crate::telemetry;
use crate::upstream::Upstream;
use accounting::ledger::{Sweeper, SweeperHandle};
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

/// A built, bound, not yet running gateway.
pub struct Application {
    port: u16,
    server: Server,
    /// The internal listener of `server.admin_listen` (probes, metrics, docs), when set.
    admin: Option<(u16, Server)>,
    db: sqlx::PgPool,
    /// Detached work (upstream calls whose client hung up, settlement retries, alert
    /// deliveries) that shutdown drains.
    tasks: BackgroundTasks,
    shutdown_timeout: Duration,
    /// Stops the sweeper when the application is dropped.
    _sweeper: SweeperHandle,
}

impl Application {
    /// Connects to Postgres (running migrations) and Redis, binds `server.listen`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = connections::connect_postgres(&settings.database).await?;
        connections::migrate(&db).await?;
        let services = start_services(&settings, db.clone()).await?;
        let sweeper = Sweeper::spawn(
            db.clone(),
            Duration::from_secs(settings.ledger.sweep_every_secs),
            Duration::from_secs(settings.ledger.pending_deadline_secs),
        );
        let listener = TcpListener::bind(&settings.server.listen)
            .with_context(|| format!("binding {}", settings.server.listen))?;
        let port = listener.local_addr()?.port();
        let admin_listener = match settings.server.admin_listen.as_str() {
            "" => None,
            address => {
                Some(TcpListener::bind(address).with_context(|| format!("binding {address}"))?)
            }
        };
        let tasks = services.tasks.clone();
        let admin = match admin_listener {
            Some(listener) => Some((
                listener.local_addr()?.port(),
                serve_admin(&settings, services.clone(), listener)?,
            )),
            None => None,
        };
        let server = serve(&settings, services, listener, admin.is_some())?;
        Ok(Self {
            port,
            server,
            admin,
            db,
            tasks,
            shutdown_timeout: Duration::from_secs(settings.server.shutdown_timeout_secs),
            _sweeper: sweeper,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of `server.admin_listen`, when it is set.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin.as_ref().map(|(port, _)| *port)
    }

    /// The application's Postgres pool. Closing it ends every background task's database
    /// work (sweeper, directory refresh, ledger writers) for good.
    pub fn db(&self) -> sqlx::PgPool {
        self.db.clone()
    }

    /// Stops the server gracefully when called (SIGTERM does the same); the admin listener,
    /// if any, stops with it.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGTERM, SIGINT or the handle), then waits up to
    /// `server.shutdown_timeout_secs` for detached work: upstream calls whose client hung
    /// up, their settlements and retries, alert deliveries. What still runs after that is
    /// left to the sweeper (ledger) and the lease TTL (limits).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = match self.admin {
            None => self.server.await,
            Some((_, admin)) => {
                // Either one stopping (the handle stops the public one) stops the other.
                let (public_handle, admin_handle) = (self.server.handle(), admin.handle());
                let public = async {
                    let served = self.server.await;
                    admin_handle.stop(true).await;
                    served
                };
                let admin = async {
                    let served = admin.await;
                    public_handle.stop(true).await;
                    served
                };
                let (public, admin) = tokio::join!(public, admin);
                public.and(admin)
            }
        };
        let running = self.tasks.running();
        if running > 0 {
            tracing::info!(running, "draining detached work before exit");
        }
        let left = self.tasks.drain(self.shutdown_timeout).await;
        if left > 0 {
            tracing::warn!(
                left,
                "shutdown timeout reached with detached work still running; the sweeper and the lease TTL resolve it"
            );
        }
        served
    }
}

/// Every service, and the loops they run (tracked, so shutdown can wait for them).
async fn start_services(settings: &Settings, db: sqlx::PgPool) -> anyhow::Result<Services> {
    let tasks = BackgroundTasks::new()?;
    let limiter = Arc::new(connections::redis_limiter(
        &settings.redis,
        &settings.limits,
    )?);
    maintenance::start_partition_upkeep(db.clone(), &tasks).await?;
    maintenance::start_idempotency_purge(
        db.clone(),
        Duration::from_secs(settings.ledger.idempotency_purge_every_secs),
        &tasks,
    );
    let account = AccountSettings::new(settings);
    let directory = Directory::start(
        db.clone(),
        DirectoryConfig {
            refresh_every: Duration::from_millis(settings.auth.directory_refresh_ms),
            default_quota: settings.limits.team_default.values(),
            budget_period: settings.limits.budget_period,
            own_issuer: settings.auth.issuer.clone(),
        },
        account.clone(),
        &tasks,
    )
    .await?;
    let authenticator = Arc::new(Authenticator::build(&settings.auth, directory.clone()).await?);
    let team_metrics = Arc::new(TeamMetrics::default());
    let admission = Arc::new(
        Admitter::new(
            limiter.clone(),
            directory.clone(),
            db.clone(),
            settings.limits.clone(),
            account.clone(),
            Duration::from_millis(settings.ledger.write_timeout_ms),
            tasks.clone(),
        )
        .with_metrics(team_metrics.clone()),
    );
    admission::spawn_reconciler(
        Arc::downgrade(&admission),
        Duration::from_secs(settings.limits.budget_reconcile_secs),
        &tasks,
    );
    let ledger = Arc::new(Ledger::start(db.clone(), settings));
    let upstream = Arc::new(Upstream::new(&settings.upstream)?);
    let alerts = Alerter::new(db.clone(), &settings.alerts, tasks.clone())?;
    let outcomes = Arc::new(OutcomeCounters::default());
    let stages = Arc::new(StageTimings::default());
    let proxy = Arc::new(Proxy::new(
        settings,
        ProxyServices {
            ledger: ledger.clone(),
            upstream: upstream.clone(),
            admission: admission.clone(),
            alerts: alerts.clone(),
            account: account.clone(),
            tasks: tasks.clone(),
            outcomes: outcomes.clone(),
            stages: stages.clone(),
        },
    ));
    let relay = Relay::new(
        db.clone(),
        RelayOptions::from_settings(&settings.async_tasks),
        tasks.clone(),
    )?;
    relay.spawn_resumer();
    let async_tasks = Arc::new(AsyncTasks::new(
        settings,
        AsyncTaskServices {
            ledger: ledger.clone(),
            upstream: upstream.clone(),
            admission: admission.clone(),
            directory: directory.clone(),
            account: account.clone(),
            relay: relay.clone(),
            tasks: tasks.clone(),
        },
    ));
    async_tasks::spawn_poller(
        Arc::downgrade(&async_tasks),
        Duration::from_secs(settings.async_tasks.poll_every_secs),
        Duration::from_secs(settings.async_tasks.poll_after_secs),
        &tasks,
    );
    async_tasks::spawn_concurrency_probe(Arc::downgrade(&async_tasks), &tasks);
    let reference = Arc::new(ReferenceData::new(upstream.clone(), admission.clone()));
    let metrics = MetricsSources {
        team_metrics: team_metrics.clone(),
        stages: stages.clone(),
        outcomes,
        token: Arc::new(MetricsToken(settings.server.metrics_token.clone())),
        ledger_gauges: Arc::new(LedgerGaugeReader::new(
            Duration::from_secs(settings.ledger.pending_deadline_secs),
            settings.alerts.balance_floor,
        )),
    };
    Ok(Services {
        db,
        limiter,
        directory,
        account,
        authenticator,
        auth_settings: Arc::new(settings.auth.clone()),
        admission,
        ledger,
        upstream,
        alerts,
        stages,
        team_metrics,
        metrics,
        tasks,
        proxy,
        async_tasks,
        relay,
        reference,
    })
}

/// The public listener. With an admin listener (`operator_routes_elsewhere`), the operator
/// routes (readiness, metrics, docs) are not mounted here, so they answer 404.
fn serve(
    settings: &Settings,
    services: Services,
    listener: TcpListener,
    operator_routes_elsewhere: bool,
) -> anyhow::Result<Server> {
    let mut server = HttpServer::new(move || {
        let (app, api) = App::new()
            .into_utoipa_app()
            .openapi(ApiDoc::openapi())
            .configure(|cfg| {
                if operator_routes_elsewhere {
                    cfg.service(routes::health::healthz)
                        .configure(routing::configure_api_routes);
                } else {
                    routing::configure_routes(cfg);
                }
            })
            .split_for_parts();
        let app = app
            .wrap(from_fn(auth::authenticate))
            .wrap(from_fn(telemetry::request_id))
            .configure(|cfg| services.register(cfg))
            .app_data(extractors::query_config())
            .app_data(extractors::json_config())
            .app_data(extractors::path_config());
        let docs = (!operator_routes_elsewhere)
            .then(|| SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", api));
        app.configure(|cfg| {
            if let Some(docs) = docs {
                cfg.service(docs);
            }
        })
        .default_service(web::to(not_found))
    })
    .shutdown_timeout(settings.server.shutdown_timeout_secs)
    .client_request_timeout(Duration::from_secs(
        settings.server.request_head_timeout_secs,
    ))
    .listen(listener)?;
    if settings.server.workers > 0 {
        server = server.workers(settings.server.workers);
    }
    Ok(server.run())
}

/// `server.admin_listen`: liveness, readiness, metrics and the docs, without authentication
/// (none of them needs a token), on an address only operators and probes reach.
fn serve_admin(
    settings: &Settings,
    services: Services,
    listener: TcpListener,
) -> anyhow::Result<Server> {
    let api = crate::openapi::document();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(telemetry::request_id))
            .configure(|cfg| services.register(cfg))
            .service(routes::health::healthz)
            .service(routes::health::readyz)
            .service(routes::metrics::metrics)
            .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", api.clone()))
            .default_service(web::to(not_found))
    })
    .workers(1)
    .shutdown_timeout(settings.server.shutdown_timeout_secs)
    .client_request_timeout(Duration::from_secs(
        settings.server.request_head_timeout_secs,
    ))
    .listen(listener)?;
    Ok(server.run())
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::ResourceNotFound,
        "Route not found",
    ))
}
