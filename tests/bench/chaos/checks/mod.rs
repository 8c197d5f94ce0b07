//! After the run: the private database, the private Redis and the simulator's request log
//! are read directly and compared, entry by entry. A sync entry is joined on the request id
//! (the gateway keeps the caller's X-Request-ID as the entry's `client_request_id` and sends
//! the same id upstream, retries included); an async entry on its task's key (the team's
//! `idempotencyKey`, which the gateway sends upstream as `<team id>.<key>` and cloro keeps
//! with the task whose charge it logs when the task finishes).

mod evidence;
mod findings;
mod judge;
mod ledger_rows;
mod upstream;

pub use evidence::{Evidence, Windows};
pub use findings::{Findings, TeamRow};

use super::faults::Kill;
use super::load::{Outcome, Sent};
use super::probes;
use cloro_sim::RecordKind;
use findings::Tally;
use judge::judge;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use upstream::{Upstream, charge_ids, task_id_of, task_keys};

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

    let rows = ledger_rows::read(evidence.database_url).await?;

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
        // A task whose record failed (Postgres down) and was voided before it was sent: it has
        // no task row, cost nothing, and the team was answered 503.
        if row.mode == "async" && row.status == "VOIDED" && row.task_state.is_none() {
            findings.tasks.unrecorded += 1;
            continue;
        }
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
