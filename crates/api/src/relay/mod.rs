//! The webhook relay (issue 11): a task a team submitted with its own `webhook.url` has its
//! completion POSTed there once the gateway settles it, in cloro's shape and signing scheme
//! but with the team's own secret. Each delivery is stored before its first attempt (one per
//! task), attempted at once, then retried on [`RETRY_SCHEDULE`] by a resumer loop that also
//! picks up what a stopped replica left; a lease on each claimed delivery keeps replicas from
//! attempting it twice at once. Every attempt is recorded for the team to read.

mod deliver;
#[cfg(test)]
mod flow_tests;
pub mod routes;
mod sign;
mod url;

pub use deliver::Timeouts;
pub use sign::{SIGNATURE_HEADER, TIMESTAMP_HEADER, WEBHOOK_ID_HEADER};
pub use url::{Refusal, UrlPolicy};

use crate::config::AsyncTaskSettings;
use crate::error::{ApiError, FieldError};
use crate::tasks::BackgroundTasks;
use accounting::TeamId;
use accounting::webhook_relay::{self as store, AttemptOutcome, Delivery, NewDelivery, NextStep};
use deliver::{Deliverer, Signed};
use serde_json::Value;
use sqlx::PgPool;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;
use uuid::Uuid;

/// The default waits between a delivery's attempts (`async_tasks.webhook_relay_retry_secs`):
/// five attempts in all, the last about 36 minutes
/// after the first.
pub const RETRY_SCHEDULE: [Duration; 4] = [
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
];
/// How often the resumer looks for due deliveries.
pub const RESUME_EVERY: Duration = Duration::from_secs(5);
/// Due deliveries claimed per pass at most.
const RESUME_BATCH: i64 = 100;
/// Attempts in flight at once on this replica.
const MAX_IN_FLIGHT: usize = 32;
/// How long a claimed delivery is left to its claimant, beyond the attempt's own timeout.
const LEASE_MARGIN: Duration = Duration::from_secs(45);

/// How the relay behaves; `from_settings` gives the production values.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Hosts a webhook may name although not https or internal.
    pub allowed_hosts: Vec<String>,
    /// The waits between attempts; its length plus one is the number of attempts.
    pub retry_schedule: Vec<Duration>,
    pub resume_every: Duration,
    pub timeouts: Timeouts,
}

impl RelayOptions {
    pub fn from_settings(settings: &AsyncTaskSettings) -> Self {
        Self {
            allowed_hosts: settings.webhook_allowed_hosts.clone(),
            retry_schedule: settings
                .webhook_relay_retry_secs
                .iter()
                .map(|secs| Duration::from_secs(*secs))
                .collect(),
            resume_every: RESUME_EVERY,
            timeouts: Timeouts::default(),
        }
    }
}

pub struct Relay {
    db: PgPool,
    policy: Arc<UrlPolicy>,
    deliverer: Deliverer,
    retry_schedule: Vec<Duration>,
    resume_every: Duration,
    lease: Duration,
    in_flight: Arc<Semaphore>,
    /// Attempts are tracked so shutdown waits for them.
    tasks: BackgroundTasks,
}

impl Relay {
    pub fn new(
        db: PgPool,
        options: RelayOptions,
        tasks: BackgroundTasks,
    ) -> anyhow::Result<Arc<Self>> {
        let policy = Arc::new(UrlPolicy::new(&options.allowed_hosts));
        Ok(Arc::new(Self {
            db,
            deliverer: Deliverer::new(policy.clone(), options.timeouts)?,
            policy,
            retry_schedule: options.retry_schedule,
            resume_every: options.resume_every,
            lease: options.timeouts.total + LEASE_MARGIN,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            tasks,
        }))
    }

    /// Checks a team's `webhook.url` at submit: a 400 VALIDATION_ERROR naming it if refused.
    pub fn validate_url(&self, url: &str) -> Result<(), ApiError> {
        self.policy.check(url).map(drop).map_err(|refusal| {
            ApiError::validation(vec![FieldError {
                field: "webhook.url".to_owned(),
                message: refusal.to_string(),
            }])
        })
    }

    /// Relays a settled task's completion (`body`: cloro's task-status object with the team's
    /// own key) to the team's `url`: stored durably, then attempted at once in a tracked task.
    /// A task's completion is relayed once however often this is called (true: this call
    /// queued it). Err only when it could not be stored.
    pub async fn relay(
        self: &Arc<Self>,
        entry_id: Uuid,
        team_id: TeamId,
        task_id: Option<Uuid>,
        url: &str,
        mut body: Value,
    ) -> Result<bool, ApiError> {
        if let Some(object) = body.as_object_mut() {
            object.remove("webhook");
        }
        let delivery = NewDelivery {
            entry_id,
            team_id,
            task_id,
            url: url.to_owned(),
            body,
        };
        let Some(id) = store::enqueue(&self.db, &delivery).await? else {
            return Ok(false);
        };
        tracing::info!(delivery = id, entry = %entry_id, "webhook relay queued");
        let relay = self.clone();
        self.tasks.spawn(
            async move {
                let permit = relay.permit().await;
                match store::claim(&relay.db, id, relay.lease).await {
                    Ok(Some(delivery)) => relay.attempt(delivery, permit).await,
                    Ok(None) => {}
                    Err(err) => {
                        tracing::warn!(delivery = id, error = %err, "could not claim a webhook delivery; the resumer will");
                    }
                }
            }
            .in_current_span(),
        );
        Ok(true)
    }

