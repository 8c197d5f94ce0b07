//! The end-to-end test harness: real Postgres, real Redis and a real cloro simulator over
//! HTTP, with a fresh database and Redis key prefix for every test app.

// Test-support code: a failed set-up step should stop the test loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

pub mod api_calls;
pub mod console_browser;
pub mod debian_package;
pub mod ledger;
pub mod private_postgres;
pub mod python_sdk;
pub mod python_venv;
pub mod schemathesis;
pub mod services;
pub mod test_app;
pub mod test_database;
pub mod tokens;
pub mod webhook_receiver;

pub use api_calls::assert_error;
pub use test_app::{Replica, TestApp, TestAppBuilder};
pub use webhook_receiver::WebhookReceiver;
