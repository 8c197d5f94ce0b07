//! cloro-gateway: a drop-in cloro API that lets many teams share one cloro account.
//! The binary's subcommands live in `cli`; everything a test needs is public here.

pub mod admin;
pub mod admission;
pub mod alerts;
pub mod async_tasks;
pub mod auth;
pub mod cli;
pub mod config;
pub mod connections;
pub mod console;
pub mod directory;
pub mod error;
pub mod extractors;
pub mod finance;
pub mod histogram;
pub mod http_error;
pub mod ledger;
pub mod ledger_gauges;
pub mod log_writer;
pub mod maintenance;
pub mod openapi;
pub mod pagination;
pub mod period;
pub mod pricing;
pub mod proxy;
pub mod relay;
pub mod request_body;
pub mod routes;
pub mod routing;
pub mod secret;
pub mod services;
pub mod stage_timings;
pub mod startup;
pub mod tasks;
pub mod team_metrics;
pub mod telemetry;
#[cfg(test)]
mod test_http;
pub mod upstream;

pub use config::Settings;
pub use startup::Application;
