//! cloro's webhook signing scheme, used by the relay with each team's own secret so a team's
//! receiver verifies the gateway's deliveries exactly as it would verify cloro's:
//! `X-Cloro-Timestamp: <unix s>`, `X-Cloro-Signature: v1=<hex HMAC-SHA256 over
//! "<timestamp>.<raw body>">` keyed with the whole `whsec_...` string, and
//! `X-Cloro-Webhook-Id: <task id>-<attempt>`.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

pub const TIMESTAMP_HEADER: &str = "x-cloro-timestamp";
pub const SIGNATURE_HEADER: &str = "x-cloro-signature";
pub const WEBHOOK_ID_HEADER: &str = "x-cloro-webhook-id";

/// The `X-Cloro-Signature` value of `body` sent at `timestamp`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The `X-Cloro-Webhook-Id` of an attempt: the same for a retry of the same attempt, so a
/// receiver deduplicates on it (or on the task id).
pub fn webhook_id(task_id: Uuid, attempt: i32) -> String {
    format!("{task_id}-{attempt}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_cloro() {
        // python3: hmac.new(b'whsec_test', b'1700000000.{"task":{"id":"t1"}}', sha256).hexdigest()
        assert_eq!(
            signature("whsec_test", 1_700_000_000, br#"{"task":{"id":"t1"}}"#),
            "v1=f347ca571c925c1899c5ed03d85cdf8ae2313d9353f1e86b66c15cd44acc3f2a"
        );
        assert_ne!(
            signature("whsec_other", 1_700_000_000, br#"{"task":{"id":"t1"}}"#),
            signature("whsec_test", 1_700_000_000, br#"{"task":{"id":"t1"}}"#)
        );
        assert_ne!(
            signature("whsec_test", 1_700_000_001, br#"{"task":{"id":"t1"}}"#),
            signature("whsec_test", 1_700_000_000, br#"{"task":{"id":"t1"}}"#)
        );
    }

    #[test]
    fn webhook_ids_name_the_task_and_attempt() {
        let task = Uuid::nil();
        assert_eq!(
            webhook_id(task, 3),
            "00000000-0000-0000-0000-000000000000-3"
        );
    }
}
