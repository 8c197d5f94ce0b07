//! A team's side of the relay: its signing secret (created on first read, rotated on demand)
//! and its own deliveries with every attempt, newest first. Every query is bound to the
//! token's team.

use super::Relay;
use crate::auth::{Authenticated, Team};
use crate::error::{ApiError, ErrorEnvelope};
use crate::pagination::{decode_cursor, fetch_size, page_limit, trim_page};
use accounting::webhook_relay::{self as store, Attempt, DeliveryRecord, WebhookSecret};
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

/// Mounts the team's relay routes (paths relative to the `/team` scope).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(webhook_secret)
        .service(rotate_webhook_secret)
        .service(webhook_deliveries);
}

/// The key the team's receiver verifies `X-Cloro-Signature` with (no `Debug`: never logged).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSecretView {
    /// `whsec_...`: HMAC-SHA256 key (the whole string) of `"<X-Cloro-Timestamp>.<raw body>"`.
    pub secret: String,
    pub created_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
}

impl From<WebhookSecret> for WebhookSecretView {
    fn from(secret: WebhookSecret) -> Self {
        Self {
            secret: secret.secret,
            created_at: secret.created_at,
            rotated_at: secret.rotated_at,
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Only the deliveries of this task (cloro's task id).
    pub task_id: Option<Uuid>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    pub attempt: i32,
    /// The `X-Cloro-Webhook-Id` it was sent with.
    pub webhook_id: String,
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<i32>,
    /// Why the attempt failed, if it did.
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub id: i64,
    /// cloro's task id, when the gateway learned it.
    pub task_id: Option<Uuid>,
    pub url: String,
    /// PENDING, DELIVERED or FAILED.
    pub state: String,
    pub attempt_count: i32,
    /// When a PENDING delivery is attempted next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub attempts: Vec<AttemptView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPage {
    pub items: Vec<DeliveryView>,
    pub next_cursor: Option<String>,
}

/// The calling team's webhook signing secret, created on first read.
#[utoipa::path(
    tag = "team",
    responses(
        (status = 200, body = WebhookSecretView),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a team token", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[get("/webhook-secret")]
pub async fn webhook_secret(
    caller: Authenticated<Team>,
    relay: web::Data<Relay>,
) -> Result<HttpResponse, ApiError> {
    let secret = store::secret_for(relay.pool(), caller.team().id).await?;
    Ok(secret_response(secret))
}

/// Replaces the calling team's signing secret; deliveries from now on use the new one.
#[utoipa::path(
    tag = "team",
    responses(
        (status = 200, body = WebhookSecretView),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a team token", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[post("/webhook-secret/rotate")]
pub async fn rotate_webhook_secret(
    caller: Authenticated<Team>,
    relay: web::Data<Relay>,
) -> Result<HttpResponse, ApiError> {
    let team = caller.team();
    let secret = store::rotate_secret(relay.pool(), team.id).await?;
    tracing::info!(team = %team.slug, "webhook signing secret rotated");
    Ok(secret_response(secret))
}

fn secret_response(secret: WebhookSecret) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(WebhookSecretView::from(secret))
}

/// The calling team's webhook deliveries with their attempts, newest first.
#[utoipa::path(
    tag = "team",
    params(DeliveryParams),
    responses(
        (status = 200, body = DeliveryPage),
        (status = 400, description = "Unknown parameter; bad task id, limit or cursor", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a team token", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[get("/webhook-deliveries")]
pub async fn webhook_deliveries(
    caller: Authenticated<Team>,
    relay: web::Data<Relay>,
    params: web::Query<DeliveryParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(params.limit)?;
    let before = params
        .cursor
        .as_deref()
        .map(decode_cursor::<i64>)
        .transpose()?;
    let mut deliveries = store::list_for_team(
        relay.pool(),
        caller.team().id,
        params.task_id,
        before,
        i64::from(fetch_size(limit)),
    )
    .await?;
    let next_cursor = trim_page(&mut deliveries, limit, |delivery| delivery.id);
    Ok(HttpResponse::Ok().json(DeliveryPage {
        items: deliveries.into_iter().map(view).collect(),
        next_cursor,
    }))
}

fn view(delivery: DeliveryRecord) -> DeliveryView {
    let named = delivery.task_id.unwrap_or(delivery.entry_id);
    DeliveryView {
        id: delivery.id,
        task_id: delivery.task_id,
        url: delivery.url,
        state: delivery.state.as_str().to_owned(),
        attempt_count: delivery.attempts,
        next_attempt_at: delivery.next_attempt_at,
        last_status: delivery.last_status,
        last_error: delivery.last_error,
        created_at: delivery.created_at,
        delivered_at: delivery.delivered_at,
        attempts: delivery
            .attempt_log
            .into_iter()
            .map(|attempt: Attempt| AttemptView {
                webhook_id: super::sign::webhook_id(named, attempt.attempt),
                attempt: attempt.attempt,
                at: attempt.at,
                status: attempt.status,
                error: attempt.error,
            })
            .collect(),
    }
}
