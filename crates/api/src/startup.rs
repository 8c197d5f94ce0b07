//! Building the application: connections, migrations, the listener and the HTTP server.
//! `main` and the tests both start the gateway through [`Application::build`].

use crate::account::AccountState;
use crate::admission::{self, Admitter};
use crate::auth::route_roles;
use crate::auth::{Authenticator, Directory};
use crate::config::Settings;
use crate::connections;
use crate::error::{ApiError, ErrorCode};
use crate::extractors;
use crate::maintenance;
use crate::openapi::ApiDoc;
use crate::proxy::Proxy;
use crate::routes;
use crate::state::AppState;
use crate::tasks::BackgroundTasks;
use crate::telemetry;
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
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_swagger_ui::SwaggerUi;

/// A built, bound, not yet running gateway.
pub struct Application {
    port: u16,
    server: Server,
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
        let limiter = Arc::new(connections::redis_limiter(
            &settings.redis,
            &settings.limits,
        )?);
        maintenance::start_partition_upkeep(db.clone()).await?;
        let account = AccountState::new(&settings);
        let directory = Directory::start(
            db.clone(),
            Duration::from_millis(settings.auth.directory_refresh_ms),
            account.clone(),
        )
        .await?;
        let authenticator = Authenticator::build(&settings.auth, directory.clone()).await?;
        let tasks = BackgroundTasks::new()?;
        let admission = Arc::new(Admitter::new(
            limiter.clone(),
            directory.clone(),
            db.clone(),
            settings.limits.clone(),
            account.clone(),
            Duration::from_millis(settings.ledger.write_timeout_ms),
            tasks.clone(),
        ));
        admission::spawn_reconciler(
            Arc::downgrade(&admission),
            Duration::from_secs(settings.limits.budget_reconcile_secs),
        );
        let sweeper = Sweeper::spawn(
            db.clone(),
            Duration::from_secs(settings.ledger.sweep_every_secs),
            Duration::from_secs(settings.ledger.pending_deadline_secs),
        );
        let proxy = Proxy::new(
            &settings,
            db.clone(),
            admission,
            account.clone(),
            tasks.clone(),
        )?;
        let shutdown_timeout = Duration::from_secs(settings.server.shutdown_timeout_secs);
        let listener = TcpListener::bind(&settings.server.listen)
            .with_context(|| format!("binding {}", settings.server.listen))?;
        let port = listener.local_addr()?.port();
        let db_handle = db.clone();
        let state = AppState {
            settings: Arc::new(settings),
            db,
            limiter,
            directory,
            account,
        };
        let server = serve(
            state,
            web::Data::new(authenticator),
            web::Data::new(proxy),
            listener,
        )?;
        Ok(Self {
            port,
            server,
            db: db_handle,
            tasks,
            shutdown_timeout,
            _sweeper: sweeper,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The application's Postgres pool. Closing it ends every background task's database
    /// work (sweeper, directory refresh, ledger writers) for good.
    pub fn db(&self) -> sqlx::PgPool {
        self.db.clone()
    }

    /// Stops the server gracefully when called (SIGTERM does the same).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGTERM, SIGINT or the handle), then waits up to
    /// `server.shutdown_timeout_secs` for detached work: upstream calls whose client hung
    /// up, their settlements and retries, alert deliveries. What still runs after that is
    /// left to the sweeper (ledger) and the lease TTL (limits).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
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

fn serve(
    state: AppState,
    authenticator: web::Data<Authenticator>,
    proxy: web::Data<Proxy>,
    listener: TcpListener,
) -> anyhow::Result<Server> {
    let settings = state.settings.clone();
    let data = web::Data::new(state);
    let mut server = HttpServer::new(move || {
        let (app, api) = App::new()
            .into_utoipa_app()
            .openapi(ApiDoc::openapi())
            .configure(configure_routes)
            .split_for_parts();
        app.wrap(from_fn(route_roles::enforce))
            .wrap(from_fn(telemetry::request_id))
            .app_data(data.clone())
            .app_data(authenticator.clone())
            .app_data(proxy.clone())
            .app_data(extractors::query_config())
            .app_data(extractors::json_config())
            .app_data(extractors::path_config())
            .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", api))
            .default_service(web::to(not_found))
    })
    .shutdown_timeout(settings.server.shutdown_timeout_secs)
    .client_request_timeout(Duration::from_secs(60))
    .listen(listener)?;
    if settings.server.workers > 0 {
        server = server.workers(settings.server.workers);
    }
    Ok(server.run())
}

/// Every route of the gateway, mounted with its OpenAPI declaration.
pub fn configure_routes(cfg: &mut ServiceConfig) {
    use crate::proxy::routes as cloro;
    cfg.service(routes::health::healthz)
        .service(routes::health::readyz)
        .service(routes::metrics::metrics)
        .service(cloro::chatgpt)
        .service(cloro::perplexity)
        .service(cloro::copilot)
        .service(cloro::gemini)
        .service(cloro::grok)
        .service(cloro::aimode)
        .service(cloro::google)
        .service(cloro::google_news)
        .service(cloro::google_goto)
        .service(cloro::countries)
        .service(cloro::states)
        .service(cloro::credits)
        .configure(crate::admin::configure)
        .configure(crate::finance::configure);
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::ResourceNotFound,
        "Route not found",
    ))
}
