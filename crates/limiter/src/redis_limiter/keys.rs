//! Where the limiter keeps things in Redis. Every key carries the same `{account}` hash tag,
//! so each script's keys share one Redis Cluster slot and team + account limits stay atomic.

use crate::error::LimiterError;
use crate::request::validate_id;

/// `<prefix>{<account>}:` followed by one of:
/// `team:<team>:bucket`, `team:<team>:leases`, `team:<team>:async_leases`,
/// `team:<team>:budget:<period>`,
/// `acct:bucket:<endpoint>`, `acct:leases`, `acct:slot_teams`, `acct:queue`,
/// `acct:queue:alive`, `acct:queue:info` (the fair queue), `state`.
#[derive(Debug, Clone)]
pub(crate) struct KeyLayout {
    base: String,
}

impl KeyLayout {
    /// `prefix` may be empty; neither it nor `account` may contain `{` or `}` (the account
    /// must be the first hash tag in every key).
    pub(crate) fn new(prefix: &str, account: &str) -> Result<Self, LimiterError> {
        if prefix.contains(['{', '}']) {
            return Err(LimiterError::invalid(
                "key prefix must not contain '{' or '}'",
            ));
        }
        validate_id("account", account)?;
        Ok(Self {
            base: format!("{prefix}{{{account}}}:"),
        })
    }

    pub(crate) fn team_bucket(&self, team_id: &str) -> String {
        format!("{}team:{team_id}:bucket", self.base)
    }

    pub(crate) fn team_leases(&self, team_id: &str) -> String {
        format!("{}team:{team_id}:leases", self.base)
    }

    /// Zset: lease id -> expiry of the team's leases that take no slot (async tasks): they
    /// hold credits only, and are reclaimed with their holds like the team's leases.
    pub(crate) fn team_async_leases(&self, team_id: &str) -> String {
        format!("{}team:{team_id}:async_leases", self.base)
    }

    pub(crate) fn team_budget(&self, team_id: &str, period_id: &str) -> String {
        format!("{}team:{team_id}:budget:{period_id}", self.base)
    }

    pub(crate) fn account_bucket(&self, endpoint: &str) -> String {
        format!("{}acct:bucket:{endpoint}", self.base)
    }

    pub(crate) fn account_leases(&self) -> String {
        format!("{}acct:leases", self.base)
    }

    /// Hash: account lease id -> team (account slots in use per team, for fair sharing).
    pub(crate) fn slot_teams(&self) -> String {
        format!("{}acct:slot_teams", self.base)
    }

    /// The fair queue's zset: waiting lease id -> ticket (arrival order).
    pub(crate) fn fair_queue(&self) -> String {
        format!("{}acct:queue", self.base)
    }

    /// The fair queue's zset: waiting lease id -> when it is dropped unless it polls again
    /// (unix ms).
    pub(crate) fn fair_queue_alive(&self) -> String {
        format!("{}acct:queue:alive", self.base)
    }

    /// The fair queue's hash: waiting lease id -> "team weight deadline"; `:seq` the ticket
    /// counter.
    pub(crate) fn fair_queue_info(&self) -> String {
        format!("{}acct:queue:info", self.base)
    }

    /// String: present while Redis keeps its state (`state_marker`).
    pub(crate) fn state_marker(&self) -> String {
        format!("{}state", self.base)
    }
}

/// The Redis Cluster slot of `key` (what `CLUSTER KEYSLOT` answers): CRC16-XMODEM of the key,
/// or of its first non-empty `{...}` hash tag, modulo 16384.
pub fn cluster_hash_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = bytes
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &bytes[open + 1..];
            rest.iter()
                .position(|&b| b == b'}')
                .filter(|&close| close > 0)
                .map(|close| &rest[..close])
        })
        .unwrap_or(bytes);
    crc16_xmodem(hashed) % 16384
}

fn crc16_xmodem(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_the_reference_check_value() {
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
    }

    #[test]
    fn hash_slots_match_redis() {
        // Values from `CLUSTER KEYSLOT` on a real cluster / the Redis cluster spec.
        assert_eq!(cluster_hash_slot("foo"), 12182);
        assert_eq!(cluster_hash_slot("somekey"), 11058);
        assert_eq!(
            cluster_hash_slot("{user1000}.following"),
            cluster_hash_slot("{user1000}.followers")
        );
        // An empty first tag means the whole key is hashed.
        assert_eq!(
            cluster_hash_slot("foo{}{bar}"),
            crc16_xmodem(b"foo{}{bar}") % 16384
        );
        assert_eq!(
            cluster_hash_slot("foo{{bar}}zap"),
            cluster_hash_slot("{bar")
        );
        assert_eq!(cluster_hash_slot("foo{bar}{zap}"), cluster_hash_slot("bar"));
    }

    #[test]
    fn every_key_of_an_account_shares_its_slot() {
        let keys = KeyLayout::new("cg:", "main").unwrap();
        let slot = cluster_hash_slot("main");
        for key in [
            keys.team_bucket("t1"),
            keys.team_leases("t2"),
            keys.team_async_leases("t2"),
            keys.team_budget("t3", "2026-11"),
            keys.account_bucket("/v1/monitor/chatgpt"),
            keys.account_leases(),
            keys.slot_teams(),
            keys.fair_queue(),
            keys.fair_queue_alive(),
            keys.fair_queue_info(),
            keys.state_marker(),
        ] {
            assert!(key.starts_with("cg:{main}:"), "{key}");
            assert_eq!(cluster_hash_slot(&key), slot, "{key}");
        }
    }

    #[test]
    fn braces_outside_the_tag_are_refused() {
        assert!(KeyLayout::new("a{", "main").is_err());
        assert!(KeyLayout::new("", "ma}n").is_err());
        assert!(KeyLayout::new("", "").is_err());
        assert!(KeyLayout::new("", "main").is_ok());
    }
}
