//! `POST /v1/monitor/*`: validate, price, check the balance, take a concurrency slot (or 429), run the engine, charge on success (a broken body included).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header::{ContentType, HeaderName};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::body::{SMALL_BODY_LIMIT, read_json};
use super::broken_body;
use super::edge::{ChargeNote, RequestContext};
use super::headers::{self, X_CREDITS_CHARGED, X_CREDITS_REMAINING, X_LATENCY_MS};
use crate::endpoint::Endpoint;
use crate::error::{ApiError, ErrorCode};
use crate::execution::{self, Fault, Outcome, Plan};
use crate::monitor_request::MonitorRequest;
use crate::pricing::{self, Mode, Quote};
use crate::state::knobs::Knobs;
use crate::state::request_log::{RecordKind, RequestRecord};
use crate::state::slots::SlotSnapshot;
use crate::state::{Sim, SlotGuard};
use crate::validation;

/// How the engine call ended, as the handler needs it.
enum Done {
    Answer {
        result: Value,
        charged: u64,
        remaining: i64,
        /// The `broken_body` fault: charged, but the reply body breaks off.
        body_breaks: bool,
    },
    Fault(Fault),
}

/// Everything decided before the engine runs.
struct Admission {
    knobs: Knobs,
    quote: Quote,
    seed: u64,
    slot: SlotSnapshot,
    holds_slot: bool,
}

pub async fn monitor(
    request: HttpRequest,
    sim: web::Data<Sim>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let endpoint = Endpoint::from_path(request.path())
        .ok_or_else(|| ApiError::not_found("Route not found"))?;
    let context = request.extensions().get::<RequestContext>().cloned();
    let body = read_json(payload, SMALL_BODY_LIMIT).await?;
    let monitor_request =
        validation::parse_monitor(endpoint, &body, "").map_err(ApiError::validation)?;
    let sim = sim.into_inner();
    let admission = admit(&sim, &monitor_request)?;
    let guard = admission
        .holds_slot
        .then(|| SlotGuard::taken(Arc::clone(&sim)));
    let plan = execution::plan(
        &monitor_request,
        admission.seed,
        &admission.knobs.latency,
        &admission.knobs.faults,
    );

    // The work runs on its own: a client that hangs up does not stop it, and it is still charged.
    let (sender, receiver) = oneshot::channel();
    let job_sim = Arc::clone(&sim);
    let prices = admission.knobs.prices.clone();
    let quote = admission.quote;
    tokio::spawn(async move {
        let started = Instant::now();
        let done = execute(&job_sim, &monitor_request, &prices, &quote, plan).await;
        drop(guard);
        let elapsed = started.elapsed();
        if let Err((done, elapsed)) = sender.send((done, elapsed)) {
            record_abandoned(&job_sim, context, &done, elapsed);
        }
    });
    let (done, elapsed) = receiver
        .await
        .map_err(|_| ApiError::new(ErrorCode::InternalServerError, "The engine call was lost"))?;
    respond(done, elapsed, &admission)
}

/// Price, balance, concurrency slot and seed, decided under one lock.
fn admit(sim: &Sim, monitor_request: &MonitorRequest) -> Result<Admission, ApiError> {
    let mut core = sim.lock();
    let knobs = core.knobs.clone();
    let quote = pricing::quote(&knobs.prices, monitor_request, Mode::Sync);
    core.ledger.ensure_affordable(quote.total())?;
    let limit = knobs.concurrency_limit;
    let holds_slot = monitor_request.endpoint.takes_slot();
    let slot = if holds_slot {
        core.slots.try_acquire(limit).map_err(|full| {
            ApiError::new(
                ErrorCode::ConcurrentLimitExceeded,
                "Concurrent limit exceeded",
            )
            .with_details(json!({ "limit": limit }))
            .with_headers(headers::concurrency(&knobs.profile, full))
        })?
    } else {
        core.slots.snapshot(limit)
    };
    let seed = core.next_seed();
    Ok(Admission {
        knobs,
        quote,
        seed,
        slot,
        holds_slot,
    })
}

async fn execute(
    sim: &Sim,
    monitor_request: &MonitorRequest,
    prices: &pricing::PriceTable,
    quote: &Quote,
    plan: Plan,
) -> Done {
    plan.wait_latency().await;
    let (answer, body_breaks) = match plan.outcome {
        Outcome::Answer(answer) => (answer, false),
        Outcome::BrokenBody(answer) => (answer, true),
        Outcome::Fault(fault) => return Done::Fault(fault),
    };
    let charged = pricing::settle(prices, monitor_request, quote, answer.product_clusters);
    let remaining = sim.lock().ledger.charge(charged);
    Done::Answer {
        result: answer.result,
        charged,
        remaining,
        body_breaks,
    }
}

fn respond(done: Done, elapsed: Duration, admission: &Admission) -> Result<HttpResponse, ApiError> {
    let mut extra: Vec<(HeaderName, String)> =
        headers::concurrency(&admission.knobs.profile, admission.slot);
    extra.push((X_LATENCY_MS, elapsed.as_millis().to_string()));
    match done {
        Done::Fault(fault) => Err(fault
            .to_error(admission.knobs.retry_after_secs)
            .with_headers(extra)),
        Done::Answer {
            result,
            charged,
            remaining,
            body_breaks,
        } => {
            let mut response = HttpResponse::Ok();
            response
                .insert_header((X_CREDITS_CHARGED, charged.to_string()))
                .insert_header((X_CREDITS_REMAINING, remaining.max(0).to_string()));
            for header in extra {
                response.insert_header(header);
            }
            let body = json!({ "success": true, "result": result });
            let mut response = if body_breaks {
                response
                    .content_type(ContentType::json())
                    .streaming(broken_body::cut_off(body.to_string().into()))
            } else {
                response.json(body)
            };
            response.extensions_mut().insert(ChargeNote {
                credits: charged,
                ..ChargeNote::default()
            });
            Ok(response)
        }
    }
}

/// The client left before the answer: record what the work cost anyway (status 499).
fn record_abandoned(sim: &Sim, context: Option<RequestContext>, done: &Done, elapsed: Duration) {
    let context = context.unwrap_or(RequestContext {
        method: "POST".into(),
        path: String::new(),
        masked_key: None,
        caller_request_id: None,
    });
    let mut core = sim.lock();
    let profile = core.knobs.profile;
    let (charged, error_code) = match done {
        Done::Answer { charged, .. } => (*charged, None),
        Done::Fault(fault) => (0, Some(fault.code().wire_name(&profile).to_owned())),
    };
    core.record(RequestRecord {
        seq: 0,
        time: Utc::now(),
        kind: RecordKind::Abandoned,
        method: context.method,
        path: context.path,
        key: context.masked_key,
        request_id: context.caller_request_id,
        status: 499,
        error_code,
        credits_charged: charged,
        task_id: None,
        task_ids: Vec::new(),
        duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
    });
}
