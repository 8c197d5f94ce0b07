//! cloro's async tasks through the gateway, accounted per team. A task is admitted (team
//! rate, queue cap, a budget hold of its async estimate that lives until it settles, no
//! concurrency slot), recorded PENDING with its owner before it is forwarded with a key of
//! the gateway's own, and settled once from cloro's `creditsCharged`: by the completion
//! webhook cloro sends the gateway, by a team reading its task, or by the poller. Another
//! team's task answers 404, like an unknown one.

mod poller;
mod read_floor;
mod receiver;
mod reply;
mod request;
pub mod routes;
mod settle;
mod submit;

pub use poller::{spawn_concurrency_probe, spawn_poller};

use crate::admission::Admitter;
use crate::config::Settings;
use crate::directory::{AccountSettings, Directory};
use crate::ledger::Ledger;
use crate::relay::Relay;
use crate::secret::Secret;
use crate::tasks::BackgroundTasks;
use crate::upstream::Upstream;
use std::sync::Arc;
use std::time::Duration;

/// Everything async tasks go through, shared by all workers.
pub struct AsyncTasks {
    ledger: Arc<Ledger>,
    upstream: Arc<Upstream>,
    admission: Arc<Admitter>,
    directory: Arc<Directory>,
    account: Arc<AccountSettings>,
    /// Relays completions to the teams' own webhooks.
    relay: Arc<Relay>,
    tasks: BackgroundTasks,
    /// How long a task's hold and PENDING entry wait for its charge.
    hold: Duration,
    /// The gateway's receiver URL sent to cloro, if one is configured.
    webhook_url: Option<String>,
    /// cloro's signing secret for deliveries, if configured.
    webhook_secret: Option<Secret>,
    max_batch_body_bytes: usize,
    /// How long a request body may take to arrive in full.
    body_read_timeout: Duration,
    /// Bounds the upstream reads unsigned deliveries can cause.
    delivery_reads: read_floor::ReadFloor,
}

/// The services async tasks are built on.
pub struct AsyncTaskServices {
    pub ledger: Arc<Ledger>,
    pub upstream: Arc<Upstream>,
    pub admission: Arc<Admitter>,
    pub directory: Arc<Directory>,
    pub account: Arc<AccountSettings>,
    pub relay: Arc<Relay>,
    pub tasks: BackgroundTasks,
}

impl AsyncTasks {
    pub fn new(all_settings: &Settings, services: AsyncTaskServices) -> Self {
        let settings = &all_settings.async_tasks;
        Self {
            ledger: services.ledger,
            upstream: services.upstream,
            admission: services.admission,
            directory: services.directory,
            account: services.account,
            relay: services.relay,
            tasks: services.tasks,
            hold: Duration::from_secs(settings.hold_hours * 3600),
            webhook_url: (!settings.webhook_url.is_empty()).then(|| settings.webhook_url.clone()),
            webhook_secret: (!settings.webhook_secret.expose().is_empty())
                .then(|| settings.webhook_secret.clone()),
            max_batch_body_bytes: settings.max_batch_body_bytes,
            body_read_timeout: Duration::from_secs(all_settings.server.body_read_timeout_secs),
            delivery_reads: read_floor::ReadFloor::default(),
        }
    }
}
