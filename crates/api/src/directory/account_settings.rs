//! The account's effective settings on this replica: the configured upstream limits and
//! price table, each replaced by the admin's override when one is stored. The directory
//! applies the stored overrides at every refresh (periodic or pushed); the request path only
//! takes a read lock and clones an `Arc`.

use crate::config::Settings;
use crate::pricing::{PriceOverride, PriceTable};
use accounting::account_settings::AccountOverrides;
use serde::Serialize;
use std::sync::{Arc, RwLock};
use utoipa::ToSchema;

/// Where an effective setting comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SettingSource {
    /// The configuration file / environment.
    Config,
    /// An override stored by an admin.
    Override,
}

/// The account's upstream limits in force.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EffectiveLimits {
    pub concurrency: u32,
    pub rps_per_endpoint: f64,
    pub burst: u32,
    pub source: SettingSource,
}

/// Everything in force now.
#[derive(Debug, Clone)]
pub struct EffectiveAccount {
    pub limits: EffectiveLimits,
    pub pricing: Arc<PriceTable>,
    /// The stored pricing override, when one applies.
    pub pricing_override: Option<PriceOverride>,
}

impl EffectiveAccount {
    pub fn pricing_source(&self) -> SettingSource {
        match self.pricing_override {
            Some(_) => SettingSource::Override,
            None => SettingSource::Config,
        }
    }
}

pub struct AccountSettings {
    config_limits: EffectiveLimits,
    config_pricing: Arc<PriceTable>,
    current: RwLock<Arc<EffectiveAccount>>,
}

impl AccountSettings {
    /// The configured settings, until the first refresh applies stored overrides.
    pub fn new(settings: &Settings) -> Arc<Self> {
        let limits = &settings.limits;
        let config_limits = EffectiveLimits {
            concurrency: limits.account_concurrency,
            rps_per_endpoint: limits.account_rps_per_endpoint,
            burst: limits.account_burst,
            source: SettingSource::Config,
        };
        let config_pricing = Arc::new(settings.pricing.clone());
        let current = EffectiveAccount {
            limits: config_limits,
            pricing: config_pricing.clone(),
            pricing_override: None,
        };
        Arc::new(Self {
            config_limits,
            config_pricing,
            current: RwLock::new(Arc::new(current)),
        })
    }

    /// What is in force now.
    pub fn current(&self) -> Arc<EffectiveAccount> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The price table estimates are made with.
    pub fn price_table(&self) -> Arc<PriceTable> {
        self.current().pricing.clone()
    }

    /// The configured limits, ignoring any override.
    pub fn config_limits(&self) -> EffectiveLimits {
        self.config_limits
    }

    /// The configured price table, ignoring any override.
    pub fn config_pricing(&self) -> &PriceTable {
        &self.config_pricing
    }

    /// Puts the stored overrides in force. A stored pricing override this version cannot
    /// read is ignored with a warning rather than taking the gateway down.
    pub fn apply(&self, overrides: &AccountOverrides) {
        let limits = match overrides.limits {
            Some(o) => EffectiveLimits {
                concurrency: o.concurrency,
                rps_per_endpoint: o.rps_per_endpoint,
                burst: o.burst,
                source: SettingSource::Override,
            },
            None => self.config_limits,
        };
        let pricing_override = overrides.pricing.as_ref().and_then(|value| {
            serde_json::from_value::<PriceOverride>(value.clone())
                .map_err(|err| {
                    tracing::warn!(error = %err, "ignoring a stored pricing override this version cannot read");
                })
                .ok()
        });
        let current = self.current();
        let pricing = match &pricing_override {
            Some(over) if current.pricing_override.as_ref() == Some(over) => {
                current.pricing.clone()
            }
            Some(over) => Arc::new(self.config_pricing.with_override(over)),
            None => self.config_pricing.clone(),
        };
        let next = EffectiveAccount {
            limits,
            pricing,
            pricing_override,
        };
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accounting::account_settings::AccountLimitsOverride;
    use serde_json::json;

    #[test]
    fn overrides_apply_and_clear() {
        let settings = Settings::from_sources(None, Vec::new()).unwrap();
        let state = AccountSettings::new(&settings);
        assert_eq!(state.current().limits.source, SettingSource::Config);
        state.apply(&AccountOverrides {
            limits: Some(AccountLimitsOverride {
                concurrency: 3,
                rps_per_endpoint: 5.0,
                burst: 7,
            }),
            pricing: Some(json!({"base": {"chatgpt": 11}})),
            updated_at: None,
        });
        let now = state.current();
        assert_eq!(now.limits.concurrency, 3);
        assert_eq!(now.limits.source, SettingSource::Override);
        assert_eq!(now.pricing.base.chatgpt, 11);
        assert_eq!(now.pricing_source(), SettingSource::Override);
        state.apply(&AccountOverrides::default());
        let now = state.current();
        assert_eq!(now.limits, state.config_limits());
        assert_eq!(now.pricing.base.chatgpt, settings.pricing.base.chatgpt);
        assert_eq!(now.pricing_source(), SettingSource::Config);
    }
}
