//! The one statement a group commit runs: insert the batch's new PENDING entries (skipping
//! those already there) and settle its finished ones, in a single round trip and commit.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::entry::{NewEntry, created_at_of};
use super::settlement::{OUTCOME_UNKNOWN_FLAG, record_late_charges};
use super::settlement_writer::{SettleRequest, Settlement};

/// Inserts every new entry as PENDING (`ON CONFLICT DO NOTHING`) and applies every settlement
/// as a guarded UPDATE of a PENDING entry, with the account balances the responses reported,
/// in one statement: one round trip and its own commit, all of it or none. Then, only for
/// settlements the statement did not apply (a retry, or the sweeper won), the late charges of
/// those it finds EXPIRED. Returns the ids the statement inserted or settled.
///
/// The rows travel as bound arrays expanded by `UNNEST`, so the SQL text is the same for every
/// batch: one prepared statement per connection, no dynamic SQL, no bind-parameter limit. A
/// settlement never meets its own entry's insert here: it is only sent once the PENDING entry
/// was answered as committed.
///
/// A failure after the statement committed is answered as a failure: a retried insert finds
/// its entry (and changes nothing), a retried settlement finds its entry settled (nothing is
/// booked twice) and records any late charge still missing (late charges are idempotent per
/// entry).
pub(super) async fn write_batch(
    connection: &mut PgConnection,
    new_entries: &[&NewEntry],
    settlements: &[&SettleRequest],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let pending = PendingColumns::of(new_entries);
    let settling = SettlementColumns::of(settlements);
    let changed = sqlx::query_scalar::<_, Uuid>(
        "WITH new_entries AS ( \
             SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::uuid[], $4::text[], \
                                  $5::text[], $6::text[], $7::bigint[], $8::text[]) \
                 AS n (id, created_at, team_id, endpoint, client_request_id, idempotency_key, \
                       estimate, flag_reason) \
         ), \
         inserted AS ( \
             INSERT INTO ledger_entries \
                 (id, created_at, team_id, endpoint, client_request_id, idempotency_key, \
                  estimate, status, flagged, flag_reason) \
             SELECT id, created_at, team_id, endpoint, client_request_id, idempotency_key, \
                    estimate, 'PENDING', flag_reason IS NOT NULL, flag_reason \
             FROM new_entries \
             ON CONFLICT (id, created_at) DO NOTHING \
             RETURNING id \
         ), \
         s AS ( \
             SELECT * FROM UNNEST($9::uuid[], $10::timestamptz[], $11::text[], $12::bigint[], \
                                  $13::int[], $14::text[], $15::text[], $16::bigint[]) \
                 AS s (id, created_at, status, charged, upstream_status, void_reason, flag, \
                       balance) \
         ), \
         balances AS ( \
             INSERT INTO account_balance_observations (request_id, credits_remaining) \
             SELECT id, balance FROM s WHERE balance IS NOT NULL \
         ), \
         settled AS ( \
             UPDATE ledger_entries AS l \
             SET status = s.status, charged = s.charged, upstream_status = s.upstream_status, \
                 void_reason = s.void_reason, settled_at = now(), \
                 flagged = l.flagged OR s.flag IS NOT NULL, \
                 flag_reason = CASE WHEN s.flag IS NULL THEN l.flag_reason \
                                    WHEN l.flag_reason IS NULL THEN s.flag \
                                    ELSE l.flag_reason || ',' || s.flag END \
             FROM s \
             WHERE l.id = s.id AND l.created_at = s.created_at AND l.status = 'PENDING' \
             RETURNING l.id \
         ) \
         SELECT id FROM inserted UNION ALL SELECT id FROM settled",
    )
    .bind(pending.ids)
    .bind(pending.created_ats)
    .bind(pending.team_ids)
    .bind(pending.endpoints)
    .bind(pending.client_request_ids)
    .bind(pending.idempotency_keys)
    .bind(pending.estimates)
    .bind(pending.flag_reasons)
    .bind(&settling.ids)
    .bind(&settling.created_ats)
    .bind(&settling.statuses)
    .bind(&settling.charges)
    .bind(&settling.upstream_statuses)
    .bind(&settling.void_reasons)
    .bind(&settling.flags)
    .bind(&settling.balances)
    .fetch_all(&mut *connection)
    .await?;
    let changed: HashSet<Uuid> = changed.into_iter().collect();
    let unapplied: Vec<&SettleRequest> = settlements
        .iter()
        .filter(|request| !changed.contains(&request.id))
        .copied()
        .collect();
    if !unapplied.is_empty() {
        let late = SettlementColumns::of(&unapplied);
        record_late_charges(
            connection,
            &late.ids,
            &late.charges,
            &late.upstream_statuses,
            &late.void_reasons,
        )
        .await?;
    }
    Ok(changed)
}

