//! A team's empty rate bucket, remembered until it can next hold a token: a team looping on
//! 429s is refused from memory, without a Redis round trip per attempt. It never admits
//! anything Redis would refuse (a hit refuses), and it refuses nothing Redis would admit:
//! other replicas only ever take tokens from the bucket, so it cannot refill sooner than
//! the `retry_after` Redis computed, counted here from before the request was sent. An entry
//! is valid only under the quota it was decided with (a raised rate is asked of Redis at
//! once) and for at most [`MAX_REMEMBERED`], so the concurrency and budget numbers a cached
//! refusal repeats in its headers are never older than that.

use accounting::TeamId;
use limiter::{Admission, AdmissionOutcome, RefusedBy};
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

/// The longest a refusal is repeated from memory.
pub const MAX_REMEMBERED: Duration = Duration::from_secs(1);

struct Entry {
    until: Instant,
    /// The team's rate and burst the refusal was decided under.
    quota: (f64, u32),
    admission: Admission,
}

#[derive(Default)]
pub struct RefusalCache {
    teams: RwLock<HashMap<TeamId, Entry>>,
}

impl RefusalCache {
    /// The team's remembered rate refusal, with its Retry-After shortened to the time left,
    /// when one is still valid under `quota` (rps, burst).
    pub fn team_rate(&self, team: TeamId, quota: (f64, u32), now: Instant) -> Option<Admission> {
        let teams = self.teams.read().unwrap_or_else(PoisonError::into_inner);
        let entry = teams.get(&team)?;
        if entry.quota != quota || now >= entry.until {
            return None;
        }
        let left_ms = u64::try_from(entry.until.duration_since(now).as_millis()).unwrap_or(1);
        let mut admission = entry.admission.clone();
        admission.outcome = AdmissionOutcome::Refused {
            by: RefusedBy::TeamRate,
            retry_after_ms: Some(left_ms.max(1)),
        };
        Some(admission)
    }

    /// Remembers `admission` if Redis refused it for the team's rate; `sent_at` is when the
    /// admission was asked for (the bucket's refill is counted from no later than that).
    pub fn note(&self, team: TeamId, quota: (f64, u32), sent_at: Instant, admission: &Admission) {
        let AdmissionOutcome::Refused {
            by: RefusedBy::TeamRate,
            retry_after_ms: Some(retry_after_ms),
        } = admission.outcome
        else {
            return;
        };
        let remembered = Duration::from_millis(retry_after_ms).min(MAX_REMEMBERED);
        let entry = Entry {
            until: sent_at + remembered,
            quota,
            admission: admission.clone(),
        };
        let mut teams = self.teams.write().unwrap_or_else(PoisonError::into_inner);
        teams.retain(|_, entry| entry.until > sent_at);
        teams.insert(team, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use limiter::{BudgetSnapshot, ConcurrencySnapshot, RateSnapshot, Reclaimed};

    fn refused(by: RefusedBy, retry_after_ms: Option<u64>) -> Admission {
        let rate = RateSnapshot {
            rps: 1.0,
            burst: 1,
            remaining: 0,
        };
        let concurrency = ConcurrencySnapshot {
            limit: 10,
            current: 0,
        };
        Admission {
            outcome: AdmissionOutcome::Refused { by, retry_after_ms },
            team_rate: rate,
            account_rate: rate,
            team_concurrency: concurrency,
            account_concurrency: concurrency,
            budget: BudgetSnapshot {
                budget: None,
                hard: true,
                charged: 0,
                held: 0,
                over_budget: false,
            },
            reclaimed: Reclaimed::default(),
            now_ms: 0,
        }
    }

    fn retry_after(admission: &Admission) -> Option<u64> {
        match admission.outcome {
            AdmissionOutcome::Refused { retry_after_ms, .. } => retry_after_ms,
            AdmissionOutcome::Admitted(_) => None,
        }
    }

    #[test]
    fn a_team_rate_refusal_is_repeated_until_the_bucket_can_refill() {
        let cache = RefusalCache::default();
        let team = TeamId::generate();
        let sent = Instant::now();
        cache.note(
            team,
            (1.0, 1),
            sent,
            &refused(RefusedBy::TeamRate, Some(400)),
        );
        let hit = cache
            .team_rate(team, (1.0, 1), sent + Duration::from_millis(100))
            .unwrap();
        assert_eq!(
            retry_after(&hit),
            Some(300),
            "the time left, not the original"
        );
        assert!(
            cache
                .team_rate(team, (1.0, 1), sent + Duration::from_millis(400))
                .is_none(),
            "from the moment a token can exist, Redis decides again"
        );
        assert!(
            cache
                .team_rate(TeamId::generate(), (1.0, 1), sent)
                .is_none(),
            "another team's bucket is its own"
        );
    }

    #[test]
    fn a_changed_quota_or_a_long_wait_is_asked_of_redis() {
        let cache = RefusalCache::default();
        let team = TeamId::generate();
        let sent = Instant::now();
        cache.note(
            team,
            (0.01, 1),
            sent,
            &refused(RefusedBy::TeamRate, Some(100_000)),
        );
        assert!(
            cache.team_rate(team, (5.0, 1), sent).is_none(),
            "rate raised"
        );
        assert!(
            cache.team_rate(team, (0.01, 2), sent).is_none(),
            "burst raised"
        );
        assert!(cache.team_rate(team, (0.01, 1), sent).is_some());
        assert!(
            cache
                .team_rate(team, (0.01, 1), sent + MAX_REMEMBERED)
                .is_none(),
            "remembered for at most {MAX_REMEMBERED:?}"
        );
    }

    #[test]
    fn only_team_rate_refusals_with_a_retry_after_are_remembered() {
        let cache = RefusalCache::default();
        let team = TeamId::generate();
        let sent = Instant::now();
        for admission in [
            refused(RefusedBy::AccountRate, Some(500)),
            refused(RefusedBy::TeamConcurrency, None),
            refused(RefusedBy::Budget, Some(500)),
            refused(RefusedBy::TeamRate, None),
        ] {
            cache.note(team, (1.0, 1), sent, &admission);
            assert!(cache.team_rate(team, (1.0, 1), sent).is_none());
        }
    }
}
