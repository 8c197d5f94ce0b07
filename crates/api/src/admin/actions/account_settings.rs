//! Overriding the account's configured upstream limits and price table, and going back to
//! the configuration.

use super::{ActionError, Actor, Change, announce, audit};
use crate::error::FieldError;
use crate::pricing::PriceOverride;
use accounting::account_settings::{AccountLimitsOverride, AccountOverrides};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;
use utoipa::ToSchema;

/// Upper bounds far above any cloro plan, so a typo is refused rather than applied.
pub const MAX_CONCURRENCY: i64 = 100_000;
pub const MAX_RPS_PER_ENDPOINT: f64 = 1_000_000.0;
pub const MAX_BURST: i64 = 1_000_000;

/// The account's upstream limits, as an admin sends them (HTTP body and CLI).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = PutLimits)]
pub struct LimitsInput {
    /// The plan's concurrency, shared by every team and replica, 1-100000.
    pub concurrency: i64,
    /// Requests per second per endpoint, above 0 and at most 1000000.
    pub rps_per_endpoint: f64,
    /// Token-bucket burst per endpoint, 1-1000000.
    pub burst: i64,
}

impl LimitsInput {
    pub fn to_override(self) -> Result<AccountLimitsOverride, ActionError> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| {
            problems.push(FieldError {
                field: field.to_owned(),
                message,
            })
        };
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            problem(
                "concurrency",
                format!("must be from 1 to {MAX_CONCURRENCY}"),
            );
        }
        if !(self.rps_per_endpoint.is_finite()
            && self.rps_per_endpoint > 0.0
            && self.rps_per_endpoint <= MAX_RPS_PER_ENDPOINT)
        {
            problem(
                "rpsPerEndpoint",
                format!("must be above 0 and at most {MAX_RPS_PER_ENDPOINT}"),
            );
        }
        if !(1..=MAX_BURST).contains(&self.burst) {
            problem("burst", format!("must be from 1 to {MAX_BURST}"));
        }
        match (
            u32::try_from(self.concurrency),
            u32::try_from(self.burst),
            problems.is_empty(),
        ) {
            (Ok(concurrency), Ok(burst), true) => Ok(AccountLimitsOverride {
                concurrency,
                rps_per_endpoint: self.rps_per_endpoint,
                burst,
            }),
            _ => Err(ActionError::Invalid(problems)),
        }
    }
}

fn limits_json(limits: Option<AccountLimitsOverride>) -> Option<serde_json::Value> {
    limits.map(|l| {
        json!({
            "concurrency": l.concurrency,
            "rpsPerEndpoint": l.rps_per_endpoint,
            "burst": l.burst,
        })
    })
}

/// Replaces the account's limits override.
pub async fn set_limits(
    db: &PgPool,
    actor: &Actor,
    input: LimitsInput,
) -> Result<AccountOverrides, ActionError> {
    let limits = input.to_override()?;
    let mut tx = db.begin().await?;
    let before = accounting::account_settings::lock(&mut *tx).await?;
    let after = accounting::account_settings::set_limits(&mut *tx, &limits).await?;
    audit(
        &mut tx,
        actor,
        Change {
            action: "account.limits.set",
            target_type: "account",
            target_id: "limits",
            before: limits_json(before.limits),
            after: limits_json(after.limits),
        },
    )
    .await?;
    announce(&mut tx, "account").await?;
    tx.commit().await?;
    Ok(after)
}

/// Drops the limits override (404 when there is none): the configured limits apply again.
pub async fn clear_limits(db: &PgPool, actor: &Actor) -> Result<AccountOverrides, ActionError> {
    let mut tx = db.begin().await?;
    let before = accounting::account_settings::lock(&mut *tx).await?;
    if before.limits.is_none() {
        return Err(ActionError::NotFound(
            "The account limits are not overridden".into(),
        ));
    }
    let after = accounting::account_settings::clear_limits(&mut *tx).await?;
    audit(
        &mut tx,
        actor,
        Change {
            action: "account.limits.clear",
            target_type: "account",
            target_id: "limits",
            before: limits_json(before.limits),
            after: None,
        },
    )
    .await?;
    announce(&mut tx, "account").await?;
    tx.commit().await?;
    Ok(after)
}

/// Replaces the pricing override with `prices` (a partial table; at least one price).
pub async fn set_pricing(
    db: &PgPool,
    actor: &Actor,
    prices: &PriceOverride,
) -> Result<AccountOverrides, ActionError> {
    if prices.is_empty() {
        return Err(ActionError::invalid(
            "body",
            "name at least one price (DELETE /admin/account/pricing returns to the configuration)",
        ));
    }
    let problems = prices.problems();
    if !problems.is_empty() {
        return Err(ActionError::Invalid(
            problems
                .into_iter()
                .map(|(field, message)| FieldError {
                    field: field.to_owned(),
                    message,
                })
                .collect(),
        ));
    }
    let value = serde_json::to_value(prices).map_err(|e| ActionError::Internal(e.into()))?;
    let mut tx = db.begin().await?;
    let before = accounting::account_settings::lock(&mut *tx).await?;
    let after = accounting::account_settings::set_pricing(&mut *tx, Some(&value)).await?;
    audit(
        &mut tx,
        actor,
        Change {
            action: "account.pricing.set",
            target_type: "account",
            target_id: "pricing",
            before: before.pricing,
            after: after.pricing.clone(),
        },
    )
    .await?;
    announce(&mut tx, "account").await?;
    tx.commit().await?;
    Ok(after)
}

/// Drops the pricing override (404 when there is none): `[pricing]` applies again.
pub async fn clear_pricing(db: &PgPool, actor: &Actor) -> Result<AccountOverrides, ActionError> {
    let mut tx = db.begin().await?;
    let before = accounting::account_settings::lock(&mut *tx).await?;
    if before.pricing.is_none() {
        return Err(ActionError::NotFound(
            "The account pricing is not overridden".into(),
        ));
    }
    let after = accounting::account_settings::set_pricing(&mut *tx, None).await?;
    audit(
        &mut tx,
        actor,
        Change {
            action: "account.pricing.clear",
            target_type: "account",
            target_id: "pricing",
            before: before.pricing,
            after: None,
        },
    )
    .await?;
    announce(&mut tx, "account").await?;
    tx.commit().await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_limit_is_named() {
        let ok = LimitsInput {
            concurrency: 10,
            rps_per_endpoint: 100.0,
            burst: 50,
        };
        assert!(ok.to_override().is_ok());
        let bad = LimitsInput {
            concurrency: 0,
            rps_per_endpoint: f64::INFINITY,
            burst: 1 << 40,
        };
        match bad.to_override() {
            Err(ActionError::Invalid(fields)) => {
                let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
                assert_eq!(names, ["concurrency", "rpsPerEndpoint", "burst"]);
            }
            other => panic!("expected a 400, got {other:?}"),
        }
    }
}