    /// Starts the loop that attempts due deliveries (retries, and what a stopped replica
    /// left) every `resume_every`; it ends at shutdown or when the relay is dropped.
    pub fn spawn_resumer(self: &Arc<Self>) {
        let relay: Weak<Self> = Arc::downgrade(self);
        let every = self.resume_every;
        self.tasks
            .spawn_loop(tracing::info_span!("webhook_relay"), async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(relay) = relay.upgrade() else {
                        break;
                    };
                    if let Err(err) = relay.resume_once().await {
                        tracing::warn!(error = %err, "resuming webhook deliveries failed");
                    }
                }
            });
    }

    /// One pass: claims the due deliveries and starts an attempt of each (tracked); returns
    /// how many it started.
    pub async fn resume_once(self: &Arc<Self>) -> Result<usize, ApiError> {
        let due = store::due(&self.db, chrono::Utc::now(), RESUME_BATCH).await?;
        let mut started = 0;
        for delivery in due {
            let permit = self.permit().await;
            let Some(claimed) = store::claim(&self.db, delivery.id, self.lease).await? else {
                continue;
            };
            let relay = self.clone();
            self.tasks
                .spawn(async move { relay.attempt(claimed, permit).await }.in_current_span());
            started += 1;
        }
        Ok(started)
    }

    /// The pool the team routes read from.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.db
    }

    async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        // The semaphore is never closed; without a permit the attempt still runs.
        self.in_flight.clone().acquire_owned().await.ok()
    }

    /// One attempt of a claimed delivery, recorded with what follows it.
    async fn attempt(&self, delivery: Delivery, _permit: Option<OwnedSemaphorePermit>) {
        let attempt = delivery.attempts + 1;
        let secret = match store::secret_for(&self.db, delivery.team_id).await {
            Ok(secret) => secret,
            Err(err) => {
                tracing::warn!(delivery = delivery.id, error = %err, "no signing secret; the delivery waits for its lease to end");
                return;
            }
        };
        let body = match serde_json::to_vec(&delivery.body.0) {
            Ok(body) => body,
            Err(err) => {
                tracing::error!(delivery = delivery.id, error = %err, "could not encode a webhook body");
                return;
            }
        };
        let webhook_id = sign::webhook_id(delivery.task_id.unwrap_or(delivery.entry_id), attempt);
        let outcome = self
            .deliverer
            .attempt(Signed {
                url: &delivery.url,
                body: &body,
                secret: &secret.secret,
                webhook_id: &webhook_id,
            })
            .await;
        let next = next_step(&outcome, attempt, &self.retry_schedule);
        match next {
            NextStep::Delivered => {
                tracing::info!(delivery = delivery.id, attempt, "webhook delivered");
            }
            NextStep::RetryAfter(wait) => tracing::info!(
                delivery = delivery.id,
                attempt,
                error = outcome.error.as_deref().unwrap_or_default(),
                retry_in_secs = wait.as_secs(),
                "webhook attempt failed; will retry"
            ),
            NextStep::Failed => tracing::warn!(
                delivery = delivery.id,
                attempt,
                error = outcome.error.as_deref().unwrap_or_default(),
                "webhook delivery failed for good"
            ),
        }
        match store::record_attempt(&self.db, delivery.id, attempt, &outcome, next).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    delivery = delivery.id,
                    attempt,
                    "the attempt was recorded by another claimant (lease ran out)"
                );
            }
            Err(err) => {
                tracing::warn!(delivery = delivery.id, error = %err, "could not record a webhook attempt; it will be made again");
            }
        }
    }
}

/// What follows attempt number `attempt` (1-based): acknowledged, another attempt after the
/// schedule's wait, or given up once the schedule is spent.
pub fn next_step(outcome: &AttemptOutcome, attempt: i32, schedule: &[Duration]) -> NextStep {
    if outcome.error.is_none() {
        return NextStep::Delivered;
    }
    usize::try_from(attempt - 1)
        .ok()
        .and_then(|index| schedule.get(index))
        .map_or(NextStep::Failed, |wait| NextStep::RetryAfter(*wait))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_attempts_then_it_gives_up() {
        let failed = AttemptOutcome {
            status: Some(500),
            error: Some("the receiver answered 500".to_owned()),
        };
        let steps: Vec<NextStep> = (1..=6)
            .map(|attempt| next_step(&failed, attempt, &RETRY_SCHEDULE))
            .collect();
        assert_eq!(
            steps,
            [
                NextStep::RetryAfter(Duration::from_secs(10)),
                NextStep::RetryAfter(Duration::from_secs(60)),
                NextStep::RetryAfter(Duration::from_secs(300)),
                NextStep::RetryAfter(Duration::from_secs(1800)),
                NextStep::Failed,
                NextStep::Failed,
            ]
        );
        let acknowledged = AttemptOutcome {
            status: Some(202),
            error: None,
        };
        assert_eq!(
            next_step(&acknowledged, 5, &RETRY_SCHEDULE),
            NextStep::Delivered
        );
        assert_eq!(next_step(&failed, 1, &[]), NextStep::Failed);
    }

    #[tokio::test]
    async fn a_refused_url_is_a_400_naming_webhook_url() {
        let db = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .unwrap();
        let tasks = BackgroundTasks::new().unwrap();
        let options = RelayOptions {
            allowed_hosts: vec!["receiver.internal".to_owned()],
            retry_schedule: RETRY_SCHEDULE.to_vec(),
            resume_every: RESUME_EVERY,
            timeouts: Timeouts::default(),
        };
        let relay = Relay::new(db, options, tasks).unwrap();
        assert!(relay.validate_url("https://hooks.example.com/x").is_ok());
        assert!(relay.validate_url("http://receiver.internal/x").is_ok());
        let err = relay
            .validate_url("https://169.254.169.254/latest")
            .unwrap_err();
        assert_eq!(err.code(), crate::error::ErrorCode::ValidationError);
        assert_eq!(err.details().unwrap()[0]["field"], "webhook.url");
    }
}
