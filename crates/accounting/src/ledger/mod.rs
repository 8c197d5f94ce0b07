//! The two-phase credit ledger: a PENDING entry is made durable before an upstream call is
//! sent, then settled exactly once (POSTED, VOIDED, or EXPIRED by the sweeper). The inserts
//! and the settlements are group-committed together, one statement per batch. Finance reads it through keyset listings,
//! streamed exports and the daily rollups the database keeps as entries settle.

mod balance;
mod batch_write;
mod entry;
mod export;
mod gauges;
mod group_commit;
mod ledger_writes;
mod listing;
mod partitions;
mod pending_writer;
mod reads;
mod scope;
mod settlement;
mod settlement_writer;
mod sweeper;
mod usage;
mod writer_connection;

pub use balance::record_balance;
pub use entry::{EntryMode, LedgerEntry, NewEntry, Recorded, created_at_of};
pub use export::export_entries;
pub use gauges::{LedgerGauges, ledger_gauges};
pub use group_commit::{GroupCommitConfig, MAX_WAIT_LIMIT};
pub use listing::{EntryCursor, EntryFilter, MAX_PAGE_SIZE, list_entries};
pub use partitions::{MAX_MONTHS_AHEAD, ensure_partitions, partition_name};
pub use pending_writer::{GroupCommitStats, LedgerWriter};
pub(crate) use reads::status_of;
pub use reads::{BudgetLedger, TeamTotals, budget_ledger, count_pending, get, team_totals};
pub use scope::Scope;
pub use settlement::{OUTCOME_UNKNOWN_FLAG, Settled, post, post_unknown, void, void_unsent};
pub(crate) use settlement::{check_void_reason, post_on, void_on};
pub use settlement_writer::{SettleRequest, Settlement, SettlementStats, SettlementWriter};
pub use sweeper::{EXPIRED_FLAG_REASON, Sweeper, SweeperHandle, expire_stale};
pub use usage::{
    MAX_USAGE_DAYS, PeriodUsage, UsageDimension, UsageQuery, UsageRow, period_usage, usage,
};
