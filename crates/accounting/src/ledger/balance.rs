//! The account balance the upstream reports (`X-Credits-Remaining`), kept for reconciliation.

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::AccountingError;

/// Stores one observation of the account's remaining credits. `request_id` is the ledger entry
/// whose response carried it, if any. Stored as reported, even if negative.
pub async fn record_balance(
    db: impl PgExecutor<'_>,
    request_id: Option<Uuid>,
    credits_remaining: i64,
) -> Result<(), AccountingError> {
    sqlx::query(
        "INSERT INTO account_balance_observations (request_id, credits_remaining) VALUES ($1, $2)",
    )
    .bind(request_id)
    .bind(credits_remaining)
    .execute(db)
    .await?;
    Ok(())
}
