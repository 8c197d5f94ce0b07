//! The weighted max-min fair order of the account's fair queue (the Rust twin of
//! `lua/fair_queue.lua`'s `fair_rank`): who gets the next free account slots.

use std::collections::HashMap;

/// One waiter, or the request being decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Contender<'a> {
    pub lease_id: &'a str,
    pub team: &'a str,
    pub weight: u32,
    /// Arrival order; `u64::MAX` for a request not queued yet (behind every waiter).
    pub ticket: u64,
}

struct TeamLine<'a> {
    weight: u64,
    used: u64,
    /// (ticket, lease id), oldest first.
    line: Vec<(u64, &'a str)>,
    head: usize,
}

/// How many contenders the fair order serves before `candidate`: 0 if it is next; `limit`
/// if it is not within the first `limit`. Repeatedly, the team with contenders whose
/// (account slots in use + ½) ÷ weight is lowest gives a slot to its oldest contender (ties:
/// oldest head ticket). The ½ (Sainte-Laguë) makes integer slots average out to the exact
/// weighted shares: with plain in-use ÷ weight, 10 slots at 1:1:2 settle at 3/3/4 (ties go to
/// the longer-waiting light teams) instead of alternating around 2.5/2.5/5. `waiters` may or
/// may not contain the candidate (matched by lease id).
pub(crate) fn fair_rank(
    waiters: &[Contender<'_>],
    slots_in_use: &HashMap<&str, u32>,
    candidate: Contender<'_>,
    limit: usize,
) -> usize {
    let mut teams: HashMap<&str, TeamLine<'_>> = HashMap::new();
    let queued = waiters.iter().any(|w| w.lease_id == candidate.lease_id);
    let extra = (!queued).then_some(candidate);
    for w in waiters.iter().copied().chain(extra) {
        let weight = if w.team == candidate.team {
            candidate.weight
        } else {
            w.weight
        };
        let team = teams.entry(w.team).or_insert_with(|| TeamLine {
            weight: u64::from(weight.max(1)),
            used: u64::from(slots_in_use.get(w.team).copied().unwrap_or(0)),
            line: Vec::new(),
            head: 0,
        });
        team.line.push((w.ticket, w.lease_id));
    }
    for team in teams.values_mut() {
        team.line.sort_unstable();
    }
    for step in 0..limit {
        let best = teams
            .values_mut()
            .filter(|t| t.head < t.line.len())
            .min_by(|a, b| {
                ((2 * a.used + 1) * b.weight)
                    .cmp(&((2 * b.used + 1) * a.weight))
                    .then(a.line[a.head].0.cmp(&b.line[b.head].0))
            });
        let Some(best) = best else {
            return limit;
        };
        if best.line[best.head].1 == candidate.lease_id {
            return step;
        }
        best.head += 1;
        best.used += 1;
    }
    limit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter<'a>(lease_id: &'a str, team: &'a str, weight: u32, ticket: u64) -> Contender<'a> {
        Contender {
            lease_id,
            team,
            weight,
            ticket,
        }
    }

    #[test]
    fn the_team_furthest_below_its_share_goes_first() {
        let waiters = [waiter("a1", "a", 1, 1), waiter("b1", "b", 2, 2)];
        // a holds 1 slot (1/1), b holds 1 (1/2): b is further below its share.
        let usage = HashMap::from([("a", 1), ("b", 1)]);
        assert_eq!(fair_rank(&waiters, &usage, waiters[1], 4), 0);
        assert_eq!(fair_rank(&waiters, &usage, waiters[0], 4), 1);
        assert_eq!(
            fair_rank(&waiters, &usage, waiters[0], 1),
            1,
            "not within 1"
        );
    }

    #[test]
    fn ten_slots_at_one_one_two_give_the_heavy_team_half() {
        // a and b hold 2 and 3, c holds 4: c (4.5/2) is further below its share than
        // a (2.5/1), though plain in-use ÷ weight would tie them (2 = 4/2).
        let waiters = [waiter("a1", "a", 1, 1), waiter("c1", "c", 2, 2)];
        let usage = HashMap::from([("a", 2), ("b", 3), ("c", 4)]);
        assert_eq!(fair_rank(&waiters, &usage, waiters[1], 1), 0);
    }

    #[test]
    fn ties_go_to_the_oldest_and_a_newcomer_queues_behind_its_team() {
        let waiters = [waiter("b1", "b", 1, 5), waiter("a1", "a", 1, 7)];
        let usage = HashMap::new();
        assert_eq!(fair_rank(&waiters, &usage, waiters[0], 2), 0);
        let newcomer = waiter("a2", "a", 1, u64::MAX);
        assert_eq!(fair_rank(&waiters, &usage, newcomer, 5), 2);
        let other_team = waiter("c1", "c", 1, u64::MAX);
        assert_eq!(fair_rank(&waiters, &usage, other_team, 5), 2);
    }

    #[test]
    fn an_idle_teams_share_is_lent_out() {
        // Only team a waits; b's unused weight does not hold a's waiters back.
        let waiters = [waiter("a1", "a", 1, 1), waiter("a2", "a", 1, 2)];
        let usage = HashMap::from([("a", 9)]);
        assert_eq!(fair_rank(&waiters, &usage, waiters[1], 2), 1);
    }
}
