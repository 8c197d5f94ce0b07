//! Integration tests for the accounting crate, against a real Postgres: one fresh database per
//! test (from `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`).

// Helpers outside `#[test]` functions fail the test the same way, by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod append_only;
mod async_tasks;
mod fault_outcomes;
mod fixtures;
mod group_commit;
mod idempotency;
mod late_charges;
mod ledger_reads;
mod listing;
mod migrations;
mod partitions;
mod quotas;
mod reconciliation;
mod revocations;
mod settlement;
mod settlement_writer;
mod shared_batches;
mod sweeper;
mod teams;
mod test_database;
mod tokens;
mod usage;
mod webhook_relay;
