//! End-to-end tests: the real gateway over HTTP against real Postgres, Redis and cloro-sim.

// Test code: a failed step should stop the test loudly, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod alerts;
mod async_tasks;
mod auth;
mod caller_ids;
mod chaos;
mod console;
mod exactness;
mod exports;
mod faults;
mod finance;
mod fuzz;
mod harness;
mod health;
mod idempotency;
mod k8s_manifests;
mod limits;
mod observability;
mod openapi;
mod path_variants;
mod proxy;
mod reference;
mod refusal_memory;
mod revocation;
mod roles;
mod sdk;
mod slow_clients;
mod stage_metrics;
mod team_metrics;
mod token_policy;
mod upstream_http2;
