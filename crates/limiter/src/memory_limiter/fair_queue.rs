//! The in-memory twin of the account's fair queue (`acct:queue*` in Redis): waiters in
//! arrival order, each dropped at its deadline or when its caller stops polling.

use std::collections::HashMap;

use crate::fair_queue::{Contender, fair_rank};

#[derive(Debug)]
struct Waiter {
    team: String,
    weight: u32,
    ticket: u64,
    deadline_ms: i64,
    /// Dropped at this time unless it polls again (never later than the deadline).
    alive_until_ms: i64,
}

#[derive(Debug, Default)]
pub(super) struct FairQueue {
    waiters: HashMap<String, Waiter>,
    next_ticket: u64,
}

impl FairQueue {
    pub(super) fn prune(&mut self, now_ms: i64) {
        self.waiters.retain(|_, w| w.alive_until_ms > now_ms);
    }

    pub(super) fn contains(&self, lease_id: &str) -> bool {
        self.waiters.contains_key(lease_id)
    }

    pub(super) fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Waiters of `team` other than `except`.
    pub(super) fn team_waiting(&self, team: &str, except: &str) -> usize {
        self.waiters
            .iter()
            .filter(|(id, w)| w.team == team && id.as_str() != except)
            .count()
    }

    /// How many waiters the fair order serves before this request (see `fair_rank`).
    pub(super) fn rank(
        &self,
        lease_id: &str,
        team: &str,
        weight: u32,
        slots_in_use: &HashMap<&str, u32>,
        limit: usize,
    ) -> usize {
        let waiters: Vec<Contender<'_>> = self
            .waiters
            .iter()
            .map(|(id, w)| Contender {
                lease_id: id,
                team: &w.team,
                weight: w.weight,
                ticket: w.ticket,
            })
            .collect();
        let ticket = self.waiters.get(lease_id).map_or(u64::MAX, |w| w.ticket);
        let candidate = Contender {
            lease_id,
            team,
            weight,
            ticket,
        };
        fair_rank(&waiters, slots_in_use, candidate, limit)
    }

    pub(super) fn join(
        &mut self,
        lease_id: &str,
        team: &str,
        weight: u32,
        deadline_ms: i64,
        alive_until_ms: i64,
    ) {
        self.next_ticket += 1;
        self.waiters.insert(
            lease_id.to_owned(),
            Waiter {
                team: team.to_owned(),
                weight,
                ticket: self.next_ticket,
                deadline_ms,
                alive_until_ms: alive_until_ms.min(deadline_ms),
            },
        );
    }

    /// A poll: the waiter stays another `life_ms` (up to its deadline).
    pub(super) fn keep_alive(&mut self, lease_id: &str, now_ms: i64, life_ms: i64) {
        if let Some(w) = self.waiters.get_mut(lease_id) {
            w.alive_until_ms = now_ms.saturating_add(life_ms).min(w.deadline_ms);
        }
    }

    pub(super) fn leave(&mut self, lease_id: &str) -> bool {
        self.waiters.remove(lease_id).is_some()
    }
}
