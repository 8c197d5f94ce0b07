//! The team-scoped limit headers, from the numbers the admission script returned: cloro's
//! own (`X-RateLimit-*`, `X-Concurrent-*`; `X-Credits-Remaining` is added by the caller once
//! the charge is known) and the IETF
//! `RateLimit-Policy` / `RateLimit` pair, on successes and refusals alike.

use limiter::Admission;

/// Header name and value pairs, ready for a response.
pub type LimitHeaders = Vec<(&'static str, String)>;

pub fn limit_headers(admission: &Admission) -> LimitHeaders {
    let rate = admission.team_rate;
    let concurrency = admission.team_concurrency;
    // A token bucket refills `rps` per second: one second is the natural window.
    let quota = rate.rps.ceil().max(1.0) as u64;
    let reset_secs = if rate.remaining > 0 { 0 } else { 1 };
    vec![
        ("x-ratelimit-limit", quota.to_string()),
        ("x-ratelimit-remaining", rate.remaining.to_string()),
        ("x-concurrent-limit", concurrency.limit.to_string()),
        ("x-concurrent-current", concurrency.current.to_string()),
        (
            "x-concurrent-remaining",
            concurrency.remaining().to_string(),
        ),
        ("ratelimit-policy", format!("\"team\";q={quota};w=1")),
        (
            "ratelimit",
            format!("\"team\";r={};t={reset_secs}", rate.remaining),
        ),
    ]
}
