//! The admin API's JSON shapes (camelCase, like cloro's own), shared by the responses and by
//! the audit log's `before`/`after`, so an audit row shows a target exactly as the API does.
//! A token's text is never part of any of them.

use crate::directory::account_settings::{EffectiveAccount, SettingSource};
use crate::pricing::PriceOverride;
use accounting::quotas::{QuotaValues, TeamQuota};
use accounting::teams::Team;
use accounting::tokens::TokenRecord;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A team.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamView {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    /// `active` or `suspended`.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

impl From<&Team> for TeamView {
    fn from(team: &Team) -> Self {
        Self {
            id: team.id.as_uuid(),
            slug: team.slug.as_str().to_owned(),
            name: team.name.clone(),
            status: team.status.as_str().to_owned(),
            created_at: team.created_at,
        }
    }
}

/// A list of teams.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamList {
    pub items: Vec<TeamView>,
}

/// Where a team's quota comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QuotaSource {
    /// The team's own quota.
    Team,
    /// `limits.team_default` from the configuration.
    Default,
}

/// A team's quota in force.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaView {
    pub team: String,
    pub rps: f64,
    pub burst: u32,
    pub concurrency: u32,
    pub weight: u32,
    /// Credits per budget period; `null`: no budget.
    pub budget: Option<i64>,
    /// Refuse beyond the budget (`true`) or allow and flag (`false`).
    pub hard_budget: bool,
    pub alert_threshold_pct: Option<i16>,
    /// The highest async priority (1-10) the team's tasks may use.
    pub max_priority: u8,
    /// The most async tasks the team may have queued at once.
    pub max_queued_tasks: u32,
    pub source: QuotaSource,
    /// When the team's own quota was last set; `null` for the default.
    pub updated_at: Option<DateTime<Utc>>,
}

impl QuotaView {
    pub fn of_team(slug: &str, quota: &TeamQuota) -> Self {
        Self::new(
            slug,
            &quota.values,
            QuotaSource::Team,
            Some(quota.updated_at),
        )
    }

    pub fn default_for(slug: &str, values: &QuotaValues) -> Self {
        Self::new(slug, values, QuotaSource::Default, None)
    }

    fn new(
        slug: &str,
        v: &QuotaValues,
        source: QuotaSource,
        updated_at: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            team: slug.to_owned(),
            rps: v.rps,
            burst: v.burst,
            concurrency: v.concurrency,
            weight: v.weight,
            budget: v.budget,
            hard_budget: v.hard_budget,
            alert_threshold_pct: v.alert_threshold_pct,
            max_priority: v.max_priority,
            max_queued_tasks: v.max_queued_tasks,
            source,
            updated_at,
        }
    }
}

/// A recorded token (its text is never stored, so never shown after minting).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    pub jti: Uuid,
    /// `team`, `admin` or `finance`.
    pub role: String,
    /// The team's slug for team tokens, else `null`.
    pub team: Option<String>,
    pub subject: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// `active`, `expired` or `revoked`.
    pub state: String,
}

impl From<&TokenRecord> for TokenView {
    fn from(t: &TokenRecord) -> Self {
        let state = if t.revoked_at.is_some() {
            "revoked"
        } else if t.expires_at <= Utc::now() {
            "expired"
        } else {
            "active"
        };
        Self {
            jti: t.jti,
            role: t.role.as_str().to_owned(),
            team: t.team_slug.clone(),
            subject: t.subject.clone(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            state: state.to_owned(),
        }
    }
}

/// A freshly minted token: the only time its text is shown.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MintedTokenView {
    /// The JWT. Store it now: it is not kept and cannot be shown again.
    pub token: String,
    pub jti: Uuid,
    pub expires_at: DateTime<Utc>,
    pub role: String,
    pub team: Option<String>,
    pub subject: String,
}

/// The account's upstream limits.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountLimitsView {
    /// Upstream concurrency shared by all teams and replicas.
    pub concurrency: u32,
    /// Requests per second per endpoint.
    pub rps_per_endpoint: f64,
    pub burst: u32,
    pub source: SettingSource,
}

/// The price table in force, and the override that changed it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountPricingView {
    /// Every price in force.
    pub effective: PriceOverride,
    /// The stored override (the prices that differ from `[pricing]`), or `null`.
    #[serde(rename = "override")]
    pub overridden: Option<PriceOverride>,
    pub source: SettingSource,
}

/// The account's effective settings.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub limits: AccountLimitsView,
    /// This replica's adaptive account concurrency (lowered while cloro refuses for
    /// concurrency, never above `limits.concurrency`).
    pub current_concurrency: Option<u32>,
    pub pricing: AccountPricingView,
}

impl AccountView {
    pub fn new(account: &EffectiveAccount, current_concurrency: Option<u32>) -> Self {
        let l = account.limits;
        Self {
            limits: AccountLimitsView {
                concurrency: l.concurrency,
                rps_per_endpoint: l.rps_per_endpoint,
                burst: l.burst,
                source: l.source,
            },
            current_concurrency,
            pricing: AccountPricingView {
                effective: PriceOverride::from_table(&account.pricing),
                overridden: account.pricing_override.clone(),
                source: account.pricing_source(),
            },
        }
    }
}
