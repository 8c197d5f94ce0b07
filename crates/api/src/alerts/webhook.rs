//! Delivering an alert to `alerts.webhook_url`: a JSON POST stamped `X-Gateway-Timestamp:
//! <unix s>` and, when `alerts.webhook_secret` is set, signed `X-Gateway-Signature: v1=<hex
//! HMAC-SHA256 of "<timestamp>.<body>">` so a receiver can refuse a replayed delivery outside
//! its window; retried with a doubling backoff up to `alerts.webhook_max_attempts` times. A
//! redirect is not followed (a 3xx is a failed attempt), and the URL is never logged: a
//! Slack-style URL is itself a secret. A receiver that stays down costs a log line, never a
//! request.

use crate::config::AlertSettings;
use crate::http_error::describe_without_url;
use crate::secret::Secret;
use accounting::alerts::Alert;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The header carrying the delivery's time, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "x-gateway-timestamp";
/// The header carrying `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub const SIGNATURE_HEADER: &str = "x-gateway-signature";

pub struct Webhook {
    /// Never logged, nor put in an error: it may carry a secret.
    url: reqwest::Url,
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
        // The parse error names what is wrong, never the URL.
        let url = reqwest::Url::parse(&settings.webhook_url)
            .map_err(|err| anyhow::anyhow!("alerts.webhook_url is not a valid URL: {err}"))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.webhook_timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Some(Self {
            url,
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
        let mut wait = Duration::from_millis(500);
        for attempt in 1..=self.max_attempts {
            // Stamped per attempt, so a late retry still falls inside a receiver's window.
            let timestamp = chrono::Utc::now().timestamp();
            let mut request = self
                .client
                .post(self.url.clone())
                .header("content-type", "application/json")
                .header(TIMESTAMP_HEADER, timestamp.to_string())
                .body(body.clone());
            if let Some(signature) = sign(&self.secret, timestamp, &body) {
                request = request.header(SIGNATURE_HEADER, signature);
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(response) if response.status().is_redirection() => {
                    tracing::warn!(
                        attempt,
                        status = response.status().as_u16(),
                        alert = alert.id,
                        "alert webhook answered a redirect, which is not followed"
                    );
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
                    tracing::warn!(
                        attempt,
                        error = %describe_without_url(err),
                        alert = alert.id,
                        "alert webhook unreachable"
                    );
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

/// `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">` under the secret, or `None` without a
/// secret.
pub fn sign(secret: &Secret, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = secret.expose();
    if key.is_empty() {
        return None;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!("v1={}", hex::encode(mac.finalize().into_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use accounting::alerts::AlertKind;
    use std::net::SocketAddr;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    #[test]
    fn signature_is_the_hex_hmac_of_timestamp_dot_body() {
        // python3: hmac.new(b'key', b'1700000000.The quick brown fox jumps over the lazy dog',
        //                   sha256).hexdigest()
        let secret = Secret::new("key");
        let body = b"The quick brown fox jumps over the lazy dog";
        assert_eq!(
            sign(&secret, 1_700_000_000, body).unwrap(),
            "v1=2f658d6aef4f246e91cd741bbcded7479e9605f9d41c9e248122a117e0e1765b"
        );
        // The timestamp is signed: a replay cannot carry a fresher one.
        assert_eq!(
            sign(&secret, 1_700_000_001, body).unwrap(),
            "v1=410d59cf433c34fa9b6437ba180c33f11154bc7bd99f09dfd4466d5c43914b7f"
        );
        assert!(sign(&Secret::new(""), 1_700_000_000, b"{}").is_none());
    }

    /// Accepts one connection, reads one request and answers `head`; returns the request.
    async fn answer_once(listener: TcpListener, head: String) -> String {
        let (mut socket, _) = listener.accept().await.unwrap();
        let request = crate::test_http::read_request(&mut socket).await;
        socket.write_all(head.as_bytes()).await.unwrap();
        let _ = socket.shutdown().await;
        request
    }

    async fn listener() -> (TcpListener, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        (listener, addr)
    }

    fn webhook(url: String, secret: &str) -> Webhook {
        Webhook::new(&AlertSettings {
            webhook_url: url,
            webhook_secret: Secret::new(secret),
            webhook_timeout_ms: 2_000,
            webhook_max_attempts: 1,
            balance_floor: 0,
        })
        .unwrap()
        .unwrap()
    }

    fn alert() -> Alert {
        Alert {
            id: 7,
            kind: AlertKind::AccountBalanceFloor,
            team_id: None,
            dedupe_key: "account_balance_floor:2026-01-01".to_owned(),
            raised_at: chrono::Utc::now(),
            details: sqlx::types::Json(serde_json::json!({"creditsRemaining": 5})),
        }
    }

    fn header<'a>(request: &'a str, name: &str) -> Option<&'a str> {
        request.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    #[tokio::test]
    async fn a_delivery_carries_its_timestamp_and_the_signature_of_timestamp_dot_body() {
        let (receiver, addr) = listener().await;
        let answered = tokio::spawn(answer_once(
            receiver,
            "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_owned(),
        ));
        let hook = webhook(format!("http://{addr}/hook"), "whsec-test");
        let before = chrono::Utc::now().timestamp();
        hook.deliver(&alert()).await;
        let request = answered.await.unwrap();
        assert_eq!(hook.counts(), (1, 0));
        let timestamp: i64 = header(&request, TIMESTAMP_HEADER)
            .expect("a timestamp header")
            .parse()
            .unwrap();
        assert!((before..=before + 5).contains(&timestamp), "{timestamp}");
        let (_, body) = request.split_once("\r\n\r\n").unwrap();
        assert_eq!(
            header(&request, SIGNATURE_HEADER),
            sign(&Secret::new("whsec-test"), timestamp, body.as_bytes()).as_deref()
        );
        assert!(
            header(&request, SIGNATURE_HEADER)
                .unwrap()
                .starts_with("v1=")
        );
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed() {
        let (elsewhere, elsewhere_addr) = listener().await;
        let (receiver, addr) = listener().await;
        let answered = tokio::spawn(answer_once(
            receiver,
            format!(
                "HTTP/1.1 302 Found\r\nlocation: http://{elsewhere_addr}/stolen\r\n\
                 content-length: 0\r\nconnection: close\r\n\r\n"
            ),
        ));
        let hook = webhook(format!("http://{addr}/hook"), "whsec-test");
        hook.deliver(&alert()).await;
        answered.await.unwrap();
        assert_eq!(hook.counts(), (0, 1), "a 3xx is a failed delivery");
        let followed = tokio::time::timeout(Duration::from_millis(300), elsewhere.accept()).await;
        assert!(followed.is_err(), "the redirect's target was contacted");
    }

    #[test]
    fn an_unparsable_url_is_refused_without_being_repeated() {
        let refused = Webhook::new(&AlertSettings {
            webhook_url: "http://hooks.example:99999/services/T0/B0/very-secret".to_owned(),
            webhook_secret: Secret::new(""),
            webhook_timeout_ms: 2_000,
            webhook_max_attempts: 1,
            balance_floor: 0,
        });
        let message = format!("{:#}", refused.err().expect("refused"));
        assert!(message.contains("alerts.webhook_url"), "{message}");
        assert!(!message.contains("very-secret"), "{message}");
    }
}
