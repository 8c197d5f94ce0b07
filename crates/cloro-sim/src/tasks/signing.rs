//! Webhook signatures: `v1=` + hex HMAC-SHA256 over `"<timestamp>.<raw body>"` keyed with the `whsec_` secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The `X-Cloro-Signature` value for a body sent at `timestamp` (unix seconds).
/// The key is the whole secret string, `whsec_` prefix included.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_independent_computation() {
        // HMAC-SHA256(key="whsec_test", msg="1700000000.{}")
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_test").unwrap();
        mac.update(b"1700000000.{}");
        let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(signature("whsec_test", 1_700_000_000, b"{}"), expected);
        assert_ne!(signature("whsec_other", 1_700_000_000, b"{}"), expected);
        assert_eq!(expected.len(), 3 + 64);
    }
}
