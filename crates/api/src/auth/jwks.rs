//! A JWKS URL as a key source: fetched at start, and again when a token names a `kid` we do
//! not know, at most once per `jwks_min_refresh_secs` so unknown kids cannot flood the issuer.
//! The URL is never logged nor put in an error (it may carry a token in its query).

use jsonwebtoken::jwk::JwkSet;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub struct JwksSource {
    url: String,
    http: reqwest::Client,
    min_interval: Duration,
    last_fetch: Mutex<Option<Instant>>,
}

impl JwksSource {
    pub fn new(url: String, min_interval: Duration) -> Self {
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

    /// Fetches the set unless one was fetched less than `min_interval` ago.
    pub async fn refresh_if_due(&self) -> Option<JwkSet> {
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.min_interval) {
            return None;
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(set) => Some(set),
            Err(err) => {
                tracing::warn!(error = %describe(err), "JWKS fetch from auth.jwks_url failed");
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

/// A client error and its causes, without the URL reqwest puts in its text.
fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
