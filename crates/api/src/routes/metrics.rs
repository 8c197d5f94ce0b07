//! `/metrics` in the Prometheus text format: admission (the account limit in force, upstream
//! concurrency refusals, slots and holds reclaimed from expired leases) and the ledger's
//! group-commit writers, the alerts raised, and what faults did (unknown upstream outcomes,
//! leases re-created, budgets re-seeded and corrected), and a latency histogram per stage
//! of a sync call (`stage_timings`); per team (by slug) and per endpoint, what `team_metrics`
//! counts on this replica and what `ledger_gauges` reads from the ledger. With
//! `server.metrics_token` set, a scrape must send it as a bearer token.

use crate::admission::Admitter;
use crate::alerts::Alerter;
use crate::directory::Directory;
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::ledger::Ledger;
use crate::ledger_gauges::LedgerGaugeReader;
use crate::proxy::OutcomeCounters;
use crate::secret::Secret;
use crate::stage_timings::StageTimings;
use crate::tasks::BackgroundTasks;
use crate::team_metrics::TeamMetrics;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, get, web};
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// `server.metrics_token`: what a scrape must send, when set.
pub struct MetricsToken(pub Secret);

impl MetricsToken {
    /// Whether `req` may read the metrics: no token is configured, or it sent the token.
    fn admits(&self, req: &HttpRequest) -> bool {
        let expected = self.0.expose();
        if expected.is_empty() {
            return true;
        }
        let sent = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or("");
        same_bytes(sent.as_bytes(), expected.as_bytes())
    }
}

/// Equality whose time does not depend on where the inputs first differ.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The services `/metrics` reads, beside the counters of each part.
#[derive(Clone)]
pub struct MetricsSources {
    pub team_metrics: Arc<TeamMetrics>,
    pub stages: Arc<StageTimings>,
    pub outcomes: Arc<OutcomeCounters>,
    pub token: Arc<MetricsToken>,
    pub ledger_gauges: Arc<LedgerGaugeReader>,
}

/// Counters and gauges of this replica.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 401, description = "`server.metrics_token` is set and was not sent", body = ErrorEnvelope),
    ),
    security((), ("metrics_token" = []))
)]
#[get("/metrics")]
pub async fn metrics(
    req: HttpRequest,
    sources: web::Data<MetricsSources>,
    admission: web::Data<Admitter>,
    ledger: web::Data<Ledger>,
    directory: web::Data<Directory>,
    alerts: web::Data<Alerter>,
    tasks: web::Data<BackgroundTasks>,
) -> Result<HttpResponse, ApiError> {
    let outcomes = &sources.outcomes;
    if !sources.token.admits(&req) {
        return Err(ApiError::new(
            ErrorCode::InvalidOrExpiredApiKey,
            "/metrics needs the metrics token: send Authorization: Bearer <server.metrics_token>",
        ));
    }
    let admission = admission.stats();
    let pending = ledger.entries().stats();
    let ledger_transactions = ledger.entries().transactions_committed();
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
            "cloro_gateway_rate_refusals_remembered_total",
            "counter",
            "Team rate refusals answered from memory while the team's bucket could not refill (no Redis call)",
            admission.rate_refusals_remembered,
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
            "cloro_gateway_ledger_batches_total",
            "counter",
            "Transactions the ledger writer committed (PENDING entries, settlements or both)",
            ledger_transactions,
        ),
        (
            "cloro_gateway_ledger_pending_batches_total",
            "counter",
            "Transactions that recorded PENDING entries (some also settled entries)",
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
            "Transactions that settled entries (some also recorded PENDING entries)",
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
    sources.stages.render(&mut body);
    sources
        .team_metrics
        .render(&mut body, &directory.team_names());
    sources
        .ledger_gauges
        .render(&mut body, &directory, &ledger)
        .await;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_metrics_token_is_required_only_when_set() {
        let open = MetricsToken(Secret::new(""));
        assert!(open.admits(&TestRequest::default().to_http_request()));
        let token = "m".repeat(32);
        let guarded = MetricsToken(Secret::new(token.clone()));
        assert!(!guarded.admits(&TestRequest::default().to_http_request()));
        let wrong = TestRequest::default()
            .insert_header((AUTHORIZATION, format!("Bearer {}", "x".repeat(32))))
            .to_http_request();
        assert!(!guarded.admits(&wrong));
        let right = TestRequest::default()
            .insert_header((AUTHORIZATION, format!("Bearer {token}")))
            .to_http_request();
        assert!(guarded.admits(&right));
    }
}
