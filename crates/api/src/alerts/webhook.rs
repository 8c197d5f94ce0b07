//! Delivering an alert to `alerts.webhook_url`: a JSON POST, signed with HMAC-SHA256 when
//! `alerts.webhook_secret` is set, retried with a doubling backoff up to
//! `alerts.webhook_max_attempts` times. A receiver that stays down costs a log line, never a
//! request.

use crate::config::AlertSettings;
use crate::secret::Secret;
use accounting::alerts::Alert;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The header carrying `sha256=<hex HMAC of the body>`.
pub const SIGNATURE_HEADER: &str = "x-gateway-signature";

pub struct Webhook {
    url: String,
    secret: Secret,
    client: reqwest::Client,
    max_attempts: u32,
    delivered: AtomicU64,
    failed: AtomicU64,
}

/// The JSON body of a delivery.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    id: i64,
    kind: &'static str,
    team_id: Option<uuid::Uuid>,
    raised_at: chrono::DateTime<chrono::Utc>,
    details: &'a serde_json::Value,
}

impl Webhook {
    /// `None` when no URL is configured.
    pub fn new(settings: &AlertSettings) -> anyhow::Result<Option<Self>> {
        if settings.webhook_url.is_empty() {
            return Ok(None);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.webhook_timeout_ms))
            .build()?;
        Ok(Some(Self {
            url: settings.webhook_url.clone(),
            secret: settings.webhook_secret.clone(),
            client,
            max_attempts: settings.webhook_max_attempts.max(1),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }))
    }

    /// (delivered, failed for good)
    pub fn counts(&self) -> (u64, u64) {
        (
            self.delivered.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    pub async fn deliver(&self, alert: &Alert) {
        let payload = Payload {
            id: alert.id,
            kind: alert.kind.as_str(),
            team_id: alert.team_id.map(|t| t.as_uuid()),
            raised_at: alert.raised_at,
            details: &alert.details.0,
        };
        let body = match serde_json::to_vec(&payload) {
            Ok(body) => body,
            Err(err) => {
                tracing::error!(error = %err, "could not encode an alert");
                return;
            }
        };
        let signature = sign(&self.secret, &body);
        let mut wait = Duration::from_millis(500);
        for attempt in 1..=self.max_attempts {
            let mut request = self
                .client
                .post(&self.url)
                .header("content-type", "application/json")
                .body(body.clone());
            if let Some(signature) = &signature {
                request = request.header(SIGNATURE_HEADER, signature);
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(response) => {
                    tracing::warn!(
                        attempt,
                        status = response.status().as_u16(),
                        alert = alert.id,
                        "alert webhook refused the delivery"
                    );
                }
                Err(err) => {
                    tracing::warn!(attempt, error = %err, alert = alert.id, "alert webhook unreachable");
                }
            }
            if attempt < self.max_attempts {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        self.failed.fetch_add(1, Ordering::Relaxed);
        tracing::error!(alert = alert.id, "alert webhook delivery failed for good");
    }
}

/// `sha256=<hex>` of the body under the secret, or `None` without a secret.
pub fn sign(secret: &Secret, body: &[u8]) -> Option<String> {
    let key = secret.expose();
    if key.is_empty() {
        return None;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).ok()?;
    mac.update(body);
    Some(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_the_hex_hmac_of_the_body() {
        // The RFC 4231-style vector published for HMAC-SHA256.
        let secret = Secret::new("key");
        assert_eq!(
            sign(&secret, b"The quick brown fox jumps over the lazy dog").unwrap(),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        assert!(sign(&Secret::new(""), b"{}").is_none());
    }
}
