//! Command-line flags and `CLORO_SIM_*` environment variables of the `cloro-sim` binary.

use std::net::SocketAddr;

use clap::Parser;

use crate::config::{DEFAULT_API_KEY, FaultRates, SimConfig};
use crate::latency::LatencySpec;
use crate::profile::Profile;

/// A local simulator of the cloro API (https://api.cloro.dev).
#[derive(Debug, Parser)]
#[command(name = "cloro-sim", version, about, long_about = None)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "CLORO_SIM_LISTEN", default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,

    /// The one API key accepted (`sk_live_` + 32 hex).
    #[arg(long, env = "CLORO_SIM_API_KEY", default_value = DEFAULT_API_KEY, hide_default_value = true, hide_env_values = true)]
    pub api_key: String,

    /// Plan concurrency limit, shared by sync calls and PROCESSING async tasks.
    #[arg(long, env = "CLORO_SIM_CONCURRENCY_LIMIT", default_value_t = 10)]
    pub concurrency_limit: u32,

    /// Starting credit balance (also reported as perCycle).
    #[arg(long, env = "CLORO_SIM_CREDITS", default_value_t = 1_000_000)]
    pub credits: i64,

    /// Engine latency: `0`, `fixed:200ms` or `lognormal:median=2s,p99=30s`.
    #[arg(long, env = "CLORO_SIM_LATENCY", default_value = "0")]
    pub latency: LatencySpec,

    /// Seed for every random choice; same seed + same requests = same run.
    #[arg(long, env = "CLORO_SIM_SEED", default_value_t = 0)]
    pub seed: u64,

    /// Which documented variant to imitate: docs, newest, legacy, legacy-plain.
    #[arg(long, env = "CLORO_SIM_PROFILE", default_value = "docs")]
    pub profile: Profile,

    /// Requests per second per endpoint.
    #[arg(long, env = "CLORO_SIM_RATE_LIMIT", default_value_t = 1000)]
    pub rate_limit: u32,

    /// Share of monitor calls/tasks failing with 500 INTERNAL_SERVER_ERROR (0.0-1.0).
    #[arg(long = "fault-500", env = "CLORO_SIM_FAULT_500", default_value_t = 0.0)]
    pub fault_500: f64,

    /// Share failing with 502 EXTERNAL_SERVICE_ERROR (0.0-1.0).
    #[arg(long = "fault-502", env = "CLORO_SIM_FAULT_502", default_value_t = 0.0)]
    pub fault_502: f64,

    /// Share failing at once with 503 SERVICE_UNAVAILABLE and Retry-After (0.0-1.0).
    #[arg(long = "fault-503", env = "CLORO_SIM_FAULT_503", default_value_t = 0.0)]
    pub fault_503: f64,

    /// Share answered with an empty (still charged) result (0.0-1.0).
    #[arg(
        long = "fault-empty",
        env = "CLORO_SIM_FAULT_EMPTY",
        default_value_t = 0.0
    )]
    pub fault_empty: f64,

    /// Share answered 200 with every success header and charged, whose body then breaks off (0.0-1.0).
    #[arg(
        long = "fault-broken-body",
        env = "CLORO_SIM_FAULT_BROKEN_BODY",
        default_value_t = 0.0
    )]
    pub fault_broken_body: f64,

    /// Divides the API's own durations: webhook retry gaps (2-16 min) and task retention (24 h).
    #[arg(long, env = "CLORO_SIM_TIME_SCALE", default_value_t = 1.0)]
    pub time_scale: f64,

    /// `whsec_...` secret; when set, webhook deliveries are signed.
    #[arg(long, env = "CLORO_SIM_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// Most tasks allowed in QUEUED at once.
    #[arg(long, env = "CLORO_SIM_QUEUE_CAP", default_value_t = 100_000)]
    pub queue_cap: usize,

    /// Most request records kept in memory for /_sim/requests (oldest dropped first).
    #[arg(long, env = "CLORO_SIM_REQUEST_LOG_CAP", default_value_t = 1_000_000)]
    pub request_log_cap: usize,

    /// HTTP worker threads.
    #[arg(long, env = "CLORO_SIM_WORKERS", default_value_t = 2)]
    pub workers: usize,
}

impl Args {
    /// The simulator configuration these flags describe.
    pub fn into_config(self) -> SimConfig {
        SimConfig {
            api_key: self.api_key,
            concurrency_limit: self.concurrency_limit,
            credits: self.credits,
            latency: self.latency,
            rate_limit: self.rate_limit,
            faults: FaultRates {
                internal_error: self.fault_500,
                external_service_error: self.fault_502,
                service_unavailable: self.fault_503,
                empty_answer: self.fault_empty,
                broken_body: self.fault_broken_body,
            },
            seed: self.seed,
            profile: self.profile,
            time_scale: self.time_scale,
            queue_cap: self.queue_cap,
            workers: self.workers,
            webhook_secret: self.webhook_secret,
            request_log_cap: self.request_log_cap,
            ..SimConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_map_onto_the_config() {
        Args::command().debug_assert();
        let args = Args::try_parse_from([
            "cloro-sim",
            "--listen",
            "127.0.0.1:0",
            "--concurrency-limit",
            "3",
            "--latency",
            "fixed:5ms",
            "--profile",
            "legacy",
            "--fault-503",
            "0.5",
            "--fault-broken-body",
            "0.25",
            "--seed",
            "42",
            "--time-scale",
            "1000",
        ])
        .unwrap();
        let config = args.into_config();
        assert_eq!(config.concurrency_limit, 3);
        assert_eq!(config.profile, Profile::legacy());
        assert_eq!(config.faults.service_unavailable, 0.5);
        assert_eq!(config.faults.broken_body, 0.25);
        assert_eq!((config.seed, config.time_scale), (42, 1000.0));
        assert!(Args::try_parse_from(["cloro-sim", "--profile", "modern"]).is_err());
        assert!(Args::try_parse_from(["cloro-sim", "--latency", "soon"]).is_err());
    }
}
