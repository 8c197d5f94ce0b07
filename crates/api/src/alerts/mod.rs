//! Raising alerts: a team whose usage reaches its quota's alert threshold in a budget period,
//! and the account balance cloro reports falling below `alerts.balance_floor`. Checks run on
//! the request path but never block it: raising happens in a background task, once per
//! dedupe key across all replicas (the `alerts` table decides), then the alert is logged,
//! counted for `/metrics` and delivered to the webhook.

mod webhook;

use crate::auth::TeamRef;
use crate::config::AlertSettings;
use crate::period::Period;
use crate::tasks::BackgroundTasks;
use accounting::alerts::{Alert, AlertKind, NewAlert};
use serde_json::json;
use sqlx::PgPool;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tracing::Instrument;
use webhook::Webhook;

/// What `/metrics` reports about alerts raised by this replica.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlertStats {
    pub team_budget_threshold: u64,
    pub account_balance_floor: u64,
    pub webhook_delivered: u64,
    pub webhook_failed: u64,
}

/// A team's budget position right after an admission.
pub struct BudgetUsage<'a> {
    pub team: &'a TeamRef,
    pub period: &'a Period,
    pub budget: i64,
    /// Charged plus held, this request included.
    pub used: i64,
    pub threshold_pct: i16,
}

pub struct Alerter {
    db: PgPool,
    balance_floor: i64,
    webhook: Option<Webhook>,
    /// Dedupe keys this replica has raised or found raised: no second database round trip.
    known: Mutex<HashSet<String>>,
    team_budget_threshold: AtomicU64,
    account_balance_floor: AtomicU64,
    /// Deliveries are tracked so shutdown waits for them.
    tasks: BackgroundTasks,
}

impl Alerter {
    pub fn new(
        db: PgPool,
        settings: &AlertSettings,
        tasks: BackgroundTasks,
    ) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            tasks,
            db,
            balance_floor: settings.balance_floor,
            webhook: Webhook::new(settings)?,
            known: Mutex::new(HashSet::new()),
            team_budget_threshold: AtomicU64::new(0),
            account_balance_floor: AtomicU64::new(0),
        }))
    }

    /// Raises the team's threshold alert for the period if its usage has reached it.
    pub fn check_team(self: &Arc<Self>, position: BudgetUsage<'_>) {
        let BudgetUsage {
            team,
            period,
            budget,
            used,
            threshold_pct,
        } = position;
        if budget <= 0 || used.saturating_mul(100) < budget.saturating_mul(i64::from(threshold_pct))
        {
            return;
        }
        self.raise(NewAlert {
            kind: AlertKind::TeamBudgetThreshold,
            team_id: Some(team.id),
            dedupe_key: format!("team_budget_threshold:{}:{}", team.id.as_uuid(), period.id),
            details: json!({
                "team": team.slug.as_str(),
                "period": period.id,
                "periodStart": period.start,
                "periodEnd": period.end,
                "budget": budget,
                "used": used,
                "thresholdPct": threshold_pct,
            }),
        });
    }

    /// Raises the balance alert (once per UTC day) if cloro reported less than the floor.
    pub fn check_balance(self: &Arc<Self>, credits_remaining: i64) {
        if self.balance_floor == 0 || credits_remaining >= self.balance_floor {
            return;
        }
        let today = chrono::Utc::now().date_naive();
        self.raise(NewAlert {
            kind: AlertKind::AccountBalanceFloor,
            team_id: None,
            dedupe_key: format!("account_balance_floor:{today}"),
            details: json!({
                "creditsRemaining": credits_remaining,
                "floor": self.balance_floor,
            }),
        });
    }

    pub fn stats(&self) -> AlertStats {
        let (webhook_delivered, webhook_failed) = self
            .webhook
            .as_ref()
            .map(Webhook::counts)
            .unwrap_or_default();
        AlertStats {
            team_budget_threshold: self.team_budget_threshold.load(Ordering::Relaxed),
            account_balance_floor: self.account_balance_floor.load(Ordering::Relaxed),
            webhook_delivered,
            webhook_failed,
        }
    }

    fn raise(self: &Arc<Self>, alert: NewAlert) {
        {
            let mut known = self
                .known
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if !known.insert(alert.dedupe_key.clone()) {
                return;
            }
        }
        let this = self.clone();
        self.tasks.spawn(async move {
            match accounting::alerts::raise(&this.db, &alert).await {
                Ok(Some(raised)) => this.announce(raised).await,
                Ok(None) => {}
                Err(err) => {
                    tracing::error!(error = %err, key = %alert.dedupe_key, "could not record an alert; will try again");
                    this.known
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .remove(&alert.dedupe_key);
                }
            }
        }.in_current_span());
    }

    async fn announce(&self, alert: Alert) {
        let counter = match alert.kind {
            AlertKind::TeamBudgetThreshold => &self.team_budget_threshold,
            AlertKind::AccountBalanceFloor => &self.account_balance_floor,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            alert = true,
            kind = alert.kind.as_str(),
            id = alert.id,
            details = %alert.details.0,
            "alert raised"
        );
        if let Some(webhook) = &self.webhook {
            webhook.deliver(&alert).await;
        }
    }
}
