//! Validation of one async task submission: `{taskType, payload, priority?, idempotencyKey?, webhook?{url}}`.

use serde_json::Value;

use super::fields::ObjectReader;
use super::monitor_body::parse_monitor;
use crate::endpoint::Endpoint;
use crate::error::FieldError;
use crate::monitor_request::MonitorRequest;

/// A valid task submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSubmission {
    pub request: MonitorRequest,
    /// 1-10, higher runs first.
    pub priority: u8,
    pub idempotency_key: Option<String>,
    pub webhook_url: Option<String>,
}

const TASK_TYPES: &str = "CHATGPT, PERPLEXITY, COPILOT, GEMINI, GROK, AIMODE, GOOGLE, GOOGLE_NEWS";

pub fn parse_task(body: &Value) -> Result<TaskSubmission, Vec<FieldError>> {
    let Some(map) = body.as_object() else {
        return Err(vec![FieldError::new("body", "Expected a JSON object")]);
    };
    let mut reader = ObjectReader::new(map, "");
    reader.reject_unknown(&[
        "taskType",
        "payload",
        "priority",
        "idempotencyKey",
        "webhook",
    ]);

    let endpoint = reader.required_string("taskType").and_then(|t| {
        let endpoint = Endpoint::from_task_type(t);
        if endpoint.is_none() {
            reader.fail("taskType", format!("Must be one of: {TASK_TYPES}"));
        }
        endpoint
    });
    let priority = reader.integer("priority", 1, 10).unwrap_or(1);
    let idempotency_key = reader
        .text("idempotencyKey", false, 1, 255)
        .map(str::to_owned);
    let webhook_url = reader.object("webhook").and_then(|webhook| {
        let mut nested = ObjectReader::new(webhook, "webhook.");
        nested.reject_unknown(&["url"]);
        let url = nested.url("url", true).map(str::to_owned);
        reader.absorb(nested);
        url
    });

    let request = match (reader.present("payload"), endpoint) {
        (None, _) => {
            reader.fail("payload", "Required");
            None
        }
        (Some(payload), _) if !payload.is_object() => {
            reader.fail("payload", "Expected an object");
            None
        }
        (Some(payload), Some(endpoint)) => match parse_monitor(endpoint, payload, "payload.") {
            Ok(request) => Some(request),
            Err(errors) => {
                reader.errors.extend(errors);
                None
            }
        },
        (Some(_), None) => None,
    };

    match request {
        Some(request) if reader.errors.is_empty() => Ok(TaskSubmission {
            request,
            priority: u8::try_from(priority).unwrap_or(1),
            idempotency_key,
            webhook_url,
        }),
        _ => Err(reader.errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(body: Value) -> Vec<String> {
        parse_task(&body)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_full_submission_is_accepted() {
        let task = parse_task(&json!({
            "taskType": "GOOGLE", "priority": 7, "idempotencyKey": "k-1",
            "webhook": {"url": "http://127.0.0.1:9/hook"},
            "payload": {"query": "rust", "country": "US", "pages": 2}
        }))
        .unwrap();
        assert_eq!(task.priority, 7);
        assert_eq!(task.request.pages, 2);
        assert_eq!(task.idempotency_key.as_deref(), Some("k-1"));
    }

    #[test]
    fn problems_are_reported_per_field() {
        assert_eq!(fields(json!({"payload": {}})), ["taskType"]);
        assert_eq!(fields(json!({"taskType": "CHATGPT"})), ["payload"]);
        assert_eq!(
            fields(json!({"taskType": "GOTO", "payload": {}})),
            ["taskType"]
        );
        assert_eq!(
            fields(json!({"taskType": "chatgpt", "payload": {}})),
            ["taskType"]
        );
        assert_eq!(
            fields(
                json!({"taskType": "CHATGPT", "priority": 11, "payload": {"prompt": "p", "country": "US"}})
            ),
            ["priority"]
        );
        assert_eq!(
            fields(
                json!({"taskType": "CHATGPT", "payload": {"country": "US"}, "webhook": {"url": "ftp://x"}})
            ),
            ["webhook.url", "payload.prompt"]
        );
        assert_eq!(
            fields(
                json!({"taskType": "CHATGPT", "payload": {"prompt": "p", "country": "US"}, "x": 1})
            ),
            ["x"]
        );
    }
}
