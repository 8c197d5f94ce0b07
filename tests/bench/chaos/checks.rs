//! After the run: the private database, the private Redis and the simulator's request log
//! are read directly and compared, entry by entry. A sync entry is joined on the request id
//! (the gateway keeps the caller's X-Request-ID as the entry's `client_request_id` and sends
//! the same id upstream, retries included); an async entry on its task's key (the team's
//! `idempotencyKey`, which the gateway sends upstream as `<team id>.<key>` and cloro keeps
//! with the task whose charge it logs when the task finishes).

use super::faults::{FaultLog, Kill};
use super::gateway::COMPANY_KEY;
use super::load::{BudgetKind, Kind, Outcome, Sent, Team};
use super::probes;
use anyhow::Context;
use cloro_sim::{RecordKind, RequestRecord};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// What the simulator did for one charge id: a sync request id (all its attempts), or
/// `task:<key>` for a task.
#[derive(Debug, Default, Clone, Copy)]
struct Upstream {
    charged: i64,
    /// The gateway hung up before the answer: it cannot know the charge.
    abandoned: bool,
}

/// The charge id of a task submitted with the team's `key`.
fn task_id_of(key: &str) -> String {
    format!("task:{key}")
}

/// The charge ids of a request: its X-Request-ID for a sync call, one per task otherwise.
fn charge_ids(sent: &Sent) -> Vec<String> {
    match sent.kind {
        Kind::Sync => vec![sent.request_id.clone()],
        Kind::Task | Kind::Batch => sent.task_keys.iter().map(|k| task_id_of(k)).collect(),
    }
}

/// One ledger row with its task and late charge, if any.
#[derive(Debug, sqlx::FromRow)]
struct Row {
    slug: String,
    mode: String,
    client_request_id: Option<String>,
    /// An async entry's task: the team's key and the gateway's state of it.
    team_key: Option<String>,
    task_state: Option<String>,
    status: String,
    charged: Option<i64>,
    estimate: i64,
    flag_reason: Option<String>,
    late_charge: Option<i64>,
}

impl Row {
    /// What the entry is joined to cloro by.
    fn charge_id(&self) -> Option<String> {
        if self.mode == "async" {
            self.team_key.as_deref().map(task_id_of)
        } else {
            self.client_request_id.clone()
        }
    }

    /// `flag_reason` may list several reasons, comma-separated.
    fn has_flag(&self, flag: &str) -> bool {
        self.flag_reason
            .as_deref()
            .is_some_and(|reasons| reasons.split(',').any(|r| r.trim() == flag))
    }

    /// What the ledger says this entry cost: the late charge when one was recorded, else
    /// `charged` (POSTED and EXPIRED; VOIDED and PENDING are 0).
    fn effective(&self) -> i64 {
        self.late_charge.unwrap_or(match self.status.as_str() {
            "POSTED" | "EXPIRED" => self.charged.unwrap_or(0),
            _ => 0,
        })
    }
}

/// Entries whose difference is accounted for, and by how much.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub count: u64,
    pub diff: i64,
}

impl Tally {
    fn add(&mut self, diff: i64) {
        self.count += 1;
        self.diff += diff;
    }
}

#[derive(Debug)]
pub struct TeamRow {
    pub slug: String,
    pub kind: BudgetKind,
    pub budget: Option<i64>,
    pub sent: u64,
    pub entries: u64,
    pub ledger: i64,
    pub upstream: i64,
    pub killed: Tally,
    pub unknown: Tally,
    /// Entries that differ without an explanation, plus upstream charges with no entry.
    pub unexplained: Tally,
}

impl TeamRow {
    pub fn diff(&self) -> i64 {
        self.ledger - self.upstream
    }

    /// Hard budgets only: what cloro charged the team stayed within its budget.
    pub fn budget_held(&self) -> Option<bool> {
        match (self.kind, self.budget) {
            (BudgetKind::Hard, Some(budget)) => Some(self.upstream <= budget),
            _ => None,
        }
    }
}

/// The async side of the run, as cloro saw it.
#[derive(Debug, Default)]
pub struct Tasks {
    /// Tasks the clients submitted (single or in a batch).
    pub submitted: u64,
    /// Tasks cloro ran to the end, and how many of those FAILED (charged 0).
    pub ran: u64,
    pub failed: u64,
    pub charged: i64,
    /// Completion webhooks cloro attempted, and acknowledged by the gateway.
    pub webhook_attempts: u64,
    pub webhooks_delivered: u64,
}

