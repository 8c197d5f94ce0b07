//! What a ledger entry is: the request going in, the row coming out, and where it lives.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::types::text_column;
use crate::{AccountingError, Credits, EntryStatus, IdempotencyKey, TeamId};

/// What kind of upstream call an entry is for: a sync monitor call, settled when its reply
/// arrives, or an async task (see `crate::async_tasks`), settled when the task finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryMode {
    Sync,
    Async,
}

text_column! {
    enum EntryMode: "ledger entry mode", expecting "'sync' or 'async'" {
        Sync => "sync",
        Async => "async",
    }
}

/// A request about to be sent upstream, to be recorded PENDING first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// The gateway's request id: a UUIDv7, whose timestamp becomes the entry's `created_at`.
    pub id: Uuid,
    pub team_id: TeamId,
    /// The upstream path, e.g. `/v1/monitor/chatgpt`.
    pub endpoint: String,
    /// The caller's `X-Request-ID`, if it sent one.
    pub client_request_id: Option<String>,
    pub idempotency_key: Option<IdempotencyKey>,
    /// Credits the request is expected to cost, from the price table.
    pub estimate: Credits,
    /// Set to flag the entry from the start (e.g. admitted over a soft budget).
    pub flag_reason: Option<String>,
}

/// Upper bound on the free-text identity columns, so a caller cannot bloat the ledger.
const MAX_TEXT_LEN: usize = 255;

impl NewEntry {
    /// Checks what the types cannot: the id is a UUIDv7 and the texts have sane lengths.
    pub(crate) fn check(&self) -> Result<(), AccountingError> {
        if self.id.get_version_num() != 7 {
            return Err(AccountingError::Invalid(format!(
                "ledger entry id {} is not a UUIDv7",
                self.id
            )));
        }
        if self.endpoint.is_empty() || self.endpoint.len() > MAX_TEXT_LEN {
            return Err(AccountingError::Invalid(format!(
                "endpoint must be 1 to {MAX_TEXT_LEN} bytes"
            )));
        }
        if self
            .client_request_id
            .as_ref()
            .is_some_and(|id| id.len() > MAX_TEXT_LEN)
        {
            return Err(AccountingError::Invalid(format!(
                "client request id must be at most {MAX_TEXT_LEN} bytes"
            )));
        }
        if self
            .flag_reason
            .as_ref()
            .is_some_and(|reason| reason.is_empty() || reason.len() > MAX_TEXT_LEN)
        {
            return Err(AccountingError::Invalid(format!(
                "flag reason must be 1 to {MAX_TEXT_LEN} bytes"
            )));
        }
        Ok(())
    }
}

/// Outcome of recording a PENDING entry; both mean the entry is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Inserted,
    /// An entry with this id was already recorded (a retry); it was left as it was.
    AlreadyExisted,
}

/// A ledger entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LedgerEntry {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub team_id: TeamId,
    pub endpoint: String,
    pub client_request_id: Option<String>,
    pub idempotency_key: Option<IdempotencyKey>,
    pub estimate: Credits,
    pub status: EntryStatus,
    /// `None` while PENDING; the upstream's charge when POSTED; 0 when VOIDED; the estimate
    /// when EXPIRED.
    pub charged: Option<Credits>,
    pub flagged: bool,
    pub flag_reason: Option<String>,
    pub upstream_status: Option<i32>,
    pub void_reason: Option<String>,
    pub settled_at: Option<DateTime<Utc>>,
    pub mode: EntryMode,
    /// cloro's task id of an async entry, once its create reply arrived.
    pub task_id: Option<Uuid>,
    /// The batch an async entry was submitted in.
    pub batch_id: Option<Uuid>,
}

/// The `created_at` of the entry with this id: the millisecond timestamp in the first 48 bits
/// of a UUIDv7. Every lookup by id adds `created_at = created_at_of(id)` so Postgres reads a
/// single monthly partition.
pub fn created_at_of(id: Uuid) -> DateTime<Utc> {
    let millis = id.as_bytes()[..6]
        .iter()
        .fold(0_i64, |millis, byte| (millis << 8) | i64::from(*byte));
    // 48 bits of milliseconds reach the year 10889, well inside chrono's range.
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::{NoContext, Timestamp};

    fn entry_with_id(id: Uuid) -> NewEntry {
        NewEntry {
            id,
            team_id: TeamId::generate(),
            endpoint: "/v1/monitor/chatgpt".into(),
            client_request_id: None,
            idempotency_key: None,
            estimate: Credits::new(7).unwrap(),
            flag_reason: None,
        }
    }

    #[test]
    fn created_at_is_the_uuid_v7_timestamp() {
        let id = Uuid::new_v7(Timestamp::from_unix(NoContext, 1_796_000_000, 123_000_000));
        assert_eq!(
            created_at_of(id),
            DateTime::from_timestamp_millis(1_796_000_000_123).unwrap()
        );
    }

    #[test]
    fn created_at_of_a_fresh_id_is_now() {
        let before = Utc::now();
        let created = created_at_of(Uuid::now_v7());
        let after = Utc::now();
        assert!(created >= before - chrono::TimeDelta::milliseconds(1) && created <= after);
    }

    #[test]
    fn only_uuid_v7_ids_are_accepted() {
        assert!(entry_with_id(Uuid::now_v7()).check().is_ok());
        assert!(matches!(
            entry_with_id(Uuid::new_v4()).check(),
            Err(AccountingError::Invalid(_))
        ));
    }

    #[test]
    fn modes_round_trip_through_text() {
        for mode in [EntryMode::Sync, EntryMode::Async] {
            assert_eq!(EntryMode::parse(mode.as_str()).unwrap(), mode);
        }
        assert!(EntryMode::parse("ASYNC").is_err());
    }

    #[test]
    fn oversized_texts_are_refused() {
        let mut entry = entry_with_id(Uuid::now_v7());
        entry.client_request_id = Some("r".repeat(256));
        assert!(entry.check().is_err());
        entry.client_request_id = None;
        entry.endpoint = String::new();
        assert!(entry.check().is_err());
    }
}
