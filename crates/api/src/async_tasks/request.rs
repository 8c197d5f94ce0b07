//! One async task as a team submits it (`{taskType, payload, priority?, idempotencyKey?,
//! webhook?{url}}`), checked before anything is held or recorded: a known task type, a
//! priority within 1-10 and the team's `maxPriority`, a sane key, a payload the price table
//! can estimate. Fields the gateway does not read are forwarded as they came.

use crate::error::{ApiError, FieldError};
use crate::pricing::{Endpoint, PriceTable};
use serde_json::{Map, Value};

/// cloro's default priority.
const DEFAULT_PRIORITY: i64 = 1;
/// The longest idempotencyKey a team may send.
pub const MAX_KEY_CHARS: usize = 200;
/// The longest webhook URL a team may register.
const MAX_URL_CHARS: usize = 2048;

/// A task ready to be admitted: what it runs, what it is expected to cost, and the body to
/// forward once the gateway's own key and webhook are put in.
#[derive(Debug, Clone)]
pub struct TaskRequest {
    pub endpoint: Endpoint,
    pub task_type: String,
    pub priority: i16,
    pub team_key: Option<String>,
    pub webhook_url: Option<String>,
    pub estimate: i64,
    /// The body as the team sent it, less `idempotencyKey` and `webhook`.
    pub body: Map<String, Value>,
}

/// Why one item was refused, as a field-named 400.
fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::validation(vec![FieldError {
        field: field.to_owned(),
        message: message.to_owned(),
    }])
}

impl TaskRequest {
    /// Checks one item; `max_priority` is the team's cap, `check_url` the relay's policy
    /// for webhook URLs.
    pub fn parse(
        item: &Value,
        prices: &PriceTable,
        max_priority: i16,
        check_url: &dyn Fn(&str) -> Result<(), ApiError>,
    ) -> Result<Self, ApiError> {
        let Some(object) = item.as_object() else {
            return Err(invalid("body", "must be a JSON object"));
        };
        let mut body = object.clone();
        let task_type = match body.get("taskType") {
            Some(Value::String(text)) => text.clone(),
            _ => return Err(invalid("taskType", "is required")),
        };
        let Some(endpoint) = Endpoint::from_task_type(&task_type) else {
            return Err(invalid(
                "taskType",
                "must be one of CHATGPT, PERPLEXITY, COPILOT, GEMINI, GROK, AIMODE, GOOGLE, GOOGLE_NEWS",
            ));
        };
        let Some(payload) = body.get("payload") else {
            return Err(invalid("payload", "is required"));
        };
        let estimate = prices
            .estimate_async(endpoint, payload)
            .map_err(|err| err.within("payload"))?;
        let priority = match body.get("priority") {
            None | Some(Value::Null) => DEFAULT_PRIORITY,
            Some(value) => value
                .as_i64()
                .ok_or_else(|| invalid("priority", "must be an integer from 1 to 10"))?,
        };
        if !(1..=10).contains(&priority) {
            return Err(invalid("priority", "must be an integer from 1 to 10"));
        }
        if priority > i64::from(max_priority) {
            return Err(invalid(
                "priority",
                &format!("must be at most {max_priority} for this team"),
            ));
        }
        let team_key = match body.remove("idempotencyKey") {
            None | Some(Value::Null) => None,
            Some(Value::String(key))
                if !key.trim().is_empty() && key.chars().count() <= MAX_KEY_CHARS =>
            {
                Some(key)
            }
            Some(_) => {
                return Err(invalid(
                    "idempotencyKey",
                    &format!("must be a non-empty string of at most {MAX_KEY_CHARS} characters"),
                ));
            }
        };
        let webhook_url = match body.remove("webhook") {
            None | Some(Value::Null) => None,
            Some(Value::Object(webhook)) => match webhook.get("url") {
                Some(Value::String(url)) if url.len() <= MAX_URL_CHARS => {
                    check_url(url)?;
                    Some(url.clone())
                }
                _ => return Err(invalid("webhook.url", "must be a URL")),
            },
            Some(_) => return Err(invalid("webhook", "must be an object with a url")),
        };
        Ok(Self {
            endpoint,
            task_type,
            // 1-10 was checked above.
            priority: priority as i16,
            team_key,
            webhook_url,
            estimate,
            body,
        })
    }

    /// The body sent upstream: the team's fields with the gateway's key and webhook.
    pub fn upstream_body(&self, upstream_key: &str, webhook: Option<&str>) -> Value {
        let mut body = self.body.clone();
        body.insert(
            "idempotencyKey".to_owned(),
            Value::String(upstream_key.to_owned()),
        );
        if let Some(url) = webhook {
            body.insert("webhook".to_owned(), serde_json::json!({ "url": url }));
        }
        Value::Object(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;
    use serde_json::json;

    fn prices() -> PriceTable {
        Settings::from_sources(None, Vec::new()).unwrap().pricing
    }

    fn field_of(err: ApiError) -> String {
        err.details()
            .and_then(|d| d[0]["field"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    #[test]
    fn a_task_is_priced_without_the_sync_surcharge_and_loses_key_and_webhook() {
        let item = json!({
            "taskType": "CHATGPT",
            "payload": {"prompt": "x", "country": "US"},
            "priority": 3,
            "idempotencyKey": "job-1",
            "webhook": {"url": "https://example.com/hook"},
            "extra": true,
        });
        let task = TaskRequest::parse(&item, &prices(), 10, &|_| Ok(())).unwrap();
        assert_eq!(task.endpoint, Endpoint::Chatgpt);
        assert_eq!(task.estimate, 5);
        assert_eq!(task.priority, 3);
        assert_eq!(task.team_key.as_deref(), Some("job-1"));
        assert_eq!(
            task.webhook_url.as_deref(),
            Some("https://example.com/hook")
        );
        let upstream = task.upstream_body("gw.k", Some("https://gw/webhooks/cloro"));
        assert_eq!(upstream["idempotencyKey"], "gw.k");
        assert_eq!(upstream["webhook"]["url"], "https://gw/webhooks/cloro");
        assert_eq!(upstream["extra"], true);
    }

    #[test]
    fn each_bad_field_is_named() {
        let base = json!({"taskType": "GEMINI", "payload": {"prompt": "x", "country": "US"}});
        let with = |field: &str, value: Value| {
            let mut item = base.clone();
            item[field] = value;
            field_of(TaskRequest::parse(&item, &prices(), 5, &|_| Ok(())).unwrap_err())
        };
        assert_eq!(with("taskType", json!("GOOGLE_GOTO")), "taskType");
        assert_eq!(with("priority", json!(11)), "priority");
        assert_eq!(with("priority", json!(6)), "priority");
        assert_eq!(with("idempotencyKey", json!("")), "idempotencyKey");
        assert_eq!(with("webhook", json!("x")), "webhook");
        assert_eq!(with("payload", json!([])), "payload");
    }
}
