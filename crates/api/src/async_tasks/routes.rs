//! The async routes a team calls, in cloro's shapes (the official SDK's `async_tasks` calls
//! work unchanged), the admin's queue clearing, and the receiver of cloro's deliveries.
//! Submissions run detached from the team's connection once their body is read: a recorded
//! entry is never abandoned because the team hung up.

use super::AsyncTasks;
use super::reply::{map_key, team_webhook};
use super::submit::Answer;
use crate::auth::{Admin, Authenticated, Team};
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::request_body::{parse_json, read_limited};
use crate::telemetry::RequestId;
use accounting::async_tasks as store;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, delete, get, post, web};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tracing::Instrument;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

/// Mounts the team's async routes (paths relative to the `/v1` scope, team tokens only).
pub fn configure_v1(cfg: &mut ServiceConfig) {
    cfg.service(create_task)
        .service(create_batch)
        .service(get_task)
        .service(queue_status)
        .service(team_clear_queue);
}

/// Mounts the admin's queue clearing (`DELETE /admin/async/queue`, in the `/admin` scope).
/// [`cloro_delivery`] is mounted outside every scope: cloro sends no token.
pub fn configure_admin(cfg: &mut ServiceConfig) {
    cfg.service(admin_clear_queue);
}

/// The largest webhook delivery accepted.
const MAX_DELIVERY_BYTES: usize = 1024 * 1024;

fn respond(answer: Answer) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(answer.status.as_u16())
        .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
    HttpResponse::build(status).json(answer.body)
}

/// The caller's own `X-Request-ID`, kept on the entries it creates.
fn client_request_id(req: &HttpRequest) -> Option<String> {
    req.extensions()
        .get::<RequestId>()
        .filter(|id| !id.minted)
        .map(|id| id.as_str().to_owned())
}

/// What a submission route submits.
#[derive(Clone, Copy)]
enum Submission {
    One,
    Batch,
}

/// Reads the body, then submits detached from the team's connection (a tracked task).
async fn submit_detached(
    caller: Authenticated<Team>,
    service: web::Data<AsyncTasks>,
    req: HttpRequest,
    payload: web::Payload,
    submission: Submission,
) -> Result<HttpResponse, ApiError> {
    let body = read_limited(
        payload,
        service.max_batch_body_bytes,
        service.body_read_timeout,
    )
    .await?;
    let json = parse_json(&body)?;
    let team = caller.team().clone();
    let client_id = client_request_id(&req);
    let service = service.into_inner();
    let tasks = service.tasks.clone();
    let answer = tasks
        .spawn(
            async move {
                match submission {
                    Submission::One => service.submit_one(&team, json, client_id).await,
                    Submission::Batch => service.submit_batch(&team, json, client_id).await,
                }
            }
            .in_current_span(),
        )
        .await
        .map_err(ApiError::internal)??;
    Ok(respond(answer))
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::ResourceNotFound, "Task not found")
}

