//! Listing ledger entries for finance: filtered, in (created_at, id) order, one keyset page at
//! a time, so a page deep in the ledger costs the same as the first one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

use super::entry::{EntryMode, LedgerEntry};
use super::scope::Scope;
use crate::{AccountingError, EntryStatus, TeamId};

/// The most entries one page may hold.
pub const MAX_PAGE_SIZE: i64 = 10_000;

/// Which entries to list; every field set narrows the result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryFilter {
    /// With `Scope::Team(t)`, a different team here matches nothing.
    pub team: Option<TeamId>,
    /// Exact match on the endpoint, e.g. `/v1/monitor/chatgpt`.
    pub endpoint: Option<String>,
    pub status: Option<EntryStatus>,
    /// `created_at >= from`.
    pub from: Option<DateTime<Utc>>,
    /// `created_at < to`.
    pub to: Option<DateTime<Utc>>,
    pub flagged: Option<bool>,
    /// Entries carrying this flag among their reasons (e.g. `outcome_unknown`, `expired`).
    pub flag: Option<String>,
    /// Only sync calls or only async tasks.
    pub mode: Option<EntryMode>,
}

/// Keyset position: the last row of the previous page. Serialize + Deserialize (the API
/// encodes it as an opaque cursor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryCursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl From<&LedgerEntry> for EntryCursor {
    fn from(entry: &LedgerEntry) -> Self {
        Self {
            created_at: entry.created_at,
            id: entry.id,
        }
    }
}

/// Entries in (created_at, id) ascending order strictly after `after`, at most `limit`
/// (1..=10_000, else `AccountingError::Invalid`).
///
/// Only the filters that are set become SQL conditions (static fragments, bound values), so
/// each combination is its own prepared statement whose plan can use the
/// `(team_id, created_at, id)` or `(created_at, id)` index and prune partitions by the bounds.
pub async fn list_entries(
    db: impl PgExecutor<'_>,
    scope: Scope,
    filter: &EntryFilter,
    after: Option<EntryCursor>,
    limit: i64,
) -> Result<Vec<LedgerEntry>, AccountingError> {
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(AccountingError::Invalid(format!(
            "limit must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    let mut query = QueryBuilder::<Postgres>::new(concat!(
        "SELECT id, created_at, team_id, endpoint, client_request_id, idempotency_key, ",
        "estimate, status, charged, flagged, flag_reason, upstream_status, void_reason, ",
        "settled_at, mode, task_id, batch_id FROM ledger_entries WHERE true"
    ));
    if let Some(team) = scope.team() {
        query.push(" AND team_id = ").push_bind(team);
    }
    // Under a team scope, naming the same team adds nothing; naming another matches nothing.
    if let Some(team) = filter.team
        && scope.team() != Some(team)
    {
        query.push(" AND team_id = ").push_bind(team);
    }
    if let Some(endpoint) = &filter.endpoint {
        query.push(" AND endpoint = ").push_bind(endpoint.as_str());
    }
    if let Some(status) = filter.status {
        query.push(" AND status = ").push_bind(status);
    }
    if let Some(from) = filter.from {
        query.push(" AND created_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" AND created_at < ").push_bind(to);
    }
    if let Some(flagged) = filter.flagged {
        query.push(" AND flagged = ").push_bind(flagged);
    }
    if let Some(flag) = &filter.flag {
        query
            .push(" AND ")
            .push_bind(flag.as_str())
            .push(" = ANY(string_to_array(flag_reason, ','))");
    }
    if let Some(mode) = filter.mode {
        query.push(" AND mode = ").push_bind(mode);
    }
    if let Some(after) = after {
        // The plain bound lets the planner prune partitions before the cursor; the row
        // comparison is what the index serves.
        query
            .push(" AND created_at >= ")
            .push_bind(after.created_at)
            .push(" AND (created_at, id) > (")
            .push_bind(after.created_at)
            .push(", ")
            .push_bind(after.id)
            .push(")");
    }
    query
        .push(" ORDER BY created_at, id LIMIT ")
        .push_bind(limit);
    let entries = query.build_query_as::<LedgerEntry>().fetch_all(db).await?;
    Ok(entries)
}
