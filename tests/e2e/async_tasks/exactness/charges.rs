//! What cloro charged (from the simulator's own records) and what the ledger booked (from
//! the database), and their comparison entry by entry.

use accounting::EntryStatus;
use cloro_sim::RecordKind;
use e2e_tests::TestApp;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

/// One task as cloro ran it.
#[derive(Debug, Clone, Default)]
pub(super) struct CloroTask {
    pub(super) charged: u64,
    status: u16,
    /// The idempotencyKey cloro holds for it: the gateway's upstream key.
    key: Option<String>,
}

/// What cloro charged, from the simulator's own records.
pub(super) struct Cloro {
    /// Sync calls, per X-Request-ID (every attempt and any work finished after a hang-up).
    pub(super) by_request_id: HashMap<String, u64>,
    /// Finished tasks, per cloro's task id.
    pub(super) by_task: HashMap<String, CloroTask>,
    /// Task id per upstream key.
    task_by_key: HashMap<String, String>,
    pub(super) unattributed: Vec<String>,
}

impl Cloro {
    pub(super) async fn read(app: &TestApp, api_key: &str) -> Self {
        let mut cloro = Cloro {
            by_request_id: HashMap::new(),
            by_task: HashMap::new(),
            task_by_key: HashMap::new(),
            unattributed: Vec::new(),
        };
        for record in app.sim.requests() {
            match (record.kind, record.request_id, record.task_id) {
                (RecordKind::TaskFinished, _, Some(task_id)) => {
                    let task = cloro.by_task.entry(task_id).or_default();
                    task.charged += record.credits_charged;
                    task.status = record.status;
                }
                (RecordKind::Http | RecordKind::Abandoned, Some(id), _) => {
                    *cloro.by_request_id.entry(id).or_default() += record.credits_charged;
                }
                (kind, id, task) if record.credits_charged > 0 => cloro.unattributed.push(format!(
                    "{kind:?} {} {} request id {id:?} task {task:?}: {} credits",
                    record.method, record.path, record.credits_charged
                )),
                _ => {}
            }
        }
        // The key cloro stores with each task, from cloro itself.
        for (task_id, task) in &mut cloro.by_task {
            let view: Value = app
                .http
                .get(format!("{}/v1/async/task/{task_id}", app.sim.base_url()))
                .bearer_auth(api_key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            task.key = view
                .pointer("/task/idempotencyKey")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if let Some(key) = &task.key {
                cloro.task_by_key.insert(key.clone(), task_id.clone());
            }
        }
        cloro
    }
}

/// A ledger entry with its task and late charge, if any.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct Booked {
    pub(super) slug: String,
    id: Uuid,
    mode: String,
    client_request_id: Option<String>,
    status: String,
    charged: Option<i64>,
    estimate: i64,
    flag_reason: Option<String>,
    upstream_key: Option<String>,
    gateway_task_id: Option<Uuid>,
    late_charge: Option<i64>,
}

impl Booked {
    /// What the ledger says the entry cost: a late charge if one came, else `charged` of a
    /// POSTED or EXPIRED entry (VOIDED and PENDING cost nothing).
    pub(super) fn effective(&self) -> i64 {
        self.late_charge.unwrap_or(match self.status.as_str() {
            "POSTED" | "EXPIRED" => self.charged.unwrap_or(0),
            _ => 0,
        })
    }
}

pub(super) async fn booked_entries(app: &TestApp) -> Vec<Booked> {
    sqlx::query_as(
        "SELECT t.slug, l.id, l.mode, l.client_request_id, l.status, l.charged, l.estimate, \
                l.flag_reason, a.upstream_key, a.task_id AS gateway_task_id, \
                lc.charged AS late_charge \
         FROM ledger_entries l \
         JOIN teams t ON t.id = l.team_id \
         LEFT JOIN async_tasks a ON a.entry_id = l.id \
         LEFT JOIN ledger_late_charges lc ON lc.entry_id = l.id \
         ORDER BY l.created_at, l.id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// Entry by entry: a sync entry against cloro's charges for its X-Request-ID, a task entry
/// against the task cloro holds under its upstream key; then every charge cloro made must
/// have been taken by one entry. Returns a line per difference.
pub(super) fn compare_entries(booked: &[Booked], cloro: &Cloro) -> Vec<String> {
    let mut differences = Vec::new();
    let mut taken_ids: HashSet<&str> = HashSet::new();
    let mut taken_tasks: HashSet<&str> = HashSet::new();
    let mut statuses: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for entry in booked {
        *statuses
            .entry((
                entry.mode.clone(),
                entry.status.clone(),
                entry.flag_reason.clone().unwrap_or_default(),
            ))
            .or_default() += 1;
        if entry.status == EntryStatus::Pending.as_str() {
            differences.push(format!("{} {} is still PENDING", entry.slug, entry.id));
        }
        let (upstream, what) = if entry.mode == "async" {
            let key = entry.upstream_key.as_deref().unwrap_or_default();
            match cloro.task_by_key.get(key) {
                Some(task_id) => {
                    taken_tasks.insert(task_id.as_str());
                    let task = &cloro.by_task[task_id];
                    if entry.gateway_task_id.map(|id| id.to_string()).as_ref() != Some(task_id) {
                        differences.push(format!(
                            "{} {} async key {key}: the gateway holds task {:?}, cloro ran {task_id}",
                            entry.slug, entry.id, entry.gateway_task_id
                        ));
                    }
                    (task.charged, format!("task {task_id} ({})", task.status))
                }
                None => (0, format!("key {key}, no task at cloro")),
            }
        } else {
            let id = entry.client_request_id.as_deref().unwrap_or_default();
            taken_ids.insert(id);
            (
                cloro.by_request_id.get(id).copied().unwrap_or(0),
                format!("request {id}"),
            )
        };
        if entry.effective() != upstream as i64 {
            differences.push(format!(
                "{} {} {} {}{}: ledger {} (estimate {}, late {:?}) vs cloro {upstream} for {what}",
                entry.slug,
                entry.id,
                entry.mode,
                entry.status,
                entry
                    .flag_reason
                    .as_deref()
                    .map(|f| format!("/{f}"))
                    .unwrap_or_default(),
                entry.effective(),
                entry.estimate,
                entry.late_charge,
            ));
        }
    }
    for (id, charged) in &cloro.by_request_id {
        if *charged > 0 && !taken_ids.contains(id.as_str()) {
            differences.push(format!(
                "cloro charged {charged} for request {id}; no entry"
            ));
        }
    }
    for (task_id, task) in &cloro.by_task {
        if task.charged > 0 && !taken_tasks.contains(task_id.as_str()) {
            differences.push(format!(
                "cloro charged {} for task {task_id} (key {:?}); no entry",
                task.charged, task.key
            ));
        }
    }
    println!("ledger entries by (mode, status, flag): {statuses:?}");
    differences
}
