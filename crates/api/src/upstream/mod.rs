//! The one HTTP client to cloro: pooled connections, the company key added here and nowhere
//! else, a deadline per request, and retries of 429/503 that honour `Retry-After` while the
//! deadline allows. What cloro's bodies and headers say is read in `envelope`.

pub mod envelope;

pub use envelope::{AccountCredits, UpstreamError};

use crate::config::UpstreamSettings;
use crate::secret::Secret;
use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use std::time::Duration;
use tokio::time::Instant;

/// What the upstream answered, body unread by anyone else.
#[derive(Debug)]
pub struct UpstreamReply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// How many answers during this call (retries included) were cloro's concurrency 429.
    pub concurrency_429s: u32,
}

/// Why no whole reply came. What matters for the money is whether cloro may have run the
/// call: only a failure to connect proves it did not.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamFailure {
    /// Connecting (DNS, TCP, TLS) failed before anything was written: cloro never saw the
    /// request and charged nothing.
    #[error("not sent: {0}")]
    NotSent(String),
    /// cloro may have run and charged the call: the deadline passed, the connection broke
    /// after the request was written, or a 2xx answer's body broke off. `answer` holds the
    /// status and headers when they arrived (they may say what was charged).
    #[error("outcome unknown: {reason}")]
    Unknown {
        reason: String,
        timed_out: bool,
        answer: Option<(StatusCode, HeaderMap)>,
    },
}

/// Why the account balance could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BalanceError {
    #[error(transparent)]
    Failed(UpstreamFailure),
    #[error("cloro answered {0}")]
    Refused(u16),
    #[error("cloro's answer has no readable `remaining`")]
    Unreadable,
}

impl UpstreamFailure {
    fn from_request_error(err: &reqwest::Error) -> Self {
        if err.is_connect() {
            return Self::NotSent(describe(err));
        }
        Self::Unknown {
            reason: describe(err),
            timed_out: err.is_timeout(),
            answer: None,
        }
    }
}

pub struct Upstream {
    http: reqwest::Client,
    /// `upstream.base_url`, parsed once: each call only sets its path and query.
    base_url: Url,
    /// `Bearer <company key>`, marked sensitive (never printed by the client's Debug).
    authorization: HeaderValue,
    deadline: Duration,
    max_retries: u32,
    retry_base: Duration,
}

impl Upstream {
    pub fn new(settings: &UpstreamSettings) -> anyhow::Result<Self> {
        let mut http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
            .pool_max_idle_per_host(settings.pool_max_idle_per_host)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true);
        if settings.http2_prior_knowledge {
            http = http.http2_prior_knowledge();
        }
        let http = http.build()?;
        Ok(Self {
            http,
            base_url: Url::parse(settings.base_url.trim_end_matches('/'))?,
            authorization: authorization(&settings.api_key),
            deadline: Duration::from_secs(settings.request_timeout_secs),
            max_retries: settings.max_retries,
            retry_base: Duration::from_millis(settings.retry_base_ms),
        })
    }

    /// Sends one request (with its retries) and returns the final reply.
    #[tracing::instrument(level = "debug", name = "upstream", skip(self, body, request_id), fields(%method, path = path_and_query))]
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Bytes>,
        request_id: &str,
    ) -> Result<UpstreamReply, UpstreamFailure> {
        let deadline = Instant::now() + self.deadline;
        let url = join(&self.base_url, path_and_query);
        let mut attempt = 0;
        let mut concurrency_429s = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                // Only reached after a refused attempt (429/503): nothing was charged, but
                // the next attempt is not sent either.
                return Err(UpstreamFailure::NotSent(
                    "the deadline passed between retries".into(),
                ));
            }
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .timeout(remaining)
                .header(AUTHORIZATION, self.authorization.clone())
                .header("x-request-id", request_id);
            if let Some(body) = &body {
                request = request
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                    .body(body.clone());
            }
            let mut reply = match request.send().await {
                Ok(response) => read(response).await?,
                Err(err) => return Err(UpstreamFailure::from_request_error(&err)),
            };
            if is_concurrency_429(&reply) {
                concurrency_429s += 1;
            }
            reply.concurrency_429s = concurrency_429s;
            let retryable = matches!(
                reply.status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            );
            if !retryable || attempt >= self.max_retries {
                return Ok(reply);
            }
            let wait = retry_after(&reply.headers).unwrap_or_else(|| self.backoff(attempt));
            if Instant::now() + wait >= deadline {
                return Ok(reply);
            }
            attempt += 1;
            tracing::debug!(
                status = reply.status.as_u16(),
                attempt,
                wait_ms = wait.as_millis() as u64,
                "retrying upstream"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// The account balance from cloro's `GET /v1/credits`.
    pub async fn account_balance(&self, request_id: &str) -> Result<i64, BalanceError> {
        let reply = self
            .send(Method::GET, "/v1/credits", None, request_id)
            .await
            .map_err(BalanceError::Failed)?;
        if !reply.status.is_success() {
            return Err(BalanceError::Refused(reply.status.as_u16()));
        }
        AccountCredits::parse(&reply.body)
            .map(|credits| credits.remaining)
            .map_err(|_| BalanceError::Unreadable)
    }

    /// Exponential from `retry_base`, with up to 50% jitter so replicas do not retry in step.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.retry_base.saturating_mul(1 << attempt.min(10));
        let jitter = rand::random_range(0.0..0.5);
        base.mul_f64(1.0 + jitter)
    }
}

