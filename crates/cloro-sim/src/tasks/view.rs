//! The JSON shapes of a task: the submit summary, the status object and the webhook body.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::store::Task;

fn iso(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn task_type(task: &Task) -> &'static str {
    task.request.endpoint.task_type().unwrap_or("UNKNOWN")
}

/// `task` in a submit reply: `{id, taskType, status, priority, createdAt, idempotencyKey}`.
pub fn summary(task: &Task) -> Value {
    json!({
        "id": task.id,
        "taskType": task_type(task),
        "status": task.status.wire_name(),
        "priority": task.priority,
        "createdAt": iso(task.created_at),
        "idempotencyKey": task.idempotency_key,
    })
}

/// `credits`: `{creditsToCharge, creditsCharged}` (null until done).
pub fn credits(task: &Task) -> Value {
    json!({
        "creditsToCharge": task.quote.total(),
        "creditsCharged": task.credits_charged,
    })
}

/// `GET /v1/async/task/{id}`:
/// `{task{..., latencyMs}, credits, webhook?{url, delivered, deliveredAt}, response?}`.
pub fn status_object(task: &Task) -> Value {
    let mut object = webhook_body(task);
    if let (Some(webhook), Some(map)) = (&task.webhook, object.as_object_mut()) {
        map.insert(
            "webhook".into(),
            json!({
                "url": webhook.url,
                "delivered": webhook.delivered,
                "deliveredAt": webhook.delivered_at.map(iso),
            }),
        );
    }
    object
}

/// The body POSTed to `webhook.url`: the status object without its `webhook` block,
/// `{task{..., latencyMs}, credits, response?}`.
pub fn webhook_body(task: &Task) -> Value {
    let mut task_json = summary(task);
    if let Some(map) = task_json.as_object_mut() {
        map.insert("startedAt".into(), json!(task.started_at.map(iso)));
        map.insert("completedAt".into(), json!(task.completed_at.map(iso)));
        map.insert("latencyMs".into(), json!(task.latency_ms));
    }
    let mut object = Map::new();
    object.insert("task".into(), task_json);
    object.insert("credits".into(), credits(task));
    if let Some(response) = &task.response {
        object.insert("response".into(), response.clone());
    }
    Value::Object(object)
}
