//! The settings `PUT /_sim/config` may change while running, and the view it returns (never the key).

use serde::{Deserialize, Serialize};

use crate::config::{FaultRates, SimConfig};
use crate::latency::LatencySpec;
use crate::pricing::PriceTable;
use crate::profile::Profile;

/// Settings read on every request.
#[derive(Clone, Debug)]
pub struct Knobs {
    pub latency: LatencySpec,
    pub faults: FaultRates,
    pub concurrency_limit: u32,
    pub rate_limit: u32,
    pub profile: Profile,
    pub prices: PriceTable,
    pub queue_cap: usize,
    pub retry_after_secs: u64,
}

impl Knobs {
    pub fn from_config(config: &SimConfig) -> Self {
        Self {
            latency: config.latency,
            faults: config.faults,
            concurrency_limit: config.concurrency_limit,
            rate_limit: config.rate_limit,
            profile: config.profile,
            prices: config.prices.clone(),
            queue_cap: config.queue_cap,
            retry_after_secs: config.retry_after_secs,
        }
    }
}

/// Fault rates to change; absent ones stay.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRatesPatch {
    #[serde(alias = "500")]
    pub internal_error: Option<f64>,
    #[serde(alias = "502")]
    pub external_service_error: Option<f64>,
    #[serde(alias = "503")]
    pub service_unavailable: Option<f64>,
    #[serde(alias = "empty")]
    pub empty_answer: Option<f64>,
    #[serde(alias = "broken")]
    pub broken_body: Option<f64>,
}

/// Body of `PUT /_sim/config`: every field optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    pub latency: Option<LatencySpec>,
    pub faults: Option<FaultRatesPatch>,
    pub concurrency_limit: Option<u32>,
    pub balance: Option<i64>,
    pub rate_limit: Option<u32>,
    /// A profile name (docs, newest, legacy, legacy-plain).
    pub profile: Option<String>,
    /// A whole price table (missing entries take the documented price).
    pub prices: Option<PriceTable>,
    pub queue_cap: Option<usize>,
    pub retry_after_secs: Option<u64>,
}

impl ConfigPatch {
    /// The knobs after the patch, or why the patch is refused.
    pub fn applied_to(&self, knobs: &Knobs) -> Result<Knobs, String> {
        let mut next = knobs.clone();
        if let Some(latency) = self.latency {
            next.latency = latency;
        }
        if let Some(faults) = &self.faults {
            let merged = FaultRates {
                internal_error: faults.internal_error.unwrap_or(next.faults.internal_error),
                external_service_error: faults
                    .external_service_error
                    .unwrap_or(next.faults.external_service_error),
                service_unavailable: faults
                    .service_unavailable
                    .unwrap_or(next.faults.service_unavailable),
                empty_answer: faults.empty_answer.unwrap_or(next.faults.empty_answer),
                broken_body: faults.broken_body.unwrap_or(next.faults.broken_body),
            };
            merged.validate()?;
            next.faults = merged;
        }
        if let Some(limit) = self.concurrency_limit {
            next.concurrency_limit = limit;
        }
        if let Some(rate) = self.rate_limit {
            next.rate_limit = rate;
        }
        if let Some(name) = &self.profile {
            next.profile = name.parse().map_err(|e| format!("{e}"))?;
        }
        if let Some(prices) = &self.prices {
            next.prices = prices.clone();
        }
        if let Some(cap) = self.queue_cap {
            next.queue_cap = cap;
        }
        if let Some(seconds) = self.retry_after_secs {
            next.retry_after_secs = seconds;
        }
        Ok(next)
    }
}

/// What `GET`/`PUT /_sim/config` return. The API key is never part of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigView {
    pub latency: LatencySpec,
    pub faults: FaultRates,
    pub concurrency_limit: u32,
    pub balance: i64,
    pub rate_limit: u32,
    pub profile: String,
    pub profile_switches: Profile,
    pub prices: PriceTable,
    pub queue_cap: usize,
    pub retry_after_secs: u64,
    pub seed: u64,
    pub time_scale: f64,
    pub webhook_signing: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_patch_changes_only_what_it_names() {
        let knobs = Knobs::from_config(&SimConfig::default());
        let patch: ConfigPatch = serde_json::from_str(
            r#"{"faults": {"503": 0.5}, "latency": "fixed:10ms", "profile": "legacy"}"#,
        )
        .unwrap();
        let next = patch.applied_to(&knobs).unwrap();
        assert_eq!(next.faults.service_unavailable, 0.5);
        assert_eq!(next.faults.internal_error, 0.0);
        assert_eq!(next.profile, Profile::legacy());
        assert_eq!(next.concurrency_limit, knobs.concurrency_limit);
    }

    #[test]
    fn bad_patches_are_refused() {
        let knobs = Knobs::from_config(&SimConfig::default());
        assert!(serde_json::from_str::<ConfigPatch>(r#"{"api_key": "x"}"#).is_err());
        assert!(serde_json::from_str::<ConfigPatch>(r#"{"latency": "soon"}"#).is_err());
        let too_much: ConfigPatch =
            serde_json::from_str(r#"{"faults": {"500": 0.8, "empty": 0.8}}"#).unwrap();
        assert!(too_much.applied_to(&knobs).is_err());
        let unknown: ConfigPatch = serde_json::from_str(r#"{"profile": "modern"}"#).unwrap();
        assert!(unknown.applied_to(&knobs).is_err());
        let broken_too: ConfigPatch =
            serde_json::from_str(r#"{"faults": {"503": 0.5, "broken": 0.6}}"#).unwrap();
        assert!(broken_too.applied_to(&knobs).is_err());
    }

    #[test]
    fn broken_body_is_patched_by_name_or_alias() {
        let knobs = Knobs::from_config(&SimConfig::default());
        for body in [
            r#"{"faults": {"broken_body": 0.25}}"#,
            r#"{"faults": {"broken": 0.25}}"#,
        ] {
            let patch: ConfigPatch = serde_json::from_str(body).unwrap();
            let next = patch.applied_to(&knobs).unwrap();
            assert_eq!(next.faults.broken_body, 0.25, "{body}");
            assert_eq!(next.faults.empty_answer, 0.0);
        }
    }
}
