//! Async tasks through the gateway (issue 11, storage): every task a team submits is recorded
//! durably BEFORE it is forwarded, as one PENDING ledger entry (mode `async`) plus a task row
//! saying who owns it, and settled later from cloro's `creditsCharged` (webhook or polling),
//! exactly once, through the ledger's guarded settlements.
//!
//! ```text
//! record ─▶ SUBMITTED ─accepted─▶ QUEUED ─observe─▶ PROCESSING ─settle─▶ COMPLETED | FAILED (POSTED)
//! and from any unsettled state:
//!   refused  ─▶ REFUSED  (VOIDED: cloro refused it, or it was never sent)
//!   released ─▶ GONE     (VOIDED: deleted from cloro's queue before it ran)
//!   gone     ─▶ GONE     (POSTED at the estimate, flagged task_gone: vanished upstream)
//! ```
//!
//! Each settling change is idempotent and returns the ledger's `Settled`; the sweeper expires
//! an entry only after its task's `settle_by`, and a charge arriving later is a late charge.

mod lifecycle;
mod reads;
mod state;
mod submit;

pub use lifecycle::{
    TASK_GONE_FLAG, TaskUpdate, accepted, gone, observe, refused, released, settle,
};
pub use reads::{
    AsyncTask, MAX_UNSETTLED_PAGE, TeamQueue, by_entry, by_task_id, by_upstream_key, owned, queued,
    team_counts, unsettled,
};
pub use state::TaskState;
pub use submit::{NewAsyncTask, Recorded, record, void_unrecorded};
