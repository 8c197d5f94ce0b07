//! The queue worker: starts QUEUED tasks (priority, then FIFO) while the shared concurrency limit allows, and finishes them.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use serde_json::json;
use tokio::task::JoinSet;

use super::store::{Finish, Task};
use crate::error::{ErrorCode, RouteFamily};
use crate::execution::{self, Outcome};
use crate::pricing;
use crate::state::knobs::Knobs;
use crate::state::request_log::{RecordKind, RequestRecord};
use crate::state::{Sim, SimCore};

/// Runs until aborted: starts tasks whenever it is woken (task queued, slot freed, config changed).
pub async fn run(sim: Arc<Sim>) {
    let mut running = JoinSet::new();
    loop {
        while let Some((task, knobs)) = start_next(&sim) {
            running.spawn(run_task(Arc::clone(&sim), task, knobs));
        }
        tokio::select! {
            () = sim.dispatcher_wake.notified() => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
}

/// Takes the next task if a slot is free. A task the balance can no longer pay fails at once.
fn start_next(sim: &Sim) -> Option<(Task, Knobs)> {
    let mut core = sim.lock();
    loop {
        let cost = core.tasks.peek_next()?.quote.total();
        if let Err(error) = core.ledger.ensure_affordable(cost) {
            let task = core.tasks.start_next()?;
            let profile = core.knobs.profile;
            let finish = Finish {
                completed: false,
                charged: 0,
                response: json!({ "error": { "code": error.code.wire_name(&profile), "message": error.message } }),
            };
            finish_task(sim, &mut core, &task, finish, error.code);
            continue;
        }
        let limit = core.knobs.concurrency_limit;
        core.slots.try_acquire(limit).ok()?;
        let task = core.tasks.start_next()?;
        return Some((task, core.knobs.clone()));
    }
}

async fn run_task(sim: Arc<Sim>, task: Task, knobs: Knobs) {
    let plan = execution::plan(&task.request, task.seed, &knobs.latency, &knobs.faults);
    plan.wait_latency().await;
    let (finish, code) = match plan.outcome {
        // A broken body only concerns a sync reply in transit; a task keeps its whole answer.
        Outcome::Answer(answer) | Outcome::BrokenBody(answer) => (
            Finish {
                completed: true,
                charged: pricing::settle(
                    &knobs.prices,
                    &task.request,
                    &task.quote,
                    answer.product_clusters,
                ),
                response: answer.result,
            },
            None,
        ),
        Outcome::Fault(fault) => (
            Finish {
                completed: false,
                charged: 0,
                response: json!({ "error": { "code": fault.code().wire_name(&knobs.profile), "message": fault.message() } }),
            },
            Some(fault.code()),
        ),
    };
    {
        let mut core = sim.lock();
        core.slots.release();
        match code {
            Some(code) => finish_task(&sim, &mut core, &task, finish, code),
            None => finish_task_ok(&sim, &mut core, &task, finish),
        }
    }
    sim.dispatcher_wake.notify_one();
}

fn finish_task_ok(sim: &Sim, core: &mut SimCore, task: &Task, finish: Finish) {
    core.ledger.charge(finish.charged);
    core.counters.tasks_completed += 1;
    record_finish(sim, core, task, finish, 200, None);
}

fn finish_task(sim: &Sim, core: &mut SimCore, task: &Task, finish: Finish, code: ErrorCode) {
    core.counters.tasks_failed += 1;
    let profile = core.knobs.profile;
    let status = code.status(&profile, RouteFamily::Other).as_u16();
    record_finish(
        sim,
        core,
        task,
        finish,
        status,
        Some(code.wire_name(&profile).to_owned()),
    );
}

fn record_finish(
    sim: &Sim,
    core: &mut SimCore,
    task: &Task,
    finish: Finish,
    status: u16,
    error_code: Option<String>,
) {
    let charged = finish.charged;
    let finished = core.tasks.finish(&task.id, finish, Instant::now());
    let has_webhook = finished.is_some_and(|t| t.webhook.is_some());
    let duration_ms = finished.and_then(|t| t.latency_ms).unwrap_or(0);
    core.record(RequestRecord {
        seq: 0,
        time: Utc::now(),
        kind: RecordKind::TaskFinished,
        method: "TASK".into(),
        path: format!("/v1/async/task/{}", task.id),
        key: Some(sim.api_key.masked()),
        request_id: None,
        status,
        error_code,
        credits_charged: charged,
        task_id: Some(task.id.to_string()),
        task_ids: Vec::new(),
        duration_ms,
    });
    if has_webhook {
        sim.queue_webhook(task.id);
    }
}
