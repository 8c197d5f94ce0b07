//! Integration tests: a real simulator on 127.0.0.1:0, spoken to over HTTP, rule by rule.

// A test binary: helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod async_tasks;
mod auth_and_edge;
mod batches;
mod concurrency;
mod faults_and_seed;
mod helpers;
mod inspection;
mod pricing_and_credits;
mod profiles;
mod rate_limit;
mod reference_data;
mod validation;
mod webhooks;
