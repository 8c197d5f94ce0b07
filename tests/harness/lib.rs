//! The end-to-end test harness: real Postgres, real Redis and a real cloro simulator over
//! HTTP, with a fresh database and Redis key prefix for every test app.

// Test-support code: a failed set-up step should stop the test loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

pub mod ledger;
pub mod python_sdk;
pub mod services;
pub mod test_app;
pub mod tokens;

pub use test_app::{Replica, TestApp, TestAppBuilder};
