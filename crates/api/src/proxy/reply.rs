//! Turning the upstream's reply into the team's: status and body byte for byte, and only
//! the headers that are the team's business. The account-wide ones (balance, account
//! concurrency and rate) are not passed through; the gateway writes team-scoped ones.

use crate::admission::LimitHeaders;
use crate::error::{ApiError, ErrorCode};
use crate::upstream::{UpstreamFailure, UpstreamReply};
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
        Err(failure @ UpstreamFailure::Unknown { .. }) => {
            return Err(unknown_outcome(&failure, limit_headers));
        }
        Err(UpstreamFailure::NotSent(reason)) => {
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

/// The answer to a call cloro may have run and charged without the gateway learning how it
/// ended: 504 in cloro's envelope. The entry is booked (flagged `outcome_unknown`), and an
/// Idempotency-Key retry gets this same answer instead of running again.
pub fn unknown_outcome(failure: &UpstreamFailure, limit_headers: LimitHeaders) -> ApiError {
    let message = match failure {
        UpstreamFailure::Unknown {
            timed_out: true,
            answer: None,
            ..
        } => "cloro did not answer before the gateway's deadline; the call may have been charged",
        UpstreamFailure::Unknown {
            answer: Some(_), ..
        } => "cloro's answer broke off before it was complete; the call was charged",
        _ => "the connection to cloro broke before its answer; the call may have been charged",
    };
    ApiError::new(ErrorCode::UpstreamTimeout, message).with_headers(limit_headers)
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
