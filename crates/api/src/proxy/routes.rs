//! The cloro paths a team calls, declared one by one so each appears in the OpenAPI
//! document: every sync monitor endpoint, the free reference data, and `/v1/credits`
//! (answered with the team's own position, never the company balance). Paths are relative to
//! the `/v1` scope (`crate::routing`).

use crate::auth::{Authenticated, Team};
use crate::directory::Directory;
use crate::error::{ApiError, ErrorEnvelope};
use crate::ledger::Ledger;
use crate::pricing::Endpoint;
use crate::proxy::{Proxy, ReferenceData, handle_sync, reply};
use crate::telemetry::RequestId;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, post, web};
use serde::Serialize;
use utoipa::ToSchema;

/// Body of an AI answer-engine call; see cloro's documentation for every field.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PromptRequest {
    /// 1-10000 characters.
    #[schema(min_length = 1, max_length = 10000)]
    prompt: String,
    /// ISO 3166-1 alpha-2, upper case.
    #[schema(pattern = "^[A-Z]{2}$")]
    country: String,
    /// Optional outputs, each a flag, e.g. `{"markdown": true}`.
    include: Option<std::collections::BTreeMap<String, bool>>,
    /// US state (adds credits), only with `country` US; not taken by aimode.
    #[schema(pattern = "^[A-Z]{2}$")]
    state: Option<String>,
}

/// Body of a Google Search / News call.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SearchRequest {
    /// 1-10000 characters; exactly one of `query` and `url` (google/news: `query` only).
    #[schema(min_length = 1, max_length = 10000)]
    query: Option<String>,
    /// An absolute http(s) URL (google only).
    #[schema(pattern = "^https?://[^\\s]+$")]
    url: Option<String>,
    /// ISO 3166-1 alpha-2, upper case (default US).
    #[schema(pattern = "^[A-Z]{2}$")]
    country: Option<String>,
    /// 1-10; each page after the first adds credits.
    #[schema(minimum = 1, maximum = 10)]
    pages: Option<i64>,
    /// Optional outputs, each a flag, e.g. `{"html": true}`.
    include: Option<std::collections::BTreeMap<String, bool>>,
}

/// Body of a google/goto call.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct GotoRequest {
    /// An absolute http(s) URL.
    #[schema(pattern = "^https?://[^\\s]+$")]
    url: String,
}

/// cloro's success envelope, passed through byte for byte.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MonitorResponse {
    success: bool,
    result: serde_json::Map<String, serde_json::Value>,
}

fn request_id(req: &HttpRequest) -> RequestId {
    req.extensions()
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(RequestId::mint)
}

async fn sync(
    caller: Authenticated<Team>,
    proxy: web::Data<Proxy>,
    endpoint: Endpoint,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    handle_sync(
        proxy,
        endpoint,
        caller.team().clone(),
        request_id(&req),
        req.headers().get(super::idempotency::HEADER),
        payload,
    )
    .await
}

macro_rules! monitor_route {
    ($name:ident, $path:literal, $endpoint:expr, $body:ty, $summary:literal) => {
        #[doc = $summary]
        #[utoipa::path(
            tag = "monitor",
            request_body = $body,
            params(
                ("Idempotency-Key" = Option<String>, Header, max_length = 255, pattern = r"^[A-Za-z0-9._:/-]{1,255}$", description = "Replays the first result of a retry with the same key and body for 24 h; 1-255 characters from [A-Za-z0-9._:/-], else 400"),
                ("X-Request-ID" = Option<String>, Header, description = "Echoed and sent upstream; minted when absent, longer than 128 characters or outside [A-Za-z0-9._:/-]"),
            ),
            responses(
                (status = 200, description = "cloro's answer; X-Credits-Charged says what it cost", body = MonitorResponse),
                (status = 400, description = "Invalid body or Idempotency-Key (VALIDATION_ERROR)", body = ErrorEnvelope),
                (status = 401, description = "Missing, malformed, expired or revoked token", body = ErrorEnvelope),
                (status = 403, description = "Team suspended, not a team token, or INSUFFICIENT_CREDITS", body = ErrorEnvelope),
                (status = 408, description = "The body did not arrive in full within server.body_read_timeout_secs (REQUEST_TIMEOUT); nothing was sent or booked", body = ErrorEnvelope),
                (status = 409, description = "Idempotency-Key reused with another body (IDEMPOTENCY_KEY_REUSED), still running (IDEMPOTENCY_KEY_IN_USE), or its first call succeeded with an answer too large to replay (IDEMPOTENCY_REPLY_TOO_LARGE); not sent again", body = ErrorEnvelope),
                (status = 413, description = "Body larger than the limit", body = ErrorEnvelope),
                (status = 429, description = "Rate or concurrency limit", body = ErrorEnvelope),
                (status = 502, description = "cloro unreachable or an engine failed", body = ErrorEnvelope),
                (status = 503, description = "Ledger or limiter unavailable; Retry-After", body = ErrorEnvelope),
                (status = 504, description = "cloro did not answer in time", body = ErrorEnvelope),
            ),
            security(("team_jwt" = []))
        )]
        #[post($path)]
        pub async fn $name(
            caller: Authenticated<Team>,
            proxy: web::Data<Proxy>,
            req: HttpRequest,
            payload: web::Payload,
        ) -> Result<HttpResponse, ApiError> {
            sync(caller, proxy, $endpoint, req, payload).await
        }
    };
}

