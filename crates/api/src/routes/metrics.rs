//! `/metrics` in the Prometheus text format: admission (the account limit in force, upstream
//! concurrency refusals, slots and holds reclaimed from expired leases) and the ledger's
//! group-commit writers, the alerts raised, and what faults did (unknown upstream outcomes,
//! leases re-created, budgets re-seeded and corrected), and a latency histogram per stage
//! of a sync call (`stage_timings`). No team names or ids appear, only totals.

use crate::admission::Admitter;
use crate::alerts::Alerter;
use crate::ledger::Ledger;
use crate::proxy::OutcomeCounters;
use crate::stage_timings::StageTimings;
use crate::tasks::BackgroundTasks;
use actix_web::{HttpResponse, get, web};
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// Counters and gauges of this replica.
#[utoipa::path(
    tag = "health",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
#[get("/metrics")]
pub async fn metrics(
    admission: web::Data<Admitter>,
    ledger: web::Data<Ledger>,
    alerts: web::Data<Alerter>,
    outcomes: web::Data<OutcomeCounters>,
    tasks: web::Data<BackgroundTasks>,
    stages: web::Data<StageTimings>,
) -> HttpResponse {
    let admission = admission.stats();
    let pending = ledger.entries().stats();
    let settled = ledger.settlements().stats();
    let alerts = alerts.stats();
    let samples: &[(&str, &str, &str, u64)] = &[
        (
            "cloro_gateway_account_concurrency_limit",
            "gauge",
            "Account concurrency limit admissions use now (lowered after upstream concurrency 429s)",
            u64::from(admission.account_limit),
        ),
        (
            "cloro_gateway_upstream_concurrency_429_total",
            "counter",
            "Calls cloro refused for concurrency after the gateway admitted them",
            admission.upstream_concurrency_429s,
        ),
        (
            "cloro_gateway_soft_budget_overruns_total",
            "counter",
            "Requests admitted past a team's soft credit budget",
            admission.soft_budget_overruns,
        ),
        (
            "cloro_gateway_reclaimed_team_slots_total",
            "counter",
            "Team concurrency slots reclaimed from expired leases",
            admission.reclaimed.team_slots,
        ),
        (
            "cloro_gateway_reclaimed_account_slots_total",
            "counter",
            "Account concurrency slots reclaimed from expired leases",
            admission.reclaimed.account_slots,
        ),
        (
            "cloro_gateway_reclaimed_hold_credits_total",
            "counter",
            "Credits of holds returned with expired leases",
            admission.reclaimed.hold_credits,
        ),
        (
            "cloro_gateway_ledger_pending_batches_total",
            "counter",
            "Transactions that recorded PENDING entries",
            pending.batches_committed,
        ),
        (
            "cloro_gateway_ledger_pending_entries_total",
            "counter",
            "PENDING entries recorded",
            pending.entries_inserted,
        ),
        (
            "cloro_gateway_ledger_settlement_batches_total",
            "counter",
            "Transactions that settled entries",
            settled.batches_committed,
        ),
        (
            "cloro_gateway_ledger_settled_entries_total",
            "counter",
            "Entries settled",
            settled.entries_settled,
        ),
        (
            "cloro_gateway_alerts_team_budget_threshold_total",
            "counter",
            "Team alert-threshold crossings this replica raised",
            alerts.team_budget_threshold,
        ),
        (
            "cloro_gateway_alerts_account_balance_floor_total",
            "counter",
            "Account balance-floor alerts this replica raised",
            alerts.account_balance_floor,
        ),
        (
            "cloro_gateway_alert_webhook_delivered_total",
            "counter",
            "Alerts delivered to the webhook",
            alerts.webhook_delivered,
        ),
        (
            "cloro_gateway_alert_webhook_failed_total",
            "counter",
            "Alerts whose webhook delivery failed after every attempt",
            alerts.webhook_failed,
        ),
        (
            "cloro_gateway_upstream_outcome_unknown_total",
            "counter",
            "Calls booked without knowing whether cloro ran them (flag outcome_unknown)",
            outcomes.unknown.load(Ordering::Relaxed),
        ),
        (
            "cloro_gateway_ledger_unrecorded_total",
            "counter",
            "Requests refused because their PENDING entry could not be recorded in time (voided, never sent)",
            outcomes.not_recorded.load(Ordering::Relaxed),
        ),
        (
            "cloro_gateway_leases_recreated_total",
            "counter",
            "Running requests' leases a renewal found gone from Redis and re-created",
            admission.leases_recreated,
        ),
        (
            "cloro_gateway_holds_restored_total",
            "counter",
            "Credit holds a renewal re-created after Redis lost them",
            admission.holds_restored,
        ),
        (
            "cloro_gateway_limiter_settle_retries_total",
            "counter",
            "Limiter settlements that failed and were retried in the background",
            admission.settle_retries,
        ),
        (
            "cloro_gateway_budget_seeds_total",
            "counter",
            "Team budgets seeded in Redis from the ledger",
            admission.budget.seeds,
        ),
        (
            "cloro_gateway_budget_corrections_total",
            "counter",
            "Team budgets in Redis corrected from the ledger by the reconciler",
            admission.budget.corrections,
        ),
        (
            "cloro_gateway_budget_corrected_credits_total",
            "counter",
            "Credits the reconciler moved (absolute) when correcting budgets",
            admission.budget.corrected_credits,
        ),
        (
            "cloro_gateway_redis_state_losses_total",
            "counter",
            "Times this replica saw Redis lose its state",
            admission.budget.state_losses,
        ),
        (
            "cloro_gateway_background_tasks",
            "gauge",
            "Detached tasks running (calls whose client hung up, retries, deliveries)",
            tasks.running() as u64,
        ),
    ];
    let mut body = String::new();
    for (name, kind, help, value) in samples {
        let _ = writeln!(
            body,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    stages.render(&mut body);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}
