//! Cloro's side: what the simulator charged, per charge id (a sync call's X-Request-ID or
//! `task:<key>` for a task), and the key cloro holds for each finished task.

use crate::chaos::gateway::COMPANY_KEY;
use crate::chaos::load::{Kind, Sent};
use anyhow::Context;
use futures::StreamExt;
use std::time::Duration;

/// What the simulator did for one charge id: a sync request id (all its attempts), or
/// `task:<key>` for a task.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Upstream {
    pub(super) charged: i64,
    /// The gateway hung up before the answer: it cannot know the charge.
    pub(super) abandoned: bool,
}

/// The charge id of a task submitted with the team's `key`.
pub(super) fn task_id_of(key: &str) -> String {
    format!("task:{key}")
}

/// The charge ids of a request: its X-Request-ID for a sync call, one per task otherwise.
pub(super) fn charge_ids(sent: &Sent) -> Vec<String> {
    match sent.kind {
        Kind::Sync => vec![sent.request_id.clone()],
        Kind::Task | Kind::Batch => sent.task_keys.iter().map(|k| task_id_of(k)).collect(),
    }
}

/// The key cloro holds for each finished task (`GET /v1/async/task/{id}` on the simulator,
/// a few at once, again after a 429): `(task id, key, charged)`.
pub(super) async fn task_keys(
    http: &reqwest::Client,
    sim_url: &str,
    finished: Vec<(String, i64)>,
) -> anyhow::Result<Vec<(String, Option<String>, i64)>> {
    let reads = futures::stream::iter(finished)
        .map(|(task_id, charged)| async move {
            let url = format!("{sim_url}/v1/async/task/{task_id}");
            for _ in 0..50 {
                let response = http
                    .get(&url)
                    .bearer_auth(COMPANY_KEY)
                    .send()
                    .await
                    .with_context(|| format!("reading task {task_id} from the simulator"))?;
                if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                let view: serde_json::Value = response.json().await?;
                let key = view
                    .pointer("/task/idempotencyKey")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned);
                return Ok((task_id, key, charged));
            }
            anyhow::bail!("the simulator kept refusing to show task {task_id}")
        })
        .buffer_unordered(8)
        .collect::<Vec<anyhow::Result<_>>>()
        .await;
    reads.into_iter().collect()
}
