//! cloro's async replies as a team sees them: the gateway's own idempotencyKey is mapped back
//! to the team's (or null when it sent none) wherever it appears, the gateway's webhook is
//! replaced by the team's, and a refused batch item has cloro's per-item shape.

use crate::error::ApiError;
use serde_json::{Value, json};

/// Puts the team's key where cloro echoed the gateway's, in any string of the reply.
pub fn map_key(value: &mut Value, upstream_key: &str, team_key: Option<&str>) {
    match value {
        Value::String(text) if text == upstream_key => {
            *value = team_key.map_or(Value::Null, |key| Value::String(key.to_owned()));
        }
        Value::String(text) if text.contains(upstream_key) => {
            *text = text.replace(upstream_key, team_key.unwrap_or(""));
        }
        Value::Array(items) => {
            for item in items {
                map_key(item, upstream_key, team_key);
            }
        }
        Value::Object(fields) => {
            for field in fields.values_mut() {
                map_key(field, upstream_key, team_key);
            }
        }
        _ => {}
    }
}

/// The webhook block of a task as the team registered it: its own URL, never the gateway's.
pub fn team_webhook(value: &mut Value, team_webhook_url: Option<&str>) {
    let Some(object) = value.as_object_mut() else {
        return;
    };
    match team_webhook_url {
        Some(url) => {
            object.insert("webhook".to_owned(), json!({ "url": url }));
        }
        None => {
            object.remove("webhook");
        }
    }
}

/// A refused batch item: `{success: false, index, error{code, message, details?}}`.
pub fn item_error(index: usize, error: &ApiError) -> Value {
    let mut body = json!({ "code": error.code().as_str(), "message": error.message() });
    if let (Some(details), Some(object)) = (error.details(), body.as_object_mut()) {
        object.insert("details".to_owned(), details.clone());
    }
    json!({ "success": false, "index": index, "error": body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_key_never_reaches_the_team() {
        let mut reply = json!({
            "task": {"id": "t1", "idempotencyKey": "ns.job-1"},
            "error": {"message": "key ns.job-1 already used"},
            "webhook": {"url": "https://gateway/webhooks/cloro", "delivered": true},
        });
        map_key(&mut reply, "ns.job-1", Some("job-1"));
        team_webhook(&mut reply, None);
        assert_eq!(reply["task"]["idempotencyKey"], "job-1");
        assert_eq!(reply["error"]["message"], "key job-1 already used");
        assert!(reply.get("webhook").is_none());
        map_key(&mut reply, "job-1", None);
        assert_eq!(reply["task"]["idempotencyKey"], Value::Null);
    }
}
