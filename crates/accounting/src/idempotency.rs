//! The Idempotency-Key store: a retry with the same key and body is answered with the stored
//! response instead of being sent (and charged) again. An in-progress key holds a lease; once
//! it has passed (the process running the request died), the key is resolved from its ledger
//! entry: never sent or voided frees it, charged or still pending keeps it.

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::types::Json;
use sqlx::{Acquire, PgExecutor, Postgres};
use uuid::Uuid;

use crate::ledger::status_of;
use crate::{AccountingError, EntryStatus, IdempotencyKey, TeamId};

/// A completed response, stored to be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a request carrying an Idempotency-Key should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The key is now claimed by this request: go ahead, then `complete` or `release` it.
    Started,
    /// The same request already completed: answer with this response, charge nothing.
    Replay(StoredResponse),
    /// The same request is still running: answer 409 and let the client retry later.
    InProgress,
    /// The key was used with a different body: refuse the request.
    BodyMismatch,
    /// The request that held the key ended without storing its answer (its process died),
    /// and its ledger entry says the upstream may have charged it: the answer is lost, the
    /// call must not run again.
    AnswerLost,
}

/// Hex SHA-256 of a request body, the `body_hash` [`begin`] expects.
pub fn hash_body(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

#[derive(sqlx::FromRow)]
struct ExistingKey {
    body_hash: String,
    state: String,
    request_id: Uuid,
    lease_expired: bool,
    response_status: Option<i32>,
    response_headers: Option<Json<Vec<(String, String)>>>,
    response_body: Option<Vec<u8>>,
}

/// A claim can lose its row between our two statements (the holder released it, or it
/// expired); then we simply try to claim again, a bounded number of times.
const CLAIM_ATTEMPTS: usize = 3;

/// Claims `key` for this team and request, or says why not. Race-safe: of any number of
/// concurrent `begin`s with the same key, exactly one gets `Started`. An expired row counts as
/// absent and is replaced atomically. The key lives for `ttl` from now; while in progress it
/// is leased for `lease` (longer than the request can run), after which it is resolved from
/// the holder's ledger entry (see [`Begin::AnswerLost`]).
pub async fn begin<'c>(
    db: impl Acquire<'c, Database = Postgres>,
    team_id: TeamId,
    key: &IdempotencyKey,
    body_hash: &str,
    request_id: Uuid,
    ttl: Duration,
    lease: Duration,
) -> Result<Begin, AccountingError> {
    let body_hash = normalized_body_hash(body_hash)?;
    let mut conn = db.acquire().await?;
    for _ in 0..CLAIM_ATTEMPTS {
        // Insert, or take over an expired row; a live row makes this return nothing.
        let claimed = sqlx::query_scalar::<_, Uuid>(
            "INSERT INTO idempotency_keys \
                 (team_id, key, body_hash, request_id, state, created_at, expires_at, \
                  lease_expires_at) \
             VALUES ($1, $2, $3, $4, 'in_progress', now(), now() + $5, now() + $6) \
             ON CONFLICT (team_id, key) DO UPDATE \
                 SET body_hash = EXCLUDED.body_hash, request_id = EXCLUDED.request_id, \
                     state = 'in_progress', response_status = NULL, response_headers = NULL, \
                     response_body = NULL, created_at = EXCLUDED.created_at, \
                     expires_at = EXCLUDED.expires_at, \
                     lease_expires_at = EXCLUDED.lease_expires_at \
                 WHERE idempotency_keys.expires_at <= now() \
             RETURNING request_id",
        )
        .bind(team_id)
        .bind(key)
        .bind(&body_hash)
        .bind(request_id)
        .bind(ttl)
        .bind(lease)
        .fetch_optional(&mut *conn)
        .await?;
        if claimed.is_some() {
            return Ok(Begin::Started);
        }

        let existing = sqlx::query_as::<_, ExistingKey>(
            "SELECT body_hash, state, request_id, \
                    (state = 'in_progress' AND lease_expires_at <= now()) AS lease_expired, \
                    response_status, response_headers, response_body \
             FROM idempotency_keys \
             WHERE team_id = $1 AND key = $2 AND expires_at > now()",
        )
        .bind(team_id)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(existing) = existing else { continue };
        if existing.body_hash != body_hash || !existing.lease_expired {
            return Ok(decide(existing, &body_hash));
        }
        // The holder's lease passed without an answer: its ledger entry decides.
        let holder = existing.request_id;
        match holder_entry_status(&mut conn, holder).await? {
            Some(EntryStatus::Pending) => return Ok(Begin::InProgress),
            Some(EntryStatus::Posted | EntryStatus::Expired) => return Ok(Begin::AnswerLost),
            Some(EntryStatus::Voided) | None => {
                if take_over(&mut conn, team_id, key, holder, request_id, ttl, lease).await? {
                    return Ok(Begin::Started);
                }
            }
        }
    }
    Ok(Begin::InProgress)
}

/// The status of the ledger entry a key's holder recorded, if it recorded one.
async fn holder_entry_status(
    conn: &mut sqlx::PgConnection,
    holder: Uuid,
) -> Result<Option<EntryStatus>, AccountingError> {
    if holder.get_version_num() != 7 {
        return Ok(None);
    }
    status_of(conn, holder).await
}

