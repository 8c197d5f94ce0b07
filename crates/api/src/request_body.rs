//! Reading a team's request body: bounded in size (413 beyond the limit) and in time (408 when
//! it does not arrive in full within the deadline, so a client trickling its body cannot hold
//! a connection and a worker's attention for ever), and parsed as JSON (400 otherwise), all
//! answered in cloro's envelope before anything is spent.

use crate::error::{ApiError, ErrorCode, FieldError};
use actix_web::web;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use std::time::Duration;

/// The whole body, refused with 413 as soon as it passes `limit` bytes, and with 408 if it
/// has not arrived in full within `deadline` (counted from this call, however the bytes
/// trickle in).
pub async fn read_limited(
    payload: web::Payload,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, ApiError> {
    match tokio::time::timeout(deadline, read_all(payload, limit)).await {
        Ok(read) => read,
        Err(_) => Err(ApiError::new(
            ErrorCode::RequestTimeout,
            format!(
                "The request body did not arrive within {} s",
                deadline.as_secs_f64()
            ),
        )),
    }
}

async fn read_all(mut payload: web::Payload, limit: usize) -> Result<Bytes, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                ErrorCode::ValidationError,
                format!("Could not read the request body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("Request body is larger than {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The body as JSON, or a VALIDATION_ERROR naming the problem.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::validation(vec![FieldError {
            field: "body".into(),
            message: "a JSON body is required".into(),
        }]));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::validation(vec![FieldError {
            field: "body".into(),
            message: format!("invalid JSON: {e}"),
        }])
    })
}
