//! `Idempotency-Key` on sync calls: the first request with a key runs; a retry with the same
//! key and body within the TTL gets the first result without being sent or charged again
//! (a success, or the 504 of a call whose outcome is unknown: cloro may have charged it);
//! the same key with another body, or while the first still runs, gets 409. A key whose
//! request died without an answer is resolved from its ledger entry once its lease passes.

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
    /// The longest finishing it may take (the request path's Postgres bound).
    pub timeout: Duration,
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
    // Non-ASCII is refused by the alphabet, by name, rather than read as an empty key.
    let text = String::from_utf8_lossy(value.as_bytes());
    IdempotencyKey::parse(&text).map(Some).map_err(|e| {
        ApiError::validation(vec![FieldError {
            field: "Idempotency-Key".into(),
            message: e.reason().to_owned(),
        }])
    })
}

/// Hash of what makes two requests "the same": the path and the exact body.
fn fingerprint(path: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(path.as_bytes());
    hash.update([0]);
    hash.update(body);
    hex::encode(hash.finalize())
}

/// Claims the key (if one was sent) for the request `(path, body)` within `timeout`.
/// `(ttl, lease)`: how long the answer is kept, and how long the claim holds while the
/// request runs. Without a key nothing is hashed.
pub async fn start(
    db: &PgPool,
    team: TeamId,
    key: Option<IdempotencyKey>,
    (path, body): (&str, &[u8]),
    request_id: Uuid,
    (ttl, lease): (Duration, Duration),
    timeout: Duration,
) -> Result<Start, ApiError> {
    let Some(key) = key else {
        return Ok(Start::NoKey);
    };
    let fingerprint = &fingerprint(path, body);
    let unavailable = |cause: anyhow::Error| {
        ApiError::ledger_unavailable("Could not record the idempotency key").with_cause(cause)
    };
    let begin = idempotency::begin(db, team, &key, fingerprint, request_id, ttl, lease);
    let begun = match tokio::time::timeout(timeout, begin).await {
        Ok(Ok(begun)) => begun,
        Ok(Err(err)) => return Err(unavailable(err.into())),
        // The claim may still land: its lease then expires and the key is resolved from
        // the (absent) ledger entry, so it frees itself.
        Err(_) => return Err(unavailable(anyhow::anyhow!("no answer in time"))),
    };
    match begun {
        Begin::Started => Ok(Start::Held(HeldKey { team, key, timeout })),
        Begin::Replay(stored) => Ok(Start::Replay(stored)),
        Begin::AnswerLost => Err(ApiError::new(
            ErrorCode::UpstreamTimeout,
            "The first request with this Idempotency-Key may have been charged, but its answer was lost; it is not sent again",
        )),
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

/// The answer kept for retries of a successful call: the reply itself, or, when its body is
/// larger than `max_body_bytes`, a small 409 `IDEMPOTENCY_REPLY_TOO_LARGE` saying the first
/// call succeeded but its answer was not kept. Either way the key stays bound to the call, so
/// a retry is never sent (or charged) again; a new key is the caller's choice to pay again.
pub fn kept(
    status: u16,
    headers: Vec<(String, String)>,
    body: &[u8],
    max_body_bytes: usize,
) -> StoredResponse {
    if body.len() <= max_body_bytes {
        return StoredResponse {
            status,
            headers,
            body: body.to_vec(),
        };
    }
    tracing::info!(
        bytes = body.len(),
        max_body_bytes,
        "reply too large to keep for Idempotency-Key replays; retries get 409"
    );
    let charged = headers
        .iter()
        .find(|(name, _)| name == "x-credits-charged")
        .and_then(|(_, value)| value.parse::<i64>().ok());
    ApiError::new(
        ErrorCode::IdempotencyReplyTooLarge,
        format!(
            "The first request with this Idempotency-Key succeeded (status {status}), but its \
             {}-byte answer is larger than the {max_body_bytes} bytes kept for replays; it is \
             not sent again. Use a new key to run (and pay for) the call again",
            body.len()
        ),
    )
    .with_details(serde_json::json!({
        "firstStatus": status,
        "creditsCharged": charged,
        "bodyBytes": body.len(),
        "maxBodyBytes": max_body_bytes,
    }))
    .stored()
}

/// How a held key ends.
pub enum Finish {
    /// Replay this answer to every retry (a success, or the 504 of an unknown outcome).
    Store(StoredResponse),
    /// Free the key so a retry runs again: nothing was charged.
    Release,
}

/// Ends the key's claim, within the key's timeout. A failure is logged: the key's lease then
/// resolves it from the ledger entry.
pub async fn finish(db: &PgPool, held: HeldKey, finish: Finish) {
    let work = async {
        match finish {
            Finish::Store(stored) => idempotency::complete(db, held.team, &held.key, &stored)
                .await
                .map(|_| ()),
            Finish::Release => idempotency::release(db, held.team, &held.key)
                .await
                .map(|_| ()),
        }
    };
    match tokio::time::timeout(held.timeout, work).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::error!(error = %err, "could not finish the idempotency key"),
        Err(_) => tracing::error!("finishing the idempotency key timed out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> Vec<(String, String)> {
        vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("x-credits-charged".to_owned(), "7".to_owned()),
        ]
    }

    #[test]
    fn a_reply_within_the_cap_is_kept_as_it_is() {
        let stored = kept(200, headers(), b"0123456789", 10);
        assert_eq!(stored.status, 200);
        assert_eq!(stored.headers, headers());
        assert_eq!(stored.body, b"0123456789");
    }

    #[test]
    fn a_larger_reply_is_kept_as_a_409_naming_the_first_answer() {
        let stored = kept(200, headers(), b"01234567890", 10);
        assert_eq!(stored.status, 409);
        let envelope: serde_json::Value = serde_json::from_slice(&stored.body).unwrap();
        assert_eq!(envelope["error"]["code"], "IDEMPOTENCY_REPLY_TOO_LARGE");
        assert_eq!(envelope["error"]["details"]["firstStatus"], 200);
        assert_eq!(envelope["error"]["details"]["creditsCharged"], 7);
        assert_eq!(envelope["error"]["details"]["bodyBytes"], 11);
        assert_eq!(envelope["error"]["details"]["maxBodyBytes"], 10);
    }
}
