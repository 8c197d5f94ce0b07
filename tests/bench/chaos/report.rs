//! The printed result: what was sent, what went wrong on purpose and when, what the ledger
//! holds, the per-team money table and the verdict.

use super::checks::{Findings, TeamRow};
use super::faults::FaultLog;
use super::load::{Kind, Outcome, Sent};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// The run's parameters, as printed.
pub struct RunInfo {
    pub requests: u64,
    pub concurrency: usize,
    pub seed: u64,
    pub load_time: Duration,
    pub total_time: Duration,
    pub strict: bool,
}

/// Left-aligned first column, right-aligned numbers.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == 0 {
                let _ = write!(text, "  {cell:<w$}", w = widths[i]);
            } else {
                let _ = write!(text, "  {cell:>w$}", w = widths[i]);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

fn tally(count: u64, diff: i64) -> String {
    if count == 0 && diff == 0 {
        "-".into()
    } else {
        format!("{count} / {diff:+}")
    }
}

fn team_cells(row: &TeamRow) -> Vec<String> {
    vec![
        row.slug.clone(),
        row.kind.label().into(),
        row.budget
            .map(|b| b.to_string())
            .unwrap_or_else(|| "-".into()),
        row.sent.to_string(),
        row.entries.to_string(),
        row.ledger.to_string(),
        row.upstream.to_string(),
        format!("{:+}", row.diff()),
        tally(row.killed.count, row.killed.diff),
        tally(row.unknown.count, row.unknown.diff),
        tally(row.unexplained.count, row.unexplained.diff),
        match row.budget_held() {
            Some(true) => "held".into(),
            Some(false) => "EXCEEDED".into(),
            None => "-".into(),
        },
    ]
}

pub fn render(info: &RunInfo, sent: &[Sent], faults: &FaultLog, findings: &Findings) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n== chaos-bench: {} requests sent ({} asked), concurrency {}, seed {}",
        sent.len(),
        info.requests,
        info.concurrency,
        info.seed
    );
    let _ = writeln!(
        out,
        "   load {:.1} s ({:.0} req/s), whole run {:.1} s",
        info.load_time.as_secs_f64(),
        sent.len() as f64 / info.load_time.as_secs_f64().max(0.001),
        info.total_time.as_secs_f64()
    );

    let _ = writeln!(out, "\nFaults (seconds since the load started):");
    for (at, what) in &faults.events {
        let _ = writeln!(out, "  {:>7.1}  {what}", at.as_secs_f64());
    }
    let _ = writeln!(
        out,
        "  upstream timeouts: {} requests answered 504 by the gateway; {} calls logged abandoned \
         by cloro (finished and charged after the gateway hung up), outside the kill",
        findings.gateway_timeouts, findings.upstream_abandoned
    );

    let mut histogram: BTreeMap<Outcome, u64> = BTreeMap::new();
    for s in sent {
        *histogram.entry(s.outcome).or_default() += 1;
    }
    let rows: Vec<Vec<String>> = histogram
        .iter()
        .map(|(outcome, n)| vec![outcome.label(), n.to_string()])
        .collect();
    let _ = writeln!(
        out,
        "\nStatus histogram (as the clients saw it; {} sends carried an Idempotency-Key, each key sent twice):",
        sent.iter().filter(|s| s.idempotent).count()
    );
    out.push_str(&table(&["STATUS", "REQUESTS"], &rows));

    let tasks = &findings.tasks;
    let _ = writeln!(
        out,
        "\nAsync: {} requests submitted {} tasks ({} single, {} batches); cloro ran {} of them \
         ({} FAILED, charged 0) for {} credits; {} completion webhooks attempted, {} acknowledged; \
         {} voided unsent (their record failed)",
        sent.iter().filter(|s| s.kind != Kind::Sync).count(),
        tasks.submitted,
        sent.iter().filter(|s| s.kind == Kind::Task).count(),
        sent.iter().filter(|s| s.kind == Kind::Batch).count(),
        tasks.ran,
        tasks.failed,
        tasks.charged,
        tasks.webhook_attempts,
        tasks.webhooks_delivered,
        tasks.unrecorded
    );

    let rows: Vec<Vec<String>> = findings
        .by_status
        .iter()
        .map(|((mode, status, flag), n)| {
            vec![mode.clone(), status.clone(), flag.clone(), n.to_string()]
        })
        .collect();
    let _ = writeln!(
        out,
        "\nLedger entries by mode, status and flag_reason ({} late charges recorded):",
        findings.late_charges
    );
    out.push_str(&table(&["MODE", "STATUS", "FLAG_REASON", "ENTRIES"], &rows));

    let mut rows: Vec<Vec<String>> = findings.rows.iter().map(team_cells).collect();
    let sum = |f: &dyn Fn(&TeamRow) -> i64| findings.rows.iter().map(f).sum::<i64>();
    let count = |f: &dyn Fn(&TeamRow) -> u64| findings.rows.iter().map(f).sum::<u64>();
    rows.push(vec![
        "TOTAL".into(),
        String::new(),
        String::new(),
        count(&|r| r.sent).to_string(),
        count(&|r| r.entries).to_string(),
        sum(&|r| r.ledger).to_string(),
        sum(&|r| r.upstream).to_string(),
        format!("{:+}", sum(&|r| r.diff())),
        tally(count(&|r| r.killed.count), sum(&|r| r.killed.diff)),
        tally(count(&|r| r.unknown.count), sum(&|r| r.unknown.diff)),
        tally(
            count(&|r| r.unexplained.count),
            sum(&|r| r.unexplained.diff),
        ),
        String::new(),
    ]);
    let _ = writeln!(
        out,
        "\nPer team: ledger (effective charge) vs cloro (simulator log, joined by request id or task key), in credits.\n\
         KILLED: entries EXPIRED because their replica was SIGKILLed, or tasks it recorded and never sent (explained, n / diff).\n\
         UNKNOWN: flagged outcome_unknown, booked at the estimate, abandoned upstream (explained{}).",
        if info.strict {
            "; --strict: counted as violations"
        } else {
            ""
        }
    );
    out.push_str(&table(
        &[
            "TEAM",
            "KIND",
            "BUDGET",
            "SENT",
            "ENTRIES",
            "LEDGER",
            "CLORO",
            "DIFF",
            "KILLED",
            "UNKNOWN",
            "UNEXPLAINED",
            "HARD BUDGET",
        ],
        &rows,
    ));

    let pass = |ok: bool| if ok { "PASS" } else { "FAIL" };
    let exact = findings
        .rows
        .iter()
        .all(|r| r.unexplained.count == 0 && r.unexplained.diff == 0)
        && findings.foreign.is_empty();
    let budgets = findings.rows.iter().all(|r| r.budget_held() != Some(false));
    let leases = findings.live_account_leases == 0 && findings.live_team_leases == 0;
    let ready = findings.readiness.iter().all(|(_, s)| s == "200");
    let _ = writeln!(out, "\nChecks:");
    let _ = writeln!(
        out,
        "  1. ledger = cloro per team, to the credit (explained cases aside)  {}",
        pass(exact)
    );
    let _ = writeln!(
        out,
        "  2. entries PENDING after the sweeper and the pollers: {}{}  {}",
        findings.pending,
        if findings.pending_unsent_killed > 0 {
            format!(
                " (and {} tasks recorded by the killed replica, never sent: PENDING until \
                 async_tasks.hold_hours, explained)",
                findings.pending_unsent_killed
            )
        } else {
            String::new()
        },
        pass(findings.pending == 0)
    );
    let _ = writeln!(
        out,
        "  3. hard budgets: cloro's charges <= budget  {}",
        pass(budgets)
    );
    let _ = writeln!(
        out,
        "  4. slots held after the lease TTL: {} account, {} team  {}",
        findings.live_account_leases,
        findings.live_team_leases,
        pass(leases)
    );
    let readiness: Vec<String> = findings
        .readiness
        .iter()
        .map(|(name, status)| format!("{name} {status}"))
        .collect();
    let _ = writeln!(
        out,
        "  5. /readyz: {}  {}",
        readiness.join(", "),
        pass(ready)
    );
    if !findings.examples.is_empty() {
        let _ = writeln!(
            out,
            "\nUnexplained differences (first {}):",
            findings.examples.len()
        );
        for example in &findings.examples {
            let _ = writeln!(out, "  {example}");
        }
    }
    if findings.violations.is_empty() {
        let _ = writeln!(out, "\nRESULT: PASS");
    } else {
        let _ = writeln!(out, "\nViolations:");
        for violation in &findings.violations {
            let _ = writeln!(out, "  - {violation}");
        }
        let _ = writeln!(
            out,
            "\nRESULT: FAIL ({} violations)",
            findings.violations.len()
        );
    }
    out
}
