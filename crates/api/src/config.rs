//! Gateway settings: the commented defaults embedded in the binary, then an optional TOML
//! file, then environment variables. Unknown keys are refused so a typo never goes unnoticed.

use crate::pricing::PriceTable;
use crate::secret::Secret;
use serde::Deserialize;
use std::path::Path;

/// The defaults, with a comment on every setting. `cloro-gateway config` prints them.
pub const DEFAULT_CONFIG: &str = include_str!("../config.default.toml");

/// Environment variables that set one setting each, besides `CLORO_GATEWAY__SECTION__KEY`.
const NAMED_ENV_VARS: &[(&str, &str, &str)] = &[
    ("DATABASE_URL", "database", "url"),
    ("REDIS_URL", "redis", "url"),
    ("CLORO_BASE_URL", "upstream", "base_url"),
    ("CLORO_API_KEY", "upstream", "api_key"),
];

/// Prefix of the generic overrides: `CLORO_GATEWAY__SERVER__LISTEN=0.0.0.0:8080`.
const GENERIC_ENV_PREFIX: &str = "CLORO_GATEWAY__";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid TOML in {origin}: {source}")]
    Toml {
        origin: String,
        source: toml::de::Error,
    },
    #[error("invalid setting: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub log: LogSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub upstream: UpstreamSettings,
    pub auth: AuthSettings,
    pub ledger: LedgerSettings,
    pub pricing: PriceTable,
    pub limits: LimitSettings,
    pub alerts: AlertSettings,
    pub async_tasks: AsyncTaskSettings,
    pub finance: FinanceSettings,
}

/// Finance and team reads: how many CSV exports one principal may run at once and how wide
/// an entries export may be, so exports cannot crowd out everyone else's reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinanceSettings {
    /// CSV exports one token subject may have streaming at once; one more is a 429.
    pub max_concurrent_exports: u32,
    /// The widest `from`..`to` of one entries export, in days.
    pub max_export_days: u32,
}

/// Async tasks through the gateway: how long their holds live, where cloro sends their
/// completion, and how tasks whose completion never came are found.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsyncTaskSettings {
    /// How long a task's budget hold and PENDING entry wait for its charge (queue wait, run
    /// and cloro's 24 h retention); after that the sweeper books the estimate, flagged.
    pub hold_hours: u64,
    /// The gateway's public URL of `POST /webhooks/cloro`, sent to cloro as each task's
    /// webhook; empty: no webhook, tasks are settled by polling only.
    pub webhook_url: String,
    /// cloro's `whsec_...` signing secret; set, unsigned or stale deliveries are refused;
    /// empty, a delivery is only a hint, confirmed by reading the task from cloro.
    pub webhook_secret: Secret,
    /// How often unsettled tasks are looked up at cloro.
    pub poll_every_secs: u64,
    /// A task is polled once it is this old and still unsettled.
    pub poll_after_secs: u64,
    /// The largest `POST /v1/async/task/batch` body (up to 500 tasks).
    pub max_batch_body_bytes: usize,
    /// Hosts a team's task webhook may name although they are not https or resolve to
    /// private, loopback or link-local addresses (e.g. an internal receiver).
    pub webhook_allowed_hosts: Vec<String>,
    /// The waits between attempts to relay a completion to a team's webhook (one attempt
    /// more than waits).
    pub webhook_relay_retry_secs: Vec<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// Where alerts are POSTed as JSON; empty sends none (they are still logged and counted).
    pub webhook_url: String,
    /// Signs each delivery (`X-Gateway-Signature: v1=<hex HMAC of "<timestamp>.<body>">`,
    /// the timestamp in `X-Gateway-Timestamp`) when set.
    pub webhook_secret: Secret,
    pub webhook_timeout_ms: u64,
    pub webhook_max_attempts: u32,
    /// Alert when cloro reports the account balance below this many credits; 0 never does.
    pub balance_floor: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub account_concurrency: u32,
    pub account_rps_per_endpoint: f64,
    pub account_burst: u32,
    pub account_name: String,
    pub lease_ttl_secs: u64,
    pub lease_renew_secs: u64,
    pub account_queue_wait_ms: u64,
    pub adaptive_recover_secs: u64,
    pub redis_failure_policy: FailurePolicy,
    pub budget_period: crate::period::PeriodKind,
    pub budget_reconcile_secs: u64,
    pub team_default: TeamDefaultQuota,
}

