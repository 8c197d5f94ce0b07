//! The one statement a group commit runs: insert many PENDING entries, skip those already there.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::entry::{NewEntry, created_at_of};

/// Inserts every entry as PENDING in one multi-row `INSERT ... ON CONFLICT DO NOTHING`,
/// returning the ids that were actually inserted (the others already existed).
///
/// The rows travel as bound arrays expanded by `UNNEST`, so the SQL text is the same for every
/// batch size: one prepared statement per connection, no dynamic SQL, and no bind-parameter
/// limit. A single statement is its own transaction: the whole batch commits, or none of it.
pub(super) async fn insert_pending(
    db: impl PgExecutor<'_>,
    entries: &[&NewEntry],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let mut ids = Vec::with_capacity(entries.len());
    let mut created_ats: Vec<DateTime<Utc>> = Vec::with_capacity(entries.len());
    let mut team_ids = Vec::with_capacity(entries.len());
    let mut endpoints = Vec::with_capacity(entries.len());
    let mut client_request_ids = Vec::with_capacity(entries.len());
    let mut idempotency_keys = Vec::with_capacity(entries.len());
    let mut estimates = Vec::with_capacity(entries.len());
    let mut flag_reasons = Vec::with_capacity(entries.len());
    for entry in entries {
        ids.push(entry.id);
        created_ats.push(created_at_of(entry.id));
        team_ids.push(entry.team_id.as_uuid());
        endpoints.push(entry.endpoint.as_str());
        client_request_ids.push(entry.client_request_id.as_deref());
        idempotency_keys.push(entry.idempotency_key.as_ref().map(|key| key.as_str()));
        estimates.push(entry.estimate.get());
        flag_reasons.push(entry.flag_reason.as_deref());
    }

    let inserted = sqlx::query_scalar::<_, Uuid>(
        "INSERT INTO ledger_entries \
             (id, created_at, team_id, endpoint, client_request_id, idempotency_key, estimate, status, \
              flagged, flag_reason) \
         SELECT id, created_at, team_id, endpoint, client_request_id, idempotency_key, estimate, 'PENDING', \
                flag_reason IS NOT NULL, flag_reason \
         FROM UNNEST($1::uuid[], $2::timestamptz[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[]) \
             AS batch (id, created_at, team_id, endpoint, client_request_id, idempotency_key, estimate, flag_reason) \
         ON CONFLICT (id, created_at) DO NOTHING \
         RETURNING id",
    )
    .bind(ids)
    .bind(created_ats)
    .bind(team_ids)
    .bind(endpoints)
    .bind(client_request_ids)
    .bind(idempotency_keys)
    .bind(estimates)
    .bind(flag_reasons)
    .fetch_all(db)
    .await?;
    Ok(inserted.into_iter().collect())
}
