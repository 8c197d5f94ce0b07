//! The HTTP surface: cloro's routes under `/v1`, the `/_sim` inspection routes, and the edge every request passes.

mod async_routes;
mod body;
mod broken_body;
pub mod edge;
mod headers;
mod monitor_routes;
mod reference_routes;
mod sim_routes;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::endpoint::Endpoint;
use crate::error::ApiError;

/// Registers every route.
pub fn routes(config: &mut web::ServiceConfig) {
    for endpoint in Endpoint::ALL {
        config.route(endpoint.path(), web::post().to(monitor_routes::monitor));
    }
    config
        .route("/v1/async/task", web::post().to(async_routes::create_task))
        .route(
            "/v1/async/task/batch",
            web::post().to(async_routes::create_batch),
        )
        .route("/v1/async/task/{id}", web::get().to(async_routes::get_task))
        .route(
            "/v1/async/status",
            web::get().to(async_routes::queue_status),
        )
        .route(
            "/v1/async/queue",
            web::delete().to(async_routes::delete_queue),
        )
        .route("/v1/countries", web::get().to(reference_routes::countries))
        .route("/v1/states", web::get().to(reference_routes::states))
        .route("/v1/credits", web::get().to(reference_routes::credits))
        .route("/_sim/requests", web::get().to(sim_routes::requests))
        .route("/_sim/stats", web::get().to(sim_routes::stats))
        .route("/_sim/config", web::get().to(sim_routes::get_config))
        .route("/_sim/config", web::put().to(sim_routes::put_config));
}

/// Anything unrouted: 404 RESOURCE_NOT_FOUND.
pub async fn not_found(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "Route {} {} not found",
        request.method(),
        request.path()
    )))
}