/// What to do with a request when Redis does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    /// Refuse with 503 LIMITER_UNAVAILABLE.
    Closed,
    /// Let it through without limits, logging an alert.
    Open,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamDefaultQuota {
    pub rps: f64,
    pub burst: u32,
    pub concurrency: u32,
    pub weight: u32,
    #[serde(default)]
    pub budget: Option<i64>,
    pub hard_budget: bool,
    pub max_priority: u8,
    pub max_queued_tasks: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: String,
    /// An internal address serving `/metrics`, `/readyz`, `/docs` and `/openapi.json` (and
    /// `/healthz`); the public listener then answers 404 for them. Empty: all on `listen`.
    pub admin_listen: String,
    pub workers: usize,
    pub max_body_bytes: usize,
    pub shutdown_timeout_secs: u64,
    /// Seconds a new connection has to send its first request's head (line and headers);
    /// a slower client gets 408 and is disconnected.
    pub request_head_timeout_secs: u64,
    /// Seconds a team's request body may take to arrive in full (from when the gateway starts
    /// reading it); a slower one is refused with 408 `REQUEST_TIMEOUT` before anything is
    /// admitted or recorded.
    pub body_read_timeout_secs: u64,
    /// The bearer token `/metrics` requires; empty: none.
    pub metrics_token: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub max_connections: u32,
    /// The separate pool finance and team reads and CSV exports use (same URL), so they
    /// never take the connections the request path records through.
    pub read_max_connections: u32,
    pub acquire_timeout_secs: u64,
    pub create_if_missing: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: Secret,
    pub cluster_nodes: Vec<Secret>,
    pub key_prefix: String,
    /// Multiplexed connections to one Redis.
    pub connections: usize,
    /// The pool's size for a Redis Cluster.
    pub pool_size: usize,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    pub base_url: String,
    pub api_key: Secret,
    pub request_timeout_secs: u64,
    pub connect_timeout_secs: u64,
    pub pool_max_idle_per_host: usize,
    /// HTTP/2 without negotiation, for a plain-http upstream that speaks it.
    pub http2_prior_knowledge: bool,
    pub max_retries: u32,
    pub retry_base_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerSettings {
    pub group_commit_max_batch: usize,
    pub group_commit_max_wait_ms: u64,
    pub sweep_every_secs: u64,
    pub pending_deadline_secs: u64,
    pub idempotency_ttl_hours: u64,
    /// The largest reply body kept for Idempotency-Key replays; a larger success is not
    /// stored, and a retry gets 409 `IDEMPOTENCY_REPLY_TOO_LARGE` (never sent again).
    pub idempotency_max_body_bytes: usize,
    /// How often expired Idempotency-Keys are purged (in bounded batches).
    pub idempotency_purge_every_secs: u64,
    pub write_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    pub team_claim: String,
    pub role_claim: String,
    pub leeway_secs: u64,
    pub signing_secret: Secret,
    pub signing_kid: String,
    pub jwks_url: String,
    pub jwks_min_refresh_secs: u64,
    pub directory_refresh_ms: u64,
    /// Longest lifetime (`exp` minus `iat`) an admin or finance token may have, minted here
    /// or signed by any key; team tokens may live up to a year.
    pub max_admin_token_ttl_secs: u64,
    pub keys: Vec<KeySettings>,
    /// What the JWKS keys may sign (by default: team tokens only).
    #[serde(default)]
    pub jwks_policy: KeyPolicySettings,
}

/// What tokens signed by a key may claim. The gateway's own signing key may claim anything
/// under `auth.issuer`/`auth.audience`; every other key only what its policy grants.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPolicySettings {
    /// Roles its tokens may grant: `team` (the default), `finance`, `admin`.
    #[serde(default = "team_role_only")]
    pub roles: Vec<String>,
    /// Teams its team tokens may speak for, by slug; `["*"]` (the default) for any team.
    #[serde(default = "any_team")]
    pub teams: Vec<String>,
    /// The `iss` its tokens must carry (default `auth.issuer`).
    #[serde(default)]
    pub issuer: Option<String>,
    /// The `aud` its tokens must carry (default `auth.audience`).
    #[serde(default)]
    pub audience: Option<String>,
    /// The claim naming the team (default `auth.team_claim`).
    #[serde(default)]
    pub team_claim: Option<String>,
    /// When set, the team claim's value is looked up here (claim value → team slug) and
    /// values missing from the map are refused: for providers whose group ids are not slugs.
    #[serde(default)]
    pub team_map: Option<std::collections::BTreeMap<String, String>>,
}

