//! Turns each script's reply (a fixed array of integers; budget_state.lua's followed by
//! pairs) into the struct that mirrors it, refusing any reply of the wrong shape (a `Script`
//! error, never a guess).

use redis::Value;

use crate::admission::{AdmissionFacts, Reclaimed, RefusedBy};
use crate::budget_state::{BudgetState, BudgetTotals, CorrectCharged};
use crate::error::LimiterError;
use crate::fair_queue::QueueState;
use crate::lease::Renewal;
use crate::lease_settlement::{SettleFacts, SettleOutcome};

/// The admission script's 17 integers (see `lua/admit.lua`).
pub(crate) const ADMIT_REPLY_LEN: usize = 17;

/// What admit.lua answered: a decision, or "this lease id is already in use".
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AdmitReply {
    Decided(AdmissionFacts, QueueState),
    DuplicateLease,
}

/// A script reply as exactly `len` integers: an array of them, or (the scripts every call
/// runs, admit.lua and settle.lua) one string of them joined by commas, which the Redis client
/// parses in a fraction of the time an array of integers takes.
pub(crate) fn integers(value: Value, len: usize, script: &str) -> Result<Vec<i64>, LimiterError> {
    let items = match value {
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Int(n) => Ok(n),
                other => Err(shape(script, format!("expected an integer, got {other:?}"))),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Value::BulkString(packed) => packed
            .split(|byte| *byte == b',')
            .map(|field| {
                std::str::from_utf8(field)
                    .ok()
                    .and_then(|text| text.parse::<i64>().ok())
                    .ok_or_else(|| {
                        let field = String::from_utf8_lossy(field);
                        shape(script, format!("expected an integer, got {field:?}"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(shape(script, format!("expected integers, got {other:?}")));
        }
    };
    if items.len() != len {
        return Err(shape(
            script,
            format!("expected {len} integers, got {}", items.len()),
        ));
    }
    Ok(items)
}

pub(crate) fn admit_reply(value: Value) -> Result<AdmitReply, LimiterError> {
    let n = integers(value, ADMIT_REPLY_LEN, "admit")?;
    let refused_by = match n[1] {
        0 => None,
        1 => Some(RefusedBy::Budget),
        2 => Some(RefusedBy::TeamRate),
        3 => Some(RefusedBy::TeamConcurrency),
        4 => Some(RefusedBy::AccountRate),
        5 => Some(RefusedBy::AccountConcurrency),
        6 => return Ok(AdmitReply::DuplicateLease),
        7 => Some(RefusedBy::BudgetUnseeded),
        other => return Err(shape("admit", format!("unknown refusal code {other}"))),
    };
    let admitted = flag(n[0], "admit")?;
    if admitted != refused_by.is_none() {
        return Err(shape(
            "admit",
            format!("admitted={} contradicts refusal code {}", n[0], n[1]),
        ));
    }
    let queue_state = match n[15] {
        0 => QueueState::NotWaiting,
        1 if !admitted => QueueState::Waiting,
        2 if !admitted => QueueState::Gone,
        other => return Err(shape("admit", format!("unexpected queue state {other}"))),
    };
    count(n[16], "admit")?;
    Ok(AdmitReply::Decided(
        AdmissionFacts {
            refused_by,
            retry_after_ms: u64::try_from(n[2]).ok(),
            team_tokens: non_negative(n[3], "admit")?,
            account_tokens: non_negative(n[4], "admit")?,
            team_in_flight: count(n[5], "admit")?,
            account_in_flight: count(n[6], "admit")?,
            charged: n[7],
            held: n[8],
            over_budget: flag(n[9], "admit")?,
            reclaimed: Reclaimed {
                team_slots: count(n[10], "admit")?,
                account_slots: count(n[11], "admit")?,
                hold_credits: n[12],
            },
            now_ms: n[13],
            lease_expires_at_ms: n[14],
        },
        queue_state,
    ))
}

pub(crate) fn settle_reply(value: Value) -> Result<SettleFacts, LimiterError> {
    let n = integers(value, 7, "settle")?;
    let outcome = match n[0] {
        0 => SettleOutcome::AlreadySettled,
        1 => SettleOutcome::Settled,
        2 => SettleOutcome::SettledAfterReclaim,
        other => return Err(shape("settle", format!("unknown outcome {other}"))),
    };
    Ok(SettleFacts {
        outcome,
        estimate: n[1],
        released_team: flag(n[2], "settle")?,
        released_account: flag(n[3], "settle")?,
        totals: BudgetTotals {
            charged: n[4],
            held: n[5],
        },
    })
}

pub(crate) fn leave_fair_queue_reply(value: Value) -> Result<bool, LimiterError> {
    let n = integers(value, 2, "leave_fair_queue")?;
    flag(n[0], "leave_fair_queue")
}

pub(crate) fn renew_reply(value: Value) -> Result<Renewal, LimiterError> {
    let n = integers(value, 5, "renew")?;
    Ok(Renewal {
        recreated_team_lease: flag(n[0], "renew")?,
        recreated_account_lease: flag(n[1], "renew")?,
        restored_hold: flag(n[2], "renew")?,
    })
}

pub(crate) fn budget_totals_reply(value: Value) -> Result<BudgetTotals, LimiterError> {
    let n = integers(value, 3, "budget_totals")?;
    Ok(BudgetTotals {
        charged: n[0],
        held: n[1],
    })
}

/// seed_charged.lua's or correct_charged.lua's reply (`script` names which, for errors).
pub(crate) fn charged_reply(value: Value, script: &str) -> Result<CorrectCharged, LimiterError> {
    let n = integers(value, 4, script)?;
    Ok(CorrectCharged {
        applied: flag(n[0], script)?,
        totals: BudgetTotals {
            charged: n[1],
            held: n[2],
        },
    })
}

/// budget_state.lua's reply: 4 integers, then (lease id, estimate) pairs.
pub(crate) fn budget_state_reply(value: Value) -> Result<BudgetState, LimiterError> {
    const SCRIPT: &str = "budget_state";
    let Value::Array(items) = value else {
        return Err(shape(SCRIPT, format!("expected an array, got {value:?}")));
    };
    if items.len() < 4 || items.len() % 2 != 0 {
        return Err(shape(
            SCRIPT,
            format!("expected 4 integers and pairs, got {} items", items.len()),
        ));
    }
    let mut items = items.into_iter();
    let mut header = [0_i64; 4];
    for slot in &mut header {
        *slot = integer(items.next(), SCRIPT)?;
    }
    let mut holds = Vec::with_capacity(items.len() / 2);
    while let Some(id) = items.next() {
        let id = match id {
            Value::BulkString(bytes) => String::from_utf8(bytes)
                .map_err(|_| shape(SCRIPT, "a lease id is not UTF-8".to_owned()))?,
            other => return Err(shape(SCRIPT, format!("expected a lease id, got {other:?}"))),
        };
        holds.push((id, integer(items.next(), SCRIPT)?));
    }
    holds.sort();
    Ok(BudgetState {
        seeded: flag(header[0], SCRIPT)?,
        charged: header[1],
        held: header[2],
        holds,
    })
}

pub(crate) fn state_marker_reply(value: Value) -> Result<bool, LimiterError> {
    let n = integers(value, 2, "state_marker")?;
    flag(n[0], "state_marker")
}

fn integer(item: Option<Value>, script: &str) -> Result<i64, LimiterError> {
    match item {
        Some(Value::Int(n)) => Ok(n),
        other => Err(shape(script, format!("expected an integer, got {other:?}"))),
    }
}

fn flag(n: i64, script: &str) -> Result<bool, LimiterError> {
    match n {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(shape(script, format!("expected 0 or 1, got {other}"))),
    }
}

fn non_negative(n: i64, script: &str) -> Result<u64, LimiterError> {
    u64::try_from(n).map_err(|_| shape(script, format!("expected a count, got {n}")))
}

fn count(n: i64, script: &str) -> Result<u32, LimiterError> {
    u32::try_from(n).map_err(|_| shape(script, format!("expected a count, got {n}")))
}

fn shape(script: &str, detail: String) -> LimiterError {
    LimiterError::Script(format!(
        "{script}.lua replied with an unexpected shape: {detail}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(numbers: &[i64]) -> Value {
        Value::Array(numbers.iter().copied().map(Value::Int).collect())
    }

    const ADMITTED: [i64; ADMIT_REPLY_LEN] = [
        1,
        0,
        -1,
        4,
        99,
        2,
        7,
        30,
        12,
        0,
        1,
        3,
        5,
        1_700_000_000_123,
        1_700_000_030_123,
        0,
        3,
    ];

    #[test]
    fn an_admission_reply_maps_every_field() {
        let reply = admit_reply(array(&ADMITTED)).unwrap();
        assert_eq!(
            reply,
            AdmitReply::Decided(
                AdmissionFacts {
                    refused_by: None,
                    retry_after_ms: None,
                    team_tokens: 4,
                    account_tokens: 99,
                    team_in_flight: 2,
                    account_in_flight: 7,
                    charged: 30,
                    held: 12,
                    over_budget: false,
                    reclaimed: Reclaimed {
                        team_slots: 1,
                        account_slots: 3,
                        hold_credits: 5,
                    },
                    now_ms: 1_700_000_000_123,
                    lease_expires_at_ms: 1_700_000_030_123,
                },
                QueueState::NotWaiting
            )
        );
    }

    #[test]
    fn refusal_codes_map_to_limits() {
        for (code, by) in [
            (1, RefusedBy::Budget),
            (2, RefusedBy::TeamRate),
            (3, RefusedBy::TeamConcurrency),
            (4, RefusedBy::AccountRate),
            (5, RefusedBy::AccountConcurrency),
            (7, RefusedBy::BudgetUnseeded),
        ] {
            let mut n = ADMITTED;
            n[0] = 0;
            n[1] = code;
            n[2] = 250;
            let AdmitReply::Decided(facts, _) = admit_reply(array(&n)).unwrap() else {
                panic!("code {code} is a decision");
            };
            assert_eq!(facts.refused_by, Some(by));
            assert_eq!(facts.retry_after_ms, Some(250));
        }
        let mut n = ADMITTED;
        n[0] = 0;
        n[1] = 6;
        assert_eq!(admit_reply(array(&n)).unwrap(), AdmitReply::DuplicateLease);
        n[1] = 5;
        n[15] = 1;
        let AdmitReply::Decided(_, state) = admit_reply(array(&n)).unwrap() else {
            panic!("a queued refusal is a decision");
        };
        assert_eq!(state, QueueState::Waiting);
    }

    #[test]
    fn malformed_admission_replies_are_script_errors() {
        let mut unknown_code = ADMITTED;
        unknown_code[0] = 0;
        unknown_code[1] = 9;
        let mut contradiction = ADMITTED;
        contradiction[1] = 2;
        let mut negative_count = ADMITTED;
        negative_count[5] = -1;
        let mut bad_flag = ADMITTED;
        bad_flag[9] = 2;
        let mut admitted_yet_waiting = ADMITTED;
        admitted_yet_waiting[15] = 1;
        for bad in [
            array(&ADMITTED[..14]),
            array(&unknown_code),
            array(&contradiction),
            array(&negative_count),
            array(&bad_flag),
            array(&admitted_yet_waiting),
            Value::Int(1),
            Value::Nil,
            Value::Array(vec![Value::BulkString(b"1".to_vec()); ADMIT_REPLY_LEN]),
        ] {
            assert!(
                matches!(admit_reply(bad.clone()), Err(LimiterError::Script(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn settle_replies_map_outcomes() {
        let reply = settle_reply(array(&[1, 12, 1, 1, 7, 0, 5])).unwrap();
        assert_eq!(reply.outcome, SettleOutcome::Settled);
        assert_eq!(reply.estimate, 12);
        assert!(reply.released_team && reply.released_account);
        assert_eq!(
            reply.totals,
            BudgetTotals {
                charged: 7,
                held: 0
            }
        );
        let again = settle_reply(array(&[0, 0, 0, 0, 7, 0, 6])).unwrap();
        assert_eq!(again.outcome, SettleOutcome::AlreadySettled);
        let late = settle_reply(array(&[2, 0, 1, 0, 7, 0, 6])).unwrap();
        assert_eq!(late.outcome, SettleOutcome::SettledAfterReclaim);
        assert!(settle_reply(array(&[3, 0, 0, 0, 0, 0, 0])).is_err());
        assert!(settle_reply(array(&[1, 0, 0])).is_err());
    }

    #[test]
    fn small_replies_map_and_check_their_length() {
        let renewal = renew_reply(array(&[1, 0, 1, 5, 4])).unwrap();
        assert!(renewal.recreated_team_lease && renewal.restored_hold);
        assert!(!renewal.recreated_account_lease);
        assert!(!renew_reply(array(&[0, 0, 0, 5, 4])).unwrap().recreated());
        assert!(renew_reply(array(&[1, 5, 4])).is_err());
        assert!(renew_reply(array(&[2, 0, 0, 5, 4])).is_err());
        assert_eq!(
            budget_totals_reply(array(&[40, 8, 1])).unwrap(),
            BudgetTotals {
                charged: 40,
                held: 8
            }
        );
        let seeded = charged_reply(array(&[1, 40, 8, 1]), "seed_charged").unwrap();
        assert!(seeded.applied);
        assert_eq!(seeded.totals.charged, 40);
        assert!(charged_reply(array(&[2, 40, 8, 1]), "correct_charged").is_err());
        assert!(state_marker_reply(array(&[1, 9])).unwrap());
        assert!(!state_marker_reply(array(&[0, 9])).unwrap());
        assert!(state_marker_reply(array(&[1])).is_err());
    }

    #[test]
    fn packed_replies_read_like_arrays_and_refuse_any_other_shape() {
        let packed = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        assert_eq!(
            integers(packed("1,-1,9007199254740993"), 3, "t").unwrap(),
            vec![1, -1, 9_007_199_254_740_993]
        );
        assert_eq!(
            settle_reply(packed("1,40,1,1,100,0,1700000000000")).unwrap(),
            settle_reply(array(&[1, 40, 1, 1, 100, 0, 1_700_000_000_000])).unwrap()
        );
        for bad in ["1,2", "1,2,3,4", "1,,3", "1,2.5,3", "1,2,x", "", "1e3,2,3"] {
            assert!(
                matches!(integers(packed(bad), 3, "t"), Err(LimiterError::Script(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            integers(Value::Nil, 3, "t"),
            Err(LimiterError::Script(_))
        ));
    }

    #[test]
    fn budget_state_replies_list_holds_by_lease_id() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let mut items: Vec<Value> = [1, 40, 15, 9].into_iter().map(Value::Int).collect();
        items.extend([bulk("b"), Value::Int(10), bulk("a"), Value::Int(5)]);
        let state = budget_state_reply(Value::Array(items.clone())).unwrap();
        assert_eq!(
            state,
            BudgetState {
                seeded: true,
                charged: 40,
                held: 15,
                holds: vec![("a".into(), 5), ("b".into(), 10)],
            }
        );
        let empty = budget_state_reply(array(&[0, 0, 0, 9])).unwrap();
        assert!(!empty.seeded && empty.holds.is_empty());

        let mut odd = items.clone();
        odd.pop();
        let mut swapped = items;
        swapped.swap(4, 5);
        for bad in [
            Value::Array(odd),
            Value::Array(swapped),
            array(&[1, 40, 15]),
            array(&[2, 0, 0, 9]),
            Value::Nil,
        ] {
            assert!(
                matches!(
                    budget_state_reply(bad.clone()),
                    Err(LimiterError::Script(_))
                ),
                "{bad:?}"
            );
        }
    }
}
