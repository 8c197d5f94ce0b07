//! A JWKS URL as a key source: fetched at start, and again when a token names a `kid` we do
//! not know, at most once per `jwks_min_refresh_secs` (never less than [`MIN_REFRESH_SECS`])
//! so unknown kids cannot flood the issuer. The fetch is single-flight: requests that arrive
//! while it runs wait for it and use its keys instead of queueing fetches of their own.
//! The URL is never logged nor put in an error (it may carry a token in its query).

use crate::http_error::describe_without_url;
use jsonwebtoken::jwk::JwkSet;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The floor of `auth.jwks_min_refresh_secs`: config validation refuses less, and a source
/// built with less uses this.
pub const MIN_REFRESH_SECS: u64 = 10;

pub struct JwksSource {
    url: String,
    http: reqwest::Client,
    min_interval: Duration,
    /// When the last fetch started. Held across a fetch and the caller's use of its result,
    /// so it is also what concurrent callers wait on.
    last_fetch: Mutex<Option<Instant>>,
}

impl JwksSource {
    pub fn new(url: String, min_interval: Duration) -> Self {
        let min_interval = min_interval.max(Duration::from_secs(MIN_REFRESH_SECS));
        Self {
            url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            min_interval,
            last_fetch: Mutex::new(None),
        }
    }

    /// Fetches the set unless a fetch started less than `min_interval` ago, and hands it to
    /// `apply` before any other caller gets past the lock: a caller that arrived during the
    /// fetch then finds its keys already in place and fetches nothing. A failed (or abandoned)
    /// fetch counts too, so a dead issuer is not hammered either.
    pub async fn refresh_if_due<T>(&self, apply: impl FnOnce(JwkSet) -> T) -> Option<T> {
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.min_interval) {
            return None;
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(set) => Some(apply(set)),
            Err(err) => {
                tracing::warn!(error = %describe_without_url(err), "JWKS fetch from auth.jwks_url failed");
                None
            }
        }
    }

    async fn fetch(&self) -> Result<JwkSet, reqwest::Error> {
        self.http
            .get(&self.url)
            .send()
            .await?
            .error_for_status()?
            .json::<JwkSet>()
            .await
    }
}