impl Default for KeyPolicySettings {
    fn default() -> Self {
        Self {
            roles: team_role_only(),
            teams: any_team(),
            issuer: None,
            audience: None,
            team_claim: None,
            team_map: None,
        }
    }
}

fn team_role_only() -> Vec<String> {
    vec!["team".to_owned()]
}

fn any_team() -> Vec<String> {
    vec!["*".to_owned()]
}

/// One extra verification key and the single algorithm it verifies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    pub kid: String,
    pub algorithm: String,
    #[serde(default)]
    pub public_key_pem: Option<String>,
    #[serde(default)]
    pub secret: Option<Secret>,
    /// What its tokens may claim (by default: team tokens for any team).
    #[serde(default)]
    pub policy: KeyPolicySettings,
}

impl TeamDefaultQuota {
    /// The default as a quota, the shape team quotas are stored in.
    pub fn values(&self) -> accounting::quotas::QuotaValues {
        accounting::quotas::QuotaValues {
            rps: self.rps,
            burst: self.burst,
            concurrency: self.concurrency,
            weight: self.weight,
            budget: self.budget,
            hard_budget: self.hard_budget,
            alert_threshold_pct: None,
            max_priority: self.max_priority,
            max_queued_tasks: self.max_queued_tasks,
        }
    }
}

