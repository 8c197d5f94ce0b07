//! The route table: each family of routes is mounted under its own scope with its role's
//! guard, so a route cannot exist outside its guard, and only cloro's webhook and the
//! operators' routes stand outside any scope.
//!
//! | scope | guard | routes |
//! |---|---|---|
//! | `/v1` | team token | cloro's paths: monitor, reference, credits, async tasks |
//! | `/team` | team token | the team's own quota, usage, ledger, alerts, webhook relay |
//! | `/finance` | finance or admin token | ledger, usage, positions, exports, reconciliation, alerts |
//! | `/admin` | admin token | teams, quotas, tokens, account settings, audit, the async queue |
//! | none | none | `/webhooks/cloro` (signed by cloro), `/console/` (the page is public, its data is the API's), `/healthz`, `/readyz`, `/metrics` (`server.metrics_token` when set) |
//!
//! A handler's path is relative to its scope (`#[get("/teams")]` in `/admin`); the OpenAPI
//! document gets the full path from `utoipa_actix_web::scope`.

use crate::auth::scope_guard::require;
use crate::auth::{Admin, Finance, Team};
use crate::routes;
use actix_web::middleware::from_fn;
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

/// Every route of the gateway, mounted with its OpenAPI declaration.
pub fn configure_routes(cfg: &mut ServiceConfig) {
    cfg.service(routes::health::healthz)
        .service(routes::health::readyz)
        .service(routes::metrics::metrics)
        .configure(configure_api_routes);
}

/// The routes callers use: every route but the operators' (`/healthz`, `/readyz`,
/// `/metrics`), each family in its guarded scope.
pub fn configure_api_routes(cfg: &mut ServiceConfig) {
    cfg.service(
        scope("/v1")
            .wrap(from_fn(require::<Team, _>))
            .wrap(from_fn(crate::team_metrics::count_team_requests))
            .configure(configure_v1),
    )
    .service(
        scope("/team")
            .wrap(from_fn(require::<Team, _>))
            .configure(crate::finance::configure_team)
            .configure(crate::relay::routes::configure),
    )
    .service(
        scope("/finance")
            .wrap(from_fn(require::<Finance, _>))
            .configure(crate::finance::configure_finance),
    )
    .service(
        scope("/admin")
            .wrap(from_fn(require::<Admin, _>))
            .configure(crate::admin::configure)
            .configure(crate::async_tasks::routes::configure_admin),
    )
    // The web console's page and assets: public, its data comes from the guarded routes.
    .configure(crate::console::configure)
    // cloro's deliveries carry no token: the receiver verifies cloro's signature.
    .service(crate::async_tasks::routes::cloro_delivery);
}

/// cloro's own paths, under `/v1`.
fn configure_v1(cfg: &mut ServiceConfig) {
    use crate::proxy::routes as cloro;
    cfg.service(cloro::chatgpt)
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
        .configure(crate::async_tasks::routes::configure_v1);
}
