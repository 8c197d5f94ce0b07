//! The OpenAPI document, generated from the route declarations themselves
//! (`utoipa-actix-web` collects each `#[utoipa::path]` as the route is mounted), so the
//! spec and the routes cannot drift. `cloro-gateway openapi` prints it.

use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cloro-gateway",
        description = "A drop-in cloro API for many teams sharing one cloro account: the same paths, bodies and replies, with a team JWT instead of the company key.",
    ),
    tags(
        (name = "monitor", description = "cloro's sync monitor endpoints, proxied for a team"),
        (name = "async", description = "cloro's async tasks and batches, owned and accounted per team, and the receiver of cloro's completions"),
        (name = "reference", description = "Reference data and the team's credits"),
        (name = "health", description = "Liveness and readiness probes"),
        (name = "admin", description = "Teams, quotas, tokens, account settings and the audit log (admin token)"),
        (name = "finance", description = "The ledger, usage, exports, reconciliation and alerts (finance or admin token)"),
        (name = "team", description = "A team's own quota, usage and ledger (team token)"),
    ),
    modifiers(&BearerJwt)
)]
pub struct ApiDoc;

/// Declares the bearer JWT schemes routes refer to.
struct BearerJwt;

impl Modify for BearerJwt {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "team_jwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A team token (role `team`) in place of the cloro API key",
                    ))
                    .build(),
            ),
        );
        for (name, description) in [
            ("admin_jwt", "An admin token (role `admin`)"),
            (
                "finance_jwt",
                "A finance token (role `finance`); admin tokens are accepted too",
            ),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .description(Some(description))
                        .build(),
                ),
            );
        }
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`server.metrics_token`, when it is set (else /metrics is open)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The full document, as served at `/openapi.json` and committed in `openapi/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::routing::configure_routes)
        .split_for_parts();
    api
}

/// The document as pretty JSON with a trailing newline, exactly as committed.
pub fn document_json() -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(&document())?;
    text.push('\n');
    Ok(text)
}