impl Settings {
    /// Defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let file_text = match file {
            Some(path) => Some((
                path.display().to_string(),
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?,
            )),
            None => None,
        };
        let file_ref = file_text.as_ref().map(|(o, t)| (o.as_str(), t.as_str()));
        Self::from_sources(file_ref, std::env::vars())
    }

    /// The same layering from explicit inputs, so tests need not touch the environment.
    pub fn from_sources(
        file: Option<(&str, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut merged = parse_toml("built-in defaults", DEFAULT_CONFIG)?;
        if let Some((origin, text)) = file {
            merge(&mut merged, parse_toml(origin, text)?);
        }
        for (name, value) in env {
            apply_env(&mut merged, &name, value)?;
        }
        let settings: Settings =
            toml::Value::Table(merged)
                .try_into()
                .map_err(|source| ConfigError::Toml {
                    origin: "merged configuration".into(),
                    source,
                })?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.server.request_head_timeout_secs == 0
            || self.server.body_read_timeout_secs == 0
            || self.ledger.idempotency_purge_every_secs == 0
        {
            return Err(ConfigError::Invalid(
                "server.request_head_timeout_secs, server.body_read_timeout_secs and \
                 ledger.idempotency_purge_every_secs must be > 0"
                    .into(),
            ));
        }
        if self.server.max_body_bytes == 0 {
            return Err(ConfigError::Invalid(
                "server.max_body_bytes must be > 0".into(),
            ));
        }
        if self.redis.pool_size == 0
            || self.redis.connections == 0
            || self.database.max_connections == 0
            || self.database.read_max_connections == 0
        {
            return Err(ConfigError::Invalid("pool sizes must be > 0".into()));
        }
        if !self.upstream.base_url.starts_with("http://")
            && !self.upstream.base_url.starts_with("https://")
        {
            return Err(ConfigError::Invalid(
                "upstream.base_url must start with http:// or https://".into(),
            ));
        }
        self.pricing.validate().map_err(ConfigError::Invalid)?;
        if self.finance.max_concurrent_exports == 0 || self.finance.max_export_days == 0 {
            return Err(ConfigError::Invalid(
                "finance.max_concurrent_exports and finance.max_export_days must be > 0".into(),
            ));
        }
        let tasks = &self.async_tasks;
        if !(25..=720).contains(&tasks.hold_hours)
            || tasks.poll_every_secs == 0
            || tasks.max_batch_body_bytes == 0
        {
            return Err(ConfigError::Invalid(
                "async_tasks.hold_hours must be 25-720 (cloro keeps tasks 24 h); \
                 poll_every_secs and max_batch_body_bytes must be > 0"
                    .into(),
            ));
        }
        if !tasks.webhook_url.is_empty()
            && !tasks.webhook_url.starts_with("http://")
            && !tasks.webhook_url.starts_with("https://")
        {
            return Err(ConfigError::Invalid(
                "async_tasks.webhook_url must be empty or start with http:// or https://".into(),
            ));
        }
        if self.ledger.pending_deadline_secs <= self.upstream.request_timeout_secs {
            return Err(ConfigError::Invalid(
                "ledger.pending_deadline_secs must exceed upstream.request_timeout_secs".into(),
            ));
        }
        if self.ledger.group_commit_max_batch == 0 || self.upstream.request_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "ledger.group_commit_max_batch and upstream.request_timeout_secs must be > 0"
                    .into(),
            ));
        }
        let limits = &self.limits;
        if limits.account_concurrency == 0
            || !limits.account_rps_per_endpoint.is_finite()
            || limits.account_rps_per_endpoint <= 0.0
            || limits.account_burst == 0
        {
            return Err(ConfigError::Invalid(
                "limits: account concurrency, rate and burst must be > 0".into(),
            ));
        }
        if limits.lease_renew_secs == 0 || limits.lease_renew_secs >= limits.lease_ttl_secs {
            return Err(ConfigError::Invalid(
                "limits.lease_renew_secs must be > 0 and below limits.lease_ttl_secs".into(),
            ));
        }
        limits
            .team_default
            .values()
            .validate()
            .map_err(|(field, reason)| {
                ConfigError::Invalid(format!("limits.team_default.{field} {reason}"))
            })?;
        let alerts = &self.alerts;
        if !alerts.webhook_url.is_empty()
            && !alerts.webhook_url.starts_with("http://")
            && !alerts.webhook_url.starts_with("https://")
        {
            return Err(ConfigError::Invalid(
                "alerts.webhook_url must be empty or start with http:// or https://".into(),
            ));
        }
        if alerts.balance_floor < 0 || alerts.webhook_max_attempts == 0 {
            return Err(ConfigError::Invalid(
                "alerts.balance_floor must be >= 0 and alerts.webhook_max_attempts > 0".into(),
            ));
        }
        let metrics_token_len = self.server.metrics_token.expose().len();
        if metrics_token_len > 0 && metrics_token_len < 32 {
            return Err(ConfigError::Invalid(
                "server.metrics_token must be at least 32 characters".into(),
            ));
        }
        let secret_len = self.auth.signing_secret.expose().len();
        if secret_len > 0 && secret_len < 32 {
            return Err(ConfigError::Invalid(
                "auth.signing_secret must be at least 32 bytes".into(),
            ));
        }
        if self.auth.max_admin_token_ttl_secs == 0
            || self.auth.max_admin_token_ttl_secs > crate::auth::mint::MAX_TTL.as_secs()
        {
            return Err(ConfigError::Invalid(
                "auth.max_admin_token_ttl_secs must be between 1 second and 366 days".into(),
            ));
        }
        let jwks_floor = crate::auth::jwks::MIN_REFRESH_SECS;
        if self.auth.jwks_min_refresh_secs < jwks_floor {
            return Err(ConfigError::Invalid(format!(
                "auth.jwks_min_refresh_secs must be at least {jwks_floor} (seconds), so tokens \
                 with unknown kids cannot make the gateway fetch the JWKS on every request"
            )));
        }
        Ok(())
    }
}

