//! Reading a request body with a size limit and parsing it as JSON, failing the way the API does (400 VALIDATION_ERROR).

use actix_web::web;
use bytes::BytesMut;
use futures::StreamExt;
use serde_json::Value;

use crate::error::{ApiError, FieldError};

/// Sync monitor calls and single task submissions.
pub const SMALL_BODY_LIMIT: usize = 1024 * 1024;
/// Batches of up to 500 tasks.
pub const BATCH_BODY_LIMIT: usize = 16 * 1024 * 1024;

fn body_error(message: impl Into<String>) -> ApiError {
    ApiError::validation(vec![FieldError::new("body", message)])
}

/// Reads at most `limit` bytes and parses them as JSON.
pub async fn read_json(mut payload: web::Payload, limit: usize) -> Result<Value, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| body_error(format!("Could not read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(body_error(format!("The body exceeds {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(body_error("A JSON body is required"));
    }
    serde_json::from_slice(&body).map_err(|e| body_error(format!("Malformed JSON: {e}")))
}