monitor_route!(
    chatgpt,
    "/monitor/chatgpt",
    Endpoint::Chatgpt,
    PromptRequest,
    "Monitor ChatGPT."
);
monitor_route!(
    perplexity,
    "/monitor/perplexity",
    Endpoint::Perplexity,
    PromptRequest,
    "Monitor Perplexity."
);
monitor_route!(
    copilot,
    "/monitor/copilot",
    Endpoint::Copilot,
    PromptRequest,
    "Monitor Microsoft Copilot."
);
monitor_route!(
    gemini,
    "/monitor/gemini",
    Endpoint::Gemini,
    PromptRequest,
    "Monitor Google Gemini."
);
monitor_route!(
    grok,
    "/monitor/grok",
    Endpoint::Grok,
    PromptRequest,
    "Monitor Grok."
);
monitor_route!(
    aimode,
    "/monitor/aimode",
    Endpoint::Aimode,
    PromptRequest,
    "Monitor Google AI Mode."
);
monitor_route!(
    google,
    "/monitor/google",
    Endpoint::Google,
    SearchRequest,
    "Monitor Google Search."
);
monitor_route!(
    google_news,
    "/monitor/google/news",
    Endpoint::GoogleNews,
    SearchRequest,
    "Monitor Google News."
);
monitor_route!(
    google_goto,
    "/monitor/google/goto",
    Endpoint::GoogleGoto,
    GotoRequest,
    "Resolve a Google URL (free)."
);

/// Supported countries (free), forwarded to cloro.
#[utoipa::path(
    tag = "reference",
    params(("model" = Option<String>, Query, description = "Filter by engine")),
    responses(
        (status = 200, description = "cloro's list, passed through (cached up to an hour)"),
        (status = 400, description = "cloro refused the query", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 403, description = "Not a team token, or the team is suspended", body = ErrorEnvelope),
        (status = 429, description = "The team's rate, or the account's for this route", body = ErrorEnvelope),
        (status = 502, description = "cloro could not be reached", body = ErrorEnvelope),
        (status = 503, description = "Limiter unavailable (Retry-After), or cloro's own 503 passed through", body = ErrorEnvelope),
        (status = 504, description = "cloro did not answer in time", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[get("/countries")]
pub async fn countries(
    caller: Authenticated<Team>,
    data: web::Data<ReferenceData>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    reference(&caller, &data, ("countries", "/v1/countries"), &req).await
}

/// Supported US states (free), forwarded to cloro.
#[utoipa::path(
    tag = "reference",
    params(("country" = String, Query, description = "ISO 3166-1 alpha-2, e.g. US (required by cloro)")),
    responses(
        (status = 200, description = "cloro's list, passed through (cached up to an hour)"),
        (status = 400, description = "No or an unknown country", body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope),
        (status = 403, description = "Not a team token, or the team is suspended", body = ErrorEnvelope),
        (status = 429, description = "The team's rate, or the account's for this route", body = ErrorEnvelope),
        (status = 502, description = "cloro could not be reached", body = ErrorEnvelope),
        (status = 503, description = "Limiter unavailable (Retry-After), or cloro's own 503 passed through", body = ErrorEnvelope),
        (status = 504, description = "cloro did not answer in time", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[get("/states")]
pub async fn states(
    caller: Authenticated<Team>,
    data: web::Data<ReferenceData>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    reference(&caller, &data, ("states", "/v1/states"), &req).await
}

/// Free reference data: admitted against the team's rate, served from the cache or
/// forwarded with the company key, without a ledger entry.
async fn reference(
    caller: &Authenticated<Team>,
    data: &ReferenceData,
    (route, path): (&'static str, &str),
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let path_and_query = match req.query_string() {
        "" => path.to_owned(),
        query => format!("{path}?{query}"),
    };
    let outcome = data
        .get(
            caller.team(),
            route,
            &path_and_query,
            request_id(req).as_str(),
        )
        .await?;
    reply::to_response(outcome, Vec::new())
}

/// The team's own credit position for the current budget period.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamCredits {
    /// Credits left in the period; null when the team has no budget.
    pub remaining: Option<i64>,
    /// The period's budget; null when the team has no budget.
    pub per_cycle: Option<i64>,
    /// When the period ends (UTC).
    pub cycle_resets_at: String,
    /// Credits booked (POSTED and EXPIRED) this period.
    pub charged: i64,
    /// Credits held by requests still in flight.
    pub held: i64,
}

/// The team's credits, in cloro's shape: never the company balance.
#[utoipa::path(
    tag = "reference",
    responses(
        (status = 200, body = TeamCredits),
        (status = 401, body = ErrorEnvelope),
        (status = 403, description = "Not a team token, or the team is suspended", body = ErrorEnvelope),
        (status = 503, description = "Ledger unavailable; Retry-After", body = ErrorEnvelope),
    ),
    security(("team_jwt" = []))
)]
#[get("/credits")]
pub async fn credits(
    caller: Authenticated<Team>,
    directory: web::Data<Directory>,
    ledger: web::Data<Ledger>,
) -> Result<HttpResponse, ApiError> {
    let team = caller.team();
    let period = directory.current_period();
    let totals =
        accounting::ledger::team_totals(ledger.pool(), team.id, Some((period.start, period.end)))
            .await?;
    let budget = directory.quota_of(team.id).budget;
    let used = totals.charged.get() + totals.pending_estimate.get();
    Ok(HttpResponse::Ok().json(TeamCredits {
        remaining: budget.map(|b| (b - used).max(0)),
        per_cycle: budget,
        cycle_resets_at: period
            .end
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        charged: totals.charged.get(),
        held: totals.pending_estimate.get(),
    }))
}