fn parse_toml(origin: &str, text: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>()
        .map_err(|source| ConfigError::Toml {
            origin: origin.to_owned(),
            source,
        })
}

/// Deep-merge `over` into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(over_inner)) => {
                merge(inner, over_inner)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn apply_env(merged: &mut toml::Table, name: &str, value: String) -> Result<(), ConfigError> {
    if let Some((_, section, key)) = NAMED_ENV_VARS.iter().find(|(n, _, _)| *n == name) {
        return set(merged, section, key, toml::Value::String(value));
    }
    let Some(path) = name.strip_prefix(GENERIC_ENV_PREFIX) else {
        return Ok(());
    };
    let parts: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
    let [section, key] = parts.as_slice() else {
        return Err(ConfigError::Invalid(format!(
            "{name}: expected {GENERIC_ENV_PREFIX}SECTION__KEY"
        )));
    };
    set(merged, section, key, scalar_from_env(&value))
}

/// Numbers and booleans in env vars keep their type; anything else is a string.
fn scalar_from_env(value: &str) -> toml::Value {
    if let Ok(b) = value.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    if let Ok(i) = value.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(f) = value.parse::<f64>() {
        return toml::Value::Float(f);
    }
    toml::Value::String(value.to_owned())
}

fn set(
    merged: &mut toml::Table,
    section: &str,
    key: &str,
    value: toml::Value,
) -> Result<(), ConfigError> {
    match merged
        .entry(section.to_owned())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
    {
        toml::Value::Table(table) => {
            table.insert(key.to_owned(), value);
            Ok(())
        }
        _ => Err(ConfigError::Invalid(format!("{section} is not a section"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_parse() {
        let s = Settings::from_sources(None, env(&[])).unwrap();
        assert_eq!(s.server.listen, "127.0.0.1:8080");
        assert_eq!(s.redis.key_prefix, "cgw:");
        assert!(s.upstream.api_key.is_empty());
    }

    #[test]
    fn file_then_env_override_in_order() {
        let file = "[server]\nlisten = \"0.0.0.0:9000\"\nworkers = 3\n";
        let s = Settings::from_sources(
            Some(("test.toml", file)),
            env(&[
                ("DATABASE_URL", "postgres://db/x"),
                ("CLORO_GATEWAY__SERVER__WORKERS", "5"),
                ("CLORO_API_KEY", "sk_live_abc"),
                ("UNRELATED", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.listen, "0.0.0.0:9000");
        assert_eq!(s.server.workers, 5);
        assert_eq!(s.database.url.expose(), "postgres://db/x");
        assert_eq!(s.upstream.api_key.expose(), "sk_live_abc");
    }

    #[test]
    fn one_redis_connection_by_default_and_never_none() {
        let s = Settings::from_sources(None, env(&[])).unwrap();
        assert_eq!(s.redis.connections, 1);
        assert_eq!(s.redis.pool_size, 32);
        let s = Settings::from_sources(None, env(&[("CLORO_GATEWAY__REDIS__CONNECTIONS", "4")]));
        assert_eq!(s.unwrap().redis.connections, 4);
        let err = Settings::from_sources(None, env(&[("CLORO_GATEWAY__REDIS__CONNECTIONS", "0")]));
        assert!(matches!(err, Err(ConfigError::Invalid(_))));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Settings::from_sources(Some(("t.toml", "[server]\nlisen = \"x\"\n")), env(&[]));
        assert!(err.is_err());
        let err = Settings::from_sources(None, env(&[("CLORO_GATEWAY__SERVER__NOPE", "1")]));
        assert!(err.is_err());
    }

    #[test]
    fn bad_values_are_refused() {
        let err = Settings::from_sources(None, env(&[("CLORO_BASE_URL", "ftp://x")]));
        assert!(matches!(err, Err(ConfigError::Invalid(_))));
        let err =
            Settings::from_sources(None, env(&[("CLORO_GATEWAY__SERVER__MAX_BODY_BYTES", "0")]));
        assert!(matches!(err, Err(ConfigError::Invalid(_))));
    }

    #[test]
    fn slow_client_timeouts_and_idempotency_upkeep_have_defaults_and_must_be_positive() {
        let s = Settings::from_sources(None, env(&[])).unwrap();
        assert_eq!(s.server.request_head_timeout_secs, 5);
        assert_eq!(s.server.body_read_timeout_secs, 10);
        assert_eq!(s.ledger.idempotency_max_body_bytes, 256 * 1024);
        assert_eq!(s.ledger.idempotency_purge_every_secs, 300);
        for name in [
            "CLORO_GATEWAY__SERVER__REQUEST_HEAD_TIMEOUT_SECS",
            "CLORO_GATEWAY__SERVER__BODY_READ_TIMEOUT_SECS",
            "CLORO_GATEWAY__LEDGER__IDEMPOTENCY_PURGE_EVERY_SECS",
        ] {
            let err = Settings::from_sources(None, env(&[(name, "0")]));
            assert!(matches!(err, Err(ConfigError::Invalid(_))), "{name}");
        }
    }

    #[test]
    fn the_default_quota_caps_async_priority_and_queue_and_checks_their_ranges() {
        let s = Settings::from_sources(None, env(&[])).unwrap();
        let default = s.limits.team_default.values();
        assert_eq!((default.max_priority, default.max_queued_tasks), (10, 1000));
        for (file, field) in [
            ("[limits.team_default]\nmax_priority = 0\n", "max_priority"),
            ("[limits.team_default]\nmax_priority = 11\n", "max_priority"),
            (
                "[limits.team_default]\nmax_queued_tasks = 0\n",
                "max_queued_tasks",
            ),
            (
                "[limits.team_default]\nmax_queued_tasks = 1000001\n",
                "max_queued_tasks",
            ),
        ] {
            match Settings::from_sources(Some(("t.toml", file)), env(&[])) {
                Err(ConfigError::Invalid(message)) => assert!(
                    message.starts_with(&format!("limits.team_default.{field} ")),
                    "{message}"
                ),
                other => panic!("{file}: expected an invalid config, got {other:?}"),
            }
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s =
            Settings::from_sources(None, env(&[("CLORO_API_KEY", "sk_live_topsecret")])).unwrap();
        assert!(!format!("{s:?}").contains("topsecret"));
    }

    #[test]
    fn auth_jwks_min_refresh_secs_has_a_floor_of_ten_seconds() {
        let name = "CLORO_GATEWAY__AUTH__JWKS_MIN_REFRESH_SECS";
        for below in ["0", "1", "9"] {
            match Settings::from_sources(None, env(&[(name, below)])) {
                Err(ConfigError::Invalid(message)) => assert!(
                    message.starts_with("auth.jwks_min_refresh_secs must be at least 10"),
                    "{message}"
                ),
                other => panic!("{below}: expected an invalid config, got {other:?}"),
            }
        }
        let s = Settings::from_sources(None, env(&[(name, "10")])).unwrap();
        assert_eq!(s.auth.jwks_min_refresh_secs, 10);
    }
}
