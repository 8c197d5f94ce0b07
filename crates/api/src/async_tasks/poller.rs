//! The poller: every `async_tasks.poll_every_secs` each replica reads, from cloro, the tasks
//! still unsettled after `poll_after_secs`, and settles the ones that finished (a webhook that
//! never came) or vanished, well before cloro forgets them after 24 hours. Settling is
//! idempotent, so replicas polling the same task at once book it once.

use super::AsyncTasks;
use crate::error::ApiError;
use crate::tasks::BackgroundTasks;
use crate::telemetry::RequestId;
use crate::upstream::UpstreamReply;
use accounting::async_tasks::{self as store, AsyncTask};
use reqwest::{Method, StatusCode};
use std::sync::Weak;
use std::time::Duration;
use uuid::Uuid;

/// What cloro answered for a task, once applied to its entry.
pub(super) struct Reading {
    pub status: StatusCode,
    pub view: serde_json::Value,
    /// This reading settled the task (or booked it gone).
    pub settled: bool,
}

/// Tasks looked up per pass at most.
const PER_PASS: i64 = 200;

/// How often cloro's running async tasks are read while any task is unsettled.
const CONCURRENCY_PROBE_EVERY: Duration = Duration::from_secs(2);

/// Starts the loop; it ends when the service is dropped or shutdown begins.
pub fn spawn_poller(
    service: Weak<AsyncTasks>,
    every: Duration,
    after: Duration,
    tasks: &BackgroundTasks,
) {
    tasks.spawn_loop(tracing::info_span!("async_task_poller"), async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(service) = service.upgrade() else {
                break;
            };
            if let Err(err) = service.poll_once(after).await {
                tracing::warn!(error = %err, "polling unsettled async tasks failed");
            }
        }
    });
}

/// Keeps the account limit sync calls are admitted against clear of the slots cloro's
/// running async tasks hold (`GET /v1/async/status` → `processingTasks`), while any task
/// is unsettled; with none, nothing is read and no slot is reserved.
pub fn spawn_concurrency_probe(service: Weak<AsyncTasks>, tasks: &BackgroundTasks) {
    tasks.spawn_loop(tracing::info_span!("async_concurrency_probe"), async move {
        let mut tick = tokio::time::interval(CONCURRENCY_PROBE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(service) = service.upgrade() else {
                break;
            };
            service.probe_concurrency().await;
        }
    });
}

impl AsyncTasks {
    /// One pass; returns how many tasks it settled.
    pub async fn poll_once(&self, after: Duration) -> Result<usize, ApiError> {
        let before = chrono::Utc::now()
            - chrono::Duration::from_std(after).unwrap_or(chrono::Duration::seconds(60));
        let due = store::unsettled(self.ledger.pool(), before, PER_PASS).await?;
        let mut settled = 0;
        for task in due {
            // Without cloro's id only the webhook (matched by key) or the sweeper settles it.
            let Some(task_id) = task.task_id else {
                continue;
            };
            match self.refresh(&task, task_id).await {
                Ok(reading) if reading.settled => settled += 1,
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(entry = %task.entry_id, error = %err, "polling a task failed");
                }
            }
        }
        Ok(settled)
    }

    /// Reads how many async tasks cloro runs now, if any task of the gateway is unsettled.
    async fn probe_concurrency(&self) {
        let busy = store::unsettled(self.ledger.pool(), chrono::Utc::now(), 1)
            .await
            .map(|due| !due.is_empty())
            .unwrap_or(true);
        if !busy {
            self.admission.note_async_running(0);
            return;
        }
        let running = self
            .cloro_queue_status()
            .await
            .and_then(|status| status.get("processingTasks")?.as_u64());
        if let Some(running) = running {
            self.admission
                .note_async_running(u32::try_from(running).unwrap_or(u32::MAX));
        }
    }

    /// cloro's view of a task (`GET /v1/async/task/{id}`), whatever its status.
    pub(super) async fn read_task(&self, task_id: Uuid) -> Result<UpstreamReply, ApiError> {
        let path = format!("/v1/async/task/{task_id}");
        self.upstream
            .send(Method::GET, &path, None, RequestId::mint().as_str())
            .await
            .map_err(|failure| {
                ApiError::new(
                    crate::error::ErrorCode::UpstreamUnreachable,
                    "cloro could not be read",
                )
                .with_cause(anyhow::anyhow!(failure.to_string()))
            })
    }

    /// cloro's `GET /v1/async/status` (the whole account's queue), if it answers.
    pub(super) async fn cloro_queue_status(&self) -> Option<serde_json::Value> {
        let reply = self
            .upstream
            .send(
                Method::GET,
                "/v1/async/status",
                None,
                RequestId::mint().as_str(),
            )
            .await
            .ok()
            .filter(|reply| reply.status.is_success())?;
        serde_json::from_slice(&reply.body).ok()
    }

    /// Reads the task from cloro and applies what it says (404: the task is gone).
    pub(super) async fn refresh(
        &self,
        task: &AsyncTask,
        task_id: Uuid,
    ) -> Result<Reading, ApiError> {
        let reply = self.read_task(task_id).await?;
        let view: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        let settled = if reply.status == StatusCode::NOT_FOUND {
            self.vanished(task).await?
        } else if reply.status.is_success() {
            self.apply(task, &view).await?
        } else {
            false
        };
        Ok(Reading {
            status: reply.status,
            view,
            settled,
        })
    }
}
