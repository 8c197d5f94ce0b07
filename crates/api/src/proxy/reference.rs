//! cloro's free reference data (`/v1/countries`, `/v1/states`): free in credits but not in
//! the account's rate, so each call is admitted against the team's rate and the account's
//! bucket for the route, and cloro's answers are cached (they change rarely): a team looping
//! on them cannot burn the account's rate limit for everyone.

use crate::admission::Admitter;
use crate::auth::TeamRef;
use crate::error::ApiError;
use crate::upstream::{Upstream, UpstreamFailure, UpstreamReply};
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a reference answer is served from the cache.
const FRESH_FOR: Duration = Duration::from_secs(3600);
/// The most distinct queries cached (a query string is the team's to choose).
const MAX_CACHED: usize = 256;

/// A cached 200 answer.
#[derive(Clone)]
struct Cached {
    stored_at: Instant,
    headers: HeaderMap,
    body: Bytes,
}

pub struct ReferenceData {
    upstream: Arc<Upstream>,
    admission: Arc<Admitter>,
    cache: Mutex<HashMap<String, Cached>>,
}

impl ReferenceData {
    pub fn new(upstream: Arc<Upstream>, admission: Arc<Admitter>) -> Self {
        Self {
            upstream,
            admission,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// cloro's answer for `path_and_query`, from the cache while fresh; `route` names the
    /// account bucket (`countries` or `states`).
    pub async fn get(
        &self,
        team: &TeamRef,
        route: &'static str,
        path_and_query: &str,
        request_id: &str,
    ) -> Result<Result<UpstreamReply, UpstreamFailure>, ApiError> {
        self.admission.admit_reference(team.id, route).await?;
        if let Some(cached) = self.fresh(path_and_query) {
            return Ok(Ok(UpstreamReply {
                status: StatusCode::OK,
                headers: cached.headers,
                body: cached.body,
                concurrency_429s: 0,
            }));
        }
        let outcome = self
            .upstream
            .send(Method::GET, path_and_query, None, request_id)
            .await;
        if let Ok(reply) = &outcome
            && reply.status == StatusCode::OK
        {
            self.store(path_and_query, reply);
        }
        Ok(outcome)
    }

    fn fresh(&self, key: &str) -> Option<Cached> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .get(key)
            .filter(|cached| cached.stored_at.elapsed() < FRESH_FOR)
            .cloned()
    }

    fn store(&self, key: &str, reply: &UpstreamReply) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() >= MAX_CACHED && !cache.contains_key(key) {
            cache.retain(|_, cached| cached.stored_at.elapsed() < FRESH_FOR);
            if cache.len() >= MAX_CACHED {
                return;
            }
        }
        cache.insert(
            key.to_owned(),
            Cached {
                stored_at: Instant::now(),
                headers: reply.headers.clone(),
                body: reply.body.clone(),
            },
        );
    }
}
