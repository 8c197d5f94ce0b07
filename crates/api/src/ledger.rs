//! The ledger as the gateway uses it: the Postgres pool finance reads from, the two
//! group-commit writers the request path records through (PENDING entries, settlements), and
//! the longest a write on the request path may take.

use crate::config::LedgerSettings;
use accounting::ledger::{GroupCommitConfig, LedgerWriter, SettlementWriter};
use sqlx::PgPool;
use std::time::Duration;

pub struct Ledger {
    db: PgPool,
    entries: LedgerWriter,
    settlements: SettlementWriter,
    write_timeout: Duration,
}

impl Ledger {
    /// Starts both writers on `db`.
    pub fn start(db: PgPool, settings: &LedgerSettings) -> Self {
        let group_commit = GroupCommitConfig {
            max_batch: settings.group_commit_max_batch,
            max_wait: Duration::from_millis(settings.group_commit_max_wait_ms),
        };
        Self {
            entries: LedgerWriter::spawn(db.clone(), group_commit),
            settlements: SettlementWriter::spawn(db.clone(), group_commit),
            db,
            write_timeout: Duration::from_millis(settings.write_timeout_ms),
        }
    }

    /// The pool, for reads and single writes.
    pub fn pool(&self) -> &PgPool {
        &self.db
    }

    /// Records PENDING entries, batched.
    pub fn entries(&self) -> &LedgerWriter {
        &self.entries
    }

    /// Settles entries, batched.
    pub fn settlements(&self) -> &SettlementWriter {
        &self.settlements
    }

    /// The longest any Postgres call on the request path may take.
    pub fn write_timeout(&self) -> Duration {
        self.write_timeout
    }
}