/// Submit one async task (no sync surcharge; settled at cloro's `creditsCharged`).
#[utoipa::path(
    tag = "async",
    request_body(content = serde_json::Value, description = "`{taskType, payload, priority?, idempotencyKey?, webhook?{url}}`"),
    responses(
        (status = 200, description = "`{success, task, credits}`; `task.idempotencyKey` is the team's own"),
        (status = 400, description = "Bad task type, payload, priority (above the team's maxPriority) or key", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a team token, suspended, or INSUFFICIENT_CREDITS", body = ErrorEnvelope),
        (status = 408, description = "The body did not arrive in full within server.body_read_timeout_secs (REQUEST_TIMEOUT)", body = ErrorEnvelope),
        (status = 409, description = "The team already used this idempotencyKey", body = ErrorEnvelope),
        (status = 413, description = "Body larger than async_tasks.max_batch_body_bytes", body = ErrorEnvelope),
        (status = 429, description = "Rate limit, or QUEUE_LIMIT_EXCEEDED (the team's maxQueuedTasks)", body = ErrorEnvelope),
        (status = 502, description = "cloro could not be reached; nothing was queued or booked", body = ErrorEnvelope),
        (status = 503, description = "Ledger or limiter unavailable; Retry-After", body = ErrorEnvelope),
        (status = 504, description = "cloro did not answer in time; a task it created is settled when cloro reports it", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[post("/async/task")]
pub async fn create_task(
    caller: Authenticated<Team>,
    service: web::Data<AsyncTasks>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    submit_detached(caller, service, req, payload, Submission::One).await
}

/// Submit up to 500 tasks; each item succeeds or fails on its own, in input order.
#[utoipa::path(
    tag = "async",
    request_body(content = Vec<serde_json::Value>, description = "1-500 task objects"),
    responses(
        (status = 200, description = "`{success, summary{total, succeeded, failed}, results[]}`"),
        (status = 400, description = "Not an array of 1-500 tasks", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a team token or suspended", body = ErrorEnvelope),
        (status = 408, description = "The body did not arrive in full within server.body_read_timeout_secs (REQUEST_TIMEOUT)", body = ErrorEnvelope),
        (status = 413, description = "Body larger than async_tasks.max_batch_body_bytes", body = ErrorEnvelope),
        (status = 429, description = "cloro refused the whole batch", body = ErrorEnvelope),
        (status = 502, description = "cloro could not be reached; nothing was queued or booked", body = ErrorEnvelope),
        (status = 503, description = "Ledger or limiter unavailable; Retry-After", body = ErrorEnvelope),
        (status = 504, description = "cloro did not answer in time; the tasks it created are settled when cloro reports them", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[post("/async/task/batch")]
pub async fn create_batch(
    caller: Authenticated<Team>,
    service: web::Data<AsyncTasks>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    submit_detached(caller, service, req, payload, Submission::Batch).await
}

/// One of the team's tasks, as cloro reports it (another team's task is 404).
#[utoipa::path(
    tag = "async",
    params(("id" = String, Path, description = "The task id cloro gave")),
    responses(
        (status = 200, description = "`{task, credits, webhook?, response?}`"),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a team token, or the team is suspended", body = ErrorEnvelope),
        (status = 404, description = "No such task of this team", body = ErrorEnvelope),
        (status = 429, description = "cloro's rate limit on reading the task, passed through", body = ErrorEnvelope),
        (status = 502, description = "cloro could not be reached", body = ErrorEnvelope),
        (status = 503, description = "Ledger unavailable (Retry-After), or cloro's own 503 passed through", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[get("/async/task/{id}")]
pub async fn get_task(
    caller: Authenticated<Team>,
    service: web::Data<AsyncTasks>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let task_id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let task = store::owned(service.ledger.pool(), caller.team().id, task_id)
        .await?
        .ok_or_else(not_found)?;
    let reading = service.refresh(&task, task_id).await?;
    if reading.status == StatusCode::NOT_FOUND {
        return Err(not_found());
    }
    let mut view = reading.view;
    if reading.status.is_success() {
        team_webhook(&mut view, task.webhook_url.as_deref());
    }
    map_key(&mut view, &task.upstream_key, task.team_key.as_deref());
    Ok(respond(Answer {
        status: reading.status,
        body: view,
    }))
}

/// The team's own queue and the account's concurrency.
#[utoipa::path(
    tag = "async",
    responses(
        (status = 200, description = "`{queuedTasks, processingTasks, priorityBreakdown[{priority, count}], concurrency{used, max}}`: the team's tasks only"),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not a team token, or the team is suspended", body = ErrorEnvelope),
        (status = 503, description = "Ledger unavailable; Retry-After", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[get("/async/status")]
pub async fn queue_status(
    caller: Authenticated<Team>,
    service: web::Data<AsyncTasks>,
) -> Result<HttpResponse, ApiError> {
    let counts = store::team_counts(service.ledger.pool(), caller.team().id).await?;
    let account = service.cloro_queue_status().await;
    let concurrency = account
        .as_ref()
        .and_then(|status| status.get("concurrency").cloned())
        .unwrap_or_else(
            || json!({"used": null, "max": service.account.current().limits.concurrency}),
        );
    let breakdown: Vec<Value> = counts
        .by_priority
        .iter()
        .map(|(priority, count)| json!({"priority": priority, "count": count}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "queuedTasks": counts.queued,
        "processingTasks": counts.processing,
        "priorityBreakdown": breakdown,
        "concurrency": concurrency,
    })))
}

/// Refused for team tokens: the queue is shared by every team (an admin clears it).
#[utoipa::path(
    tag = "async",
    responses(
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Always: clearing the shared queue is an admin action (DELETE /admin/async/queue)", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[delete("/async/queue")]
pub async fn team_clear_queue(_caller: Authenticated<Team>) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::Forbidden,
        "The async queue is shared by every team; an admin clears it",
    ))
}

/// Clear cloro's whole async queue (every team's queued tasks) and release their entries.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "`{success, cleared, released}`: tasks cloro deleted, entries voided and holds given back"),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Not an admin token", body = ErrorEnvelope),
        (status = 429, description = "cloro's rate limit, passed through; nothing was cleared", body = ErrorEnvelope),
        (status = 502, description = "cloro could not be reached", body = ErrorEnvelope),
        (status = 503, description = "Ledger unavailable (Retry-After), or cloro's own 503 passed through", body = ErrorEnvelope),
    ),
    security(("admin_jwt" = []))
)]
#[delete("/async/queue")]
pub async fn admin_clear_queue(
    _admin: Authenticated<Admin>,
    service: web::Data<AsyncTasks>,
) -> Result<HttpResponse, ApiError> {
    let reply = service
        .upstream
        .send(
            Method::DELETE,
            "/v1/async/queue",
            None,
            RequestId::mint().as_str(),
        )
        .await
        .map_err(|failure| {
            ApiError::new(ErrorCode::UpstreamUnreachable, "cloro could not be reached")
                .with_cause(anyhow::anyhow!(failure.to_string()))
        })?;
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or_default();
    if !reply.status.is_success() {
        return Ok(respond(Answer {
            status: reply.status,
            body,
        }));
    }
    let mut released = 0;
    for task in store::queued(service.ledger.pool()).await? {
        let Some(task_id) = task.task_id else {
            continue;
        };
        let gone = service
            .read_task(task_id)
            .await
            .is_ok_and(|reply| reply.status == StatusCode::NOT_FOUND);
        if gone && service.cleared(&task).await? {
            released += 1;
        }
    }
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "cleared": body.get("cleared").cloned().unwrap_or(Value::Null),
        "released": released,
    })))
}

