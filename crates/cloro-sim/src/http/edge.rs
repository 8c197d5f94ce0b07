//! The edge every `/v1` request passes: request id, key check, per-second rate limit, error rendering in the live profile, rate headers, and the audit record.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, web};
use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use super::headers::{self, X_LATENCY_MS, X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING, X_REQUEST_ID};
use crate::api_key::{KeyRejection, masked_bearer};
use crate::error::{ApiError, ErrorCode, RouteFamily};
use crate::profile::{Profile, RateScope};
use crate::state::Sim;
use crate::state::rate_limit::RateDecision;
use crate::state::request_log::{RecordKind, RequestRecord};

/// Who asked, available to handlers as a request extension.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub method: String,
    pub path: String,
    pub masked_key: Option<String>,
    /// The caller's X-Request-ID, if it sent one.
    pub caller_request_id: Option<String>,
}

/// What a handler charged and which tasks it touched, left on the response for the audit record.
#[derive(Clone, Debug, Default)]
pub struct ChargeNote {
    pub credits: u64,
    pub task_id: Option<String>,
    pub task_ids: Vec<String>,
}

fn unix_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn auth_error(rejection: KeyRejection) -> ApiError {
    let code = match rejection {
        KeyRejection::Missing => ErrorCode::MissingApiKey,
        KeyRejection::BadFormat => ErrorCode::InvalidApiKeyFormat,
        KeyRejection::Unknown => ErrorCode::InvalidOrExpiredApiKey,
    };
    ApiError::new(code, rejection.to_string())
}

fn caller_request_id(request: &ServiceRequest) -> Option<String> {
    let value = request.headers().get("x-request-id")?.to_str().ok()?.trim();
    (!value.is_empty() && value.len() <= 200).then(|| value.to_owned())
}

/// Re-renders handler errors in the live profile and envelopes anything actix produced itself.
fn rerender(
    response: HttpResponse,
    profile: &Profile,
    family: RouteFamily,
) -> (HttpResponse, Option<ErrorCode>) {
    if let Some(error) = response.error().and_then(|e| e.as_error::<ApiError>()) {
        return (error.render(profile, family), Some(error.code));
    }
    let status = response.status();
    let replacement = if status == StatusCode::METHOD_NOT_ALLOWED || status == StatusCode::NOT_FOUND
    {
        Some(ApiError::not_found("Route not found"))
    } else if let Some(error) = response.error() {
        let code = if status.is_server_error() {
            ErrorCode::InternalServerError
        } else {
            ErrorCode::ValidationError
        };
        Some(ApiError::new(code, error.to_string()))
    } else {
        None
    };
    match replacement {
        Some(error) => (error.render(profile, family), Some(error.code)),
        None => (response, None),
    }
}

/// The middleware itself.
pub async fn edge(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let sim = request.app_data::<web::Data<Sim>>().cloned();
    let Some(sim) = sim.filter(|_| !request.path().starts_with("/_sim")) else {
        return next
            .call(request)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let started = Instant::now();
    let method = request.method().to_string();
    let path = request.path().to_owned();
    let caller_request_id = caller_request_id(&request);
    let request_id = caller_request_id
        .clone()
        .unwrap_or_else(|| Uuid::new_v4().to_string());
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let masked_key = masked_bearer(authorization);
    let auth = sim.api_key.check_header(authorization);
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());

    let (profile, rate) = {
        let mut core = sim.lock();
        let profile = core.knobs.profile;
        let limit = core.knobs.rate_limit;
        let bucket = match profile.rate_scope {
            RateScope::PerEndpoint => format!("{method} {route}"),
            RateScope::Shared => "key".to_owned(),
        };
        let rate = if auth.is_ok() {
            core.rate.admit(&bucket, limit, unix_second())
        } else {
            core.rate.peek(&bucket, limit, unix_second())
        };
        (profile, rate)
    };
    let family = RouteFamily::of_path(&path);
    let rejection = match auth {
        Err(rejection) => Some(auth_error(rejection)),
        Ok(()) if !rate.allowed => Some(
            ApiError::new(
                ErrorCode::RateLimitExceeded,
                format!("Rate limit of {} requests per second exceeded", rate.limit),
            )
            .with_details(json!({ "limit": rate.limit })),
        ),
        Ok(()) => None,
    };

    let reached_handler = rejection.is_none();
    let (http_request, mut response, error_code) = match rejection {
        Some(error) => {
            let (http_request, _) = request.into_parts();
            (
                http_request,
                error.render(&profile, family),
                Some(error.code),
            )
        }
        None => {
            request.extensions_mut().insert(RequestContext {
                method: method.clone(),
                path: path.clone(),
                masked_key: masked_key.clone(),
                caller_request_id: caller_request_id.clone(),
            });
            let (http_request, response) = next.call(request).await?.into_parts();
            let (response, code) = rerender(response.map_into_boxed_body(), &profile, family);
            (http_request, response, code)
        }
    };

    set_edge_headers(&mut response, &request_id, rate);
    let note = response
        .extensions()
        .get::<ChargeNote>()
        .cloned()
        .unwrap_or_default();
    let status = response.status().as_u16();
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::debug!(%method, %path, status, %request_id, "served");
    let mut core = sim.lock();
    if reached_handler && path.starts_with("/v1/monitor/") {
        // Monitor replies the handler did not finish itself (400, 403, ...) still report these.
        let snapshot = core.slots.snapshot(core.knobs.concurrency_limit);
        fill_missing(&mut response, headers::concurrency(&profile, snapshot));
        fill_missing(&mut response, [(X_LATENCY_MS, elapsed_ms.to_string())]);
    }
    core.record(RequestRecord {
        seq: 0,
        time: Utc::now(),
        kind: RecordKind::Http,
        method,
        path,
        key: masked_key,
        request_id: caller_request_id,
        status,
        error_code: error_code.map(|c| c.wire_name(&profile).to_owned()),
        credits_charged: note.credits,
        task_id: note.task_id,
        task_ids: note.task_ids,
        duration_ms: elapsed_ms,
    });
    drop(core);
    Ok(ServiceResponse::new(http_request, response))
}

fn fill_missing(
    response: &mut HttpResponse,
    headers: impl IntoIterator<Item = (HeaderName, String)>,
) {
    for (name, value) in headers {
        if !response.headers().contains_key(&name)
            && let Ok(value) = HeaderValue::from_str(&value)
        {
            response.headers_mut().insert(name, value);
        }
    }
}

fn set_edge_headers(response: &mut HttpResponse, request_id: &str, rate: RateDecision) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(X_REQUEST_ID, value);
    }
    headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(rate.limit));
    headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(rate.remaining));
}
