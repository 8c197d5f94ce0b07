//! Postgres side of cloro-gateway: teams, their quotas, issued tokens, account settings, the
//! audit log, alerts, the two-phase credit ledger (with its rollups and finance queries),
//! reconciliation against the upstream balance, and the Idempotency-Key store. Owns the SQL
//! migrations at the workspace root.

pub mod account_settings;
pub mod alerts;
pub mod async_tasks;
pub mod audit;
pub mod directory_channel;
mod error;
pub mod idempotency;
pub mod ledger;
mod migrations;
pub mod quotas;
pub mod reconciliation;
pub mod revocations;
pub mod teams;
pub mod tokens;
pub mod types;
pub mod webhook_relay;

pub use error::AccountingError;
pub use migrations::{MIGRATOR, migrate};
pub use types::{
    Credits, EntryStatus, IdempotencyKey, InvalidValue, Role, TeamId, TeamSlug, TeamStatus,
};