/// The base URL with `path_and_query` after its own path (a base may have a path prefix).
fn join(base: &Url, path_and_query: &str) -> Url {
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let mut url = base.clone();
    url.set_path(&format!("{}{path}", base.path().trim_end_matches('/')));
    url.set_query(query);
    url
}

fn authorization(api_key: &Secret) -> HeaderValue {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", api_key.expose()))
        .unwrap_or_else(|_| HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

/// The whole answer. A body that breaks off after 2xx headers leaves the outcome unknown
/// (cloro charged a success); after any other status, cloro charged nothing, so the answer
/// counts with whatever body arrived.
async fn read(response: reqwest::Response) -> Result<UpstreamReply, UpstreamFailure> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(err) if status.is_success() => {
            return Err(UpstreamFailure::Unknown {
                reason: format!("the body broke off after {status}: {}", describe(&err)),
                timed_out: err.is_timeout(),
                answer: Some((status, headers)),
            });
        }
        Err(_) => Bytes::new(),
    };
    Ok(UpstreamReply {
        status,
        headers,
        body,
        concurrency_429s: 0,
    })
}

/// cloro's "all slots busy" 429 (spelled CONCURRENT_ or CONCURRENCY_LIMIT_EXCEEDED), as
/// opposed to its rate-limit or queue 429s.
fn is_concurrency_429(reply: &UpstreamReply) -> bool {
    envelope::is_concurrency_refusal(reply.status, &reply.headers, &reply.body)
}

/// `Retry-After` in seconds (cloro sends integers), capped at a minute.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: f64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(60.0)))
}

/// The error without its URL: the base URL is not secret, but keep logs short.
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_connect() {
        "connect"
    } else if err.is_body() || err.is_decode() {
        "body"
    } else {
        "request"
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    format!("{kind} error: {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_path_follows_the_base_urls_own_path() {
        let base = Url::parse("https://api.cloro.dev").unwrap();
        assert_eq!(
            join(&base, "/v1/monitor/chatgpt").as_str(),
            "https://api.cloro.dev/v1/monitor/chatgpt"
        );
        let prefixed = Url::parse("http://127.0.0.1:8080/cloro").unwrap();
        assert_eq!(
            join(&prefixed, "/v1/async/task/abc?include=result").as_str(),
            "http://127.0.0.1:8080/cloro/v1/async/task/abc?include=result"
        );
    }

    #[test]
    fn retry_after_parses_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("999"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(60)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }
}
