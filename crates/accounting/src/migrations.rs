//! The SQL migrations in `migrations/` at the workspace root, embedded in the binary.

use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::AccountingError;

/// Forward-only, timestamped migrations; `migrate` runs the ones not applied yet.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Applies every pending migration. Safe to call at each start-up and from several replicas
/// at once (the migrator takes an advisory lock).
pub async fn migrate(pool: &PgPool) -> Result<(), AccountingError> {
    MIGRATOR.run(pool).await.map_err(sqlx::Error::from)?;
    Ok(())
}
