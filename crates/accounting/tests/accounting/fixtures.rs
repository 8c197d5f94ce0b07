//! Teams and ledger entries for tests to start from.

use accounting::ledger::{self, LedgerWriter, NewEntry, Recorded};
use accounting::{Credits, TeamId, TeamSlug, teams};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::{NoContext, Timestamp, Uuid};

pub async fn create_team(pool: &PgPool, slug: &str) -> TeamId {
    let slug = TeamSlug::parse(slug).unwrap();
    teams::create(pool, &slug, &format!("Team {slug}"))
        .await
        .unwrap()
        .id
}

/// A UUIDv7 request id minted as if at `at`.
pub fn request_id_at(at: DateTime<Utc>) -> Uuid {
    let seconds = u64::try_from(at.timestamp()).unwrap();
    Uuid::new_v7(Timestamp::from_unix(
        NoContext,
        seconds,
        at.timestamp_subsec_nanos(),
    ))
}

pub fn new_entry(team_id: TeamId, estimate: i64) -> NewEntry {
    new_entry_with_id(team_id, Uuid::now_v7(), estimate)
}

pub fn new_entry_at(team_id: TeamId, at: DateTime<Utc>, estimate: i64) -> NewEntry {
    new_entry_with_id(team_id, request_id_at(at), estimate)
}

pub fn new_entry_with_id(team_id: TeamId, id: Uuid, estimate: i64) -> NewEntry {
    NewEntry {
        id,
        team_id,
        endpoint: "/v1/monitor/chatgpt".to_owned(),
        client_request_id: Some(format!("client-{id}")),
        idempotency_key: None,
        estimate: Credits::new(estimate).unwrap(),
        flag_reason: None,
    }
}

/// Records the entry PENDING through a writer of its own and returns its id. The entry is
/// recorded as of now (`pending_at`), whatever its id's time.
pub async fn record_now(pool: &PgPool, entry: NewEntry) -> Uuid {
    let id = entry.id;
    let writer = LedgerWriter::spawn(pool.clone(), Default::default());
    assert_eq!(
        writer.record_pending(entry).await.unwrap(),
        Recorded::Inserted
    );
    id
}

/// Records the entry PENDING as if at its id's time (`pending_at` = `created_at`), as the
/// gateway does for a request recorded on arrival; returns its id.
pub async fn record(pool: &PgPool, entry: NewEntry) -> Uuid {
    let id = entry.id;
    sqlx::query(
        "INSERT INTO ledger_entries \
             (id, created_at, pending_at, team_id, endpoint, client_request_id, idempotency_key, \
              estimate, flagged, flag_reason) \
         VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8::text IS NOT NULL, $8)",
    )
    .bind(id)
    .bind(ledger::created_at_of(id))
    .bind(entry.team_id)
    .bind(&entry.endpoint)
    .bind(entry.client_request_id.as_deref())
    .bind(entry.idempotency_key.as_ref())
    .bind(entry.estimate)
    .bind(entry.flag_reason.as_deref())
    .execute(pool)
    .await
    .unwrap();
    id
}

pub fn credits(amount: i64) -> Credits {
    Credits::new(amount).unwrap()
}

/// The entry's status as stored, without team scoping (tests only).
pub async fn status_of(pool: &PgPool, id: Uuid) -> String {
    sqlx::query_scalar("SELECT status FROM ledger_entries WHERE id = $1 AND created_at = $2")
        .bind(id)
        .bind(ledger::created_at_of(id))
        .fetch_one(pool)
        .await
        .unwrap()
}
