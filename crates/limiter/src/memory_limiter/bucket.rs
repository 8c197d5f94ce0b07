//! Token bucket arithmetic for the in-memory limiter, the same as admit.lua's: continuous
//! refill at `rps`, capped at `burst`, a token is taken per admitted request.

/// Float refill may leave 0.999...; count that as a whole token (as admit.lua does).
const EPSILON: f64 = 1e-9;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Bucket {
    tokens: f64,
    updated_at_ms: i64,
    /// When the bucket is full again; after that it can be forgotten (the Redis key's TTL).
    full_at_ms: i64,
}

impl Bucket {
    /// Tokens in `bucket` at `now` (a missing bucket is full).
    pub(super) fn level(bucket: Option<&Bucket>, now_ms: i64, rps: f64, burst: u32) -> f64 {
        let burst = f64::from(burst);
        match bucket {
            None => burst,
            Some(b) => {
                let elapsed = (now_ms - b.updated_at_ms).max(0) as f64;
                (b.tokens + elapsed * rps / 1000.0).min(burst)
            }
        }
    }

    pub(super) fn has_token(level: f64) -> bool {
        level + EPSILON >= 1.0
    }

    /// Milliseconds until `level` reaches one token.
    pub(super) fn ms_to_token(level: f64, rps: f64) -> u64 {
        ((1.0 - level) * 1000.0 / rps).ceil().max(0.0) as u64
    }

    /// The bucket after taking one token from `level` at `now`.
    pub(super) fn after_taking(level: f64, now_ms: i64, rps: f64, burst: u32) -> Bucket {
        let tokens = (level - 1.0).max(0.0);
        let refill_ms = ((f64::from(burst) - tokens) * 1000.0 / rps).ceil() as i64;
        Bucket {
            tokens,
            updated_at_ms: now_ms,
            full_at_ms: now_ms.saturating_add(refill_ms),
        }
    }

    pub(super) fn is_full_at(&self, now_ms: i64) -> bool {
        now_ms >= self.full_at_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_bucket_is_full() {
        assert_eq!(Bucket::level(None, 0, 10.0, 5), 5.0);
    }

    #[test]
    fn refill_is_continuous_and_capped() {
        let b = Bucket::after_taking(1.0, 1_000, 10.0, 5);
        assert_eq!(Bucket::level(Some(&b), 1_000, 10.0, 5), 0.0);
        assert_eq!(Bucket::level(Some(&b), 1_250, 10.0, 5), 2.5);
        assert_eq!(Bucket::level(Some(&b), 60_000, 10.0, 5), 5.0);
        assert!(!b.is_full_at(1_499));
        assert!(b.is_full_at(1_500));
    }

    #[test]
    fn time_to_next_token() {
        assert!(!Bucket::has_token(0.25));
        assert_eq!(Bucket::ms_to_token(0.25, 10.0), 75);
        assert!(Bucket::has_token(1.0 - 1e-12));
        assert_eq!(Bucket::ms_to_token(0.0, 0.5), 2_000);
    }
}
