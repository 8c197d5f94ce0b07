//! Settling a task from what cloro says of it: COMPLETED or FAILED with `creditsCharged`
//! (0 when FAILED) posts its entry and replaces its hold by the charge, once, whoever learns
//! it first (the webhook, the team reading its task, the poller); a task cloro no longer
//! knows before it was settled is booked at its estimate, flagged `task_gone`; one deleted
//! from the queue before it ran is voided.

use super::AsyncTasks;
use super::reply::map_key;
use crate::error::ApiError;
use accounting::Credits;
use accounting::async_tasks::{self as store, AsyncTask, TaskState};
use accounting::ledger::Settled;
use limiter::Lease;
use serde_json::Value;

/// Where a task stands, as read from cloro's task-status object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Waiting(&'static str),
    Done { charged: i64, failed: bool },
    Unreadable,
}

/// Reads `{task{status}, credits{creditsCharged}}`.
pub fn progress(view: &Value) -> Progress {
    let status = view.pointer("/task/status").and_then(Value::as_str);
    let charged = view
        .pointer("/credits/creditsCharged")
        .and_then(Value::as_i64);
    match (status, charged) {
        (Some("QUEUED"), _) => Progress::Waiting("QUEUED"),
        (Some("PROCESSING"), _) => Progress::Waiting("PROCESSING"),
        (Some("COMPLETED"), Some(charged)) if charged >= 0 => Progress::Done {
            charged,
            failed: false,
        },
        (Some("FAILED"), charged) => Progress::Done {
            charged: charged.filter(|c| *c >= 0).unwrap_or(0),
            failed: true,
        },
        _ => Progress::Unreadable,
    }
}

impl AsyncTasks {
    /// Applies cloro's view of `task`; true when this call settled it. A settled task has
    /// nothing left to apply (its relay was stored before its settlement).
    pub(super) async fn apply(&self, task: &AsyncTask, view: &Value) -> Result<bool, ApiError> {
        if task.settled_at.is_some() {
            return Ok(false);
        }
        match progress(view) {
            Progress::Waiting(state) => {
                store::observe(self.ledger.pool(), task.entry_id, state).await?;
                Ok(false)
            }
            Progress::Unreadable => {
                tracing::warn!(entry = %task.entry_id, "cloro's task status is unreadable; left for the poller");
                Ok(false)
            }
            Progress::Done { charged, failed } => {
                self.relay_completion(task, view).await?;
                let credits = Credits::new(charged).map_err(ApiError::internal)?;
                let terminal = if failed {
                    TaskState::Failed
                } else {
                    TaskState::Completed
                };
                let settled =
                    store::settle(self.ledger.pool(), task.entry_id, credits, 200, terminal)
                        .await?;
                if settled == Settled::Applied {
                    self.settle_hold(task, charged).await;
                    tracing::info!(entry = %task.entry_id, charged, failed, "async task settled");
                    return Ok(true);
                }
                Ok(false)
            }
        }
    }

    /// Stores the relay of the completion to the team's webhook, if it gave one (cloro's
    /// body with the team's own key), before the task is settled: a relay that cannot be
    /// stored leaves the task unsettled for the next reader. Idempotent per task.
    async fn relay_completion(&self, task: &AsyncTask, view: &Value) -> Result<(), ApiError> {
        let Some(url) = &task.webhook_url else {
            return Ok(());
        };
        let mut body = view.clone();
        map_key(&mut body, &task.upstream_key, task.team_key.as_deref());
        self.relay
            .relay(task.entry_id, task.team_id, task.task_id, url, body)
            .await
            .map(|_| ())
    }

    /// cloro answered 404 for a task not yet settled: booked at its estimate, flagged;
    /// true when this call booked it.
    pub(super) async fn vanished(&self, task: &AsyncTask) -> Result<bool, ApiError> {
        if store::gone(self.ledger.pool(), task.entry_id).await? == Settled::Applied {
            tracing::warn!(entry = %task.entry_id, "an unsettled task is gone at cloro; booked at its estimate, flagged task_gone");
            self.settle_hold(task, task.estimate.get()).await;
            return Ok(true);
        }
        Ok(false)
    }

    /// A queued task deleted at cloro before it ran: nothing was charged.
    pub(super) async fn cleared(&self, task: &AsyncTask) -> Result<bool, ApiError> {
        let released = store::released(
            self.ledger.pool(),
            task.entry_id,
            "deleted from cloro's queue before it ran",
        )
        .await?;
        if released == Settled::Applied {
            self.settle_hold(task, 0).await;
            return Ok(true);
        }
        Ok(false)
    }

    /// Replaces the task's budget hold by what it cost.
    async fn settle_hold(&self, task: &AsyncTask, charged: i64) {
        let endpoint = crate::team_metrics::endpoint_label(&task.endpoint);
        self.admission
            .metrics()
            .charged(task.team_id, endpoint, charged);
        let Some(lease) = task
            .lease
            .as_ref()
            .and_then(|value| serde_json::from_value::<Lease>(value.clone()).ok())
        else {
            // Admitted while the limiter was down (fail-open): there is no hold; the budget
            // reconciler brings the charge in from the ledger.
            return;
        };
        self.admission.settle(&lease, charged).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_terminal_status_with_a_charge_settles() {
        let view = |status: &str, charged: Value| json!({"task": {"status": status}, "credits": {"creditsCharged": charged}});
        assert_eq!(
            progress(&view("QUEUED", Value::Null)),
            Progress::Waiting("QUEUED")
        );
        assert_eq!(
            progress(&view("COMPLETED", json!(5))),
            Progress::Done {
                charged: 5,
                failed: false
            }
        );
        assert_eq!(
            progress(&view("FAILED", Value::Null)),
            Progress::Done {
                charged: 0,
                failed: true
            }
        );
        assert_eq!(
            progress(&view("COMPLETED", Value::Null)),
            Progress::Unreadable
        );
        assert_eq!(progress(&json!({"nothing": 1})), Progress::Unreadable);
    }
}
