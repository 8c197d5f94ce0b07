//! `POST /webhooks/cloro`: cloro's completion of a task, sent to the gateway's own URL. With a
//! signing secret configured the delivery must carry a fresh valid signature
//! (`X-Cloro-Timestamp`, `X-Cloro-Signature: v1=<hex HMAC-SHA256 of "<ts>.<body>">`) and its
//! body is trusted; without one it is only a hint, and the task is read from cloro before
//! anything is settled. The delivery is acknowledged only once the settlement is durable, so
//! a failure makes cloro deliver again; deliveries are deduplicated by the settlement itself.
//! Unsigned deliveries read a task from cloro at most once per `read_floor::MIN_INTERVAL`.

use super::AsyncTasks;
use crate::error::{ApiError, ErrorCode};
use crate::secret::Secret;
use accounting::async_tasks as store;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use uuid::Uuid;

/// How old a signed delivery may be.
const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// Whether `body` was signed by cloro with `secret`, recently.
pub fn signature_valid(secret: &Secret, timestamp: &str, signature: &str, body: &[u8]) -> bool {
    let Ok(sent_at) = timestamp.trim().parse::<i64>() else {
        return false;
    };
    if (chrono::Utc::now().timestamp() - sent_at).abs() > SIGNATURE_TOLERANCE_SECS {
        return false;
    }
    let Some(hex_signature) = signature.trim().strip_prefix("v1=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_signature) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
        return false;
    };
    mac.update(timestamp.trim().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

impl AsyncTasks {
    /// Handles one delivery; `Ok` means it may be acknowledged.
    /// `signed`: the delivery's `X-Cloro-Timestamp` and `X-Cloro-Signature`.
    pub(super) async fn receive(
        &self,
        (timestamp, signature): (String, String),
        body: &[u8],
    ) -> Result<(), ApiError> {
        let trusted = match &self.webhook_secret {
            Some(secret) => {
                if !signature_valid(secret, &timestamp, &signature, body) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidOrExpiredApiKey,
                        "The delivery's signature is missing, stale or wrong",
                    ));
                }
                true
            }
            None => false,
        };
        let view: Value = serde_json::from_slice(body)
            .map_err(|_| ApiError::new(ErrorCode::ValidationError, "The delivery is not JSON"))?;
        let key = view.pointer("/task/idempotencyKey").and_then(Value::as_str);
        let task_id = view
            .pointer("/task/id")
            .and_then(Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok());
        let found = match key {
            Some(key) => store::by_upstream_key(self.ledger.pool(), key).await?,
            None => None,
        };
        let Some(mut task) = found else {
            tracing::warn!(
                ?task_id,
                "a delivery for a task the gateway does not know; acknowledged"
            );
            return Ok(());
        };
        if task.task_id.is_none()
            && let Some(task_id) = task_id
        {
            // The create reply was lost: the delivery tells which task the entry became.
            store::accepted(self.ledger.pool(), task.entry_id, task_id, "PROCESSING").await?;
            task.task_id = Some(task_id);
        }
        if trusted {
            self.apply(&task, &view).await?;
            return Ok(());
        }
        let Some(task_id) = task.task_id else {
            return Ok(());
        };
        if !self.delivery_reads.try_read(task_id) {
            tracing::debug!(%task_id, "an unsigned delivery within the read floor; acknowledged");
            return Ok(());
        }
        self.refresh(&task, task_id).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, ts: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{ts}.").as_bytes());
        mac.update(body);
        format!("v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn only_a_fresh_signature_of_this_body_with_this_secret_passes() {
        let secret = Secret::new("whsec_test");
        let now = chrono::Utc::now().timestamp().to_string();
        let body = br#"{"task":{"id":"x"}}"#;
        let good = sign("whsec_test", &now, body);
        assert!(signature_valid(&secret, &now, &good, body));
        assert!(!signature_valid(&secret, &now, &good, b"{}"));
        assert!(!signature_valid(
            &secret,
            &now,
            &sign("other", &now, body),
            body
        ));
        let old = (chrono::Utc::now().timestamp() - 3600).to_string();
        assert!(!signature_valid(
            &secret,
            &old,
            &sign("whsec_test", &old, body),
            body
        ));
        assert!(!signature_valid(&secret, &now, "deadbeef", body));
    }
}
