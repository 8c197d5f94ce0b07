//! One delivery attempt: the URL checked again, the host resolved and EVERY address checked
//! by the client's own resolver (so the connection goes to an address that was checked, and a
//! name re-pointed at an internal address between submit and delivery is refused), a signed
//! JSON POST through no proxy, no redirect followed, short timeouts, and at most
//! [`MAX_RESPONSE_BYTES`] of the answer read. Any 2xx acknowledges.

use super::sign::{SIGNATURE_HEADER, TIMESTAMP_HEADER, WEBHOOK_ID_HEADER, signature};
use super::url::UrlPolicy;
use accounting::webhook_relay::AttemptOutcome;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The most of a receiver's answer read (then dropped).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The longest error text recorded for an attempt.
const MAX_ERROR_CHARS: usize = 500;
/// How long resolving a receiver's name may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an attempt may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// The whole attempt: resolve, connect, send, the answer's head and the bounded read.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            total: Duration::from_secs(15),
        }
    }
}

/// One signed POST to make.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub url: &'a str,
    pub body: &'a [u8],
    /// The team's `whsec_...` secret.
    pub secret: &'a str,
    pub webhook_id: &'a str,
}

/// The relay's HTTP client, bound to the URL policy.
pub struct Deliverer {
    client: reqwest::Client,
    policy: Arc<UrlPolicy>,
}

impl Deliverer {
    pub fn new(policy: Arc<UrlPolicy>, timeouts: Timeouts) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.total)
            .dns_resolver(CheckedResolver {
                policy: policy.clone(),
            })
            .user_agent(concat!(
                "cloro-gateway-webhook-relay/",
                env!("CARGO_PKG_VERSION")
            ))
            .pool_max_idle_per_host(2)
            .build()?;
        Ok(Self { client, policy })
    }

    /// Makes one attempt; never fails, the outcome says what happened.
    pub async fn attempt(&self, request: Signed<'_>) -> AttemptOutcome {
        let url = match self.policy.check(request.url) {
            Ok(url) => url,
            Err(refusal) => return failed(None, format!("webhook.url {refusal}")),
        };
        let timestamp = chrono::Utc::now().timestamp();
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(
                SIGNATURE_HEADER,
                signature(request.secret, timestamp, request.body),
            )
            .header(WEBHOOK_ID_HEADER, request.webhook_id)
            .body(request.body.to_vec())
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(err) => return failed(None, describe(&err)),
        };
        let status = response.status();
        // Read a little (so the connection can be reused), never a receiver's whole answer.
        let mut read = 0;
        while read < MAX_RESPONSE_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                Ok(None) | Err(_) => break,
            }
        }
        let code = Some(status.as_u16());
        if status.is_success() {
            AttemptOutcome {
                status: code,
                error: None,
            }
        } else if status.is_redirection() {
            failed(
                code,
                format!("the receiver answered {status}; redirects are not followed"),
            )
        } else {
            failed(code, format!("the receiver answered {status}"))
        }
    }
}

fn failed(status: Option<u16>, error: String) -> AttemptOutcome {
    AttemptOutcome {
        status,
        error: Some(error),
    }
}

/// A client error with its causes (e.g. the refused address), bounded.
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "timed out".to_owned();
    }
    let mut text = if err.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text,
    }
}