#[derive(Debug, Default)]
pub struct Findings {
    pub rows: Vec<TeamRow>,
    /// Entries by mode, status and flag_reason.
    pub by_status: BTreeMap<(String, String, String), u64>,
    pub pending: u64,
    /// Async entries still PENDING, never sent: the replica was killed between recording the
    /// task and forwarding it (cloro never had it). Explained; they wait for
    /// `async_tasks.hold_hours`, then the sweeper books their estimate, flagged.
    pub pending_unsent_killed: u64,
    pub tasks: Tasks,
    pub late_charges: u64,
    /// Upstream calls cloro logged as abandoned (the gateway hung up), outside the killed
    /// replica's window.
    pub upstream_abandoned: u64,
    /// Requests the gateway answered 504 (its upstream deadline passed).
    pub gateway_timeouts: u64,
    pub live_account_leases: u64,
    pub live_team_leases: u64,
    pub readiness: Vec<(String, String)>,
    pub foreign: Vec<String>,
    pub examples: Vec<String>,
    pub violations: Vec<String>,
}

/// How long after it was sent a hung-up request may still be running on its replica:
/// the account queue wait, the upstream deadline and some settling time.
pub struct Windows {
    pub in_flight: Duration,
}

/// Everything the checks read, gathered once the run is quiet.
pub struct Evidence<'a> {
    pub teams: &'a [Team],
    pub sent: &'a [Sent],
    pub records: Vec<RequestRecord>,
    /// The simulator, to read each finished task's key from.
    pub sim_url: String,
    pub sim_stats: cloro_sim::SimStats,
    pub faults: &'a FaultLog,
    pub database_url: &'a str,
    pub redis_url: String,
    pub replicas: Vec<(String, String)>,
    pub windows: Windows,
    pub strict: bool,
}

