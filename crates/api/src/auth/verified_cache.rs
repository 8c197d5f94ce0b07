//! Tokens this replica has already verified, so a team's every call does not pay for a
//! signature check and two JSON parses again: a hit is the exact token string, re-checked
//! against `exp` and `nbf` (with the leeway) each time. Revocation, the team's existence and
//! its suspension are checked per request after it, as for a fresh verification. The cache is
//! emptied whenever the key set changes, so a key that is gone trusts nothing any more.

use crate::auth::verifier::VerifiedToken;
use std::collections::HashMap;
use std::sync::RwLock;

/// Tokens kept at most; when full, the expired ones go, and all of them if none has.
pub const CAPACITY: usize = 4096;
/// Longer tokens are verified every time (they bound the cache's memory: 8 MiB at most).
pub const MAX_TOKEN_BYTES: usize = 2048;

/// What a verified token proved, and the window in which it still holds.
struct Verified {
    token: VerifiedToken,
    /// `exp`, unix seconds.
    expires: u64,
    /// `nbf`, unix seconds, when the token has one.
    not_before: Option<u64>,
}

pub struct VerifiedCache {
    entries: RwLock<Entries>,
    leeway_secs: u64,
}

#[derive(Default)]
struct Entries {
    tokens: HashMap<Box<str>, Verified>,
    /// Counts the clears: a verification that began before one is not kept.
    generation: u64,
}

impl VerifiedCache {
    pub fn new(leeway_secs: u64) -> Self {
        Self {
            entries: RwLock::new(Entries::default()),
            leeway_secs,
        }
    }

    /// The token's verification, if it was verified before and is still within its window at
    /// `now` (unix seconds), by the same rules as a fresh verification.
    pub fn get(&self, token: &str, now: u64) -> Option<VerifiedToken> {
        let entries = self.read();
        let hit = entries.tokens.get(token)?;
        let expired = hit.expires < now.saturating_sub(self.leeway_secs);
        let immature = hit
            .not_before
            .is_some_and(|nbf| nbf > now.saturating_add(self.leeway_secs));
        (!expired && !immature).then(|| hit.token.clone())
    }

    /// Where the cache stands now: read it before looking up the key a token is verified
    /// with, and hand it to [`Self::insert`].
    pub fn generation(&self) -> u64 {
        self.read().generation
    }

    /// Remembers a token that passed every check (`exp`/`nbf` as its claims carry them),
    /// unless the cache was cleared since `generation` was read: its key may be gone.
    pub fn insert(
        &self,
        generation: u64,
        token: &str,
        verified: &VerifiedToken,
        expires: u64,
        nbf: Option<u64>,
    ) {
        if token.len() > MAX_TOKEN_BYTES {
            return;
        }
        let mut entries = self.write();
        if entries.generation != generation {
            return;
        }
        if entries.tokens.len() >= CAPACITY {
            let now = jsonwebtoken::get_current_timestamp().saturating_sub(self.leeway_secs);
            entries.tokens.retain(|_, cached| cached.expires >= now);
            if entries.tokens.len() >= CAPACITY {
                entries.tokens.clear();
            }
        }
        entries.tokens.insert(
            token.into(),
            Verified {
                token: verified.clone(),
                expires,
                not_before: nbf,
            },
        );
    }

    /// Forgets every token, and every verification still running: the keys they were
    /// verified with may be gone.
    pub fn clear(&self) {
        let mut entries = self.write();
        entries.tokens.clear();
        entries.generation += 1;
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.read().tokens.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accounting::Role;

    fn verified(jti: &str) -> VerifiedToken {
        VerifiedToken {
            subject: "svc".into(),
            role: Role::Team,
            team_slug: Some("growth".into()),
            issuer: "cloro-gateway".into(),
            jti: jti.into(),
            issued_at: Some(1_000),
        }
    }

    #[test]
    fn a_hit_is_the_exact_token_within_its_window() {
        let cache = VerifiedCache::new(30);
        cache.insert(0, "a.b.c", &verified("one"), 2_000, Some(1_000));
        assert_eq!(cache.get("a.b.c", 1_500), Some(verified("one")));
        assert_eq!(cache.get("a.b.d", 1_500), None, "another token never hits");
        assert_eq!(
            cache.get("a.b.c", 2_030),
            Some(verified("one")),
            "leeway past exp"
        );
        assert_eq!(cache.get("a.b.c", 2_031), None, "expired");
        assert_eq!(cache.get("a.b.c", 969), None, "not valid yet");
        assert_eq!(
            cache.get("a.b.c", 970),
            Some(verified("one")),
            "leeway before nbf"
        );
    }

    #[test]
    fn long_tokens_are_not_kept_and_clear_forgets_all() {
        let cache = VerifiedCache::new(0);
        let long = "x".repeat(MAX_TOKEN_BYTES + 1);
        cache.insert(0, &long, &verified("long"), u64::MAX, None);
        assert!(cache.is_empty());
        cache.insert(0, "a.b.c", &verified("one"), u64::MAX, None);
        assert_eq!(cache.len(), 1);
        cache.clear();
        assert_eq!(cache.get("a.b.c", 0), None);
    }

    #[test]
    fn a_verification_begun_before_a_clear_is_not_kept() {
        let cache = VerifiedCache::new(0);
        let before = cache.generation();
        cache.clear();
        cache.insert(before, "a.b.c", &verified("one"), u64::MAX, None);
        assert!(cache.is_empty(), "verified with a key that may be gone");
        cache.insert(
            cache.generation(),
            "a.b.c",
            &verified("one"),
            u64::MAX,
            None,
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_full_cache_drops_the_expired_first_then_everything() {
        let cache = VerifiedCache::new(0);
        let now = jsonwebtoken::get_current_timestamp();
        for i in 0..CAPACITY - 1 {
            cache.insert(0, &format!("old.{i}"), &verified("old"), now - 10, None);
        }
        cache.insert(0, "live.0", &verified("live"), now + 3_600, None);
        assert_eq!(cache.len(), CAPACITY);
        cache.insert(0, "live.1", &verified("live"), now + 3_600, None);
        assert_eq!(cache.len(), 2, "only the expired went");
        assert!(cache.get("live.0", now).is_some());

        for i in 0..CAPACITY - 2 {
            cache.insert(
                0,
                &format!("more.{i}"),
                &verified("more"),
                now + 3_600,
                None,
            );
        }
        assert_eq!(cache.len(), CAPACITY);
        cache.insert(0, "last", &verified("last"), now + 3_600, None);
        assert_eq!(cache.len(), 1, "none expired: all went");
        assert!(cache.get("last", now).is_some());
    }
}
