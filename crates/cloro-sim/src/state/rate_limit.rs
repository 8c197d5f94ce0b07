//! Per-second request windows: a fixed one-second window per bucket (endpoint, or the whole key).

use std::collections::HashMap;

/// The outcome of one rate check, and what the X-RateLimit-* headers report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateDecision {
    pub limit: u32,
    /// Left in this second after this request.
    pub remaining: u32,
    pub allowed: bool,
}

/// Requests counted per bucket in the current second.
#[derive(Debug, Default)]
pub struct RateWindows {
    windows: HashMap<String, (u64, u32)>,
}

impl RateWindows {
    /// Counts the request if the bucket has room this second.
    pub fn admit(&mut self, bucket: &str, limit: u32, second: u64) -> RateDecision {
        if self.windows.len() > 10_000 {
            self.windows.retain(|_, (s, _)| *s == second);
        }
        let entry = self.windows.entry(bucket.to_owned()).or_insert((second, 0));
        if entry.0 != second {
            *entry = (second, 0);
        }
        if entry.1 >= limit {
            return RateDecision {
                limit,
                remaining: 0,
                allowed: false,
            };
        }
        entry.1 += 1;
        RateDecision {
            limit,
            remaining: limit - entry.1,
            allowed: true,
        }
    }

    /// Reports the bucket without counting anything (for refused credentials).
    pub fn peek(&self, bucket: &str, limit: u32, second: u64) -> RateDecision {
        let used = match self.windows.get(bucket) {
            Some((s, used)) if *s == second => *used,
            _ => 0,
        };
        RateDecision {
            limit,
            remaining: limit.saturating_sub(used),
            allowed: used < limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_limit_requests_per_second() {
        let mut windows = RateWindows::default();
        assert_eq!(windows.admit("a", 2, 100).remaining, 1);
        assert_eq!(windows.admit("a", 2, 100).remaining, 0);
        assert!(!windows.admit("a", 2, 100).allowed);
        assert!(
            windows.admit("b", 2, 100).allowed,
            "buckets are independent"
        );
        assert_eq!(windows.peek("a", 2, 100).remaining, 0);
        assert!(
            windows.admit("a", 2, 101).allowed,
            "a new second starts afresh"
        );
    }
}
