//! After the run: the private database, the private Redis and the simulator's request log
//! are read directly and compared, entry by entry, joined on the request id (the gateway
//! keeps the caller's X-Request-ID as the entry's `client_request_id` and sends the same id
//! upstream, retries included).

use super::faults::{FaultLog, Kill};
use super::load::{BudgetKind, Outcome, Sent, Team};
use super::probes;
use cloro_sim::{RecordKind, RequestRecord};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// What the simulator did for one request id (all its attempts).
#[derive(Debug, Default, Clone, Copy)]
struct Upstream {
    charged: i64,
    /// The gateway hung up before the answer: it cannot know the charge.
    abandoned: bool,
}

/// One ledger row with its late charge, if any.
#[derive(Debug, sqlx::FromRow)]
struct Row {
    slug: String,
    client_request_id: Option<String>,
    status: String,
    charged: Option<i64>,
    estimate: i64,
    flag_reason: Option<String>,
    late_charge: Option<i64>,
}

impl Row {
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

#[derive(Debug, Default)]
pub struct Findings {
    pub rows: Vec<TeamRow>,
    pub by_status: BTreeMap<(String, String), u64>,
    pub pending: u64,
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
    pub faults: &'a FaultLog,
    pub database_url: &'a str,
    pub redis_url: String,
    pub replicas: Vec<(String, String)>,
    pub windows: Windows,
    pub strict: bool,
}

pub async fn check(evidence: Evidence<'_>, http: &reqwest::Client) -> anyhow::Result<Findings> {
    let mut findings = Findings::default();
    let by_id: HashMap<&str, &Sent> = evidence
        .sent
        .iter()
        .map(|s| (s.request_id.as_str(), s))
        .collect();
    let killed_in_flight =
        |sent: &Sent| in_flight_at_kill(sent, &evidence.faults.kills, evidence.windows.in_flight);

    // What cloro charged, per request id.
    let mut upstream: HashMap<String, Upstream> = HashMap::new();
    for record in &evidence.records {
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

    let db = sqlx::PgPool::connect(evidence.database_url).await?;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT t.slug, l.client_request_id, l.status, l.charged, l.estimate, l.flag_reason, \
                lc.charged AS late_charge \
         FROM ledger_entries l \
         JOIN teams t ON t.id = l.team_id \
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
        if let Some(up) = upstream.get(&sent.request_id) {
            team_rows[sent.team].upstream += up.charged;
        }
    }

    let mut booked: HashSet<&str> = HashSet::new();
    for row in &rows {
        *findings
            .by_status
            .entry((
                row.status.clone(),
                row.flag_reason.clone().unwrap_or_else(|| "-".into()),
            ))
            .or_default() += 1;
        if row.status == "PENDING" {
            findings.pending += 1;
        }
        if row.late_charge.is_some() {
            findings.late_charges += 1;
        }
        let Some(team) = team_index.get(row.slug.as_str()).copied() else {
            findings
                .foreign
                .push(format!("an entry of unknown team {}", row.slug));
            continue;
        };
        let sent = row
            .client_request_id
            .as_deref()
            .and_then(|id| by_id.get(id).copied());
        let Some(sent) = sent else {
            findings.foreign.push(format!(
                "an entry of {} with request id {:?} the bench never sent",
                row.slug, row.client_request_id
            ));
            continue;
        };
        // The first entry of a request id takes cloro's charge; a second entry for the same
        // request (a double booking) is compared with nothing.
        let first = booked.insert(sent.request_id.as_str());
        let up = upstream
            .get(&sent.request_id)
            .copied()
            .filter(|_| first)
            .unwrap_or_default();
        let effective = row.effective();
        let diff = effective - up.charged;
        let team_row = &mut team_rows[team];
        team_row.entries += 1;
        team_row.ledger += effective;
        let killed = row.status == "EXPIRED"
            && row.has_flag("expired")
            && row.late_charge.is_none()
            && killed_in_flight(sent);
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
                    "{} {} {}{}: ledger {effective} (estimate {}, late {:?}) vs cloro {}{}; client saw {}",
                    row.slug,
                    sent.request_id,
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
    for sent in evidence.sent {
        let Some(up) = upstream.get(&sent.request_id) else {
            continue;
        };
        if up.charged != 0 && !booked.contains(sent.request_id.as_str()) {
            team_rows[sent.team].unexplained.add(-up.charged);
            if findings.examples.len() < 12 {
                findings.examples.push(format!(
                    "{} {}: cloro charged {} but the ledger has no entry; client saw {}",
                    evidence.teams[sent.team].slug,
                    sent.request_id,
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
    if findings.upstream_abandoned == 0 && findings.gateway_timeouts == 0 {
        violations.push("fault not exercised: upstream timeout".into());
    }
    findings.violations = violations;
}