/// Moves an abandoned in-progress key from `holder` to `request_id`; `false` if another
/// request took it first.
async fn take_over(
    conn: &mut sqlx::PgConnection,
    team_id: TeamId,
    key: &IdempotencyKey,
    holder: Uuid,
    request_id: Uuid,
    ttl: Duration,
    lease: Duration,
) -> Result<bool, AccountingError> {
    let moved = sqlx::query(
        "UPDATE idempotency_keys \
         SET request_id = $4, created_at = now(), expires_at = now() + $5, \
             lease_expires_at = now() + $6 \
         WHERE team_id = $1 AND key = $2 AND request_id = $3 AND state = 'in_progress'",
    )
    .bind(team_id)
    .bind(key)
    .bind(holder)
    .bind(request_id)
    .bind(ttl)
    .bind(lease)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(moved == 1)
}

fn decide(existing: ExistingKey, body_hash: &str) -> Begin {
    if existing.body_hash != body_hash {
        return Begin::BodyMismatch;
    }
    let response = match (
        existing.state.as_str(),
        existing
            .response_status
            .and_then(|status| u16::try_from(status).ok()),
        existing.response_headers,
        existing.response_body,
    ) {
        ("completed", Some(status), Some(Json(headers)), Some(body)) => StoredResponse {
            status,
            headers,
            body,
        },
        _ => return Begin::InProgress,
    };
    Begin::Replay(response)
}

/// Stores the response of the request that holds the key, so retries replay it. `false` if
/// the key is not held (it was released, or it expired and another request took it over).
pub async fn complete(
    db: impl PgExecutor<'_>,
    team_id: TeamId,
    key: &IdempotencyKey,
    response: &StoredResponse,
) -> Result<bool, AccountingError> {
    let result = sqlx::query(
        "UPDATE idempotency_keys \
         SET state = 'completed', response_status = $3, response_headers = $4, response_body = $5 \
         WHERE team_id = $1 AND key = $2 AND state = 'in_progress'",
    )
    .bind(team_id)
    .bind(key)
    .bind(i32::from(response.status))
    .bind(Json(&response.headers))
    .bind(&response.body)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Gives up an in-progress key so a retry can run again: used when the upstream failed and
/// nothing was charged. A completed key is never released. `false` if nothing was held.
pub async fn release(
    db: impl PgExecutor<'_>,
    team_id: TeamId,
    key: &IdempotencyKey,
) -> Result<bool, AccountingError> {
    let result = sqlx::query(
        "DELETE FROM idempotency_keys WHERE team_id = $1 AND key = $2 AND state = 'in_progress'",
    )
    .bind(team_id)
    .bind(key)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Deletes at most `batch` expired keys, the longest expired first; returns how many. For a
/// periodic clean-up (expired keys are already ignored by [`begin`]): the caller repeats it
/// until it deletes fewer than `batch`, so a large backlog is cleared in short statements
/// that never lock many rows at once. Rows another transaction holds (a `begin` taking over
/// an expired key, another replica's purge) are skipped, and a key renewed meanwhile is kept.
pub async fn purge_expired(db: impl PgExecutor<'_>, batch: u32) -> Result<u64, AccountingError> {
    let result = sqlx::query(
        "DELETE FROM idempotency_keys AS k \
         USING (SELECT team_id, key FROM idempotency_keys \
                WHERE expires_at <= now() \
                ORDER BY expires_at \
                LIMIT $1 \
                FOR UPDATE SKIP LOCKED) AS expired \
         WHERE k.team_id = expired.team_id AND k.key = expired.key AND k.expires_at <= now()",
    )
    .bind(i64::from(batch))
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

fn normalized_body_hash(body_hash: &str) -> Result<String, AccountingError> {
    if body_hash.len() != 64 || !body_hash.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(AccountingError::Invalid(
            "body hash must be a hex SHA-256 (64 hex digits)".to_owned(),
        ));
    }
    Ok(body_hash.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_bodies_as_hex_sha256() {
        assert_eq!(
            hash_body(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn body_hashes_must_be_64_hex_digits() {
        let upper = hash_body(b"{}").to_ascii_uppercase();
        assert_eq!(normalized_body_hash(&upper).unwrap(), hash_body(b"{}"));
        assert!(normalized_body_hash("abc").is_err());
        assert!(normalized_body_hash(&"g".repeat(64)).is_err());
    }

    fn existing(state: &str, hash: &str) -> ExistingKey {
        ExistingKey {
            body_hash: hash.to_owned(),
            state: state.to_owned(),
            request_id: Uuid::nil(),
            lease_expired: false,
            response_status: Some(200),
            response_headers: Some(Json(vec![("x-a".into(), "1".into())])),
            response_body: Some(b"ok".to_vec()),
        }
    }

    #[test]
    fn a_different_body_wins_over_any_state() {
        assert_eq!(decide(existing("completed", "a"), "b"), Begin::BodyMismatch);
        assert_eq!(
            decide(existing("in_progress", "a"), "b"),
            Begin::BodyMismatch
        );
    }

    #[test]
    fn the_same_body_replays_or_waits() {
        assert_eq!(decide(existing("in_progress", "a"), "a"), Begin::InProgress);
        let Begin::Replay(response) = decide(existing("completed", "a"), "a") else {
            panic!("expected a replay");
        };
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"ok");
    }
}