/// cloro's completion of a task (the gateway's `async_tasks.webhook_url`).
#[utoipa::path(
    tag = "async",
    request_body(content = serde_json::Value, description = "cloro's task-status object"),
    responses(
        (status = 200, description = "Acknowledged: the settlement is durable (or the task is unknown)"),
        (status = 400, description = "The delivery is not JSON (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 401, description = "Signature missing, stale or wrong (when a secret is configured)", body = ErrorEnvelope),
        (status = 408, description = "The body did not arrive in full within server.body_read_timeout_secs", body = ErrorEnvelope),
        (status = 413, description = "The delivery is larger than 1 MiB", body = ErrorEnvelope),
        (status = 502, description = "Unsigned delivery: the task could not be read from cloro to confirm it; cloro delivers again", body = ErrorEnvelope),
        (status = 503, description = "Could not settle now; cloro delivers again", body = ErrorEnvelope),
    )
)]
#[post("/webhooks/cloro")]
pub async fn cloro_delivery(
    service: web::Data<AsyncTasks>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_limited(payload, MAX_DELIVERY_BYTES, service.body_read_timeout).await?;
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let signed = (header("x-cloro-timestamp"), header("x-cloro-signature"));
    let service = service.into_inner();
    let tasks = service.tasks.clone();
    tasks
        .spawn(async move { service.receive(signed, &body).await }.in_current_span())
        .await
        .map_err(ApiError::internal)??;
    Ok(HttpResponse::Ok().json(json!({"received": true})))
}
