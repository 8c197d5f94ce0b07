//! Alerts the gateway raised (a team past its alert threshold, the account balance below its
//! floor), stored once per dedupe key so that many replicas noticing the same crossing raise
//! it exactly once, and listed for finance newest first.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use sqlx::types::Json;

use crate::types::text_column;
use crate::{AccountingError, TeamId};

/// What crossed which line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A team's usage (charged + held) reached its alert threshold in a budget period.
    TeamBudgetThreshold,
    /// The account balance cloro reported fell below the configured floor.
    AccountBalanceFloor,
}

text_column! {
    enum AlertKind: "alert kind",
        expecting "'team_budget_threshold' or 'account_balance_floor'" {
        TeamBudgetThreshold => "team_budget_threshold",
        AccountBalanceFloor => "account_balance_floor",
    }
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Alert {
    pub id: i64,
    pub kind: AlertKind,
    pub team_id: Option<TeamId>,
    pub dedupe_key: String,
    pub raised_at: DateTime<Utc>,
    pub details: Json<serde_json::Value>,
}

/// An alert about to be raised.
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub kind: AlertKind,
    pub team_id: Option<TeamId>,
    /// One alert per key, e.g. `team_budget_threshold:<team>:<period>`.
    pub dedupe_key: String,
    pub details: serde_json::Value,
}

/// Records the alert unless one with its dedupe key exists: `Some` means this caller raised
/// it (and should log and deliver it), `None` that it was raised before.
pub async fn raise(
    db: impl PgExecutor<'_>,
    alert: &NewAlert,
) -> Result<Option<Alert>, AccountingError> {
    if (alert.kind == AlertKind::TeamBudgetThreshold) != alert.team_id.is_some() {
        return Err(AccountingError::Invalid(
            "a team alert names its team; an account alert names none".to_owned(),
        ));
    }
    let raised = sqlx::query_as::<_, Alert>(
        "INSERT INTO alerts (kind, team_id, dedupe_key, details) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (dedupe_key) DO NOTHING \
         RETURNING id, kind, team_id, dedupe_key, raised_at, details",
    )
    .bind(alert.kind)
    .bind(alert.team_id)
    .bind(&alert.dedupe_key)
    .bind(Json(&alert.details))
    .fetch_optional(db)
    .await?;
    Ok(raised)
}

/// Which alerts to list.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub kind: Option<AlertKind>,
    pub team: Option<TeamId>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Alerts newest first, strictly older than the alert `before` (a keyset cursor), at most
/// `limit`. `scope_team` binds the query to one team (a team token sees only its own).
pub async fn list(
    db: impl PgExecutor<'_>,
    scope_team: Option<TeamId>,
    filter: &AlertFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Alert>, AccountingError> {
    if !(1..=10_000).contains(&limit) {
        return Err(AccountingError::Invalid(
            "limit must be from 1 to 10000".to_owned(),
        ));
    }
    let alerts = sqlx::query_as::<_, Alert>(
        "SELECT id, kind, team_id, dedupe_key, raised_at, details FROM alerts \
         WHERE ($1::uuid IS NULL OR team_id = $1) \
           AND ($2::text IS NULL OR kind = $2) \
           AND ($3::uuid IS NULL OR team_id = $3) \
           AND ($4::timestamptz IS NULL OR raised_at >= $4) \
           AND ($5::timestamptz IS NULL OR raised_at < $5) \
           AND ($6::bigint IS NULL OR id < $6) \
         ORDER BY id DESC LIMIT $7",
    )
    .bind(scope_team)
    .bind(filter.kind)
    .bind(filter.team)
    .bind(filter.from)
    .bind(filter.to)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(alerts)
}