/// Resolves a receiver's name and refuses it when any address it resolves to is internal
/// (unless the host is allow-listed); reqwest connects only to the addresses returned.
struct CheckedResolver {
    policy: Arc<UrlPolicy>,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found =
                tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host.as_str(), 0)))
                    .await
                    .map_err(|_| format!("resolving {host} timed out"))??;
            let addrs: Vec<SocketAddr> = found.collect();
            if addrs.is_empty() {
                return Err(BoxError::from(format!("{host} resolves to no address")));
            }
            for addr in &addrs {
                policy.check_address(&host, addr.ip())?;
            }
            Ok::<Addrs, BoxError>(Box::new(addrs.into_iter()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// A receiver answering one request with `head` (status line and headers) and `body`;
    /// its task returns the raw request it read.
    async fn receiver(
        head: &'static str,
        body: Vec<u8>,
    ) -> (SocketAddr, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let request = crate::test_http::read_request(&mut socket).await;
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(&body).await;
            let _ = socket.shutdown().await;
            request
        });
        (addr, task)
    }

    fn deliverer(allowed: &[&str], total: Duration) -> Deliverer {
        let allowed: Vec<String> = allowed.iter().map(|h| (*h).to_owned()).collect();
        Deliverer::new(
            Arc::new(UrlPolicy::new(&allowed)),
            Timeouts {
                connect: Duration::from_secs(2),
                total,
            },
        )
        .unwrap()
    }

    fn signed<'a>(url: &'a str, body: &'a [u8]) -> Signed<'a> {
        Signed {
            url,
            body,
            secret: "whsec_team",
            webhook_id: "task-1",
        }
    }

    fn header<'a>(request: &'a str, name: &str) -> &'a str {
        request
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name).then(|| value.trim())
            })
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn a_signed_post_to_an_allowed_receiver_is_acknowledged_by_a_2xx() {
        let (addr, request) = receiver(
            "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n",
            Vec::new(),
        )
        .await;
        let url = format!("http://{addr}/hook");
        let body = br#"{"task":{"status":"COMPLETED"}}"#;
        let outcome = deliverer(&["127.0.0.1"], Duration::from_secs(5))
            .attempt(signed(&url, body))
            .await;
        assert_eq!(
            outcome,
            AttemptOutcome {
                status: Some(204),
                error: None
            }
        );
        let request = request.await.unwrap();
        assert!(request.starts_with("POST /hook HTTP/1.1"));
        assert!(request.ends_with(std::str::from_utf8(body).unwrap()));
        let timestamp: i64 = header(&request, TIMESTAMP_HEADER).parse().unwrap();
        assert_eq!(
            header(&request, SIGNATURE_HEADER),
            signature("whsec_team", timestamp, body)
        );
        assert_eq!(header(&request, WEBHOOK_ID_HEADER), "task-1");
        assert_eq!(header(&request, "content-type"), "application/json");
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed_and_a_non_2xx_fails() {
        let (addr, _) = receiver(
            "HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/\r\ncontent-length: 0\r\n\r\n",
            Vec::new(),
        )
        .await;
        let url = format!("http://{addr}/hook");
        let outcome = deliverer(&["127.0.0.1"], Duration::from_secs(5))
            .attempt(signed(&url, b"{}"))
            .await;
        assert_eq!(outcome.status, Some(302));
        assert!(
            outcome
                .error
                .unwrap()
                .contains("redirects are not followed")
        );

        let (addr, _) = receiver(
            "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n",
            Vec::new(),
        )
        .await;
        let url = format!("http://{addr}/hook");
        let outcome = deliverer(&["127.0.0.1"], Duration::from_secs(5))
            .attempt(signed(&url, b"{}"))
            .await;
        assert_eq!(outcome.status, Some(500));
        assert!(outcome.error.unwrap().contains("500"));
    }

    #[tokio::test]
    async fn an_internal_receiver_is_never_contacted_unless_allowed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let relay = deliverer(&[], Duration::from_secs(2));
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("https://127.0.0.1:{port}/"),
            format!("https://localhost:{port}/"),
        ] {
            let outcome = relay.attempt(signed(&url, b"{}")).await;
            assert_eq!(outcome.status, None, "{url}");
            assert!(outcome.error.unwrap().starts_with("webhook.url"), "{url}");
        }
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "nothing connected");
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_resolving_inside() {
        let strict = CheckedResolver {
            policy: Arc::new(UrlPolicy::default()),
        };
        let refused = strict
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .unwrap();
        assert!(refused.to_string().contains("loopback"), "{refused}");

        let allowed = CheckedResolver {
            policy: Arc::new(UrlPolicy::new(&["localhost".to_owned()])),
        };
        let addrs: Vec<SocketAddr> = allowed
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }

    #[tokio::test]
    async fn a_slow_receiver_times_out_and_a_huge_answer_is_not_read_whole() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(socket);
        });
        let url = format!("http://{addr}/hook");
        let outcome = deliverer(&["127.0.0.1"], Duration::from_millis(300))
            .attempt(signed(&url, b"{}"))
            .await;
        assert_eq!(outcome.status, None);
        assert_eq!(outcome.error.as_deref(), Some("timed out"));
        silent.abort();

        let (addr, _) = receiver(
            "HTTP/1.1 200 OK\r\ncontent-length: 104857600\r\n\r\n",
            vec![b'x'; 4 * 1024 * 1024],
        )
        .await;
        let url = format!("http://{addr}/hook");
        let started = std::time::Instant::now();
        let outcome = deliverer(&["127.0.0.1"], Duration::from_secs(5))
            .attempt(signed(&url, b"{}"))
            .await;
        assert_eq!(outcome.status, Some(200));
        assert!(started.elapsed() < Duration::from_secs(4));
    }
}