pub async fn check(evidence: Evidence<'_>, http: &reqwest::Client) -> anyhow::Result<Findings> {
    let mut findings = Findings::default();
    let by_id: HashMap<String, &Sent> = evidence
        .sent
        .iter()
        .flat_map(|s| charge_ids(s).into_iter().map(move |id| (id, s)))
        .collect();
    let killed_in_flight =
        |sent: &Sent| in_flight_at_kill(sent, &evidence.faults.kills, evidence.windows.in_flight);

    // What cloro charged, per request id and per task key.
    let mut upstream: HashMap<String, Upstream> = HashMap::new();
    let mut finished: Vec<(String, i64)> = Vec::new();
    for record in &evidence.records {
        if record.kind == RecordKind::TaskFinished {
            let charged = i64::try_from(record.credits_charged).unwrap_or(i64::MAX);
            findings.tasks.ran += 1;
            findings.tasks.failed += u64::from(record.status != 200);
            findings.tasks.charged += charged;
            match &record.task_id {
                Some(task_id) => finished.push((task_id.clone(), charged)),
                None => findings.foreign.push(format!(
                    "{charged} credits charged for a task without an id"
                )),
            }
            continue;
        }
        if !matches!(record.kind, RecordKind::Http | RecordKind::Abandoned) {
            continue;
        }
        let charged = i64::try_from(record.credits_charged).unwrap_or(i64::MAX);
        let Some(id) = &record.request_id else {
            if charged > 0 {
                findings.foreign.push(format!(
                    "{charged} credits charged for a call without X-Request-ID"
                ));
            }
            continue;
        };
        let entry = upstream.entry(id.clone()).or_default();
        entry.charged += charged;
        if record.kind == RecordKind::Abandoned {
            entry.abandoned = true;
            let sent = by_id.get(id.as_str());
            if !sent.is_some_and(|s| killed_in_flight(s)) {
                findings.upstream_abandoned += 1;
            }
        }
    }

    findings.tasks.submitted = evidence.sent.iter().map(|s| s.task_keys.len() as u64).sum();
    findings.tasks.webhook_attempts = evidence.sim_stats.webhook_attempts;
    findings.tasks.webhooks_delivered = evidence.sim_stats.webhooks_delivered;
    for (task_id, key, charged) in task_keys(http, &evidence.sim_url, finished).await? {
        // The gateway sends `<team id>.<the team's key>` upstream.
        match key.as_deref().and_then(|k| k.split_once('.')) {
            Some((_, team_key)) => {
                upstream.entry(task_id_of(team_key)).or_default().charged += charged;
            }
            None if charged > 0 => findings.foreign.push(format!(
                "{charged} credits charged for task {task_id} with key {key:?}"
            )),
            None => {}
        }
    }

    let db = sqlx::PgPool::connect(evidence.database_url).await?;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT t.slug, l.mode, l.client_request_id, a.team_key, a.state AS task_state, \
                l.status, l.charged, l.estimate, l.flag_reason, lc.charged AS late_charge \
         FROM ledger_entries l \
         JOIN teams t ON t.id = l.team_id \
         LEFT JOIN async_tasks a ON a.entry_id = l.id \
         LEFT JOIN ledger_late_charges lc ON lc.entry_id = l.id \
         ORDER BY l.created_at, l.id",
    )
    .fetch_all(&db)
    .await?;
    db.close().await;

    let mut team_rows: Vec<TeamRow> = evidence
        .teams
        .iter()
        .map(|team| TeamRow {
            slug: team.slug.clone(),
            kind: team.kind,
            budget: team.budget,
            sent: 0,
            entries: 0,
            ledger: 0,
            upstream: 0,
            killed: Tally::default(),
            unknown: Tally::default(),
            unexplained: Tally::default(),
        })
        .collect();
    let team_index: HashMap<&str, usize> = evidence
        .teams
        .iter()
        .enumerate()
        .map(|(i, t)| (t.slug.as_str(), i))
        .collect();
    for sent in evidence.sent {
        team_rows[sent.team].sent += 1;
    }
    for (id, sent) in &by_id {
        if let Some(up) = upstream.get(id) {
            team_rows[sent.team].upstream += up.charged;
        }
    }

    let mut booked: HashSet<String> = HashSet::new();
    for row in &rows {
        *findings
            .by_status
            .entry((
                row.mode.clone(),
                row.status.clone(),
                row.flag_reason.clone().unwrap_or_else(|| "-".into()),
            ))
            .or_default() += 1;
        if row.late_charge.is_some() {
            findings.late_charges += 1;
        }
        let Some(team) = team_index.get(row.slug.as_str()).copied() else {
            findings
                .foreign
                .push(format!("an entry of unknown team {}", row.slug));
            continue;
        };
        let id = row.charge_id();
        let sent = id.as_deref().and_then(|id| by_id.get(id).copied());
        let (Some(id), Some(sent)) = (id, sent) else {
            findings.foreign.push(format!(
                "a {} entry of {} with request id {:?} / task key {:?} the bench never sent",
                row.mode, row.slug, row.client_request_id, row.team_key
            ));
            continue;
        };
        // The first entry of a charge id takes cloro's charge; a second entry for the same
        // request or task (a double booking) is compared with nothing.
        let first = booked.insert(id.clone());
        let ran = upstream.contains_key(&id);
        let up = upstream
            .get(&id)
            .copied()
            .filter(|_| first)
            .unwrap_or_default();
        // A task recorded but never forwarded because its replica died: cloro never had it,
        // and nobody alive can tell it was not sent, so it waits for its hold to run out.
        let unsent_killed = row.status == "PENDING"
            && row.mode == "async"
            && row.task_state.as_deref() == Some("SUBMITTED")
            && !ran
            && killed_in_flight(sent);
        if unsent_killed {
            findings.pending_unsent_killed += 1;
        } else if row.status == "PENDING" {
            findings.pending += 1;
        }
        let effective = row.effective();
        let diff = effective - up.charged;
        let team_row = &mut team_rows[team];
        team_row.entries += 1;
        team_row.ledger += effective;
        let killed = unsent_killed
            || (row.status == "EXPIRED"
                && row.has_flag("expired")
                && row.late_charge.is_none()
                && killed_in_flight(sent));
        // The gateway gave up on the call (cloro logged it abandoned, or the client got the
        // gateway's 504), so it could not know the charge and booked the estimate, flagged.
        let gave_up = up.abandoned || sent.outcome == Outcome::Status(504);
        let unknown = row.has_flag("outcome_unknown")
            && effective == row.estimate
            && gave_up
            && up.charged <= row.estimate;
        if killed {
            team_row.killed.add(diff);
        } else if unknown && !evidence.strict {
            team_row.unknown.add(diff);
        } else if diff != 0 {
            team_row.unexplained.add(diff);
            if findings.examples.len() < 12 {
                findings.examples.push(format!(
                    "{} {} {} {}{}: ledger {effective} (estimate {}, late {:?}) vs cloro {}{}; client saw {}",
                    row.slug,
                    id,
                    row.mode,
                    row.status,
                    row.flag_reason
                        .as_deref()
                        .map(|f| format!("/{f}"))
                        .unwrap_or_default(),
                    row.estimate,
                    row.late_charge,
                    up.charged,
                    if up.abandoned { " (abandoned by the gateway)" } else { "" },
                    sent.outcome.label(),
                ));
            }
        }
    }
    // Upstream charges with no ledger entry at all.
    for (id, sent) in &by_id {
        let Some(up) = upstream.get(id) else {
            continue;
        };
        if up.charged != 0 && !booked.contains(id) {
            team_rows[sent.team].unexplained.add(-up.charged);
            if findings.examples.len() < 12 {
                findings.examples.push(format!(
                    "{} {id}: cloro charged {} but the ledger has no entry; client saw {}",
                    evidence.teams[sent.team].slug,
                    up.charged,
                    sent.outcome.label()
                ));
            }
        }
    }
    for (id, up) in &upstream {
        if up.charged != 0 && !by_id.contains_key(id.as_str()) {
            findings.foreign.push(format!(
                "{} credits charged for unknown request id {id}",
                up.charged
            ));
        }
    }
    findings.rows = team_rows;
    findings.gateway_timeouts = evidence
        .sent
        .iter()
        .filter(|s| s.outcome == Outcome::Status(504))
        .count() as u64;

    let (account, team) = probes::live_leases(&evidence.redis_url).await?;
    findings.live_account_leases = account;
    findings.live_team_leases = team;
    findings.readiness = probes::readiness(http, &evidence.replicas).await;
    judge(&mut findings, evidence.faults);
    Ok(findings)
}

