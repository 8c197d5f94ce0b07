//! Names and builders of the headers cloro sets on replies.

use actix_web::http::header::HeaderName;

use crate::profile::{ConcurrencySpelling, Profile};
use crate::state::slots::SlotSnapshot;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
pub const X_CREDITS_CHARGED: HeaderName = HeaderName::from_static("x-credits-charged");
pub const X_CREDITS_REMAINING: HeaderName = HeaderName::from_static("x-credits-remaining");
pub const X_LATENCY_MS: HeaderName = HeaderName::from_static("x-latency-ms");

/// `X-Concurrent-*` or `X-Concurrency-*`, per the profile.
pub fn concurrency(profile: &Profile, snapshot: SlotSnapshot) -> Vec<(HeaderName, String)> {
    let (limit, current, remaining) = match profile.concurrency_spelling {
        ConcurrencySpelling::Concurrent => (
            HeaderName::from_static("x-concurrent-limit"),
            HeaderName::from_static("x-concurrent-current"),
            HeaderName::from_static("x-concurrent-remaining"),
        ),
        ConcurrencySpelling::Concurrency => (
            HeaderName::from_static("x-concurrency-limit"),
            HeaderName::from_static("x-concurrency-current"),
            HeaderName::from_static("x-concurrency-remaining"),
        ),
    };
    vec![
        (limit, snapshot.limit.to_string()),
        (current, snapshot.current.to_string()),
        (remaining, snapshot.remaining().to_string()),
    ]
}
