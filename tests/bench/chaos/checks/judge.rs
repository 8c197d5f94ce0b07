//! The verdict: which findings are violations, and which faults the run failed to exercise.

use super::findings::Findings;
use crate::chaos::faults::FaultLog;

/// Turns the findings into the list of violations.
pub(super) fn judge(findings: &mut Findings, faults: &FaultLog) {
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
