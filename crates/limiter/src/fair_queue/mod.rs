//! The account's fair queue, where a request waits when only the account's concurrency is
//! full: the queue modes of one decision, and the parts both backends share (checking the
//! call, counting reclaims, `admit_or_wait`'s polling loop). The order lives in `rank.rs`.

mod rank;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::Rng;

use crate::admission::{Admission, AdmissionFacts};
use crate::error::LimiterError;
use crate::reclaim_stats::ReclaimCounters;
use crate::request::AdmissionRequest;

pub(crate) use rank::{Contender, fair_rank};

/// Largest team weight the limiter accepts (weights are relative; 1 is the default).
pub const MAX_WEIGHT: u32 = 10_000;

const POLL_MIN_MS: u64 = 10;
const POLL_MAX_MS: u64 = 25;

/// Where an admission stands with the fair queue after a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueState {
    /// Not in the queue (admitted, refused, or never queued).
    NotWaiting,
    /// Registered in the queue; poll again with `QueueMode::Claim`.
    Waiting,
    /// Was to claim, but the queue no longer had it (its deadline passed or it stopped
    /// polling): refused as `AccountConcurrency`.
    Gone,
}

/// What an admission call may do when only the account's concurrency is in the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueMode {
    /// Refuse at once (plain `admit`; still never jumps ahead of waiters).
    Refuse,
    /// Join the fair queue for at most this long.
    Join { max_wait_ms: u64 },
    /// A queued waiter's poll: admit it if its turn has come, else keep it queued.
    Claim,
}

impl QueueMode {
    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Refuse => 0,
            Self::Join { .. } => 1,
            Self::Claim => 2,
        }
    }

    pub(crate) fn max_wait_ms(self) -> u64 {
        match self {
            Self::Join { max_wait_ms } => max_wait_ms,
            _ => 0,
        }
    }
}

/// What a backend provides: one atomic decision in a queue mode, and leaving the queue.
#[async_trait]
pub(crate) trait FairQueueBackend: Send + Sync {
    /// Decides an already validated request; `None` if its lease id is already in use.
    async fn decide(
        &self,
        request: &AdmissionRequest,
        weight: u32,
        mode: QueueMode,
    ) -> Result<Option<(AdmissionFacts, QueueState)>, LimiterError>;

    /// Removes the request from the fair queue, if it is there.
    async fn leave_fair_queue(&self, request: &AdmissionRequest) -> Result<(), LimiterError>;

    /// Where the backend counts the expired leases its decisions reclaim.
    fn reclaim_counters(&self) -> &ReclaimCounters;
}

/// `Limiter::admit`: a decision at weight 1 that never waits.
pub(crate) async fn admit<B: FairQueueBackend + ?Sized>(
    backend: &B,
    request: &AdmissionRequest,
) -> Result<Admission, LimiterError> {
    Ok(decide_admission(backend, request, 1, QueueMode::Refuse)
        .await?
        .0)
}

/// `Limiter::admit_or_wait`: join the fair queue, poll (10–25 ms with jitter) until this
/// request's turn comes or the wait deadline passes.
pub(crate) async fn admit_or_wait<B: FairQueueBackend + ?Sized>(
    backend: &B,
    request: &AdmissionRequest,
    weight: u32,
    max_wait: Duration,
) -> Result<Admission, LimiterError> {
    validate_weight(weight)?;
    let started = Instant::now();
    let max_wait_ms = u64::try_from(max_wait.as_millis()).unwrap_or(u64::MAX);
    let mode = if max_wait_ms == 0 {
        QueueMode::Refuse
    } else {
        QueueMode::Join { max_wait_ms }
    };
    let (mut admission, mut state) = decide_admission(backend, request, weight, mode).await?;
    while state == QueueState::Waiting {
        let left = max_wait.saturating_sub(started.elapsed());
        if left.is_zero() {
            backend.leave_fair_queue(request).await?;
            return Ok(admission);
        }
        let pause = Duration::from_millis(rand::rng().random_range(POLL_MIN_MS..=POLL_MAX_MS));
        tokio::time::sleep(pause.min(left)).await;
        match decide_admission(backend, request, weight, QueueMode::Claim).await {
            Ok((next, next_state)) => (admission, state) = (next, next_state),
            Err(err) => {
                // The claim's outcome is unknown; leave the queue if we still can (the
                // caller releases `Lease::for_request` as after any `Unavailable`).
                if let Err(leave_err) = backend.leave_fair_queue(request).await {
                    tracing::debug!(error = %leave_err, "could not leave the fair queue");
                }
                return Err(err);
            }
        }
    }
    Ok(admission)
}

/// One decision, as both backends answer it: the request checked first, a lease id in use
/// refused as `InvalidRequest`, reclaimed leases counted.
async fn decide_admission<B: FairQueueBackend + ?Sized>(
    backend: &B,
    request: &AdmissionRequest,
    weight: u32,
    mode: QueueMode,
) -> Result<(Admission, QueueState), LimiterError> {
    request.validate()?;
    validate_weight(weight)?;
    let (facts, state) = backend
        .decide(request, weight, mode)
        .await?
        .ok_or_else(|| LimiterError::invalid("lease id already in use"))?;
    backend.reclaim_counters().record(&facts.reclaimed);
    Ok((Admission::from_facts(request, facts), state))
}

fn validate_weight(weight: u32) -> Result<(), LimiterError> {
    if (1..=MAX_WEIGHT).contains(&weight) {
        Ok(())
    } else {
        Err(LimiterError::invalid(format!(
            "weight must be within 1..={MAX_WEIGHT}"
        )))
    }
}
