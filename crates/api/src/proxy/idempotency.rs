//! `Idempotency-Key` on sync calls: the first request with a key runs; a retry with the same
//! key and body within the TTL gets the first result without being sent or charged again;
//! the same key with another body, or while the first still runs, gets 409.

use crate::error::{ApiError, ErrorCode, FieldError};
use accounting::idempotency::{self, Begin, StoredResponse};
use accounting::{IdempotencyKey, TeamId};
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

pub const HEADER: &str = "idempotency-key";

/// A key this request holds: complete it with the result, or release it.
pub struct HeldKey {
    pub team: TeamId,
    pub key: IdempotencyKey,
}

pub enum Start {
    /// No key sent: run normally.
    NoKey,
    /// Key taken: run, then complete or release it.
    Held(HeldKey),
    /// The first result, to send again as it was.
    Replay(StoredResponse),
}

pub fn parse(
    value: Option<&actix_web::http::header::HeaderValue>,
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    let text = value.to_str().unwrap_or("");
    IdempotencyKey::parse(text).map(Some).map_err(|e| {
        ApiError::validation(vec![FieldError {
            field: "Idempotency-Key".into(),
            message: e.reason().to_owned(),
        }])
    })
}

/// Hash of what makes two requests "the same": the path and the exact body.
pub fn fingerprint(path: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(path.as_bytes());
    hash.update([0]);
    hash.update(body);
    hex::encode(hash.finalize())
}

pub async fn start(
    db: &PgPool,
    team: TeamId,
    key: Option<IdempotencyKey>,
    fingerprint: &str,
    request_id: Uuid,
    ttl: Duration,
) -> Result<Start, ApiError> {
    let Some(key) = key else {
        return Ok(Start::NoKey);
    };
    let begun = idempotency::begin(db, team, &key, fingerprint, request_id, ttl)
        .await
        .map_err(|e| {
            ApiError::new(
                ErrorCode::LedgerUnavailable,
                "Could not record the idempotency key",
            )
            .with_cause(e)
            .with_retry_after(1)
        })?;
    match begun {
        Begin::Started => Ok(Start::Held(HeldKey { team, key })),
        Begin::Replay(stored) => Ok(Start::Replay(stored)),
        Begin::InProgress => Err(ApiError::new(
            ErrorCode::IdempotencyKeyInUse,
            "A request with this Idempotency-Key is still running",
        )
        .with_retry_after(1)),
        Begin::BodyMismatch => Err(ApiError::new(
            ErrorCode::IdempotencyKeyReused,
            "This Idempotency-Key was used with a different request",
        )),
    }
}

/// The stored first result as a response, marked as a replay.
pub fn replay(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    for (name, value) in &stored.headers {
        response.insert_header((name.as_str(), value.as_str()));
    }
    response.insert_header(("idempotent-replayed", "true"));
    response.body(stored.body)
}

/// Stores a success for replay; anything else frees the key so a retry runs again
/// (nothing was charged).
pub async fn finish(db: &PgPool, held: HeldKey, success: Option<StoredResponse>) {
    let result = match success {
        Some(stored) => idempotency::complete(db, held.team, &held.key, &stored)
            .await
            .map(|_| ()),
        None => idempotency::release(db, held.team, &held.key)
            .await
            .map(|_| ()),
    };
    if let Err(err) = result {
        tracing::error!(error = %err, "could not finish the idempotency key");
    }
}
