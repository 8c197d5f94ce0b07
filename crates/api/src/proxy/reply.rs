//! Turning the upstream's reply into the team's: status and body byte for byte, and only
//! the headers that are the team's business. The account-wide ones (balance, account
//! concurrency and rate) are not passed through; the gateway writes team-scoped ones.

use crate::admission::LimitHeaders;
use crate::error::{ApiError, ErrorCode};
use crate::proxy::upstream::{UpstreamFailure, UpstreamReply};
use actix_web::HttpResponse;
use actix_web::http::StatusCode;

/// Upstream headers a team receives unchanged.
const PASSED_HEADERS: &[&str] = &[
    "content-type",
    "x-credits-charged",
    "x-latency-ms",
    "retry-after",
];

pub fn to_response(
    outcome: Result<UpstreamReply, UpstreamFailure>,
    limit_headers: LimitHeaders,
) -> Result<HttpResponse, ApiError> {
    let reply = match outcome {
        Ok(reply) => reply,
        Err(UpstreamFailure::Timeout) => {
            return Err(ApiError::new(
                ErrorCode::UpstreamTimeout,
                "cloro did not answer before the gateway's deadline",
            )
            .with_headers(limit_headers));
        }
        Err(UpstreamFailure::Unreachable(reason)) => {
            return Err(ApiError::new(
                ErrorCode::UpstreamUnreachable,
                "cloro could not be reached",
            )
            .with_cause(anyhow::anyhow!(reason)));
        }
    };
    let status = StatusCode::from_u16(reply.status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = HttpResponse::build(status);
    for name in PASSED_HEADERS {
        if let Some(value) = reply.headers.get(*name)
            && let Ok(value) = actix_web::http::header::HeaderValue::from_bytes(value.as_bytes())
        {
            response.insert_header((*name, value));
        }
    }
    for (name, value) in limit_headers {
        response.insert_header((name, value));
    }
    Ok(response.body(reply.body))
}

/// The stored form of a reply, for Idempotency-Key replays.
pub fn stored_headers(reply: &UpstreamReply) -> Vec<(String, String)> {
    PASSED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = reply.headers.get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect()
}
