//! The Postgres channel every replica LISTENs on to refresh its directory (teams, quotas,
//! revocations, account settings) at once after an admin change, instead of at the next
//! periodic re-read.

use sqlx::PgExecutor;

use crate::AccountingError;

/// The channel's name.
pub const CHANNEL: &str = "cloro_gateway_directory";

/// Announces a change. Inside a transaction the notification is sent at commit (and not at
/// all on rollback), so listeners never re-read before the change is visible.
pub async fn notify_changed(db: impl PgExecutor<'_>, what: &str) -> Result<(), AccountingError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(what)
        .execute(db)
        .await?;
    Ok(())
}
