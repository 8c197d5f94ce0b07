//! Everything chosen before the simulator starts; the runtime knobs start from here.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::api_key::{ApiKey, mask};
pub use crate::latency::LatencySpec;
use crate::pricing::PriceTable;
pub use crate::profile::Profile;

/// The key the simulator accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "sk_live_00000000000000000000000000000000";

/// Probabilities (0.0-1.0, summing to at most 1.0) that a monitor call or task meets each fault.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRates {
    /// 500 INTERNAL_SERVER_ERROR after the engine's latency.
    #[serde(alias = "500")]
    pub internal_error: f64,
    /// 502 EXTERNAL_SERVICE_ERROR after the engine's latency.
    #[serde(alias = "502")]
    pub external_service_error: f64,
    /// 503 SERVICE_UNAVAILABLE at once, with Retry-After.
    #[serde(alias = "503")]
    pub service_unavailable: f64,
    /// A success with an empty answer, still charged.
    #[serde(alias = "empty")]
    pub empty_answer: f64,
    /// A charged success (200, every success header) whose sync body breaks off mid-stream;
    /// tasks get the whole answer.
    #[serde(alias = "broken")]
    pub broken_body: f64,
}

impl FaultRates {
    /// Checks every rate is a probability and that they sum to at most one.
    pub fn validate(&self) -> Result<(), String> {
        let rates = [
            self.internal_error,
            self.external_service_error,
            self.service_unavailable,
            self.empty_answer,
            self.broken_body,
        ];
        if rates.iter().any(|r| !r.is_finite() || *r < 0.0 || *r > 1.0) {
            return Err("every fault rate must be between 0.0 and 1.0".into());
        }
        if rates.iter().sum::<f64>() > 1.0 + 1e-9 {
            return Err("fault rates must sum to at most 1.0".into());
        }
        Ok(())
    }
}

/// The simulator's configuration.
#[derive(Clone)]
pub struct SimConfig {
    /// The one key the account has (`sk_live_` + 32 hex).
    pub api_key: String,
    /// The plan's concurrency limit, shared by sync calls and PROCESSING tasks.
    pub concurrency_limit: u32,
    /// Starting balance, also reported as `perCycle`.
    pub credits: i64,
    pub latency: LatencySpec,
    /// Requests per second per endpoint (or per key with a shared-bucket profile).
    pub rate_limit: u32,
    pub faults: FaultRates,
    /// Seeds every random choice: same seed + same request sequence gives the same run.
    pub seed: u64,
    pub profile: Profile,
    /// Divides the API's built-in durations (webhook retry gaps, task retention).
    pub time_scale: f64,
    /// Most tasks that may wait in QUEUED at once.
    pub queue_cap: usize,
    /// actix worker threads.
    pub workers: usize,
    /// `whsec_...`; when set, webhook deliveries are signed.
    pub webhook_secret: Option<String>,
    /// Seconds sent in Retry-After with 503.
    pub retry_after_secs: u64,
    /// Most request records kept in memory for `/_sim/requests`.
    pub request_log_cap: usize,
    pub prices: PriceTable,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            api_key: DEFAULT_API_KEY.to_owned(),
            concurrency_limit: 10,
            credits: 1_000_000,
            latency: LatencySpec::default(),
            rate_limit: 1000,
            faults: FaultRates::default(),
            seed: 0,
            profile: Profile::default(),
            time_scale: 1.0,
            queue_cap: 100_000,
            workers: 2,
            webhook_secret: None,
            retry_after_secs: 1,
            request_log_cap: 1_000_000,
            prices: PriceTable::default(),
        }
    }
}

impl SimConfig {
    /// Rejects a configuration the simulator cannot honour.
    pub fn validate(&self) -> anyhow::Result<ApiKey> {
        let key = ApiKey::parse(&self.api_key).map_err(|e| anyhow::anyhow!("api_key: {e}"))?;
        self.faults
            .validate()
            .map_err(|e| anyhow::anyhow!("faults: {e}"))?;
        anyhow::ensure!(
            self.time_scale.is_finite() && self.time_scale > 0.0,
            "time_scale must be a positive number"
        );
        anyhow::ensure!(self.workers >= 1, "workers must be at least 1");
        anyhow::ensure!(
            self.request_log_cap >= 1,
            "request_log_cap must be at least 1"
        );
        if let Some(secret) = &self.webhook_secret {
            anyhow::ensure!(
                secret.starts_with("whsec_") && secret.len() > "whsec_".len(),
                "webhook_secret must start with whsec_"
            );
        }
        Ok(key)
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("api_key", &mask(&self.api_key))
            .field("concurrency_limit", &self.concurrency_limit)
            .field("credits", &self.credits)
            .field("latency", &self.latency.to_string())
            .field("rate_limit", &self.rate_limit)
            .field("faults", &self.faults)
            .field("seed", &self.seed)
            .field("profile", &self.profile.name())
            .field("time_scale", &self.time_scale)
            .field("queue_cap", &self.queue_cap)
            .field("workers", &self.workers)
            .field("webhook_secret", &self.webhook_secret.as_deref().map(mask))
            .field("retry_after_secs", &self.retry_after_secs)
            .field("request_log_cap", &self.request_log_cap)
            .field("prices", &self.prices)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones_and_valid() {
        let config = SimConfig::default();
        assert_eq!(config.concurrency_limit, 10);
        assert_eq!(config.credits, 1_000_000);
        assert_eq!(config.rate_limit, 1000);
        assert_eq!(config.queue_cap, 100_000);
        assert_eq!(config.workers, 2);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn debug_never_prints_the_key_or_secret() {
        let config = SimConfig {
            api_key: "sk_live_abcdefabcdefabcdefabcdefabcd1234".into(),
            webhook_secret: Some("whsec_topsecretvalue".into()),
            ..SimConfig::default()
        };
        let printed = format!("{config:?}");
        assert!(!printed.contains("abcdefabcdef"), "{printed}");
        assert!(!printed.contains("topsecret"), "{printed}");
        assert!(printed.contains("****1234"));
    }

    #[test]
    fn invalid_settings_are_refused() {
        let bad = [
            SimConfig {
                api_key: "nope".into(),
                ..SimConfig::default()
            },
            SimConfig {
                time_scale: 0.0,
                ..SimConfig::default()
            },
            SimConfig {
                workers: 0,
                ..SimConfig::default()
            },
            SimConfig {
                webhook_secret: Some("secret".into()),
                ..SimConfig::default()
            },
            SimConfig {
                faults: FaultRates {
                    internal_error: 0.7,
                    empty_answer: 0.7,
                    ..FaultRates::default()
                },
                ..SimConfig::default()
            },
            SimConfig {
                faults: FaultRates {
                    service_unavailable: 0.5,
                    broken_body: 0.6,
                    ..FaultRates::default()
                },
                ..SimConfig::default()
            },
            SimConfig {
                faults: FaultRates {
                    broken_body: -0.1,
                    ..FaultRates::default()
                },
                ..SimConfig::default()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
    }
}
