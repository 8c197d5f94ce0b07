//! `admit_or_wait`'s loop, shared by both backends: join the account's fair wait queue, poll
//! (10–25 ms with jitter) until this request's turn comes or the wait deadline passes.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::Rng;

use crate::admission::Admission;
use crate::error::LimiterError;
use crate::fair_share::{MAX_WEIGHT, QueueMode, QueueState};
use crate::request::AdmissionRequest;

const POLL_MIN_MS: u64 = 10;
const POLL_MAX_MS: u64 = 25;

/// The two steps a backend provides: one atomic decision in a queue mode, and leaving.
#[async_trait]
pub(crate) trait FairQueueBackend: Send + Sync {
    async fn decide(
        &self,
        request: &AdmissionRequest,
        weight: u32,
        mode: QueueMode,
    ) -> Result<(Admission, QueueState), LimiterError>;

    /// Removes the request from the wait queue, if it is there.
    async fn leave_queue(&self, request: &AdmissionRequest) -> Result<(), LimiterError>;
}

pub(crate) fn validate_weight(weight: u32) -> Result<(), LimiterError> {
    if (1..=MAX_WEIGHT).contains(&weight) {
        Ok(())
    } else {
        Err(LimiterError::invalid(format!(
            "weight must be within 1..={MAX_WEIGHT}"
        )))
    }
}

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
    let (mut admission, mut state) = backend.decide(request, weight, mode).await?;
    while state == QueueState::Waiting {
        let left = max_wait.saturating_sub(started.elapsed());
        if left.is_zero() {
            backend.leave_queue(request).await?;
            return Ok(admission);
        }
        let pause = Duration::from_millis(rand::rng().random_range(POLL_MIN_MS..=POLL_MAX_MS));
        tokio::time::sleep(pause.min(left)).await;
        match backend.decide(request, weight, QueueMode::Claim).await {
            Ok((next, next_state)) => (admission, state) = (next, next_state),
            Err(err) => {
                // The claim's outcome is unknown; leave the queue if we still can (the
                // caller releases `Lease::for_request` as after any `Unavailable`).
                if let Err(leave_err) = backend.leave_queue(request).await {
                    tracing::debug!(error = %leave_err, "could not leave the wait queue");
                }
                return Err(err);
            }
        }
    }
    Ok(admission)
}
