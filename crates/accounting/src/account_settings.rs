//! Overrides of the account's configured settings, one row for the whole gateway: the
//! upstream limits (concurrency, rate per endpoint, burst: set together) and a partial
//! override of the price table, kept as a JSON object whose shape the API crate owns.
//! `None` means "as configured".

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::AccountingError;
use crate::quotas::int4;

/// The account's upstream limits as an admin set them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccountLimitsOverride {
    pub concurrency: u32,
    pub rps_per_endpoint: f64,
    pub burst: u32,
}

/// The stored overrides.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountOverrides {
    pub limits: Option<AccountLimitsOverride>,
    pub pricing: Option<serde_json::Value>,
    pub updated_at: Option<DateTime<Utc>>,
}

type Row = (
    Option<i32>,
    Option<f64>,
    Option<i32>,
    Option<serde_json::Value>,
    DateTime<Utc>,
);

fn from_row(
    (concurrency, rps_per_endpoint, burst, pricing, updated_at): Row,
) -> Result<AccountOverrides, AccountingError> {
    let count = |field: &str, value: i32| {
        u32::try_from(value)
            .map_err(|_| AccountingError::Invalid(format!("stored {field} {value} is negative")))
    };
    let limits = match (concurrency, rps_per_endpoint, burst) {
        (Some(concurrency), Some(rps_per_endpoint), Some(burst)) => Some(AccountLimitsOverride {
            concurrency: count("concurrency", concurrency)?,
            rps_per_endpoint,
            burst: count("burst", burst)?,
        }),
        _ => None,
    };
    Ok(AccountOverrides {
        limits,
        pricing,
        updated_at: Some(updated_at),
    })
}

/// Every write returns the whole row.
macro_rules! returning {
    () => {
        " RETURNING concurrency, rps_per_endpoint, burst, pricing, updated_at"
    };
}

/// The current overrides (none when the row is missing, which the migration prevents).
pub async fn get(db: impl PgExecutor<'_>) -> Result<AccountOverrides, AccountingError> {
    let row = sqlx::query_as::<_, Row>(
        "SELECT concurrency, rps_per_endpoint, burst, pricing, updated_at \
         FROM account_settings WHERE id",
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(from_row).transpose()?.unwrap_or_default())
}

/// The current overrides, the row locked until the transaction ends.
pub async fn lock(db: impl PgExecutor<'_>) -> Result<AccountOverrides, AccountingError> {
    let row = sqlx::query_as::<_, Row>(
        "SELECT concurrency, rps_per_endpoint, burst, pricing, updated_at \
         FROM account_settings WHERE id FOR UPDATE",
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(from_row).transpose()?.unwrap_or_default())
}

/// Replaces the limits override; ranges are checked by the caller and by the table.
pub async fn set_limits(
    db: impl PgExecutor<'_>,
    limits: &AccountLimitsOverride,
) -> Result<AccountOverrides, AccountingError> {
    let row = sqlx::query_as::<_, Row>(concat!(
        "UPDATE account_settings SET concurrency = $1, rps_per_endpoint = $2, burst = $3, \
         updated_at = now() WHERE id",
        returning!()
    ))
    .bind(int4("concurrency", limits.concurrency)?)
    .bind(limits.rps_per_endpoint)
    .bind(int4("burst", limits.burst)?)
    .fetch_one(db)
    .await?;
    from_row(row)
}

/// Drops the limits override: the configured limits apply again.
pub async fn clear_limits(db: impl PgExecutor<'_>) -> Result<AccountOverrides, AccountingError> {
    let row = sqlx::query_as::<_, Row>(concat!(
        "UPDATE account_settings SET concurrency = NULL, rps_per_endpoint = NULL, burst = NULL, \
         updated_at = now() WHERE id",
        returning!()
    ))
    .fetch_one(db)
    .await?;
    from_row(row)
}

/// Replaces the pricing override (a JSON object) or, with `None`, drops it.
pub async fn set_pricing(
    db: impl PgExecutor<'_>,
    pricing: Option<&serde_json::Value>,
) -> Result<AccountOverrides, AccountingError> {
    if pricing.is_some_and(|p| !p.is_object()) {
        return Err(AccountingError::Invalid(
            "the pricing override must be a JSON object".into(),
        ));
    }
    let row = sqlx::query_as::<_, Row>(concat!(
        "UPDATE account_settings SET pricing = $1, updated_at = now() WHERE id",
        returning!()
    ))
    .bind(pricing)
    .fetch_one(db)
    .await?;
    from_row(row)
}