/// The key cloro holds for each finished task (`GET /v1/async/task/{id}` on the simulator,
/// a few at once, again after a 429): `(task id, key, charged)`.
async fn task_keys(
    http: &reqwest::Client,
    sim_url: &str,
    finished: Vec<(String, i64)>,
) -> anyhow::Result<Vec<(String, Option<String>, i64)>> {
    let reads = futures::stream::iter(finished)
        .map(|(task_id, charged)| async move {
            let url = format!("{sim_url}/v1/async/task/{task_id}");
            for _ in 0..50 {
                let response = http
                    .get(&url)
                    .bearer_auth(COMPANY_KEY)
                    .send()
                    .await
                    .with_context(|| format!("reading task {task_id} from the simulator"))?;
                if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                let view: serde_json::Value = response.json().await?;
                let key = view
                    .pointer("/task/idempotencyKey")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned);
                return Ok((task_id, key, charged));
            }
            anyhow::bail!("the simulator kept refusing to show task {task_id}")
        })
        .buffer_unordered(8)
        .collect::<Vec<anyhow::Result<_>>>()
        .await;
    reads.into_iter().collect()
}

/// Was this request on a replica when it was SIGKILLed? Either the client was still waiting
/// then, or it had hung up recently enough that its replica may still have been working.
fn in_flight_at_kill(sent: &Sent, kills: &[Kill], window: Duration) -> bool {
    kills.iter().any(|kill| {
        sent.replica == kill.replica
            && sent.started <= kill.at
            && (sent.ended >= kill.at
                || (sent.outcome == Outcome::HungUp && sent.started + window >= kill.at))
    })
}

/// Turns the findings into the list of violations.
fn judge(findings: &mut Findings, faults: &FaultLog) {
    let mut violations = Vec::new();
    for row in &findings.rows {
        if row.unexplained.count > 0 || row.unexplained.diff != 0 {
            violations.push(format!(
                "{}: ledger differs from cloro by {} credits over {} entries/calls without an explanation",
                row.slug, row.unexplained.diff, row.unexplained.count
            ));
        }
        if row.budget_held() == Some(false) {
            violations.push(format!(
                "{}: cloro charged {} credits, above the hard budget of {}",
                row.slug,
                row.upstream,
                row.budget.unwrap_or_default()
            ));
        }
    }
    for foreign in &findings.foreign {
        violations.push(format!("unmatched: {foreign}"));
    }
    if findings.pending > 0 {
        violations.push(format!(
            "{} entries still PENDING after the sweeper's deadline",
            findings.pending
        ));
    }
    if findings.live_account_leases > 0 || findings.live_team_leases > 0 {
        violations.push(format!(
            "slots still held after the lease TTL with no traffic: {} account, {} team",
            findings.live_account_leases, findings.live_team_leases
        ));
    }
    for (name, status) in &findings.readiness {
        if status != "200" {
            violations.push(format!("{name} /readyz answers {status}, not 200"));
        }
    }
    for fault in [
        "brownout",
        "postgres restart",
        "replica kill",
        "redis restart",
    ] {
        if !faults.completed.contains(&fault) {
            violations.push(format!("fault not exercised: {fault}"));
        }
    }
    if findings.tasks.submitted > 0 && findings.tasks.ran == 0 {
        violations.push("no async task ran at cloro".into());
    }
    if findings.upstream_abandoned == 0 && findings.gateway_timeouts == 0 {
        violations.push("fault not exercised: upstream timeout".into());
    }
    findings.violations = violations;
}
