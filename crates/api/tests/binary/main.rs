//! The built `cloro-gateway` binary, run as separate processes against real Postgres, Redis
//! and a cloro simulator.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cleanup;
mod compose;
mod crash;
mod dev;
mod operator;
mod request_logs;
mod secret_urls;
mod shutdown;
mod support;
