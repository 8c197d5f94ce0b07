//! The points on which cloro's own documents disagree, gathered into named switch sets.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Spelling of the concurrency headers and of the concurrency 429 code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcurrencySpelling {
    /// `X-Concurrent-*` headers, `CONCURRENT_LIMIT_EXCEEDED`.
    Concurrent,
    /// `X-Concurrency-*` headers, `CONCURRENCY_LIMIT_EXCEEDED`.
    Concurrency,
}

/// Shape of the error body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvelopeStyle {
    /// `{"success": false, "error": {code, message, details?, timestamp}}`.
    WithSuccess,
    /// `{"error": {code, message, details?, timestamp}}`.
    WithoutSuccess,
    /// `{"error": "<message>"}`.
    PlainString,
}

/// Code sent with 409 for a reused idempotency key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictCode {
    /// `RESOURCE_ALREADY_EXISTS`.
    ResourceAlreadyExists,
    /// `RESOURCE_CONFLICT`.
    ResourceConflict,
}

/// Whether each endpoint has its own per-second bucket or all share one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateScope {
    /// One bucket per endpoint (newer docs).
    PerEndpoint,
    /// One bucket for the whole key (older docs: 500/s shared).
    Shared,
}

/// A set of switches for the behaviours the docs describe differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub concurrency_spelling: ConcurrencySpelling,
    pub envelope: EnvelopeStyle,
    /// 400 (newer) or 422 (older) for validation errors on `/v1/async/*`.
    pub async_validation_status: u16,
    pub conflict_code: ConflictCode,
    pub rate_scope: RateScope,
    /// Whether `DELETE /v1/async/queue` exists (newer API).
    pub queue_delete: bool,
}

/// The names accepted by [`Profile::from_str`], in documentation order.
pub const PROFILE_NAMES: [&str; 4] = ["docs", "newest", "legacy", "legacy-plain"];

impl Profile {
    /// The tables in cloro-api.md: `X-Concurrent-*`, `CONCURRENT_LIMIT_EXCEEDED`, envelope with
    /// `success`, 400, `RESOURCE_ALREADY_EXISTS`, per-endpoint rate buckets, queue delete.
    pub const fn docs() -> Self {
        Self {
            concurrency_spelling: ConcurrencySpelling::Concurrent,
            envelope: EnvelopeStyle::WithSuccess,
            async_validation_status: 400,
            conflict_code: ConflictCode::ResourceAlreadyExists,
            rate_scope: RateScope::PerEndpoint,
            queue_delete: true,
        }
    }

    /// The newest docs: as `docs` but `X-Concurrency-*` and `CONCURRENCY_LIMIT_EXCEEDED`.
    pub const fn newest() -> Self {
        Self {
            concurrency_spelling: ConcurrencySpelling::Concurrency,
            ..Self::docs()
        }
    }

    /// Older responses: no `success` in errors, 422 on async validation, `RESOURCE_CONFLICT`,
    /// one shared rate bucket, no `DELETE /v1/async/queue`.
    pub const fn legacy() -> Self {
        Self {
            concurrency_spelling: ConcurrencySpelling::Concurrent,
            envelope: EnvelopeStyle::WithoutSuccess,
            async_validation_status: 422,
            conflict_code: ConflictCode::ResourceConflict,
            rate_scope: RateScope::Shared,
            queue_delete: false,
        }
    }

    /// As `legacy`, but `error` is a plain string.
    pub const fn legacy_plain() -> Self {
        Self {
            envelope: EnvelopeStyle::PlainString,
            ..Self::legacy()
        }
    }

    /// The preset's name, or `custom` when the switches match no preset.
    pub fn name(&self) -> &'static str {
        PROFILE_NAMES
            .iter()
            .copied()
            .find(|name| Self::preset(name).as_ref() == Some(self))
            .unwrap_or("custom")
    }

    fn preset(name: &str) -> Option<Self> {
        match name {
            "docs" => Some(Self::docs()),
            "newest" => Some(Self::newest()),
            "legacy" => Some(Self::legacy()),
            "legacy-plain" => Some(Self::legacy_plain()),
            _ => None,
        }
    }
}

impl Default for Profile {
    fn default() -> Self {
        Self::docs()
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown profile name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile `{0}` (known: docs, newest, legacy, legacy-plain)")]
pub struct UnknownProfile(String);

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::preset(name.trim()).ok_or_else(|| UnknownProfile(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_to_a_distinct_profile_with_that_name() {
        for name in PROFILE_NAMES {
            let profile: Profile = name.parse().unwrap();
            assert_eq!(profile.name(), name);
        }
        assert_eq!(Profile::default(), Profile::docs());
        assert!("modern".parse::<Profile>().is_err());
    }

    #[test]
    fn a_tweaked_profile_is_custom() {
        let profile = Profile {
            async_validation_status: 422,
            ..Profile::docs()
        };
        assert_eq!(profile.name(), "custom");
    }
}
