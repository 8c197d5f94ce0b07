//! A floor between upstream reads of one task prompted by unsigned deliveries: without a
//! webhook secret, `POST /webhooks/cloro` is only a hint and each hint costs a `GET` to cloro
//! with the company key, so repeated deliveries for a task are answered from its last read
//! instead of reaching cloro more than once per [`MIN_INTERVAL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// At most one delivery-prompted read of a task per this interval.
pub const MIN_INTERVAL: Duration = Duration::from_secs(2);

/// Above this many remembered tasks, reads older than the interval are forgotten.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Default)]
pub struct ReadFloor {
    last_read: Mutex<HashMap<Uuid, Instant>>,
}

impl ReadFloor {
    /// Whether a read of `task` may go upstream now (and if so, it is counted as made).
    pub fn try_read(&self, task: Uuid) -> bool {
        let now = Instant::now();
        let mut last_read = self
            .last_read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(at) = last_read.get(&task)
            && now.duration_since(*at) < MIN_INTERVAL
        {
            return false;
        }
        if last_read.len() >= PRUNE_ABOVE {
            last_read.retain(|_, at| now.duration_since(*at) < MIN_INTERVAL);
        }
        last_read.insert(task, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_read_once_per_interval_and_others_are_not_held_back() {
        let floor = ReadFloor::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(floor.try_read(a));
        assert!(!floor.try_read(a));
        assert!(!floor.try_read(a));
        assert!(floor.try_read(b));
    }
}
