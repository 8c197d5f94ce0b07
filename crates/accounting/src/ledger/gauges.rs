//! What the ledger itself says about its health, for `/metrics`: PENDING entries, those past
//! the sweeper's deadline (the sweeper is not resolving them), the oldest one's age, and the
//! account balance cloro last reported.

use std::time::Duration;

use sqlx::PgPool;

use crate::AccountingError;

/// A snapshot of the ledger's gauges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LedgerGauges {
    pub pending: i64,
    /// PENDING entries recorded longer ago than the deadline.
    pub pending_overdue: i64,
    /// Age of the oldest PENDING entry, 0 when there is none.
    pub oldest_pending_secs: f64,
    /// The `X-Credits-Remaining` cloro sent last, when it ever sent one.
    pub balance: Option<i64>,
}

/// Reads the gauges: three index scans of the PENDING entries and one row of the balance
/// observations.
pub async fn ledger_gauges(
    db: &PgPool,
    pending_deadline: Duration,
) -> Result<LedgerGauges, AccountingError> {
    let deadline_secs = pending_deadline.as_secs_f64();
    let row: (i64, i64, f64, Option<i64>) = sqlx::query_as(
        "SELECT \
           (SELECT count(*) FROM ledger_entries WHERE status = 'PENDING'), \
           (SELECT count(*) FROM ledger_entries WHERE status = 'PENDING' \
              AND pending_at < now() - make_interval(secs => $1)), \
           (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(pending_at)), 0)::float8 \
              FROM ledger_entries WHERE status = 'PENDING'), \
           (SELECT credits_remaining FROM account_balance_observations \
              ORDER BY observed_at DESC LIMIT 1)",
    )
    .bind(deadline_secs)
    .fetch_one(db)
    .await?;
    Ok(LedgerGauges {
        pending: row.0,
        pending_overdue: row.1,
        oldest_pending_secs: row.2.max(0.0),
        balance: row.3,
    })
}