/// The new entries' columns, as the statement binds them.
struct PendingColumns<'a> {
    ids: Vec<Uuid>,
    created_ats: Vec<DateTime<Utc>>,
    team_ids: Vec<Uuid>,
    endpoints: Vec<&'a str>,
    client_request_ids: Vec<Option<&'a str>>,
    idempotency_keys: Vec<Option<&'a str>>,
    estimates: Vec<i64>,
    flag_reasons: Vec<Option<&'a str>>,
}

impl<'a> PendingColumns<'a> {
    fn of(entries: &[&'a NewEntry]) -> Self {
        let mut columns = Self {
            ids: Vec::with_capacity(entries.len()),
            created_ats: Vec::with_capacity(entries.len()),
            team_ids: Vec::with_capacity(entries.len()),
            endpoints: Vec::with_capacity(entries.len()),
            client_request_ids: Vec::with_capacity(entries.len()),
            idempotency_keys: Vec::with_capacity(entries.len()),
            estimates: Vec::with_capacity(entries.len()),
            flag_reasons: Vec::with_capacity(entries.len()),
        };
        for entry in entries {
            columns.ids.push(entry.id);
            columns.created_ats.push(created_at_of(entry.id));
            columns.team_ids.push(entry.team_id.as_uuid());
            columns.endpoints.push(entry.endpoint.as_str());
            columns
                .client_request_ids
                .push(entry.client_request_id.as_deref());
            columns
                .idempotency_keys
                .push(entry.idempotency_key.as_ref().map(|key| key.as_str()));
            columns.estimates.push(entry.estimate.get());
            columns.flag_reasons.push(entry.flag_reason.as_deref());
        }
        columns
    }
}

/// The settlements' columns, as the statement binds them.
#[derive(Default)]
struct SettlementColumns<'a> {
    ids: Vec<Uuid>,
    created_ats: Vec<DateTime<Utc>>,
    statuses: Vec<&'static str>,
    charges: Vec<i64>,
    upstream_statuses: Vec<Option<i32>>,
    void_reasons: Vec<Option<&'a str>>,
    flags: Vec<Option<&'static str>>,
    balances: Vec<Option<i64>>,
}

impl<'a> SettlementColumns<'a> {
    fn of(requests: &[&'a SettleRequest]) -> Self {
        let mut columns = Self::default();
        for request in requests {
            columns.push(request);
        }
        columns
    }

    fn push(&mut self, request: &'a SettleRequest) {
        let (status, upstream_status, void_reason, flag) = match &request.settlement {
            Settlement::Post {
                upstream_status, ..
            } => ("POSTED", Some(*upstream_status), None, None),
            Settlement::Void {
                upstream_status,
                reason,
            } => ("VOIDED", *upstream_status, Some(reason.as_str()), None),
            Settlement::Unknown {
                upstream_status, ..
            } => ("POSTED", *upstream_status, None, Some(OUTCOME_UNKNOWN_FLAG)),
        };
        self.ids.push(request.id);
        self.created_ats.push(created_at_of(request.id));
        self.statuses.push(status);
        self.charges.push(request.settlement.charged());
        self.upstream_statuses.push(upstream_status);
        self.void_reasons.push(void_reason);
        self.flags.push(flag);
        self.balances.push(request.balance_observed);
    }
}
