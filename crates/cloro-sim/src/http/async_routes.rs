//! `/v1/async/*`: submit tasks (one or a batch), read a task, the queue's status, and clearing the queue.

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use uuid::Uuid;

use super::body::{BATCH_BODY_LIMIT, SMALL_BODY_LIMIT, read_json};
use super::edge::ChargeNote;
use crate::error::{ApiError, ErrorCode, FieldError};
use crate::pricing::{self, Mode};
use crate::state::Sim;
use crate::state::SimCore;
use crate::tasks::store::NewTask;
use crate::tasks::view;
use crate::validation::{self, TaskSubmission};

const MAX_BATCH: usize = 500;

fn queue_full(queued: usize, cap: usize) -> ApiError {
    ApiError::new(
        ErrorCode::QueueLimitExceeded,
        format!("Queue limit of {cap} queued tasks exceeded"),
    )
    .with_details(json!({ "limit": cap, "queued": queued }))
}

/// Idempotency, price and balance for one task, then queue it. Returns its id and reply parts.
fn submit(
    core: &mut SimCore,
    submission: TaskSubmission,
) -> Result<(Uuid, Value, Value), ApiError> {
    if let Some(key) = &submission.idempotency_key
        && core.tasks.idempotency_taken(key)
    {
        return Err(ApiError::new(
            ErrorCode::ResourceAlreadyExists,
            "A task with this idempotencyKey already exists",
        )
        .with_details(json!({ "idempotencyKey": key })));
    }
    let quote = pricing::quote(&core.knobs.prices, &submission.request, Mode::Async);
    core.ledger.ensure_affordable(quote.total())?;
    let seed = core.next_seed();
    let id = Uuid::new_v4();
    let task = core.tasks.insert(
        NewTask {
            request: submission.request,
            priority: submission.priority,
            idempotency_key: submission.idempotency_key,
            webhook_url: submission.webhook_url,
            quote,
            seed,
        },
        id,
    );
    Ok((id, view::summary(task), view::credits(task)))
}

pub async fn create_task(
    sim: web::Data<Sim>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(payload, SMALL_BODY_LIMIT).await?;
    let submission = validation::parse_task(&body).map_err(ApiError::validation)?;
    let (id, task, credits) = {
        let mut core = sim.lock();
        let (queued, cap) = (core.tasks.queued_len(), core.knobs.queue_cap);
        if queued >= cap {
            return Err(queue_full(queued, cap));
        }
        submit(&mut core, submission)?
    };
    sim.dispatcher_wake.notify_one();
    let mut response =
        HttpResponse::Ok().json(json!({ "success": true, "task": task, "credits": credits }));
    response.extensions_mut().insert(ChargeNote {
        task_id: Some(id.to_string()),
        ..ChargeNote::default()
    });
    Ok(response)
}

pub async fn create_batch(
    sim: web::Data<Sim>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(payload, BATCH_BODY_LIMIT).await?;
    let Some(items) = body.as_array() else {
        return Err(ApiError::validation(vec![FieldError::new(
            "body",
            "Expected a JSON array of tasks",
        )]));
    };
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::validation(vec![FieldError::new(
            "body",
            format!("A batch holds between 1 and {MAX_BATCH} tasks"),
        )]));
    }
    let parsed: Vec<_> = items.iter().map(validation::parse_task).collect();

    let mut results = Vec::with_capacity(parsed.len());
    let mut created = Vec::new();
    {
        let mut core = sim.lock();
        let (queued, cap) = (core.tasks.queued_len(), core.knobs.queue_cap);
        if queued + items.len() > cap {
            return Err(queue_full(queued, cap));
        }
        let profile = core.knobs.profile;
        for (index, item) in parsed.into_iter().enumerate() {
            let outcome = item
                .map_err(ApiError::validation)
                .and_then(|s| submit(&mut core, s));
            results.push(match outcome {
                Ok((id, task, credits)) => {
                    created.push(id.to_string());
                    json!({ "success": true, "index": index, "task": task, "credits": credits })
                }
                Err(error) => json!({ "success": false, "index": index, "error": error.error_object(&profile) }),
            });
        }
    }
    sim.dispatcher_wake.notify_one();
    let summary = json!({ "total": results.len(), "succeeded": created.len(), "failed": results.len() - created.len() });
    let mut response =
        HttpResponse::Ok().json(json!({ "success": true, "summary": summary, "results": results }));
    response.extensions_mut().insert(ChargeNote {
        task_ids: created,
        ..ChargeNote::default()
    });
    Ok(response)
}

pub async fn get_task(
    sim: web::Data<Sim>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let task_id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::validation(vec![FieldError::new("taskId", "Must be a UUID")]))?;
    let status = sim
        .lock()
        .tasks
        .get(&task_id)
        .map(view::status_object)
        .ok_or_else(|| ApiError::not_found(format!("Task {task_id} not found")))?;
    let mut response = HttpResponse::Ok().json(status);
    response.extensions_mut().insert(ChargeNote {
        task_id: Some(task_id.to_string()),
        ..ChargeNote::default()
    });
    Ok(response)
}

pub async fn queue_status(sim: web::Data<Sim>) -> HttpResponse {
    let core = sim.lock();
    let breakdown: Vec<Value> = core
        .tasks
        .priority_breakdown()
        .into_iter()
        .map(|(priority, count)| json!({ "priority": priority, "count": count }))
        .collect();
    HttpResponse::Ok().json(json!({
        "queuedTasks": core.tasks.queued_len(),
        "processingTasks": core.tasks.processing_len(),
        "priorityBreakdown": breakdown,
        "concurrency": { "used": core.slots.in_flight(), "max": core.knobs.concurrency_limit },
    }))
}

pub async fn delete_queue(sim: web::Data<Sim>) -> Result<HttpResponse, ApiError> {
    let mut core = sim.lock();
    if !core.knobs.profile.queue_delete {
        return Err(ApiError::not_found(
            "Route DELETE /v1/async/queue not found",
        ));
    }
    let cleared = core.tasks.clear_queue();
    Ok(HttpResponse::Ok().json(json!({ "success": true, "cleared": cleared })))
}
