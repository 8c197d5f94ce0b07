//! The JSON shapes finance and team routes answer with (camelCase, as cloro's own JSON),
//! built from the accounting crate's rows with team ids turned into slugs.

use crate::directory::TeamNames;
use accounting::ledger::{LedgerEntry, PeriodUsage, UsageRow};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// One ledger entry: what a request was expected to cost and what it was charged.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntryView {
    /// The gateway's request id (also the `X-Request-ID` it answered with, when minted).
    pub request_id: Uuid,
    pub team: String,
    pub team_id: Uuid,
    /// The upstream path, e.g. `/v1/monitor/chatgpt`.
    pub endpoint: String,
    /// PENDING, POSTED, VOIDED or EXPIRED.
    pub status: String,
    /// Credits held before the call.
    pub estimate: i64,
    /// Credits booked; null while PENDING.
    pub charged: Option<i64>,
    pub flagged: bool,
    pub flag_reason: Option<String>,
    pub upstream_status: Option<i32>,
    pub void_reason: Option<String>,
    /// The caller's own `X-Request-ID`, when it sent one.
    pub client_request_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
    /// `sync` (a monitor call) or `async` (a task submitted to the async queue).
    pub mode: String,
    /// cloro's task id of an async entry, once the task was accepted.
    pub task_id: Option<Uuid>,
    /// The batch an async entry was submitted in.
    pub batch_id: Option<Uuid>,
}

impl EntryView {
    pub fn new(entry: LedgerEntry, teams: &TeamNames) -> Self {
        Self {
            request_id: entry.id,
            team: teams.slug(entry.team_id),
            team_id: entry.team_id.as_uuid(),
            endpoint: entry.endpoint,
            status: entry.status.as_str().to_owned(),
            estimate: entry.estimate.get(),
            charged: entry.charged.map(|c| c.get()),
            flagged: entry.flagged,
            flag_reason: entry.flag_reason,
            upstream_status: entry.upstream_status,
            void_reason: entry.void_reason,
            client_request_id: entry.client_request_id,
            idempotency_key: entry.idempotency_key.map(|k| k.as_str().to_owned()),
            created_at: entry.created_at,
            settled_at: entry.settled_at,
            mode: entry.mode.as_str().to_owned(),
            task_id: entry.task_id,
            batch_id: entry.batch_id,
        }
    }
}

/// A page of entries in (createdAt, requestId) order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntryPage {
    pub items: Vec<EntryView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Settled usage summed over one group (dimensions not grouped by are null).
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageRowView {
    pub team: Option<String>,
    pub endpoint: Option<String>,
    /// `sync` (monitor calls) or `async` (async tasks), when grouped by mode.
    pub mode: Option<String>,
    pub day: Option<NaiveDate>,
    /// The first day of the month.
    pub month: Option<NaiveDate>,
    pub entries: i64,
    pub posted: i64,
    pub voided: i64,
    pub expired: i64,
    pub flagged: i64,
    pub estimate: i64,
    pub charged: i64,
}

impl UsageRowView {
    /// The counts, in the order the CSV export and the command line print them.
    pub fn counts(&self) -> [i64; 7] {
        [
            self.entries,
            self.posted,
            self.voided,
            self.expired,
            self.flagged,
            self.estimate,
            self.charged,
        ]
    }

    pub fn new(row: UsageRow, teams: &TeamNames) -> Self {
        Self {
            team: row.team_id.map(|id| teams.slug(id)),
            endpoint: row.endpoint,
            mode: row.mode.map(|mode| mode.as_str().to_owned()),
            day: row.day,
            month: row.month,
            entries: row.entries,
            posted: row.posted,
            voided: row.voided,
            expired: row.expired,
            flagged: row.flagged,
            estimate: row.estimate,
            charged: row.charged,
        }
    }

    /// Adds `other`'s counts into this one (for totals).
    pub fn add(&mut self, other: &UsageRowView) {
        self.entries += other.entries;
        self.posted += other.posted;
        self.voided += other.voided;
        self.expired += other.expired;
        self.flagged += other.flagged;
        self.estimate += other.estimate;
        self.charged += other.charged;
    }
}

/// Usage for `[from, to)` grouped as asked, with the grand total.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    pub from: NaiveDate,
    /// Exclusive.
    pub to: NaiveDate,
    pub group_by: Vec<String>,
    pub rows: Vec<UsageRowView>,
    pub totals: UsageRowView,
}

/// A team's position in the current budget period.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PositionView {
    pub team: String,
    pub team_id: Uuid,
    pub status: String,
    /// The period's name, e.g. `2026-11`.
    pub period: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// Credits per period; null without a budget.
    pub budget: Option<i64>,
    pub hard_budget: bool,
    /// Booked (POSTED and EXPIRED) this period.
    pub charged: i64,
    /// Held by requests in flight.
    pub held: i64,
    /// budget - charged - held, never below 0; null without a budget.
    pub left: Option<i64>,
    pub alert_threshold_pct: Option<i16>,
}

impl PositionView {
    pub fn new(
        team: &crate::directory::TeamEntry,
        period: &crate::period::Period,
        quota: &accounting::quotas::QuotaValues,
        usage: Option<&PeriodUsage>,
    ) -> Self {
        let charged = usage.map_or(0, |u| u.charged);
        let held = usage.map_or(0, |u| u.held);
        Self {
            team: team.slug.as_str().to_owned(),
            team_id: team.id.as_uuid(),
            status: team.status.as_str().to_owned(),
            period: period.id.clone(),
            period_start: period.start,
            period_end: period.end,
            budget: quota.budget,
            hard_budget: quota.hard_budget,
            charged,
            held,
            left: quota.budget.map(|b| (b - charged - held).max(0)),
            alert_threshold_pct: quota.alert_threshold_pct,
        }
    }
}
