//! Webhook delivery: POST the task-status object (without its `webhook` block) on COMPLETED/FAILED, up to 5 attempts ~2, 4, 8, 16 minutes apart (time-scaled), signed when a secret is set.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::signing::signature;
use super::view::webhook_body;
use crate::state::Sim;

const ATTEMPTS: u32 = 5;

/// Gaps after failed attempts 1-4, before time scaling.
const GAPS: [Duration; 4] = [
    Duration::from_secs(2 * 60),
    Duration::from_secs(4 * 60),
    Duration::from_secs(8 * 60),
    Duration::from_secs(16 * 60),
];

/// Runs until aborted: one delivery job per finished task with a webhook.
pub async fn run(sim: Arc<Sim>, mut queue: mpsc::UnboundedReceiver<Uuid>) {
    let mut deliveries = JoinSet::new();
    loop {
        tokio::select! {
            next = queue.recv() => match next {
                Some(task) => { deliveries.spawn(deliver(Arc::clone(&sim), task)); }
                None => break,
            },
            Some(_) = deliveries.join_next(), if !deliveries.is_empty() => {}
        }
    }
}

async fn deliver(sim: Arc<Sim>, task: Uuid) {
    for attempt in 1..=ATTEMPTS {
        let target = {
            let core = sim.lock();
            core.tasks.get(&task).and_then(|t| {
                let url = t.webhook.as_ref()?.url.clone();
                serde_json::to_vec(&webhook_body(t))
                    .ok()
                    .map(|body| (url, body))
            })
        };
        let Some((url, body)) = target else {
            return; // the task is gone (retention passed)
        };
        let acknowledged = post(&sim, &url, body, task, attempt).await;
        {
            let mut core = sim.lock();
            core.counters.webhook_attempts += 1;
            if acknowledged {
                core.counters.webhooks_delivered += 1;
                core.tasks.mark_delivered(&task);
            }
        }
        if acknowledged {
            return;
        }
        if let Some(gap) = GAPS.get(attempt as usize - 1) {
            tokio::time::sleep(sim.scaled(*gap)).await;
        }
    }
    tracing::warn!(%task, "webhook not acknowledged after {ATTEMPTS} attempts");
}

/// One attempt; any 2xx acknowledges.
async fn post(sim: &Sim, url: &str, body: Vec<u8>, task: Uuid, attempt: u32) -> bool {
    let mut request = sim
        .http
        .post(url)
        .header("content-type", "application/json");
    if let Some(secret) = &sim.webhook_secret {
        let timestamp = Utc::now().timestamp();
        request = request
            .header("x-cloro-timestamp", timestamp.to_string())
            .header("x-cloro-signature", signature(secret, timestamp, &body))
            .header("x-cloro-webhook-id", format!("{task}-{attempt}"));
    }
    match request.body(body).send().await {
        Ok(response) => response.status().is_success(),
        Err(error) => {
            tracing::debug!(%task, attempt, %error, "webhook attempt failed");
            false
        }
    }
}
