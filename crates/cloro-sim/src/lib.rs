//! A faithful local simulator of the cloro API, for the gateway's tests, its `dev` command and benchmarks.
//!
//! Start one with [`spawn`] on a bound listener; talk to it over HTTP exactly as to
//! `https://api.cloro.dev`; inspect it through `/_sim/*` or [`RunningSim`].

mod api_key;
pub mod cli;
pub mod config;
mod endpoint;
mod error;
mod execution;
mod geo;
mod http;
mod latency;
mod monitor_request;
pub mod pricing;
pub mod profile;
mod results;
mod server;
mod state;
mod tasks;
mod validation;

pub use config::{DEFAULT_API_KEY, FaultRates, LatencySpec, Profile, SimConfig};
pub use latency::LatencyParseError;
pub use pricing::PriceTable;
pub use server::RunningSim;
pub use state::knobs::{ConfigPatch, ConfigView, FaultRatesPatch};
pub use state::request_log::{RecordKind, RequestRecord};
pub use state::stats::SimStats;

/// Starts the simulator on an already-bound listener, inside the caller's tokio runtime.
pub async fn spawn(
    config: SimConfig,
    listener: std::net::TcpListener,
) -> anyhow::Result<RunningSim> {
    server::spawn(config, listener).await
}
