//! The ledger as the gateway uses it: the main Postgres pool the request path and the writers
//! use, a separate read pool for finance and team reads and CSV exports (so they can never
//! take the connections `record_pending` needs), the group-commit writer the request path
//! records through (PENDING entries and settlements, in shared batches), the per-principal
//! cap on concurrent exports, and the longest a write on the request path may take.

use crate::config::Settings;
use accounting::ledger::{GroupCommitConfig, LedgerWriter, SettlementWriter};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub struct Ledger {
    db: PgPool,
    reads: PgPool,
    exports: Exports,
    entries: LedgerWriter,
    settlements: SettlementWriter,
    write_timeout: Duration,
}

impl Ledger {
    /// Starts the writer on `db` and opens (lazily) the read pool on the same database.
    pub fn start(db: PgPool, settings: &Settings) -> Self {
        let ledger = &settings.ledger;
        let group_commit = GroupCommitConfig {
            max_batch: ledger.group_commit_max_batch,
            max_wait: Duration::from_millis(ledger.group_commit_max_wait_ms),
        };
        let reads = PgPoolOptions::new()
            .max_connections(settings.database.read_max_connections)
            .acquire_timeout(Duration::from_secs(settings.database.acquire_timeout_secs))
            .connect_lazy_with((*db.connect_options()).clone());
        let entries = LedgerWriter::spawn(db.clone(), group_commit);
        Self {
            settlements: entries.settlement_writer(),
            entries,
            db,
            reads,
            exports: Exports {
                per_subject: settings.finance.max_concurrent_exports as usize,
                max_span: chrono::Duration::days(i64::from(settings.finance.max_export_days)),
                running: Arc::default(),
            },
            write_timeout: Duration::from_millis(ledger.write_timeout_ms),
        }
    }

    /// The main pool: the request path, the writers and single writes.
    pub fn pool(&self) -> &PgPool {
        &self.db
    }

    /// The read pool: finance and team reads and CSV exports, never the request path.
    pub fn reads(&self) -> &PgPool {
        &self.reads
    }

    /// Limits on CSV exports.
    pub fn exports(&self) -> &Exports {
        &self.exports
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

/// How many CSV exports each token subject may run at once, and how wide one may be.
pub struct Exports {
    per_subject: usize,
    max_span: chrono::Duration,
    running: Arc<Mutex<HashMap<String, usize>>>,
}

impl Exports {
    /// A permit for one more export by `subject`, or `None` when it already runs the most
    /// allowed. Hold the permit until the export's body has ended or been dropped.
    pub fn try_start(&self, subject: &str) -> Option<ExportPermit> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let count = running.entry(subject.to_owned()).or_insert(0);
        if *count >= self.per_subject {
            return None;
        }
        *count += 1;
        Some(ExportPermit {
            subject: subject.to_owned(),
            running: self.running.clone(),
        })
    }

    /// The widest time range one entries export may cover.
    pub fn max_span(&self) -> chrono::Duration {
        self.max_span
    }
}

/// One running export; dropping it frees the slot.
pub struct ExportPermit {
    subject: String,
    running: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for ExportPermit {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = running.get_mut(&self.subject) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.subject);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_connections: u32, read_max_connections: u32) -> Settings {
        let mut settings = Settings::from_sources(None, Vec::new()).unwrap();
        settings.database.max_connections = max_connections;
        settings.database.read_max_connections = read_max_connections;
        settings
    }

    #[tokio::test]
    async fn reads_have_their_own_pool_and_size() {
        let s = settings(7, 3);
        let db = PgPoolOptions::new()
            .max_connections(s.database.max_connections)
            .connect_lazy("postgres://postgres@127.0.0.1:5432/unused")
            .unwrap();
        let ledger = Ledger::start(db, &s);
        assert_eq!(ledger.pool().options().get_max_connections(), 7);
        assert_eq!(ledger.reads().options().get_max_connections(), 3);
        // Closing one pool leaves the other open: they share no connections.
        ledger.reads().close().await;
        assert!(ledger.reads().is_closed());
        assert!(!ledger.pool().is_closed());
    }

    #[test]
    fn exports_are_capped_per_subject_until_permits_drop() {
        let s = settings(7, 3);
        let exports = Exports {
            per_subject: s.finance.max_concurrent_exports as usize,
            max_span: chrono::Duration::days(93),
            running: Arc::default(),
        };
        let first = exports.try_start("cli:finance").unwrap();
        let _second = exports.try_start("cli:finance").unwrap();
        assert!(exports.try_start("cli:finance").is_none());
        assert!(exports.try_start("someone-else").is_some());
        drop(first);
        assert!(exports.try_start("cli:finance").is_some());
    }
}
