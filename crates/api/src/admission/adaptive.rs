//! The account's concurrency limit as this replica currently trusts it. cloro also counts
//! async tasks (and anything else using the key) against the plan's slots, so the upstream
//! can refuse for concurrency even when the gateway's own count is under the configured
//! limit. Each such 429 lowers the limit by a quarter (at most once a second, never below
//! one); every `recover_every` without one gives a slot back, up to the configured limit.
//! The configured limit itself can change at run time (an admin's account override): the
//! limit then starts again from the new value. Async tasks cloro reports PROCESSING hold
//! plan slots too: sync admissions leave that many free (never fewer than one).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct AdaptiveLimit {
    configured: AtomicU32,
    current: AtomicU32,
    /// Milliseconds since `epoch` of the last decrease or recovery step.
    last_change_ms: AtomicU64,
    recover_every: Duration,
    epoch: Instant,
    /// Plan slots cloro last reported busy with async tasks.
    async_running: AtomicU32,
}

/// Decreases closer together than this count as one congestion event.
const DECREASE_SPACING: Duration = Duration::from_secs(1);

impl AdaptiveLimit {
    pub fn new(configured: u32, recover_every: Duration) -> Self {
        Self {
            configured: AtomicU32::new(configured.max(1)),
            current: AtomicU32::new(configured.max(1)),
            last_change_ms: AtomicU64::new(0),
            recover_every,
            epoch: Instant::now(),
            async_running: AtomicU32::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Makes `configured` the limit to adapt below; a change starts again from it.
    pub fn rebase(&self, configured: u32) {
        let configured = configured.max(1);
        if self.configured.swap(configured, Ordering::Relaxed) != configured {
            self.current.store(configured, Ordering::Relaxed);
            tracing::info!(limit = configured, "account concurrency limit set");
        }
    }

    /// The limit sync calls are admitted against now: the adapted limit less the slots
    /// async tasks hold, at least one.
    pub fn current(&self) -> u32 {
        self.adapted()
            .saturating_sub(self.async_running.load(Ordering::Relaxed))
            .max(1)
    }

    /// cloro reported this many async tasks running on the plan's slots.
    pub fn note_async_running(&self, running: u32) {
        let before = self.async_running.swap(running, Ordering::Relaxed);
        if before != running {
            tracing::debug!(running, "async tasks running on the account's slots");
        }
    }

    /// The limit as congestion has adapted it, recovering one step if one is due.
    fn adapted(&self) -> u32 {
        let configured = self.configured.load(Ordering::Relaxed);
        let current = self.current.load(Ordering::Relaxed);
        if current >= configured {
            return current;
        }
        let now = self.now_ms();
        let last = self.last_change_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= self.recover_every.as_millis() as u64
            && self
                .last_change_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let raised = (current + 1).min(configured);
            self.current.store(raised, Ordering::Relaxed);
            tracing::info!(limit = raised, "account concurrency limit recovering");
            return raised;
        }
        current
    }

    /// The upstream refused for concurrency: lower the limit.
    pub fn on_concurrency_429(&self) {
        let now = self.now_ms();
        let last = self.last_change_ms.load(Ordering::Relaxed);
        let current = self.current.load(Ordering::Relaxed);
        let recently_lowered = current < self.configured.load(Ordering::Relaxed)
            && now.saturating_sub(last) < DECREASE_SPACING.as_millis() as u64;
        if recently_lowered
            || self
                .last_change_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let lowered = (current - current.div_ceil(4)).max(1);
        self.current.store(lowered, Ordering::Relaxed);
        tracing::warn!(
            limit = lowered,
            "cloro refused for concurrency: lowering the account limit"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::AdaptiveLimit;
    use std::time::Duration;

    #[test]
    fn lowers_by_a_quarter_once_per_event_and_never_below_one() {
        let limit = AdaptiveLimit::new(10, Duration::from_secs(3600));
        limit.on_concurrency_429();
        assert_eq!(limit.current(), 7);
        // A burst of 429s within a second is one event.
        limit.on_concurrency_429();
        limit.on_concurrency_429();
        assert_eq!(limit.current(), 7);
        let tiny = AdaptiveLimit::new(1, Duration::from_secs(3600));
        tiny.on_concurrency_429();
        assert_eq!(tiny.current(), 1);
    }

    #[test]
    fn recovers_one_slot_per_quiet_period_up_to_the_configured_limit() {
        let limit = AdaptiveLimit::new(4, Duration::from_millis(20));
        limit.on_concurrency_429();
        assert_eq!(limit.current(), 3);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(limit.current(), 4);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(limit.current(), 4, "never above the configured limit");
    }

    #[test]
    fn running_async_tasks_leave_their_slots_to_cloro() {
        let limit = AdaptiveLimit::new(10, Duration::from_secs(3600));
        limit.note_async_running(4);
        assert_eq!(limit.current(), 6);
        limit.note_async_running(50);
        assert_eq!(limit.current(), 1, "never below one");
        limit.note_async_running(0);
        assert_eq!(limit.current(), 10);
    }

    #[test]
    fn a_new_configured_limit_applies_at_once() {
        let limit = AdaptiveLimit::new(10, Duration::from_secs(3600));
        limit.on_concurrency_429();
        assert_eq!(limit.current(), 7);
        limit.rebase(10);
        assert_eq!(limit.current(), 7, "the same base keeps the adapted limit");
        limit.rebase(2);
        assert_eq!(limit.current(), 2);
        limit.rebase(20);
        assert_eq!(limit.current(), 20);
    }
}
