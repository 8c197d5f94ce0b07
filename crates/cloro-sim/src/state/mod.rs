//! The simulator's shared state: one lock over the account (balance, slots, rate windows, tasks, audit log).

pub mod knobs;
pub mod ledger;
pub mod rate_limit;
pub mod request_log;
pub mod slots;
pub mod stats;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

use crate::api_key::ApiKey;
use crate::config::SimConfig;
use crate::tasks::store::TaskStore;
use knobs::{ConfigView, Knobs};
use ledger::Ledger;
use rate_limit::RateWindows;
use request_log::{RecordKind, RequestLog, RequestRecord};
use slots::Slots;
use stats::{Counters, SimStats};

/// How long finished tasks stay visible, before time scaling.
const TASK_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// Everything mutable, behind one short-held lock (never held across an await).
#[derive(Debug)]
pub struct SimCore {
    pub knobs: Knobs,
    pub ledger: Ledger,
    pub slots: Slots,
    pub rate: RateWindows,
    pub tasks: TaskStore,
    pub log: RequestLog,
    pub counters: Counters,
    rng: StdRng,
}

impl SimCore {
    /// A fresh seed for one request or task, from the run's seeded generator.
    pub fn next_seed(&mut self) -> u64 {
        self.rng.random()
    }

    /// Adds an audit record and counts it.
    pub fn record(&mut self, record: RequestRecord) {
        if record.kind != RecordKind::TaskFinished {
            self.counters.requests += 1;
        }
        if record.status == 429 {
            self.counters.responses_429 += 1;
        }
        self.log.push(record);
    }

    pub fn stats(&self) -> SimStats {
        SimStats {
            requests: self.counters.requests,
            credits_charged: self.ledger.charged_total(),
            peak_concurrency: self.slots.peak(),
            current_concurrency: self.slots.in_flight(),
            responses_429: self.counters.responses_429,
            balance: self.ledger.balance(),
            tasks_queued: self.tasks.queued_len(),
            tasks_processing: self.tasks.processing_len(),
            tasks_completed: self.counters.tasks_completed,
            tasks_failed: self.counters.tasks_failed,
            webhook_attempts: self.counters.webhook_attempts,
            webhooks_delivered: self.counters.webhooks_delivered,
        }
    }
}

/// The simulator: fixed settings plus the locked state, shared by handlers and background tasks.
pub struct Sim {
    core: Mutex<SimCore>,
    pub api_key: ApiKey,
    pub seed: u64,
    pub time_scale: f64,
    pub webhook_secret: Option<String>,
    /// Woken when a task is queued or a slot frees up.
    pub dispatcher_wake: Notify,
    webhooks: mpsc::UnboundedSender<Uuid>,
    pub http: reqwest::Client,
}

impl Sim {
    pub fn new(
        config: &SimConfig,
        api_key: ApiKey,
        webhooks: mpsc::UnboundedSender<Uuid>,
        http: reqwest::Client,
    ) -> Self {
        let core = SimCore {
            knobs: Knobs::from_config(config),
            ledger: Ledger::new(config.credits),
            slots: Slots::default(),
            rate: RateWindows::default(),
            tasks: TaskStore::new(TASK_RETENTION.div_f64(config.time_scale)),
            log: RequestLog::new(config.request_log_cap),
            counters: Counters::default(),
            rng: StdRng::seed_from_u64(config.seed),
        };
        Self {
            core: Mutex::new(core),
            api_key,
            seed: config.seed,
            time_scale: config.time_scale,
            webhook_secret: config.webhook_secret.clone(),
            dispatcher_wake: Notify::new(),
            webhooks,
            http,
        }
    }

    /// Locks the state, purging expired tasks first. A poisoned lock is still usable: every
    /// critical section leaves the state consistent before anything can panic.
    pub fn lock(&self) -> MutexGuard<'_, SimCore> {
        let mut core = self.core.lock().unwrap_or_else(PoisonError::into_inner);
        core.tasks.purge_expired(Instant::now());
        core
    }

    /// One of the API's own durations (webhook gaps, retention) under time scaling.
    pub fn scaled(&self, duration: Duration) -> Duration {
        duration.div_f64(self.time_scale)
    }

    pub fn queue_webhook(&self, task: Uuid) {
        // The receiver only goes away when the simulator stops.
        let _ = self.webhooks.send(task);
    }

    pub fn config_view(&self) -> ConfigView {
        let core = self.lock();
        let knobs = &core.knobs;
        ConfigView {
            latency: knobs.latency,
            faults: knobs.faults,
            concurrency_limit: knobs.concurrency_limit,
            balance: core.ledger.balance(),
            rate_limit: knobs.rate_limit,
            profile: knobs.profile.name().to_owned(),
            profile_switches: knobs.profile,
            prices: knobs.prices.clone(),
            queue_cap: knobs.queue_cap,
            retry_after_secs: knobs.retry_after_secs,
            seed: self.seed,
            time_scale: self.time_scale,
            webhook_signing: self.webhook_secret.is_some(),
        }
    }
}

/// A sync call's concurrency slot; dropping it frees the slot and wakes the task worker.
pub struct SlotGuard {
    sim: Arc<Sim>,
}

impl SlotGuard {
    /// Wraps a slot already taken under the lock.
    pub fn taken(sim: Arc<Sim>) -> Self {
        Self { sim }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.sim.lock().slots.release();
        self.sim.dispatcher_wake.notify_one();
    }
}
